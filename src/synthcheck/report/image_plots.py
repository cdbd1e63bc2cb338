"""The image run's figures as PNG bytes: adversarial grids, ROC curves per attack stage, accuracy against budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthcheck.experiments.metrics import score_roc
from synthcheck.images.metrics import ImageMetrics
from synthcheck.report.plots import plt, png_bytes


@dataclass(frozen=True)
class GridColumn:
    """One image of a grid: the clean image, its adversarial, the decided class's codeword of the adversarial
    (all [28, 28] in [0, 1]) and a caption (true → decided class, size, verdict)."""

    clean: np.ndarray
    adversarial: np.ndarray
    codeword: np.ndarray
    caption: str


def image_grid_png(title: str, columns: Sequence[GridColumn]) -> bytes:
    """Rows: clean x, adversarial y, perturbation y − x (diverging colours, symmetric range), codeword c_j(y) of
    the decided class j; one column per image. An evading adversarial that still looks like its source digit
    while its codeword looks like the target is the detector's failure mode made visible."""
    n = max(1, len(columns))
    fig, axes = plt.subplots(4, n, figsize=(1.25 * n + 1.1, 5.6), squeeze=False)
    labels = ("clean x", "adversarial y", "y − x", "codeword c(y)")
    for col in range(n):
        for row in range(4):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(labels[row], fontsize=8)
        if col >= len(columns):
            continue
        c = columns[col]
        delta = c.adversarial - c.clean
        scale = max(float(np.abs(delta).max()), 1e-6)
        axes[0, col].imshow(c.clean, cmap="gray", vmin=0, vmax=1)
        axes[1, col].imshow(c.adversarial, cmap="gray", vmin=0, vmax=1)
        axes[2, col].imshow(delta, cmap="RdBu_r", vmin=-scale, vmax=scale)
        axes[3, col].imshow(c.codeword, cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(c.caption, fontsize=6.5)
    fig.suptitle(title, fontsize=10)
    return png_bytes(fig)


def stage_roc_png(metrics: ImageMetrics, scores: dict[tuple[str, str], tuple[list[float], list[float]]],
                  detectors: Sequence[str]) -> bytes:
    """One panel per detector: the ROC of each attack stage's successful adversarials against the clean images
    (``scores[(stage, detector)] = (clean scores, adversarial scores)``), AUC in the legend."""
    fig, axes = plt.subplots(1, len(detectors), figsize=(5.4 * len(detectors), 4.6), squeeze=False)
    for ax, name in zip(axes[0], detectors):
        for (stage, detector), (clean, attacked) in scores.items():
            if detector != name or not clean or not attacked:
                continue
            fpr, tpr = score_roc(clean, attacked)
            ax.step(fpr, tpr, where="post", label=f"{stage} (AUC {metrics.detection_of(stage, name).auc:.3f})")
        ax.plot([0, 1], [0, 1], color="0.35", linestyle=":")
        ax.axvline(0.05, color="0.6", linestyle="--", linewidth=0.8)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_xlabel("false-positive rate (clean flagged)")
        ax.set_ylabel("detection rate (successful adversarials flagged)")
        ax.set_title(f"ROC: {name}", fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=7)
    return png_bytes(fig)


def accuracy_png(metrics: ImageMetrics, primary: str) -> bytes:
    """Accuracy against budget, one panel per norm: the classifier alone (solid) and with the primary detector
    (dashed), one colour per attack stage family."""
    norms = [norm for norm in ("linf", "l2") if any(a.norm == norm for a in metrics.accuracy)] or ["linf"]
    fig, axes = plt.subplots(1, len(norms), figsize=(5.4 * len(norms), 4.2), squeeze=False)
    for ax, norm in zip(axes[0], norms):
        rows = [a for a in metrics.accuracy if a.norm == norm]
        families = list(dict.fromkeys(a.stage.partition("@")[0] for a in rows))
        for index, family in enumerate(families):
            points = sorted((a.epsilon, a.accuracy, a.accuracy_with_detector[primary]) for a in rows
                            if a.stage.partition("@")[0] == family)
            eps, alone, handled = (np.array(v) for v in zip(*points))
            color = f"C{index}"
            ax.plot([0, *eps], [metrics.clean_accuracy, *alone], "o-", color=color, label=f"{family}")
            ax.plot(eps, handled, "s--", color=color, alpha=0.7, label=f"{family} + {primary}")
        _rate_against_budget(ax, norm, "accuracy (handled: correct or flagged)", f"Accuracy under {norm} attacks")
    return png_bytes(fig)


def evasion_png(metrics: ImageMetrics) -> bytes:
    """Evasion rate against budget of every ladder (:class:`~synthcheck.images.metrics.EvasionLadder`) with its
    Wilson interval, one panel per (norm, detector), one line per attack kind."""
    panels = list(dict.fromkeys((ladder.norm, ladder.detector) for ladder in metrics.ladders))
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.6 * max(1, len(panels)), 4.0), squeeze=False)
    for ax, (norm, detector) in zip(axes[0], panels):
        for index, ladder in enumerate(r for r in metrics.ladders if (r.norm, r.detector) == (norm, detector)):
            rates = np.array(ladder.evasion_rates)
            low, high = (np.array(v) for v in zip(*ladder.intervals))
            ax.errorbar(ladder.budgets, rates, yerr=[rates - low, high - rates], fmt="o-", capsize=3,
                        color=f"C{index}", label=ladder.kind)
        _rate_against_budget(ax, norm, "evasion rate (succeeded and accepted)", f"Evading {detector} ({norm})")
    return png_bytes(fig)


def _rate_against_budget(ax: plt.Axes, norm: str, ylabel: str, title: str) -> None:
    """The axes of a rate (0–1) against an attack budget of ``norm``, with its legend."""
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"budget ε ({'L∞' if norm == 'linf' else 'L2'}, [0, 1] pixels)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6.5)


__all__ = ["GridColumn", "accuracy_png", "evasion_png", "image_grid_png", "stage_roc_png"]
