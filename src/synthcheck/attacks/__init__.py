"""synthcheck.attacks."""
