"""Built-in speech sets, loaded by name: real human voices and their TTS twins.

==================  ============================================================================
name                contents
==================  ============================================================================
two-cities-tts      the clauses of two-cities-human rendered by pico2wave (en-US), the paper's
                    setting
two-cities-human    the LibriVox reading of the first paragraph of *A Tale of Two Cities* cut into
                    its clauses (the first ten are the paper's sentences); cut points found by
                    Whisper word alignment (:mod:`synthcheck.data.alignment`), cached
alsa-human          the alsa-utils recordings ``/usr/share/sounds/alsa/*.wav`` (48 kHz, one human
                    voice), text = file name (``Front_Center.wav`` → "front center"); ``Noise.wav``
                    is not speech and is left out
moonshine-human     the other human recordings of the moonshine-voice wheel (``beckett.wav``,
                    ``clone-test.wav``; the synthetic ``endgame_nagg_nell.wav`` is left out) cut into
                    sentences of ≥ 3 words; text by Whisper base, kept where Whisper tiny.en agrees
                    (:mod:`synthcheck.data.moonshine`), cached
==================  ============================================================================

:data:`DATASETS` is the one registry of speech sets: each name maps to a frozen :class:`DatasetSpec` that
says whether a TTS engine spoke the set (``synthetic``) or people did (a *recorded* set) and whose
:meth:`~DatasetSpec.build` loads it. Every set is a source of the detector evaluations, in registry order; an
experiment reads the recorded ones (:data:`RECORDED_DATASETS`, see :mod:`synthcheck.experiments.sources`).

Every utterance names its ``speaker`` (for leave-one-speaker-out calibration): :data:`TWO_CITIES_SPEAKER`,
:data:`ALSA_SPEAKER`, one label per moonshine recording (:data:`synthcheck.data.moonshine.SPEAKERS`), and for TTS
renderings the voice id (``pico2wave:en-US``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, load_audio
from synthcheck.cache import atomic_write_bytes, cache_dir, content_key
from synthcheck.data.alignment import ALIGNMENT_MODEL, align_segments, recognize_words
from synthcheck.data.packaged import ami_human, asterisk_human, package_human
from synthcheck.errors import MissingComponentError
from synthcheck.registry import Registry

log = logging.getLogger(__name__)

ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
#: alsa-utils files that are not speech.
ALSA_NOT_SPEECH = frozenset({"Noise"})
#: Clauses with fewer words are joined to the next one ("in short" + "the period was …").
MIN_CLAUSE_WORDS = 3
#: Bump when the cutting method changes: cached cuts are recomputed from the cached word alignment.
CUT_VERSION = "2"
#: Speaker labels of the recorded sets with one voice.
TWO_CITIES_SPEAKER = "librivox-two-cities"
ALSA_SPEAKER = "alsa"


@dataclass(frozen=True)
class Utterance:
    """One spoken item: a stable ``key``, the words spoken (``text``), 16 kHz float32 ``audio`` and who spoke it.

    ``speaker`` is a label shared by all utterances of one voice (a recorded speaker, or a TTS voice id such as
    ``pico2wave:en-US``); every built-in set sets it, ``""`` means unknown.
    """

    key: str
    text: str
    audio: np.ndarray
    speaker: str = ""

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.audio) / SAMPLE_RATE


def split_clauses(text: str, min_words: int = MIN_CLAUSE_WORDS) -> list[str]:
    """Split prose at commas, semicolons and dashes; clauses shorter than ``min_words`` join the next one."""
    parts = [p.strip() for p in re.split(r"[,;:\u2014]|--", text) if p.strip()]
    clauses: list[str] = []
    carry = ""
    for part in parts:
        part = part.rstrip(".!?").strip()
        joined = f"{carry} {part}".strip()
        if len(joined.split()) < min_words:
            carry = joined
            continue
        clauses.append(joined)
        carry = ""
    if carry:
        clauses[-1] = f"{clauses[-1]} {carry}" if clauses else carry
    return clauses


def two_cities_clauses() -> list[str]:
    """The clauses of the first paragraph of *A Tale of Two Cities* (the first ten are the paper's sentences)."""
    from synthcheck.data.two_cities import TEXT

    return split_clauses(TEXT)


def two_cities_cut_points() -> list[int]:
    """Sample positions cutting the LibriVox reading into :func:`two_cities_clauses`.

    The Whisper word alignment runs once; its words and the resulting cuts are cached under
    ``cache_dir("datasets")`` (keyed by the audio and the model); the cheap cutting is redone when
    :data:`CUT_VERSION` or the clauses change.
    """
    from synthcheck.data.two_cities import librivox_two_cities

    audio = librivox_two_cities()
    clauses = two_cities_clauses()
    key = content_key(ALIGNMENT_MODEL, np.ascontiguousarray(audio).tobytes())
    path = cache_dir("datasets") / f"two-cities-alignment-{key}.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    if cached.get("version") == CUT_VERSION and cached.get("clauses") == clauses:
        return cached["cuts"]
    heard = cached.get("words")
    if heard is None:
        log.info("aligning the LibriVox reading to %d clauses with Whisper %s", len(clauses), ALIGNMENT_MODEL)
        heard = recognize_words(audio)
    cuts = align_segments(audio, clauses, heard)
    payload = {"version": CUT_VERSION, "clauses": clauses, "cuts": cuts, "words": [list(w) for w in heard]}
    atomic_write_bytes(path, json.dumps(payload).encode())
    return cuts


def two_cities_human() -> list[Utterance]:
    """The LibriVox reading cut into its clauses (human voice, 16 kHz)."""
    from synthcheck.data.two_cities import librivox_two_cities

    audio = librivox_two_cities()
    cuts = two_cities_cut_points()
    return [
        Utterance(f"two-cities-{i:02d}", text, audio[cuts[i] : cuts[i + 1]].copy(), TWO_CITIES_SPEAKER)
        for i, text in enumerate(two_cities_clauses())
    ]


def two_cities_tts(engine: str = "pico2wave", voice: str = "en-US") -> list[Utterance]:
    """The same clauses rendered by a TTS voice (default pico2wave en-US, the paper's setting)."""
    from synthcheck.tts import get_synthesizer

    synthesizer = get_synthesizer(engine, voice)
    return [
        Utterance(f"two-cities-{i:02d}", text, synthesizer.synthesize(text), synthesizer.id)
        for i, text in enumerate(two_cities_clauses())
    ]


def alsa_human(directory: Path = ALSA_SOUNDS) -> list[Utterance]:
    """The alsa-utils speaker-test recordings; the text is the file name (``Front_Left`` → "front left")."""
    files = sorted(p for p in directory.glob("*.wav") if p.stem not in ALSA_NOT_SPEECH)
    if not files:
        raise MissingComponentError(f"no recordings in {directory}; install them with `apt-get install alsa-utils`")
    return [
        Utterance(p.stem.lower().replace("_", "-"), p.stem.replace("_", " ").lower(), load_audio(p), ALSA_SPEAKER)
        for p in files
    ]


def moonshine_human() -> list[Utterance]:
    """The kept utterances of the moonshine-voice wheel's human recordings (see :mod:`synthcheck.data.moonshine`)."""
    from synthcheck.data.moonshine import moonshine_checks, moonshine_recording

    audio: dict[str, np.ndarray] = {}
    out = []
    for check in moonshine_checks():
        if check.kept:
            if check.recording not in audio:
                audio[check.recording] = moonshine_recording(check.recording)
            out.append(Utterance(check.key, check.text, audio[check.recording][check.start : check.stop].copy(),
                                 check.speaker))
    return out


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in speech set: its name, who spoke it, and how to load it.

    Attributes
    ----------
    synthetic
        Spoken by a TTS engine (evaluations pass such clean clips through the paper's channel first, else they
        would be bit-identical to their re-synthesis); False: a recorded set of human speech.
    loader
        Returns the set's utterances, in the set's order.
    texts
        Returns the utterances' texts without loading any audio, when the set can; None: :meth:`build` and read
        them.
    """

    name: str
    synthetic: bool
    loader: Callable[[], list[Utterance]] = field(repr=False)
    texts: Callable[[], list[str]] | None = field(default=None, repr=False)

    def build(self) -> list[Utterance]:
        """The set's utterances (recordings are read, TTS renderings synthesised)."""
        return self.loader()


#: Every built-in speech set by name, in the order evaluations report them (see the module table).
DATASETS: Registry[DatasetSpec] = Registry(
    "dataset",
    [
        DatasetSpec("two-cities-tts", synthetic=True, loader=two_cities_tts, texts=two_cities_clauses),
        DatasetSpec("two-cities-human", synthetic=False, loader=two_cities_human, texts=two_cities_clauses),
        DatasetSpec("alsa-human", synthetic=False, loader=alsa_human),
        DatasetSpec("moonshine-human", synthetic=False, loader=moonshine_human),
        DatasetSpec("package-human", synthetic=False, loader=package_human),
        DatasetSpec("asterisk-human", synthetic=False, loader=asterisk_human),
        DatasetSpec("ami-human", synthetic=False, loader=ami_human),
    ],
)
#: The recorded (human-speech) sets, in registry order: the ones an experiment can read in place of TTS.
RECORDED_DATASETS = tuple(name for name, spec in DATASETS.items() if not spec.synthetic)


def load_dataset(name: str) -> list[Utterance]:
    """Load a built-in speech set by name (see the module table): ``DATASETS[name].build()``.

    Raises
    ------
    BadInputError
        Unknown name (the message lists the sets).
    """
    return DATASETS[name].build()
