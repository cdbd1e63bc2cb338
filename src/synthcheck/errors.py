"""Errors the user can act on.

Every error raised for bad input or a missing component is a :class:`SynthcheckError` whose message is
one line saying what is wrong and what to do. The CLI prints that line and exits with status 2.
"""

from __future__ import annotations


class SynthcheckError(Exception):
    """Base class: a one-line, actionable message."""


class BadInputError(SynthcheckError, ValueError):
    """The input (audio, text, option) cannot be used as given."""


class MissingComponentError(SynthcheckError, RuntimeError):
    """An engine, model package or optional dependency is not installed."""
