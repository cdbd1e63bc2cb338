"""Typed stage results: what one stage of one item produced, as stored and as read back.

Every stage result is a dataclass with ``to_dict`` (the JSON the results store keeps) and ``from_dict`` (its
inverse; non-finite numbers, stored as ``null``, come back as NaN/inf). Metrics, plots and reports read these
attributes, never JSON keys.

* :class:`DetectorScore` — one detector configuration's verdict on one audio/transcript pair.
* :class:`CleanResult` — stage ``clean`` of an item: t1 = ASR(y1), its WER, every detector's score of (y1, t1).
* :class:`AttackOutcome` — one attack kind on an item: the confirmed success, t2, the perturbation's size and
  every detector's score of (y2, t2).
* :class:`ItemRecord` — an item with its clean result and one attack outcome per attack kind (the store's row);
  :class:`ResultRow` — one (item, attack kind) pair, what tables and plots show a line or a point for.

Results stored before several detectors existed hold one verdict at the top level (``score``, ``threshold``,
``consistent``); :meth:`CleanResult.from_dict` reads it as the primary detector's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from synthcheck.attacks.result import NoiseLevels
from synthcheck.experiments.config import ItemSpec, group_name
from synthcheck.jsonable import json_safe


def _number(value: Any, missing: float = math.nan) -> float:
    return missing if value is None else float(value)


@dataclass(frozen=True)
class DetectorScore:
    """One detector's verdict: its ``score`` (low = inconsistent), ``threshold`` and decision.

    ``config`` is the resolved configuration name (``likelihood`` resolves to ``likelihood-tiny.en``…);
    ``seconds`` the detector's wall time, ``compare_seconds`` its re-synthesis + comparison part (NaN when not
    measured: the recogniser's own time is not the detector's cost).
    """

    score: float
    threshold: float
    consistent: bool
    reason: str = ""
    config: str = ""
    seconds: float = math.nan
    compare_seconds: float = math.nan

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorScore:
        """The inverse of ``asdict`` (older rows lack the later keys)."""
        return cls(score=_number(data["score"]), threshold=_number(data.get("threshold")),
                   consistent=bool(data["consistent"]), reason=str(data.get("reason", "")),
                   config=str(data.get("config", "")), seconds=_number(data.get("seconds")),
                   compare_seconds=_number(data.get("compare_seconds")))


@dataclass(frozen=True)
class StageResult:
    """What every stage result holds: the transcript judged, each detector's verdict (primary first), the
    run-relative paths of the audio written (``audio``: name → path) and the judged audio's duration."""

    transcript: str
    detectors: dict[str, DetectorScore]
    audio: dict[str, str] = field(default_factory=dict)
    input_seconds: float = math.nan

    @property
    def primary(self) -> DetectorScore:
        """The primary detector's verdict (the first configured)."""
        return next(iter(self.detectors.values()))

    @property
    def score(self) -> float:
        """The primary detector's score."""
        return self.primary.score

    @property
    def consistent(self) -> bool:
        """The primary detector's decision."""
        return self.primary.consistent

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN/inf as None)."""
        return json_safe(asdict(self))

    @classmethod
    def _common(cls, data: Mapping[str, Any], detectors: Sequence[str]) -> dict[str, Any]:
        if "detectors" in data:  # stored with sorted keys: put them in the configured order, primary first
            stored = data["detectors"]
            order = [*(n for n in detectors if n in stored), *(n for n in stored if n not in detectors)]
            scores = {name: DetectorScore.from_dict(stored[name]) for name in order}
        else:  # stored before several detectors existed: the top-level verdict is the primary's
            scores = {detectors[0]: DetectorScore.from_dict(data)}
        return {"transcript": str(data["transcript"]), "detectors": scores, "audio": dict(data.get("audio", {})),
                "input_seconds": _number(data.get("input_seconds"))}


@dataclass(frozen=True)
class CleanResult(StageResult):
    """Stage ``clean``: t1 = ASR(y1) with its WER against the true text, the channel that made y1 and the
    stage's compute time."""

    wer: float = math.nan
    channel: dict[str, Any] = field(default_factory=dict)
    compute_seconds: float = math.nan

    @property
    def exact(self) -> bool:
        """The recogniser got the text exactly right (WER 0 after normalisation)."""
        return self.wer == 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], detectors: Sequence[str]) -> CleanResult:
        """The inverse of :meth:`to_dict`; ``detectors`` (the config's, primary first) orders the verdicts and
        names a pre-multi-detector row's one verdict."""
        return cls(**cls._common(data, detectors), wer=_number(data.get("wer")), channel=dict(data.get("channel", {})),
                   compute_seconds=_number(data.get("compute_seconds")))


@dataclass(frozen=True)
class AttackOutcome(StageResult):
    """One attack kind on an item: its confirmed ``success``, the ``target``, t2's WER against the target and the
    source, and the 16-bit adversarial's distortion (dB_x, energy and fitted SNR, the perturbation's L2 norm
    ``l2``; the attack's final L∞ radius ``linf_bound`` in 16-bit steps; steps run and the batch's wall time).
    A random-noise search also reports its levels (``noise``)."""

    success: bool = False
    target: str = ""
    wer_target: float = math.nan
    wer_source: float = math.nan
    db_x: float = math.nan
    snr_db: float = math.nan
    fitted_snr_db: float = math.nan
    linf_bound: float = math.nan
    steps: int = 0
    first_success_step: int | None = None
    seconds: float = math.nan
    l2: float = math.nan
    noise: NoiseLevels | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], detectors: Sequence[str]) -> AttackOutcome:
        """The inverse of :meth:`to_dict` (as :meth:`CleanResult.from_dict`; a zero perturbation's dB_x, stored as
        null, is -inf, its SNRs +inf)."""
        return cls(
            **cls._common(data, detectors), success=bool(data["success"]), target=str(data.get("target", "")),
            wer_target=_number(data.get("wer_target")), wer_source=_number(data.get("wer_source")),
            db_x=_number(data.get("db_x"), -math.inf), snr_db=_number(data.get("snr_db"), math.inf),
            fitted_snr_db=_number(data.get("fitted_snr_db"), math.inf),
            # results stored before the rename (schema 1) call the final L∞ radius "bound"
            linf_bound=_number(data.get("linf_bound", data.get("bound"))), steps=int(data.get("steps", 0)),
            first_success_step=data.get("first_success_step"), seconds=_number(data.get("seconds")),
            l2=_number(data.get("l2")), noise=None if data.get("noise") is None else NoiseLevels(**data["noise"]),
        )


@dataclass(frozen=True)
class ItemRecord:
    """One item as stored: its spec, its clean result and one outcome per attack kind (absent until done), and
    how often each stage was started (``attempts``: stage name → count)."""

    spec: ItemSpec
    clean: CleanResult | None
    attacks: dict[str, AttackOutcome]
    attempts: dict[str, int]


@dataclass(frozen=True)
class ResultRow:
    """One (item, attack kind) pair: the item's clean result and that kind's outcome (None until done)."""

    spec: ItemSpec
    attack_kind: str
    clean: CleanResult | None
    attack: AttackOutcome | None

    @property
    def cell(self) -> tuple[str, str, float, str]:
        """The sweep cell: (dataset, voice, SNR, attack kind)."""
        return self.spec.dataset, self.spec.voice, self.spec.snr_db, self.attack_kind

    @property
    def group(self) -> str:
        """The cell's display name (:func:`~synthcheck.experiments.config.group_name`)."""
        return group_name(self.spec.voice, self.spec.snr_db, self.spec.dataset, self.attack_kind)


def result_rows(records: Sequence[ItemRecord], attack_kinds: Sequence[str]) -> list[ResultRow]:
    """One row per attack kind and item (kinds outermost, as sweep cells are listed)."""
    return [ResultRow(r.spec, kind, r.clean, r.attacks.get(kind)) for kind in attack_kinds for r in records]


__all__ = ["AttackOutcome", "CleanResult", "DetectorScore", "ItemRecord", "ResultRow", "StageResult",
           "result_rows"]
