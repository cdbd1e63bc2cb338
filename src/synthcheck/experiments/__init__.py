"""synthcheck.experiments."""
