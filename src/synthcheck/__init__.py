"""synthcheck: detect attacks on classifiers by decompressing their answer and comparing."""

__version__ = "0.1.0"
