"""What a TTS engine is asked to say: Unicode clean-up and the "nothing speakable" rule.

Rule (shared by every engine): the text is NFKC-normalised; control, format, private-use and unassigned
characters and pictographic symbols (emoji, categories ``So``/``Sk``) become spaces; whitespace is collapsed.
What remains must contain at least one letter or digit, otherwise :class:`BadInputError`. Punctuation,
currency and maths signs are kept (engines speak or pause on them). A voice that still produces no audio
(e.g. CJK text for pico2wave) is caught after rendering ("engine produced no audio").
"""

from __future__ import annotations

import unicodedata

from synthcheck.errors import BadInputError

#: Longest text accepted (characters after clean-up); longer texts should be split by the caller.
MAX_TEXT_CHARS = 10_000
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "So", "Sk"})


def speakable_text(text: str) -> str:
    """Return ``text`` cleaned for a TTS engine.

    Raises
    ------
    BadInputError
        Not a string, empty/whitespace, too long, or without any letter or digit after clean-up.
    """
    if not isinstance(text, str):
        raise BadInputError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise BadInputError("text is empty; give the words to synthesise")
    normalised = unicodedata.normalize("NFKC", text)
    kept = "".join(" " if unicodedata.category(ch) in _DROPPED_CATEGORIES else ch for ch in normalised)
    cleaned = " ".join(kept.split())
    if not any(ch.isalnum() for ch in cleaned):
        raise BadInputError(f"text {_preview(text)} has nothing speakable (no letters or digits after removing symbols)")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise BadInputError(f"text is {len(cleaned)} characters, more than {MAX_TEXT_CHARS}; split it into sentences")
    return cleaned


def _preview(text: str, limit: int = 40) -> str:
    shown = text if len(text) <= limit else text[:limit] + "…"
    return ascii(shown)
