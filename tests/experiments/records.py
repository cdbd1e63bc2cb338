"""Build stored-shape item records for metric and report tests (the same dicts the pipeline commits)."""

from __future__ import annotations

from synthcheck.experiments.config import ItemSpec
from synthcheck.experiments.store import ItemRecord


def record(index: int, clean_score: float | None, adv_score: float | None = None, *, success: bool = True,
           wer: float = 0.0, threshold: float = 0.4, snr_db: float = 30.0, db_x: float = -40.0,
           voice: str = "en-US", snr: float = 28.0) -> ItemRecord:
    """One item with a clean result (if ``clean_score``) and an attack result (if ``adv_score``)."""
    spec = ItemSpec(key=f"{voice}@{snr:g}dB/s{index:02d}", index=index, sentence=f"sentence {index}", voice=voice,
                    snr_db=snr)
    clean = None if clean_score is None else {
        "transcript": f"sentence {index}", "score": clean_score, "consistent": clean_score >= threshold, "wer": wer,
    }
    attack = None if adv_score is None else {
        "transcript": "he travels the fastest who travels alone", "score": adv_score,
        "consistent": adv_score >= threshold, "success": success, "snr_db": snr_db, "db_x": db_x,
        "wer_target": 0.0 if success else 0.5, "wer_source": 1.0,
    }
    return ItemRecord(spec=spec, clean=clean, attack=attack, clean_attempts=1, attack_attempts=1)
