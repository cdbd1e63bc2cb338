"""The experiment's configuration: what to synthesise, how to attack, how to judge.

:class:`ExperimentConfig` defaults reproduce the paper (ten clauses of *A Tale of Two Cities*, pico2wave
en-US, AWGN at 28 dB, whisper-base, target "he travels the fastest who travels alone", the paper's
correlation and threshold 0.4). A config holds lists of voices and SNRs: the plain experiment has one of
each, a sweep several; the work items are their product with the sentences.

Two later knobs keep those defaults while opening the experiment up:

* ``dataset``: ``"tts"`` renders the sentences (the paper), a registered set (:mod:`.sources`: human speech, or
  the pico2wave twin ``two-cities-tts``) supplies its utterances; the channel applies either way.
* ``detectors``: every item is scored by every named detector configuration
  (:data:`synthcheck.detect.configs.DETECTOR_NAMES`); the first is the *primary* one behind the headline
  verdicts. ``threshold`` is the primary detector's threshold (``None``: its calibrated default, 0.4 for
  ``paper``); ``comparator_mode`` selects the correlation of the ``paper`` detector. The other detectors
  use their calibrated thresholds.

Fields added after runs were first stored (:data:`LATER_FIELDS`) are left out of :meth:`~ExperimentConfig.config_hash`
while they hold their default, so stored runs keep their hash and resume.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from synthcheck.audio.channel import CHANNEL_KINDS, PAPER_ATTENUATION, PAPER_SNR_DB
from synthcheck.asr.precision import resolve_precision
from synthcheck.errors import BadInputError
from synthcheck.experiments.sources import EXPERIMENT_DATASETS, TTS_DATASET, select_utterances

PAPER_TARGET = "he travels the fastest who travels alone"
#: The paper's attack kind (see :mod:`synthcheck.attacks.kinds`).
DEFAULT_ATTACK = "targeted"
#: Sentences, recogniser and attack steps of ``--quick`` (the test-sized run).
QUICK_SENTENCES = 3
QUICK_RECOGNIZER = "whisper-tiny.en"
QUICK_ATTACK_STEPS = 150
#: Fields added after the first stored runs: hashed only when they differ from their default (see the
#: module docstring). ``detectors`` is hashed always: the ``paper`` detector's measure changed (a contiguous
#: template became the paper's formula), so runs stored before must not resume into the new one.
LATER_FIELDS = ("dataset", "attacks", "channel", "attack_sentences", "attack_time_budget_s", "detector_weight",
                "precision")
#: What a later field held in runs stored before it, where that is not its default: ``precision`` defaults to
#: ``auto`` (resolved on construction), and runs before it existed ran float32.
LATER_FIELD_PAST = {"precision": "fp32"}
#: The default detectors: the paper's check (primary), the original code's three measures and synthcheck's
#: first reading of the paper, side by side on the same audio (:mod:`synthcheck.audio.pearson`).
PAPER_DETECTORS = ("paper", "seed-corrcoef", "seed-xcorrelation", "seed-stretched", "xcorr-template")


def paper_sentences() -> tuple[str, ...]:
    """The ten clauses of the paper's experiment (from :mod:`synthcheck.data.two_cities`)."""
    from synthcheck.data.two_cities import PAPER_SENTENCES

    return tuple(PAPER_SENTENCES)


@dataclass(frozen=True)
class ItemSpec:
    """One unit of work: one sentence rendered by one voice (or recorded) through one channel.

    ``key`` names the item in the store and seeds its randomness, so results do not depend on the
    order (or the process) in which items run. Every attack kind of the config attacks the same item (its
    clean stage runs once).
    """

    key: str
    index: int
    sentence: str
    voice: str
    snr_db: float
    dataset: str = TTS_DATASET


def group_name(voice: str, snr_db: float, dataset: str = TTS_DATASET, attack: str = DEFAULT_ATTACK) -> str:
    """Name of a (dataset, voice, SNR, attack) sweep cell: ``"en-US@28dB"``, ``"two-cities-human:en-US@28dB"``,
    ``"en-US@28dB+adaptive-likelihood"`` (the default ``targeted`` attack is not named).

    For a recorded set the voice is the one single-voice detectors re-synthesise with.
    """
    cell = f"{voice}@{snr_db:g}dB"
    cell = cell if dataset == TTS_DATASET else f"{dataset}:{cell}"
    return cell if attack == DEFAULT_ATTACK else f"{cell}+{attack}"


@dataclass(frozen=True)
class ExperimentConfig:
    """Every knob of the experiment; serialised with each run and hashed for the resume check.

    Parameters
    ----------
    sentences
        Source sentences s (empty: the paper's ten clauses; for a recorded set its first ten utterances).
        With a recorded set they select its utterances by text (the stored text is the set's own).
    dataset
        ``"tts"`` (render the sentences) or a registered set: ``"two-cities-human"``, ``"alsa-human"`` (human
        speech), ``"two-cities-tts"`` (their pico2wave rendering).
    tts_engine, voices
        Synthiser engine and the voices to render with (one per sweep cell); with a recorded set, the
        voice single-voice detectors re-synthesise with.
    channel
        The channel y1 passes through (:data:`synthcheck.audio.channel.CHANNEL_KINDS`): ``"awgn"`` (the
        paper's AWGN after attenuation, the default) or ``"room"`` (:class:`~synthcheck.audio.channel.RoomChannel`:
        the paper's played-and-recorded y1, simulated with a small room's default geometry).
    snr_dbs, attenuation
        Channel noise: signal-to-noise ratios in dB (one per sweep cell) and gain applied before the noise
        (the paper's: :data:`~synthcheck.audio.channel.PAPER_SNR_DB`,
        :data:`~synthcheck.audio.channel.PAPER_ATTENUATION`); y1 is then rounded to 16 bits.
    recognizer
        Recogniser name (see :data:`synthcheck.asr.RECOGNIZERS`).
    precision
        Precision of the attack's white-box passes (:mod:`synthcheck.asr.precision`): ``fp32``, ``bf16``, or
        ``auto`` (the default), resolved here to ``bf16`` when the CPU has bfloat16 units, else ``fp32``; the
        stored config holds the resolved one. Confirmations and detectors run in float32 either way.
    target
        The attack's target transcript (attack kinds with small-edit targets edit each sentence instead).
    attacks
        Attack kinds (:data:`synthcheck.attacks.kinds.ATTACK_KINDS`, one sweep cell each): the paper's
        ``targeted`` by default; ``small-edit`` and the adaptive kinds that know a detector run side by side.
    attack_steps, attack_batch_size
        Attack optimisation steps, and how many items one batched attack call handles.
    attack_stop_db_x
        A batch stops early once every item has a confirmed-style success at or below this dB_x
        (None: always run ``attack_steps``). -45 dB_x corresponds to an energy SNR of about 32 dB on
        pico2wave clauses; it bounds the cost of the default run.
    attack_sentences
        Indices of the sentences attacked (empty: all). The others only run the clean stage: a larger clean
        set calibrates thresholds while a few items are attacked (``evaluate-detectors``).
    attack_time_budget_s
        Seconds of optimisation per attack batch at most (None: ``attack_steps`` only). A budget makes results
        depend on the machine's speed.
    detector_weight
        λ of the adaptive attack kinds' detector penalty (unused by the others).
    comparator_mode
        Correlation of the ``paper`` detector: ``paper`` (``xcorr-paper``, the paper's formula), ``template``
        or ``full`` (the template cross-correlations of :mod:`synthcheck.audio.correlation`).
    detectors
        Named detector configurations scoring every item; the first is the primary one. Default
        :data:`PAPER_DETECTORS`: the paper's check, the original code's measures and ``xcorr-template``.
    threshold
        Threshold of the primary detector (``None``: its calibrated default; ``paper``: 0.4).
    seed
        Root seed; per-item seeds derive from it and the item key.
    """

    #: The results store's domain of this config (:mod:`synthcheck.experiments.domains`).
    domain: ClassVar[str] = "speech"

    sentences: tuple[str, ...] = ()
    dataset: str = TTS_DATASET
    tts_engine: str = "pico2wave"
    voices: tuple[str, ...] = ("en-US",)
    channel: str = "awgn"
    snr_dbs: tuple[float, ...] = (PAPER_SNR_DB,)
    attenuation: float = PAPER_ATTENUATION
    recognizer: str = "whisper-base"
    precision: str = "auto"
    target: str = PAPER_TARGET
    attacks: tuple[str, ...] = (DEFAULT_ATTACK,)
    attack_steps: int = 1000
    attack_batch_size: int = 5
    attack_stop_db_x: float | None = -45.0
    attack_sentences: tuple[int, ...] = ()
    attack_time_budget_s: float | None = None
    detector_weight: float = 1.0
    comparator_mode: str = "paper"
    detectors: tuple[str, ...] = PAPER_DETECTORS
    threshold: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dataset not in EXPERIMENT_DATASETS:
            raise BadInputError(f"config: unknown dataset {self.dataset!r}; "
                                f"choose one of: {', '.join(EXPERIMENT_DATASETS)}")
        sentences = tuple(str(s).strip() for s in self.sentences)
        if any(not s for s in sentences):
            raise BadInputError("config: empty sentence in the sentence list; remove blank lines")
        object.__setattr__(self, "sentences", default_sentences(self.dataset, sentences))
        object.__setattr__(self, "voices", tuple(str(v) for v in self.voices))
        object.__setattr__(self, "snr_dbs", tuple(float(s) for s in self.snr_dbs))
        object.__setattr__(self, "detectors", tuple(str(d).strip() for d in self.detectors))
        object.__setattr__(self, "attacks", tuple(str(a).strip() for a in self.attacks))
        object.__setattr__(self, "attack_sentences", tuple(int(i) for i in self.attack_sentences))
        try:
            object.__setattr__(self, "precision", resolve_precision(str(self.precision)))
        except BadInputError as exc:
            raise BadInputError(f"config: {exc}") from None
        self._validate_detectors()
        if self.threshold is None:
            object.__setattr__(self, "threshold", self.detector_config(self.detectors[0]).threshold)
        self._validate()

    def _validate_detectors(self) -> None:
        from synthcheck.detect.registry import COMPARATORS
        from synthcheck.detect.configs import DETECTOR_NAMES

        if not self.detectors:
            raise BadInputError(f"config: give at least one detector, e.g. paper; known: {', '.join(DETECTOR_NAMES)}")
        unknown = [d for d in self.detectors if d not in DETECTOR_NAMES]
        if unknown:
            raise BadInputError(f"config: unknown detector {unknown[0]!r}; choose from: {', '.join(DETECTOR_NAMES)}")
        resolved = [self.detector_config(d).name for d in self.detectors]
        if len(set(resolved)) != len(resolved):
            raise BadInputError(f"config: detectors {', '.join(self.detectors)} name one configuration twice")
        if f"xcorr-{self.comparator_mode}" not in COMPARATORS:
            raise BadInputError(f"config: comparator_mode {self.comparator_mode!r} is not one of paper, template, full")

    def _validate(self) -> None:
        from synthcheck.attacks.kinds import ATTACK_KINDS

        if not self.voices or not self.snr_dbs or not self.attacks:
            raise BadInputError("config: give at least one voice, one SNR and one attack")
        if not all(math.isfinite(snr) for snr in self.snr_dbs):
            raise BadInputError(f"config: every SNR must be a finite number of dB, got {list(self.snr_dbs)}")
        if not 0.0 < self.attenuation <= 1.0:  # NaN too
            raise BadInputError(f"config: attenuation must be in (0, 1], got {self.attenuation}")
        try:
            for kind in self.attacks:
                ATTACK_KINDS[kind]
        except BadInputError as exc:
            raise BadInputError(f"config: {exc}") from None
        if len(set(self.attacks)) != len(self.attacks):
            raise BadInputError(f"config: attack kinds {', '.join(self.attacks)} name one kind twice")
        outside = [i for i in self.attack_sentences if not 0 <= i < len(self.sentences)]
        if outside:
            raise BadInputError(f"config: attack_sentences index {outside[0]} is outside the {len(self.sentences)} "
                                "sentences (indices start at 0)")
        if self.attack_time_budget_s is not None and not self.attack_time_budget_s > 0:
            raise BadInputError(f"config: attack_time_budget_s must be > 0 seconds, got {self.attack_time_budget_s}")
        if not self.detector_weight >= 0:
            raise BadInputError(f"config: detector_weight must be >= 0, got {self.detector_weight}")
        if not self.target.strip():
            raise BadInputError("config: the attack target is empty; give a target sentence")
        if self.attack_steps < 1 or self.attack_batch_size < 1:
            raise BadInputError("config: attack_steps and attack_batch_size must be at least 1")
        # all-of detectors score min_k score_k / threshold_k in [0, inf); the others score in [0, 1]
        upper = math.inf if self.detector_config(self.primary_detector).members else 1.0
        if not 0.0 < self.threshold < upper:
            raise BadInputError(f"config: threshold {self.threshold} is outside (0, {upper:g}) for detector "
                                f"{self.primary_detector}; the paper uses 0.4")
        if not 0.0 < self.attenuation <= 1.0:
            raise BadInputError(f"config: attenuation {self.attenuation} is outside (0, 1]")
        if self.channel not in CHANNEL_KINDS:
            raise BadInputError(f"config: unknown channel {self.channel!r}; choose one of: {', '.join(CHANNEL_KINDS)}")

    @classmethod
    def quick(cls, **overrides: Any) -> ExperimentConfig:
        """The small ``--quick`` run: three sentences (of the dataset), whisper-tiny.en, 150 attack steps.

        ``overrides`` are config-file style values (lists allowed) and win over the quick settings.
        """
        dataset = overrides.get("dataset", TTS_DATASET)
        base = {
            "sentences": default_sentences(dataset, ())[:QUICK_SENTENCES],
            "recognizer": QUICK_RECOGNIZER,
            "attack_steps": QUICK_ATTACK_STEPS,
            "attack_batch_size": QUICK_SENTENCES,
        }
        return cls.from_dict({**base, **overrides})

    @property
    def primary_detector(self) -> str:
        """The detector behind the headline verdicts (the first of :attr:`detectors`)."""
        return self.detectors[0]

    def detector_config(self, name: str) -> Any:
        """The :class:`~synthcheck.detect.configs.DetectorConfig` a detector name means for this recogniser."""
        from synthcheck.detect.configs import DETECTOR_CONFIGS, resolve_config_name

        return DETECTOR_CONFIGS[resolve_config_name(name, self.recognizer)]

    def with_overrides(self, **overrides: Any) -> ExperimentConfig:
        """A copy with the given fields replaced (``None`` values are ignored).

        A threshold that is the primary detector's default follows a change of detectors or recogniser.
        """
        changes = {k: v for k, v in overrides.items() if v is not None}
        follows = self.threshold == self.detector_config(self.primary_detector).threshold
        if follows and "threshold" not in changes and {"detectors", "recognizer"} & set(changes):
            changes["threshold"] = None
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Build from a dict such as :meth:`to_dict` output (missing keys take the defaults)."""
        values = _check_keys(data, cls)
        for name in ("sentences", "voices", "snr_dbs", "detectors", "attacks", "attack_sentences"):
            if name in values and isinstance(values[name], (str, int, float)):
                values[name] = [values[name]]
            if name in values:
                values[name] = tuple(values[name])
        try:
            return cls(**values)
        except TypeError as exc:
            raise BadInputError(f"config: {exc}") from None

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> ExperimentConfig:
        """The config of a stored run (:meth:`to_dict` output as a results store keeps it).

        A stored config without ``detectors`` predates them: its one detector was the ``paper`` check as
        synthcheck first read it, the contiguous-template correlation now called ``xcorr-template``.
        A stored config without ``precision`` predates it and ran in float32.
        """
        defaults = {"detectors": ["xcorr-template"], "precision": "fp32"}
        return cls.from_dict({**defaults, **data})

    @classmethod
    def from_file(cls, path: str | Path) -> ExperimentConfig:
        """Load a JSON (``.json``) or TOML (anything else) config file (missing keys take the defaults)."""
        return cls.from_dict(read_config_file(path))

    def config_hash(self) -> str:
        """Stable 16-hex-digit hash of the canonical JSON form (the resume check).

        :data:`LATER_FIELDS` holding their default are left out, so configs stored before they existed
        keep their hash.
        """
        defaults = {f.name: f.default for f in fields(self)} | LATER_FIELD_PAST
        values = {k: v for k, v in self.to_dict().items()
                  if not (k in LATER_FIELDS and getattr(self, k) == defaults[k])}
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def items(self) -> list[ItemSpec]:
        """The work items: every (voice, SNR) cell times every sentence, in a fixed order."""
        return [
            ItemSpec(key=f"{group_name(voice, snr, self.dataset)}/s{i:02d}", index=i, sentence=sentence,
                     voice=voice, snr_db=snr, dataset=self.dataset)
            for voice in self.voices
            for snr in self.snr_dbs
            for i, sentence in enumerate(self.sentences)
        ]

    def attacked_items(self) -> list[ItemSpec]:
        """The items every attack kind attacks: those of :attr:`attack_sentences` (all when empty)."""
        chosen = set(self.attack_sentences)
        return [spec for spec in self.items() if not chosen or spec.index in chosen]

    def item_seed(self, key: str) -> int:
        """Seed of one item, derived from the root seed and the item key (order-independent)."""
        digest = hashlib.sha256(f"{self.seed}\x00{key}".encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "little") >> 1

    def item_rng(self, key: str) -> np.random.Generator:
        """The numpy Generator of one item (see :meth:`item_seed`)."""
        return np.random.default_rng(self.item_seed(key))


def default_sentences(dataset: str, sentences: tuple[str, ...]) -> tuple[str, ...]:
    """``sentences`` as a config stores them: for ``"tts"`` as given (empty: the paper's ten); for a
    registered set the matching utterance texts (empty: its first ten, see :func:`.sources.select_utterances`)."""
    if dataset != TTS_DATASET:
        return select_utterances(dataset, sentences)
    return sentences or paper_sentences()


def read_config_file(path: str | Path, config_type: type = ExperimentConfig) -> dict[str, Any]:
    """The settings in a JSON (``.json``) or TOML config file, only those it names; keys that are not fields of
    ``config_type`` (the speech config, or the image one) are refused."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: config file not found")
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: not a valid {kind} config ({exc})") from None
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: a config file must hold a table/object of settings")
    return _check_keys(data, config_type)


def _check_keys(data: dict[str, Any], config_type: type) -> dict[str, Any]:
    known = {f.name for f in fields(config_type)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadInputError(f"config: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    return dict(data)


def read_sentences_file(path: str | Path) -> tuple[str, ...]:
    """One sentence per non-blank line (``#`` starts a comment line)."""
    from synthcheck.tts.text import MAX_TEXT_CHARS

    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory; give a text file with one sentence per line")
    if not path.is_file():
        raise BadInputError(f"{path}: sentences file not found")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                            "save the sentences file as UTF-8") from None
    sentences = tuple(line for line in lines if line and not line.startswith("#"))
    if not sentences:
        raise BadInputError(f"{path}: no sentences in the file (one sentence per line)")
    longest = max(sentences, key=len)
    if len(longest) > MAX_TEXT_CHARS:
        raise BadInputError(f"{path}: a sentence is {len(longest)} characters, more than {MAX_TEXT_CHARS}; "
                            "put one sentence per line")
    return sentences


__all__ = [
    "LATER_FIELDS",
    "PAPER_DETECTORS",
    "PAPER_TARGET",
    "ExperimentConfig",
    "ItemSpec",
    "default_sentences",
    "group_name",
    "paper_sentences",
    "read_config_file",
    "read_sentences_file",
]
