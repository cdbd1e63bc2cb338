"""synthcheck.report."""
