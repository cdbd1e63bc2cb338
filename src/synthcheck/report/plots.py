"""The report's figures as PNG bytes (matplotlib, Agg backend): the paper's Fig. 4, ROC, score histograms."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from synthcheck.experiments.metrics import ExperimentMetrics  # noqa: E402
from synthcheck.experiments.store import ItemRecord  # noqa: E402

_CLEAN, _ADVERSARIAL, _FAILED, _THRESHOLD = "tab:blue", "tab:red", "tab:gray", "0.35"


def scores_by_sentence_png(records: Sequence[ItemRecord], threshold: float) -> bytes:
    """The paper's Fig. 4: rho_max per sentence index, clean (o) vs adversarial (x), threshold line.

    Attacks that did not reach the target are drawn apart (+): they are not adversarial examples.

    Items of different sweep cells are drawn side by side around each index.
    """
    groups = sorted({r.spec.group for r in records}, key=[r.spec.group for r in records].index)
    width = 0.6 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for g, group in enumerate(groups):
        offset = (g - (len(groups) - 1) / 2) * width
        mine = [r for r in records if r.spec.group == group]
        suffix = f" ({group})" if len(groups) > 1 else ""
        clean = [(r.spec.index + 1 + offset, r.clean["score"]) for r in mine if r.clean is not None]
        adv = [(r.spec.index + 1 + offset, r.attack["score"]) for r in mine if r.attack and r.attack["success"]]
        failed = [(r.spec.index + 1 + offset, r.attack["score"]) for r in mine if r.attack and not r.attack["success"]]
        if clean:
            ax.scatter(*zip(*clean), marker="o", facecolors="none", edgecolors=_CLEAN, label=f"clean{suffix}")
        if adv:
            ax.scatter(*zip(*adv), marker="x", color=_ADVERSARIAL, label=f"adversarial{suffix}")
        if failed:
            ax.scatter(*zip(*failed), marker="+", color=_FAILED, label=f"attack failed{suffix}")
    ax.axhline(threshold, color=_THRESHOLD, linestyle="--", label=f"threshold {threshold:g}")
    n = max((r.spec.index + 1 for r in records), default=1)
    ax.set_xticks(range(1, n + 1))
    ax.set_xlim(0.4, n + 0.6)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("sentence index")
    ax.set_ylabel(r"$\rho_{max}$")
    ax.set_title("Consistency score per sentence (paper Fig. 4)")
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def roc_png(metrics: ExperimentMetrics) -> bytes:
    """ROC of the detector (adversarial = positive, ranked by -score) with its AUC."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    if metrics.roc_fpr:
        ax.step(metrics.roc_fpr, metrics.roc_tpr, where="post", color=_ADVERSARIAL, label=f"AUC = {metrics.auc:.3f}")
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "needs clean items and\nsuccessful attacks", ha="center", va="center")
    ax.plot([0, 1], [0, 1], color=_THRESHOLD, linestyle=":")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false-positive rate (clean flagged)")
    ax.set_ylabel("detection rate (adversarial flagged)")
    ax.set_title("ROC")
    return _png(fig)


def score_histogram_png(records: Sequence[ItemRecord], threshold: float) -> bytes:
    """Histograms of clean, adversarial and failed-attack scores on shared bins in [0, 1]."""
    clean = [r.clean["score"] for r in records if r.clean is not None]
    adv = [r.attack["score"] for r in records if r.attack and r.attack["success"]]
    failed = [r.attack["score"] for r in records if r.attack and not r.attack["success"]]
    bins = np.linspace(0.0, 1.0, 21)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.hist(clean, bins=bins, alpha=0.6, color=_CLEAN, label=f"clean (n={len(clean)})")
    ax.hist(adv, bins=bins, alpha=0.6, color=_ADVERSARIAL, label=f"adversarial (n={len(adv)})")
    if failed:
        ax.hist(failed, bins=bins, alpha=0.6, color=_FAILED, label=f"attack failed (n={len(failed)})")
    ax.axvline(threshold, color=_THRESHOLD, linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel(r"$\rho_{max}$")
    ax.set_ylabel("items")
    ax.set_title("Score distributions")
    ax.legend(fontsize=8)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


__all__ = ["roc_png", "score_histogram_png", "scores_by_sentence_png"]
