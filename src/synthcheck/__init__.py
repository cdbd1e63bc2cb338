"""synthcheck: detect attacks on classifiers by decompressing their answer and comparing.

``synthcheck.Guard`` (loaded on first use) holds a recogniser and its detectors and checks arrays, files and
batches: see :mod:`synthcheck.guard`.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("Guard", "GuardSettings"):
        from synthcheck import guard

        return getattr(guard, name)
    raise AttributeError(f"module 'synthcheck' has no attribute {name!r}")
