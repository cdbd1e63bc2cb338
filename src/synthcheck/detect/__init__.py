"""synthcheck.detect."""
