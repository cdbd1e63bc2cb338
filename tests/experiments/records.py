"""Build typed result rows for metric and report tests (the same results the pipeline commits)."""

from __future__ import annotations

from dataclasses import dataclass

from synthcheck.experiments.config import ItemSpec
from synthcheck.experiments.results import AttackOutcome, CleanResult, DetectorScore, ResultRow
from synthcheck.experiments.store import ResultsStore

#: The detector name the built rows are scored by.
PRIMARY = "paper"


def scored(score: float, threshold: float = 0.4, detector: str = PRIMARY) -> dict[str, DetectorScore]:
    """One detector's verdict on one stage: flagged below ``threshold``."""
    return {detector: DetectorScore(score=score, threshold=threshold, consistent=score >= threshold)}


def clean_result(score: float, transcript: str = "a sentence", **fields: object) -> CleanResult:
    """A clean stage result scored ``score`` by :data:`PRIMARY` (other fields as given)."""
    return CleanResult(transcript=transcript, detectors=scored(score), **fields)


def attack_outcome(score: float, transcript: str = "he travels the fastest who travels alone",
                   **fields: object) -> AttackOutcome:
    """An attack outcome scored ``score`` by :data:`PRIMARY` (other fields as given)."""
    return AttackOutcome(transcript=transcript, detectors=scored(score), **fields)


def record(index: int, clean_score: float | None, adv_score: float | None = None, *, success: bool = True,
           wer: float = 0.0, threshold: float = 0.4, snr_db: float = 30.0, db_x: float = -40.0,
           voice: str = "en-US", snr: float = 28.0, attack: str = "targeted", dataset: str = "tts") -> ResultRow:
    """One item with a clean result (if ``clean_score``) and an ``attack`` outcome (if ``adv_score``)."""
    cell = f"{voice}@{snr:g}dB" if dataset == "tts" else f"{dataset}:{voice}@{snr:g}dB"
    spec = ItemSpec(key=f"{cell}/s{index:02d}", index=index, sentence=f"sentence {index}", voice=voice, snr_db=snr,
                    dataset=dataset)
    clean = None if clean_score is None else CleanResult(
        transcript=f"sentence {index}", detectors=scored(clean_score, threshold), wer=wer)
    outcome = None if adv_score is None else AttackOutcome(
        transcript="he travels the fastest who travels alone", detectors=scored(adv_score, threshold),
        success=success, snr_db=snr_db, db_x=db_x, wer_target=0.0 if success else 0.5, wer_source=1.0)
    return ResultRow(spec=spec, attack_kind=attack, clean=clean, attack=outcome)


@dataclass(frozen=True)
class StoredRow:
    """An item's stored results as JSON dicts (``None`` until done): what a test compares across runs."""

    spec: ItemSpec
    clean: dict | None
    attack: dict | None


def stored_rows(store: ResultsStore, kind: str = "targeted") -> list[StoredRow]:
    """Every item of ``store`` with its clean result and its ``kind`` outcome as ``to_dict`` dicts."""
    return [StoredRow(r.spec, None if r.clean is None else r.clean.to_dict(),
                      None if kind not in r.attacks else r.attacks[kind].to_dict()) for r in store.records()]
