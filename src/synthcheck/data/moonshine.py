"""Clean human speech from the other recordings in the ``moonshine-voice==0.1.5`` wheel, cut into utterances.

The wheel's ``moonshine_voice/assets/`` holds three speech recordings besides ``two_cities.wav``; no transcript
ships with them. Each was checked for being human (evidence below, from the wheel, the upstream repository
``moonshine-ai/moonshine`` and the audio itself) before being used as clean *human* speech:

``beckett.wav`` (16 kHz, 10.0 s) — **kept**, speaker ``beckett``.
    Added in the upstream "Initial import"; the project's notebook calls it "a pre-recorded audio file of one
    of my favorite Beckett quotes" ("Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.").
    Its LIST chunk says only that ffmpeg (Lavf58.76) wrote it. Acoustically a microphone recording: a
    continuous room-noise floor (no sample run of digital zeros, quietest 20 ms frames near −63 dB), a male
    voice (median F0 ≈ 122 Hz). Caution for leave-one-speaker-out: its level, noise-floor spectrum and F0
    (≈ 123 Hz) are very close to ``two_cities.wav``, whose INFO/ID3 tags name the reader "Pete Warden"
    (the upstream author): the two may be one speaker. Not proven, so the labels stay apart.
``clone-test.wav`` (16 kHz, 4.1 s) — **kept**, speaker ``clone-test``.
    Added upstream in "Improved ZipVoice TTS" as the *reference clip* that voice cloning imitates
    (``TextToSpeech.clone_from``; docs/using/text-to-speech.md), i.e. an input to the synthesiser, not its output.
    It is spontaneous, ungrammatical speech ("I do. I think that America do it very well …"; the docs' transcript,
    the Beckett quote, does not match it) that runs on past the end of the file, mid-word: a 4 s clip cut from a
    longer recording (the upstream clip extractor asks for 4 s, ``core/clone-clip-eval.cpp``), which a TTS
    rendering of a sentence would not be. Continuous noise floor, no digital silence, a different voice from
    beckett.wav (median F0 ≈ 205 Hz; not a cut of it, correlation 0.04). Its original source is unknown.
``endgame_nagg_nell.wav`` (24 kHz, 28.3 s) — **left out: synthetic**.
    Upstream ``scripts/generate-diarization-test-audio.py`` renders it with ZipVoice TTS (voices
    ``zipvoice_english_male`` as Nagg, ``zipvoice_english_female`` as Nell, 0.55 s pauses) and the upstream test
    calls it "Synthetic Nagg/Nell ZipVoice dialogue". The file agrees: 29 % of its samples are exact zeros, in
    runs of 0.65 s (the inserted pauses), and it is peak-normalised to full scale.

Cutting (the same machinery as the LibriVox clauses, :mod:`synthcheck.data.alignment`): Whisper
:data:`TEXT_MODEL` recognises the whole recording with word timestamps; its sentences (``. ? !``) are joined
until each has at least :data:`MIN_WORDS` words and cut at the quietest point of the pause between them. Each cut
is then transcribed on its own by a second recogniser, Whisper :data:`CHECK_MODEL` (pocketsphinx is far off on
these clips, e.g. "ever try it at the files them access" for beckett.wav); the utterance is kept when the word
error rate between the two is at most :data:`MAX_CHECK_WER` and it lasts :data:`MIN_SECONDS`–:data:`MAX_SECONDS`;
its text is :data:`TEXT_MODEL`'s (the larger model). Every decision, kept or not, is a :class:`UtteranceCheck`
(:func:`moonshine_checks`). Recognition runs once per recording and is cached under ``cache_dir("datasets")``
keyed by the audio and both models; the cheap cutting is redone when :data:`CUT_VERSION` changes.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import soundfile as sf

from synthcheck.audio.io import SAMPLE_RATE, resample, to_mono, validate_audio
from synthcheck.audio.windows import quietest_sample
from synthcheck.cache import atomic_write_bytes, cache_dir, content_key
from synthcheck.data.alignment import EDGE_PAD_SECONDS, match_words, normalize_words, segment_cut_points
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: Recordings used, by asset name (without ``.wav``), with their speaker labels.
SPEAKERS: dict[str, str] = {"beckett": "beckett", "clone-test": "clone-test"}
#: Speech assets of the wheel that are left out, and why (see the module docstring).
EXCLUDED: dict[str, str] = {
    "endgame_nagg_nell": "synthetic: rendered by ZipVoice TTS (upstream scripts/generate-diarization-test-audio.py)",
}
#: Whisper size giving the text and the word times (the larger, better-trusted model).
TEXT_MODEL = "base"
#: Whisper size that checks each cut on its own.
CHECK_MODEL = "tiny.en"
#: Largest word error rate between the two recognisers' transcripts of a kept utterance.
MAX_CHECK_WER = 0.25
#: Fewest words in an utterance (shorter sentences join the next one).
MIN_WORDS = 3
#: Shortest and longest kept utterance (seconds).
MIN_SECONDS = 1.0
MAX_SECONDS = 10.0
#: Bump when the cutting or checking changes: cuts are recomputed from the cached recognition.
CUT_VERSION = "1"

_WHEEL = "moonshine_voice-0.1.5-*.whl"
_REQUIREMENT = "moonshine-voice==0.1.5"
_SENTENCE_END = re.compile(r"[.?!]$")
Word = tuple[str, float, float]


@dataclass(frozen=True)
class UtteranceCheck:
    """The decision on one candidate utterance of a recording.

    Attributes
    ----------
    start, stop
        Sample positions of the cut in the 16 kHz recording.
    text
        :data:`TEXT_MODEL`'s words (the utterance's text when kept).
    check_text
        :data:`CHECK_MODEL`'s transcript of the cut alone.
    wer
        Word error rate of ``check_text`` against ``text``.
    reason
        Empty when kept, else why it was dropped.
    """

    key: str
    recording: str
    speaker: str
    start: int
    stop: int
    text: str
    check_text: str
    wer: float
    reason: str

    @property
    def kept(self) -> bool:
        """True when the utterance is in the set."""
        return not self.reason

    @property
    def seconds(self) -> float:
        """Duration of the cut in seconds."""
        return (self.stop - self.start) / SAMPLE_RATE


def moonshine_recording(name: str) -> np.ndarray:
    """The wheel's ``moonshine_voice/assets/<name>.wav`` as 16 kHz mono float32.

    Raises
    ------
    MissingComponentError
        The wheel is missing or lacks the asset.
    BadInputError
        The asset is not readable audio.
    """
    from synthcheck.data.two_cities import wheel_asset

    member = f"moonshine_voice/assets/{name}.wav"
    data = wheel_asset(_WHEEL, member, _REQUIREMENT)
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(f"{member}: unreadable audio ({exc}); download the wheel again") from None
    return validate_audio(resample(to_mono(audio), rate, SAMPLE_RATE), name=member)


def group_sentences(words: Sequence[Word], min_words: int = MIN_WORDS) -> list[list[Word]]:
    """Recognised words grouped into sentences (ending in ``. ? !``); groups under ``min_words`` join the next."""
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if not normalize_words(word[0]):
            continue
        current.append(word)
        if _SENTENCE_END.search(word[0].strip()) and _count(current) >= min_words:
            groups.append(current)
            current = []
    if current:
        if groups and _count(current) < min_words:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def _count(words: Sequence[Word]) -> int:
    return sum(len(normalize_words(w[0])) for w in words)


def _text(words: Sequence[Word]) -> str:
    return " ".join(w[0].strip() for w in words).rstrip(".?!").strip()


def cut_groups(audio: np.ndarray, groups: Sequence[Sequence[Word]]) -> list[int]:
    """Cut points ``[c0, …, cN]`` of ``N`` word groups: inner cuts at the quietest point of each pause
    (:func:`~synthcheck.data.alignment.segment_cut_points`); the last cut at the quietest point within
    :data:`~synthcheck.data.alignment.EDGE_PAD_SECONDS` after the last word, so speech that runs on past the
    recognised words is not cut into."""
    spans = match_words(" ".join(_text(g) for g in groups), [w for g in groups for w in g])
    cuts = segment_cut_points(audio, spans, [_count(g) for g in groups])
    end = spans[-1].end
    cuts[-1] = max(cuts[-2] + 1, quietest_sample(audio, end - 0.05, end + EDGE_PAD_SECONDS))
    return cuts


def moonshine_checks(names: Sequence[str] = tuple(SPEAKERS)) -> list[UtteranceCheck]:
    """Every candidate utterance of the recordings ``names`` with the decision on it, in recording order."""
    return [check for name in names for check in _recording_checks(name, moonshine_recording(name))]


def _recording_checks(name: str, audio: np.ndarray) -> list[UtteranceCheck]:
    from synthcheck.audio.metrics import word_error_rate

    key = content_key(TEXT_MODEL, CHECK_MODEL, np.ascontiguousarray(audio).tobytes())
    path = cache_dir("datasets") / f"moonshine-{name}-{key}.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    if cached.get("version") == CUT_VERSION:
        return [UtteranceCheck(**c) for c in cached["checks"]]
    words = cached.get("words")
    if words is None:
        from synthcheck.data.alignment import recognize_words

        log.info("recognising moonshine %s with Whisper %s", name, TEXT_MODEL)
        words = [list(w) for w in recognize_words(audio, TEXT_MODEL)]
    groups = group_sentences([tuple(w) for w in words])  # type: ignore[misc]
    cuts = cut_groups(audio, groups)
    heard: dict[str, str] = cached.get("heard", {})
    todo = [f"{a}-{b}" for a, b in zip(cuts, cuts[1:]) if f"{a}-{b}" not in heard]
    if todo:
        from synthcheck.asr.registry import get_recognizer

        pieces = [audio[int(s.split("-")[0]) : int(s.split("-")[1])] for s in todo]
        heard.update(zip(todo, get_recognizer(f"whisper-{CHECK_MODEL}").transcribe_batch(pieces)))
    checks = []
    for i, (group, start, stop) in enumerate(zip(groups, cuts, cuts[1:])):
        text, check_text = _text(group), heard[f"{start}-{stop}"]
        wer = float(word_error_rate(text, check_text)) if check_text.strip() else 1.0
        seconds = (stop - start) / SAMPLE_RATE
        reason = ""
        if wer > MAX_CHECK_WER:
            reason = f"recognisers disagree (WER {wer:.2f} > {MAX_CHECK_WER})"
        elif not MIN_SECONDS <= seconds <= MAX_SECONDS:
            reason = f"{seconds:.1f} s is outside {MIN_SECONDS}-{MAX_SECONDS} s"
        checks.append(UtteranceCheck(f"moonshine-{name}-{i:02d}", name, SPEAKERS.get(name, name), start, stop,
                                     text, check_text, round(wer, 4), reason))
    payload = {"version": CUT_VERSION, "words": words, "heard": heard, "checks": [asdict(c) for c in checks]}
    atomic_write_bytes(path, json.dumps(payload).encode())
    return checks
