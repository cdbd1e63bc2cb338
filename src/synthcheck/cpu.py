"""What ``/proc/cpuinfo`` says about this machine's first processor (shared by the run facts and the precision
choice)."""

from __future__ import annotations

from pathlib import Path


def first_processor(path: str | Path = "/proc/cpuinfo") -> dict[str, str]:
    """``key: value`` lines of the first processor block of a cpuinfo file ({} if unreadable)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The first processor's flags (empty if unknown)."""
    return frozenset(first_processor(path).get("flags", "").split())
