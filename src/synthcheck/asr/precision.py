"""Numeric precision of the white-box passes (attack gradients, teacher-forced loss and success mask).

``fp32`` is the reference. ``bf16`` runs the encoder and decoder under ``torch.autocast("cpu",
dtype=torch.bfloat16)``: matrix products and convolutions in bfloat16 on the CPU's matrix units (AMX-BF16, or
AVX512-BF16), while the log-mel front end, layer norms, softmax and the loss stay float32. Decisions never rest on
bfloat16 alone: a bfloat16 success mask is re-checked in float32 before it counts, and an attack's final
confirmation is a float32 greedy decode of the 16-bit audio.

``auto`` picks ``bf16`` when the CPU has bfloat16 units (read from ``/proc/cpuinfo``), else ``fp32``.
"""

from __future__ import annotations

import contextlib
import logging
from functools import lru_cache

from synthcheck.cpu import cpu_flags
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: Precisions a recogniser's white-box passes run in.
PRECISIONS = ("fp32", "bf16")
#: Accepted by :func:`resolve_precision` (and ``--precision``).
PRECISION_CHOICES = ("auto", *PRECISIONS)
#: The ``--precision`` option's help, the same on every command that attacks.
PRECISION_HELP = ("White-box passes (attack gradients) in fp32 or bf16; auto: bf16 when the CPU has bfloat16 units. "
                  "Success checks, final decodes and detectors run in float32 either way.")
#: CPU flags of units that execute bfloat16 products natively.
BF16_UNITS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_bf16_units() -> tuple[str, ...]:
    """The bfloat16 units this CPU reports (``/proc/cpuinfo`` flags among :data:`BF16_UNITS`); empty if none."""
    flags = cpu_flags()
    return tuple(unit for unit in BF16_UNITS if unit in flags)


def resolve_precision(requested: str = "auto") -> str:
    """``fp32`` or ``bf16`` for ``requested`` (``auto``: ``bf16`` when :func:`cpu_bf16_units` finds a unit).

    Raises
    ------
    BadInputError
        Not one of :data:`PRECISION_CHOICES`.
    """
    if requested not in PRECISION_CHOICES:
        raise BadInputError(f"unknown precision {requested!r}; choose one of: {', '.join(PRECISION_CHOICES)}")
    if requested != "auto":
        if requested == "bf16" and not cpu_bf16_units():
            log.warning("bf16 requested but this CPU has no bfloat16 units; it will be emulated and slow")
        return requested
    units = cpu_bf16_units()
    chosen = "bf16" if units else "fp32"
    log.debug("precision auto: %s (CPU bfloat16 units: %s)", chosen, ", ".join(units) or "none")
    return chosen


def checked_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a :class:`BadInputError`."""
    if precision not in PRECISIONS:
        raise BadInputError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    return precision


def autocast(precision: str) -> contextlib.AbstractContextManager[None]:
    """The context the white-box passes of ``precision`` run in (a no-op for ``fp32``)."""
    if checked_precision(precision) == "bf16":
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()

