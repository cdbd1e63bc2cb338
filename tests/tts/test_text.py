"""The shared text clean-up rule of every TTS engine."""

import pytest

from synthcheck.errors import BadInputError
from synthcheck.tts.text import MAX_TEXT_CHARS, speakable_text


def test_keeps_words_and_punctuation_and_collapses_whitespace():
    assert speakable_text("  It was,\n\tthe best  of times. ") == "It was, the best of times."


def test_drops_emoji_and_control_characters_next_to_words():
    assert speakable_text("hello 😀\x00 world\u200b!") == "hello world !"


def test_nfkc_turns_compatibility_forms_into_plain_letters():
    assert speakable_text("ｆｕｌｌ width") == "full width"


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_is_refused(text):
    with pytest.raises(BadInputError, match="empty"):
        speakable_text(text)


@pytest.mark.parametrize("text", ["😀😀", "\x00", "...", "?!; -- ♪"])
def test_text_without_letters_or_digits_is_refused(text):
    with pytest.raises(BadInputError, match="nothing speakable"):
        speakable_text(text)


def test_overlong_text_is_refused():
    with pytest.raises(BadInputError, match="split it"):
        speakable_text("a " * MAX_TEXT_CHARS)


def test_non_string_is_refused():
    with pytest.raises(BadInputError, match="string"):
        speakable_text(b"bytes")  # type: ignore[arg-type]
