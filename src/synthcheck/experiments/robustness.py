"""Random noise versus adversarial perturbation on a real recogniser (``synthcheck robustness``).

The paper's hypothesis: a classifier that decides from a compressed ``z = h(y) ∈ R^M`` of ``y ∈ R^N`` tolerates
random noise but falls to perturbations about ``sqrt(M/N)`` times smaller. Here both are measured on the
recogniser's own decisions, per clause and voice, as experiments of the shared driver (one run directory per
source under ``<work dir>/<source>/``, resumable, on any executor):

* ``random-noise`` (:class:`~synthcheck.attacks.noise.RandomNoiseSearch`): the smallest Gaussian noise that changes
  the transcript — the original code's grid and first-flip rule, and the refined level at which half the seeded
  draws change it;
* ``untargeted``: the smallest white-box perturbation that changes the transcript (the bound shrinks on success);
* ``targeted`` (optional): the paper's attack to "he travels the fastest who travels alone".

Inputs are the clean renderings rounded to 16 bits (channel ``none``: the original adds its noise to the
pico2wave rendering itself). :func:`robustness_rows` turns the runs' typed rows into one
:class:`RobustnessRow` per clause — the random radius ‖w_random‖, the adversarial norms ‖w_adv‖, their ratio
beside ``sqrt(N/M)`` (``M`` = the recogniser encoder's width, :data:`ENCODER_WIDTH`), and every detector's score
of each changed transcript (noise-induced and adversarial) — and :func:`summarise` gives median and spread per
source.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.asr.precision import resolve_precision
from synthcheck.cache import atomic_write_bytes, content_key
from synthcheck.errors import BadInputError
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.experiments.config import PAPER_TARGET, ExperimentConfig
from synthcheck.experiments.metrics import median_finite
from synthcheck.experiments.results import AttackOutcome, ResultRow
from synthcheck.experiments.settings_file import SETTINGS_FILE, read_settings_file, settings_from_dict
from synthcheck.jsonable import json_safe

log = logging.getLogger(__name__)

#: ``M`` of ``sqrt(N/M)`` per recogniser: the width of Whisper's encoder output (per frame; also the mean-pooled
#: summary that ``synthcheck theory fragility`` measures). pocketsphinx: its 39 MFCC features per frame.
ENCODER_WIDTH = {"whisper-tiny.en": 384, "whisper-base": 512, "pocketsphinx": 39}
#: The recogniser whose encoder ``synthcheck theory fragility`` can measure (:mod:`synthcheck.theory.applied`).
FRAGILITY_RECOGNIZER = "whisper-tiny.en"
#: Where the fragility ratios of a work directory are kept (one entry per clause, written as they are measured).
FRAGILITY_FILE = "fragility.json"
#: The human reading used as a source by default.
HUMAN_SOURCE = "two-cities-human"
#: The original experiment's first flips (DeepSpeech v0.2.0, its results file): per clause of the paper's ten, the
#: first ``t`` at which the transcript changed and the SNR (dB) there.
ORIGINAL_FIRST_FLIPS: tuple[tuple[int, float], ...] = (
    (50, 34.0), (70, 37.0), (70, 36.9), (70, 36.8), (610, 55.6), (610, 55.7), (10, 20.0), (30, 29.5), (610, 55.7),
    (610, 55.7),
)


@dataclass(frozen=True)
class RobustnessSettings:
    """What ``synthcheck robustness`` measures; stored in its work directory.

    ``voices`` are ``engine:voice`` ids (each a source); ``human`` adds the LibriVox reading
    (:data:`HUMAN_SOURCE`). ``sentences`` (empty: the first ``n`` clauses of *A Tale of Two Cities*, the paper's
    ten by default) are rendered by every voice; the human source reads its own first ``n`` clauses.
    ``steps`` bounds each white-box search (the bound keeps shrinking: no early stop). ``fragility`` also
    measures Theorem 2's ratio ``σ_max(J) / E‖J o‖`` of Whisper tiny.en's mean-pooled encoder at every clause
    (:mod:`synthcheck.theory.fragility`, about 10 s per clause; tiny.en only).
    """

    recognizer: str = "whisper-tiny.en"
    voices: tuple[str, ...] = ("pico2wave:en-US", "pico2wave:en-GB", "espeak-ng:en-us", "flite:slt")
    human: bool = True
    n: int = 10
    sentences: tuple[str, ...] = ()
    steps: int = 300
    targeted: bool = True
    detectors: tuple[str, ...] = ("paper", "likelihood+align")
    batch_size: int = 5
    fragility: bool = False
    seed: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("voices", "sentences", "detectors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "precision", resolve_precision(self.precision))
        if self.n < 1 or self.steps < 1 or self.batch_size < 1:
            raise BadInputError("robustness: n, steps and batch_size must be at least 1")
        if not self.voices and not self.human:
            raise BadInputError("robustness: give at least one voice (--voices) or keep the human reading")
        for voice in self.voices:
            engine, _, name = voice.partition(":")
            if not name:
                raise BadInputError(f"robustness: voice {voice!r} is not engine:voice, e.g. pico2wave:en-US")
        if self.fragility and self.recognizer != FRAGILITY_RECOGNIZER:
            raise BadInputError(f"robustness: the fragility ratio is measured on {FRAGILITY_RECOGNIZER} only; "
                                "drop --fragility or use that recogniser")
        if self.recognizer not in ENCODER_WIDTH:
            raise BadInputError(f"robustness: unknown recogniser {self.recognizer!r}; choose one of: "
                                f"{', '.join(ENCODER_WIDTH)}")

    @property
    def attacks(self) -> tuple[str, ...]:
        """The perturbation kinds each source runs."""
        return ("random-noise", "untargeted", *(("targeted",) if self.targeted else ()))

    def sources(self) -> dict[str, ExperimentConfig]:
        """One experiment per source: each voice, then the human reading."""
        from synthcheck.data.datasets import two_cities_clauses

        sentences = self.sentences or tuple(two_cities_clauses()[: self.n])
        common = dict(recognizer=self.recognizer, precision=self.precision, channel="none", target=PAPER_TARGET,
                      attacks=self.attacks, attack_steps=self.steps, attack_batch_size=self.batch_size, attack_stop_db_x=None,
                      detectors=self.detectors, seed=self.seed)
        out = {}
        for voice in self.voices:
            engine, _, name = voice.partition(":")
            out[voice] = ExperimentConfig(sentences=sentences, tts_engine=engine, voices=(name,), **common)
        if self.human:
            from synthcheck.experiments.sources import dataset_texts

            texts = dataset_texts(HUMAN_SOURCE)[: self.n] if not self.sentences else self.sentences
            out[HUMAN_SOURCE] = ExperimentConfig(sentences=texts, dataset=HUMAN_SOURCE, **common)
        return out

    def key(self) -> str:
        """Content hash of the settings (names the work directory). ``fragility`` counts only when asked for, so
        work directories of runs without it keep their name (and resume)."""
        values = {k: v for k, v in self.to_dict().items() if not (k == "fragility" and not v)}
        return content_key(json.dumps(values, sort_keys=True).encode())[:12]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RobustnessSettings:
        """The inverse of :meth:`to_dict` (unknown keys are refused)."""
        return settings_from_dict(cls, data, "robustness settings")


@dataclass(frozen=True)
class FlipScores:
    """Every detector's score of one changed transcript, and which detectors flagged it."""

    transcript: str
    scores: dict[str, float]
    flagged: dict[str, bool]

    @classmethod
    def of(cls, outcome: AttackOutcome | None) -> FlipScores | None:
        """The scores of ``outcome``'s audio and transcript (None when it did not change the transcript)."""
        if outcome is None or not outcome.success:
            return None
        return cls(outcome.transcript, {n: d.score for n, d in outcome.detectors.items()},
                   {n: not d.consistent for n, d in outcome.detectors.items()})


@dataclass(frozen=True)
class RobustnessRow:
    """One clause of one source.

    ``status``: ``"flips"``, ``"above the grid"`` (no noise level of the grid changed the transcript: the radius is
    larger than the grid's loudest noise, ``random_l2`` None) or ``"not measured yet"`` (a partly finished run), and ``clean_exact`` says whether the recogniser got
    the clause right without noise (a clause already misrecognised is reported, not dropped: its radius is the
    noise that changes *what it heard*). Norms are L2 of the added perturbation; ratios are
    ``random_l2 / adversarial l2``; ``sqrt_n_over_m`` the theory's prediction for this clause's length;
    ``fragility_ratio`` Theorem 2's local ratio measured at the clause (None unless asked for).
    """

    source: str
    key: str
    index: int
    sentence: str
    clean_transcript: str
    clean_exact: bool
    status: str
    n_samples: int
    random_l2: float | None
    random_snr_db: float | None
    random_low_l2: float | None
    grid_t: float | None
    grid_snr_db: float | None
    untargeted_l2: float | None
    untargeted_snr_db: float | None
    targeted_l2: float | None
    targeted_snr_db: float | None
    ratio_untargeted: float | None
    ratio_targeted: float | None
    sqrt_n_over_m: float
    fragility_ratio: float | None
    fragility_stderr: float | None
    noise_flip: FlipScores | None
    untargeted_flip: FlipScores | None
    targeted_flip: FlipScores | None


@dataclass(frozen=True)
class RatioSummary:
    """Median and quartiles of the random / untargeted ratio over a source's clauses that flipped both ways, and the
    median Theorem 2 ratio (NaN when not measured)."""

    source: str
    n: int
    n_flipped: int
    n_above_grid: int
    median_ratio: float
    q25_ratio: float
    q75_ratio: float
    median_sqrt_n_over_m: float
    median_fragility_ratio: float


@dataclass
class RobustnessResult:
    """Everything ``synthcheck robustness`` measured."""

    settings: RobustnessSettings
    rows: list[RobustnessRow]
    summaries: list[RatioSummary]
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN as None)."""
        return json_safe({"settings": self.settings.to_dict(), "rows": [asdict(r) for r in self.rows],
                          "summaries": [asdict(s) for s in self.summaries], "versions": self.versions})


def run_robustness(
    settings: RobustnessSettings,
    work_dir: Path,
    *,
    executor: Any = None,
    progress: Callable[[str, str, float, float], None] | None = None,
) -> RobustnessResult:
    """Run (or resume) every source's experiment in ``work_dir/<source>/`` and analyse the rows."""
    from synthcheck.experiments.pipeline import run_experiment

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(work_dir / SETTINGS_FILE, json.dumps(settings.to_dict(), indent=2).encode())
    rows: list[RobustnessRow] = []
    for source, config in settings.sources().items():
        report = None if progress is None else (lambda stage, done, total, s=source: progress(s, stage, done, total))
        run = run_experiment(config, work_dir / _dir_name(source), executor=executor, progress=report)
        ratios = measure_fragility(work_dir, source, run, settings.seed, report) if settings.fragility else {}
        rows += robustness_rows(source, run.rows, settings.recognizer, _lengths(run), ratios)
    return RobustnessResult(settings, rows, summarise(rows), _versions(settings))


def robustness_rows(source: str, rows: Sequence[ResultRow], recognizer: str, lengths: dict[str, int],
                    fragility: dict[str, tuple[float, float]] | None = None) -> list[RobustnessRow]:
    """One :class:`RobustnessRow` per item of ``rows`` (the result rows of one source's experiment);
    ``lengths`` gives each item's sample count (its ``N``), ``fragility`` its measured (ratio, stderr)."""
    fragility = fragility or {}
    m = ENCODER_WIDTH[recognizer]
    by_item: dict[str, dict[str, ResultRow]] = {}
    for row in rows:
        by_item.setdefault(row.spec.key, {})[row.attack_kind] = row
    out = []
    for key, kinds in by_item.items():
        any_row = next(iter(kinds.values()))
        clean = any_row.clean
        noise = kinds.get("random-noise")
        noise_outcome = None if noise is None else noise.attack
        levels = None if noise_outcome is None else noise_outcome.noise
        untargeted = _outcome(kinds, "untargeted")
        targeted = _outcome(kinds, "targeted")
        random_l2 = None if levels is None else levels.level_l2
        n = lengths[key]
        out.append(RobustnessRow(
            source=source, key=key, index=any_row.spec.index, sentence=any_row.spec.sentence,
            clean_transcript="" if clean is None else clean.transcript,
            clean_exact=clean is not None and clean.exact,
            status="not measured yet" if levels is None else "above the grid" if levels.above_grid else "flips",
            n_samples=n, random_l2=random_l2, random_snr_db=None if levels is None else levels.level_snr_db,
            random_low_l2=None if levels is None else levels.low_l2,
            grid_t=None if levels is None else levels.grid_t, grid_snr_db=None if levels is None else levels.grid_snr_db,
            untargeted_l2=_l2(untargeted), untargeted_snr_db=_snr(untargeted),
            targeted_l2=_l2(targeted), targeted_snr_db=_snr(targeted),
            ratio_untargeted=_ratio(random_l2, _l2(untargeted)), ratio_targeted=_ratio(random_l2, _l2(targeted)),
            sqrt_n_over_m=math.sqrt(n / m),
            fragility_ratio=fragility[key][0] if key in fragility else None,
            fragility_stderr=fragility[key][1] if key in fragility else None,
            noise_flip=FlipScores.of(noise_outcome), untargeted_flip=FlipScores.of(untargeted),
            targeted_flip=FlipScores.of(targeted),
        ))
    return out


def summarise(rows: Sequence[RobustnessRow]) -> list[RatioSummary]:
    """Per source: clauses, those with a ratio, those above the grid, and the ratio's median and quartiles."""
    out = []
    for source in dict.fromkeys(r.source for r in rows):
        mine = [r for r in rows if r.source == source]
        ratios = np.array([r.ratio_untargeted for r in mine if r.ratio_untargeted is not None])
        q25, median, q75 = (np.quantile(ratios, [0.25, 0.5, 0.75]) if ratios.size else (math.nan,) * 3)
        out.append(RatioSummary(source=source, n=len(mine), n_flipped=int(ratios.size),
                                n_above_grid=sum(r.status == "above the grid" for r in mine),
                                median_ratio=float(median), q25_ratio=float(q25), q75_ratio=float(q75),
                                median_sqrt_n_over_m=float(np.median([r.sqrt_n_over_m for r in mine])),
                                median_fragility_ratio=median_finite([r.fragility_ratio for r in mine])))
    return out


def read_robustness(work_dir: Path) -> RobustnessResult:
    """The result of a finished or partly finished robustness work directory (sources not started yet are left
    out; items not finished yet have no norms)."""
    from synthcheck.experiments.pipeline import ExperimentRun
    from synthcheck.experiments.store import DB_NAME

    settings = read_settings_file(work_dir, RobustnessSettings,
                                  "runs/robustness-<hash>/ that synthcheck robustness wrote")
    rows: list[RobustnessRow] = []
    for source in settings.sources():
        run_dir = Path(work_dir) / _dir_name(source)
        if not (run_dir / DB_NAME).is_file():
            log.info("%s: not started yet; left out", source)
            continue
        run = ExperimentRun.read(run_dir)
        rows += robustness_rows(source, run.rows, settings.recognizer, _lengths(run), _stored_fragility(work_dir, source))
    return RobustnessResult(settings, rows, summarise(rows), _versions(settings))


def measure_fragility(work_dir: Path, source: str, run: Any, seed: int,
                      progress: Callable[[str, float, float], None] | None = None) -> dict[str, tuple[float, float]]:
    """Theorem 2's ratio of Whisper tiny.en's pooled encoder at each clause's clean input (y1) of ``run``.

    Ratios already in ``work_dir``'s :data:`FRAGILITY_FILE` are kept; each new one is written as it is
    measured (atomically), so a killed run loses at most the clause in flight.
    """
    import torch

    from synthcheck.experiments.store import read_stored_audio
    from synthcheck.theory.applied import fragility_target
    from synthcheck.theory.fragility import fragility

    path = Path(work_dir) / FRAGILITY_FILE
    entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    done = {(e["source"], e["key"]): (e["ratio"], e["stderr"]) for e in entries}
    records = [r for r in run.records if r.clean is not None]
    for count, record in enumerate(records, start=1):
        if (source, record.spec.key) not in done:
            audio = read_stored_audio(run.run_dir, record.clean.audio["channel"])
            target = fragility_target(FRAGILITY_RECOGNIZER, audio=audio, seed=seed)
            report = fragility(target.h, target.x, generator=torch.Generator().manual_seed(seed), iters=8,
                               samples=32, fd_steps=())
            done[(source, record.spec.key)] = (report.ratio, report.ratio_stderr)
            entries.append({"source": source, "key": record.spec.key, "ratio": report.ratio,
                            "stderr": report.ratio_stderr})
            atomic_write_bytes(path, json.dumps(entries, indent=1).encode())
        if progress is not None:
            progress("fragility", count, len(records))
    return {key: value for (s, key), value in done.items() if s == source}


def _stored_fragility(work_dir: Path, source: str) -> dict[str, tuple[float, float]]:
    path = Path(work_dir) / FRAGILITY_FILE
    entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    return {e["key"]: (e["ratio"], e["stderr"]) for e in entries if e["source"] == source}


def _versions(settings: RobustnessSettings) -> dict[str, str]:
    """Software versions, with every source voice's engine and pico2wave's (the paper detector's)."""
    from synthcheck.experiments.pipeline import software_versions

    return software_versions([*settings.voices, "pico2wave:en-US"])


def _lengths(run: Any) -> dict[str, int]:
    """Each item's sample count, from its stored clean audio's duration."""
    return {r.spec.key: round(r.clean.input_seconds * SAMPLE_RATE) for r in run.records if r.clean is not None}


def _dir_name(source: str) -> str:
    return source.replace(":", "-")


def _outcome(kinds: dict[str, ResultRow], kind: str) -> AttackOutcome | None:
    row = kinds.get(kind)
    return None if row is None else row.attack


def _l2(outcome: AttackOutcome | None) -> float | None:
    return outcome.l2 if outcome is not None and outcome.success and math.isfinite(outcome.l2) else None


def _snr(outcome: AttackOutcome | None) -> float | None:
    return outcome.snr_db if outcome is not None and outcome.success else None



def _ratio(random_l2: float | None, adversarial_l2: float | None) -> float | None:
    if random_l2 is None or adversarial_l2 is None or adversarial_l2 <= 0:
        return None
    return random_l2 / adversarial_l2


__all__ = ["ENCODER_WIDTH", "measure_fragility", "ORIGINAL_FIRST_FLIPS", "FlipScores", "RatioSummary", "RobustnessResult",
           "RobustnessRow", "RobustnessSettings", "read_robustness", "robustness_rows", "run_robustness",
           "summarise"]
