"""Transfer check: what other recognisers hear in an (adversarial) utterance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthcheck.asr.registry import get_recognizer
from synthcheck.audio.io import validate_audio

#: Recognisers the transfer check asks by default.
TRANSFER_RECOGNIZERS = ("whisper-tiny.en", "whisper-base", "pocketsphinx")


def transfer_check(audio: np.ndarray, recognizers: Sequence[str] = TRANSFER_RECOGNIZERS) -> dict[str, str]:
    """Transcribe ``audio`` (1-D float32, 16 kHz) with each named recogniser.

    Returns
    -------
    dict
        ``{recogniser name: transcript}`` in the order given.
    """
    audio = validate_audio(audio, name="transfer audio")
    return {name: get_recognizer(name).transcribe(audio) for name in recognizers}
