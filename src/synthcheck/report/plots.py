"""The report's figures as PNG bytes (matplotlib, Agg backend): the paper's Fig. 4, ROCs, score distributions."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from synthcheck.experiments.metrics import DetectorMetrics, score_roc  # noqa: E402
from synthcheck.experiments.results import ResultRow  # noqa: E402

_CLEAN, _ADVERSARIAL, _FAILED, _THRESHOLD = "tab:blue", "tab:red", "tab:gray", "0.35"


def scores_by_sentence_png(rows: Sequence[ResultRow], detectors: Sequence[str], thresholds: Sequence[float]) -> bytes:
    """The paper's Fig. 4 for each detector (one panel each, the primary first): score per sentence index.

    Clean items are circles, hollow when the recogniser got the transcript exactly right and filled when it
    misheard (the paper's "low blue circles" are such recognition errors); successful adversarial examples are
    red crosses; attacks that did not reach the target are grey plus signs (they are not adversarial examples).
    Items of different sweep cells are drawn side by side around each index.
    """
    columns = min(len(detectors), 3)
    lines = -(-len(detectors) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(5.6 * columns, 3.9 * lines), squeeze=False)
    for ax in axes.flat[len(detectors):]:
        ax.set_visible(False)
    for ax, name, threshold in zip(axes.flat, detectors, thresholds):
        _fig4_panel(ax, rows, name, threshold)
        ax.set_title(f"{name} (the paper's Fig. 4)" if name == detectors[0] else name, fontsize=10)
    axes.flat[0].legend(loc="best", fontsize=7)
    return png_bytes(fig)


def _fig4_panel(ax: Any, rows: Sequence[ResultRow], name: str, threshold: float) -> None:
    groups = list(dict.fromkeys(r.group for r in rows))
    width = 0.6 / max(len(groups), 1)
    top = 1.0
    for g, group in enumerate(groups):
        offset = (g - (len(groups) - 1) / 2) * width
        suffix = f" ({group})" if len(groups) > 1 else ""
        points: dict[str, list[tuple[float, float]]] = {"exact": [], "misheard": [], "adversarial": [], "failed": []}
        for r in (r for r in rows if r.group == group):
            x = r.spec.index + 1 + offset
            if r.clean is not None and name in r.clean.detectors:
                points["exact" if r.clean.exact else "misheard"].append((x, r.clean.detectors[name].score))
            if r.attack is not None and name in r.attack.detectors:
                points["adversarial" if r.attack.success else "failed"].append((x, r.attack.detectors[name].score))
        styles = {
            "exact": dict(marker="o", facecolors="none", edgecolors=_CLEAN, label=f"clean, exact transcript{suffix}"),
            "misheard": dict(marker="o", color=_CLEAN, alpha=0.55, label=f"clean, misrecognised{suffix}"),
            "adversarial": dict(marker="x", color=_ADVERSARIAL, label=f"adversarial{suffix}"),
            "failed": dict(marker="+", color=_FAILED, label=f"attack failed{suffix}"),
        }
        for kind, pts in points.items():
            if pts:
                ax.scatter(*zip(*pts), **styles[kind])
                top = max(top, *(y for _, y in pts))
    if np.isfinite(threshold):
        ax.axhline(threshold, color=_THRESHOLD, linestyle="--", label=f"threshold {threshold:g}")
    n = max((r.spec.index + 1 for r in rows), default=1)
    ax.set_xticks(range(1, n + 1))
    ax.set_xlim(0.4, n + 0.6)
    ax.set_ylim(0, 1.02 * top)
    ax.set_xlabel("sentence index")
    ax.set_ylabel("score (low = inconsistent)")


def roc_png(metrics: Sequence[DetectorMetrics]) -> bytes:
    """ROC of each detector configuration (adversarial = positive, ranked by -score), with AUCs; one panel per
    cell (:attr:`DetectorMetrics.cell`: all rows, then each dataset / attack kind when a run mixes them)."""
    cells = list(dict.fromkeys(m.cell for m in metrics)) or [""]
    columns = min(len(cells), 3)
    rows = -(-len(cells) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.4 * rows), squeeze=False)
    for ax in axes.flat[len(cells):]:
        ax.set_visible(False)
    for ax, cell in zip(axes.flat, cells):
        curves = [m.calibrated for m in metrics if m.cell == cell and m.calibrated.clean_scores
                  and m.calibrated.attacked_scores]
        for c in curves:
            ax.step(*score_roc(c.clean_scores, c.attacked_scores), where="post", label=f"{c.config} (AUC {c.auc:.3f})")
        if curves:
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.text(0.5, 0.5, "needs clean items and\nsuccessful attacks", ha="center", va="center")
        ax.plot([0, 1], [0, 1], color=_THRESHOLD, linestyle=":")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_xlabel("false-positive rate (clean flagged)")
        ax.set_ylabel("detection rate (adversarial flagged)")
        ax.set_title("ROC per detector" if len(cells) == 1 else f"ROC per detector: {cell}", fontsize=10)
    return png_bytes(fig)


def score_histogram_png(rows: Sequence[ResultRow], detectors: Sequence[str], thresholds: Sequence[float]) -> bytes:
    """Per detector configuration (one panel each): histograms of clean, adversarial and failed-attack scores
    on shared bins from 0 to 1 (or to the largest score: all-of detectors score above 1), with the threshold."""
    fig, axes = plt.subplots(len(detectors), 1, figsize=(6, 0.4 + 2.6 * len(detectors)), squeeze=False)
    for ax, name, threshold in zip(axes[:, 0], detectors, thresholds):
        clean = _scores(rows, "clean", name)
        adv = _scores(rows, "adversarial", name)
        failed = _scores(rows, "failed", name)
        bins = np.linspace(0.0, max([1.0, *clean, *adv, *failed]), 21)
        ax.hist(clean, bins=bins, alpha=0.6, color=_CLEAN, label=f"clean (n={len(clean)})")
        ax.hist(adv, bins=bins, alpha=0.6, color=_ADVERSARIAL, label=f"adversarial (n={len(adv)})")
        if failed:
            ax.hist(failed, bins=bins, alpha=0.6, color=_FAILED, label=f"attack failed (n={len(failed)})")
        if np.isfinite(threshold):
            ax.axvline(threshold, color=_THRESHOLD, linestyle="--", label=f"threshold {threshold:g}")
        ax.set_ylabel("items")
        ax.set_title(f"Score distributions: {name}", fontsize=10)
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("score (low = inconsistent)")
    return png_bytes(fig)


def _scores(rows: Sequence[ResultRow], kind: str, name: str) -> list[float]:
    """Scores of detector ``name`` on the ``clean`` (each item once), ``adversarial`` (successful) or ``failed``
    attack items."""
    if kind == "clean":
        results = list({r.spec.key: r.clean for r in rows if r.clean is not None}.values())
    else:
        results = [r.attack for r in rows if r.attack is not None and r.attack.success == (kind == "adversarial")]
    return [result.detectors[name].score for result in results if name in result.detectors]


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as PNG bytes (tight layout, 110 dpi); the figure is closed."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


__all__ = ["png_bytes", "roc_png", "score_histogram_png", "scores_by_sentence_png"]
