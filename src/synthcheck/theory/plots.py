"""Plot of the linear sweep (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from synthcheck.theory.linear_experiment import LinearSweepRow


def plot_linear_sweep(rows: Sequence[LinearSweepRow], path: str | os.PathLike) -> Path:
    """Log-log plot against M: measured perturbation norms with Theorem 1's predictions (left) and the
    random/adversarial ratio against its lower bound and sqrt(N/M) (right). Returns the written path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compressed = [row for row in rows if row.classifier == "compressed"]
    ms = [row.m for row in compressed]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = (
        ("minimal targeted", "adv_targeted", "adv_targeted_mean", "C0"),
        ("minimal untargeted", "adv_untargeted", "adv_untargeted_mean", "C1"),
        ("random-robust radius", "random_radius", "random_radius_typical", "C2"),
    )
    for label, measured, predicted, color in series:
        left.plot(ms, [getattr(r, measured) for r in compressed], "o", color=color, label=f"{label} (measured)")
        left.plot(ms, [getattr(r.theory, predicted) for r in compressed], "-", color=color, label=f"{label} (theory)")
    left.plot(ms, [r.theory.random_radius_low for r in compressed], ":", color="C2", label="random radius lower bound")
    left.set(xscale="log", yscale="log", xlabel="M (compressed dimension)", ylabel="perturbation norm",
             title=f"N = {compressed[0].n}, r = {compressed[0].theory.radius:g}")
    left.legend(fontsize=7)
    right.plot(ms, [r.ratio for r in compressed], "o", color="C3", label="random radius / minimal untargeted (measured)")
    right.plot(ms, [r.theory.ratio_typical for r in compressed], "-", color="C3", label="theory (typical)")
    right.plot(ms, [r.theory.ratio_low for r in compressed], ":", color="C3", label="theorem lower bound 1/sqrt(q)")
    right.plot(ms, [r.sqrt_n_over_m for r in compressed], "--", color="k", label="sqrt(N/M)")
    right.set(xscale="log", yscale="log", xlabel="M (compressed dimension)", ylabel="ratio",
              title=f"confidence {compressed[0].theory.confidence:g}")
    right.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
