"""Built-in texts and recordings (read from installed packages, never downloaded)."""
