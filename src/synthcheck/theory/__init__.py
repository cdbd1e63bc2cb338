"""synthcheck.theory."""
