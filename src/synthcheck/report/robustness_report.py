"""The tables and HTML report of ``synthcheck robustness``: random radius against adversarial norm per clause.

Tables are (head, rows) (:mod:`synthcheck.report.detector_tables`), printed as Markdown by the CLI and as HTML
here. The page is self-contained (embedded PNGs) and escapes every text (transcripts of perturbed audio).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthcheck.cache import atomic_write_bytes
from synthcheck.experiments.robustness import ORIGINAL_FIRST_FLIPS, RobustnessResult, RobustnessRow
from synthcheck.report.detector_tables import MISSING, Table, num
from synthcheck.report.html import STYLE, b64, esc
from synthcheck.report.plots import plt, png_bytes  # plots has chosen the Agg backend


def summary_table(result: RobustnessResult) -> Table:
    """Per source: clauses, how many flipped both ways, how many noise never flipped, the ratio's median and
    quartiles, and sqrt(N/M)."""
    head = ("source", "recogniser", "clauses", "with a ratio", "above the noise grid", "median ‖w_random‖/‖w_adv‖",
            "quartiles", "median sqrt(N/M)", "median Theorem 2 ratio")
    rows = [(s.source, result.settings.recognizer, str(s.n), str(s.n_flipped), str(s.n_above_grid),
             num(s.median_ratio, 1), f"{num(s.q25_ratio, 1)}–{num(s.q75_ratio, 1)}", num(s.median_sqrt_n_over_m, 1),
             num(s.median_fragility_ratio, 1)) for s in result.summaries]
    return head, rows


def clause_table(rows: Sequence[RobustnessRow]) -> Table:
    """Per clause: the noise's first flip (grid t, SNR) and refined radius, the adversarial norms, the ratios."""
    head = ("source", "#", "clause", "heard clean", "first flip t", "first flip SNR dB", "‖w_random‖ (SNR dB)",
            "‖w_untargeted‖ (SNR dB)", "‖w_targeted‖ (SNR dB)", "ratio untargeted", "ratio targeted", "sqrt(N/M)",
            "Theorem 2 ratio")
    return head, [(
        r.source, str(r.index + 1), r.sentence, r.clean_transcript + ("" if r.clean_exact else " (misrecognised)"),
        _first_flip(r), num(r.grid_snr_db, 1),
        _norm(r.random_l2, r.random_snr_db), _norm(r.untargeted_l2, r.untargeted_snr_db),
        _norm(r.targeted_l2, r.targeted_snr_db), num(r.ratio_untargeted, 1), num(r.ratio_targeted, 1),
        num(r.sqrt_n_over_m, 1), num(r.fragility_ratio, 1)) for r in rows]


def detector_table(rows: Sequence[RobustnessRow]) -> Table:
    """Per detector and kind of change (noise, untargeted, targeted): how many changed transcripts it flagged."""
    names = list(dict.fromkeys(n for r in rows for f in (r.noise_flip, r.untargeted_flip, r.targeted_flip) if f
                               for n in f.scores))
    head = ("detector", "noise-induced changes flagged", "median score", "untargeted adversarials flagged",
            "median score", "targeted adversarials flagged", "median score")
    out = []
    for name in names:
        cells = [name]
        for attribute in ("noise_flip", "untargeted_flip", "targeted_flip"):
            flips = [f for r in rows if (f := getattr(r, attribute)) is not None and name in f.scores]
            cells += [f"{sum(f.flagged[name] for f in flips)}/{len(flips)}",
                      num(float(np.median([f.scores[name] for f in flips])) if flips else None, 3)]
        out.append(tuple(cells))
    return head, out


def original_table(rows: Sequence[RobustnessRow]) -> Table:
    """The original experiment's first flips (DeepSpeech v0.2.0) beside this run's, for the paper's ten clauses."""
    head = ("#", "source", "DeepSpeech t", "DeepSpeech SNR dB", "here t", "here SNR dB")
    return head, [(str(r.index + 1), r.source, str(ORIGINAL_FIRST_FLIPS[r.index][0]),
                   f"{ORIGINAL_FIRST_FLIPS[r.index][1]:.1f}", _first_flip(r), num(r.grid_snr_db, 1)) for r in rows if r.index < len(ORIGINAL_FIRST_FLIPS)]


def render_robustness_report(result: RobustnessResult) -> str:
    """The report page as one string."""
    s = result.settings
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>synthcheck robustness: {esc(s.recognizer)}</title><style>{STYLE}</style></head><body>",
        f"<h1>synthcheck robustness: random noise versus adversarial perturbation on {esc(s.recognizer)}</h1>",
        "<p>Per clause: the smallest Gaussian noise that changes the transcript (refined: half of the seeded draws "
        "change it), the smallest white-box perturbation that changes it, and their L2 ratio beside sqrt(N/M) "
        f"(M = the encoder's width). Attack steps {esc(s.steps)}; seed {esc(s.seed)}.</p>",
        "<h2>Ratios</h2>", _html_table("summary", summary_table(result)),
        _figure("scatter", _scatter_png(result.rows), "Random radius against the untargeted adversarial norm, "
                "log-log; the lines are ratio 1 and the median sqrt(N/M)."),
        _figure("ratios", _ratio_png(result.rows), "Distribution of ‖w_random‖ / ‖w_untargeted‖ per source."),
        "<h2>Do the detectors catch the changed transcripts?</h2>", _html_table("detectors", detector_table(result.rows)),
        "<h2>The original experiment (DeepSpeech v0.2.0) beside this one</h2>",
        _html_table("original", original_table(result.rows)),
        "<h2>Clauses</h2>", _html_table("clauses", clause_table(result.rows)),
        "<h2>Settings</h2><pre id='settings'>" + esc(json.dumps(s.to_dict(), indent=2)) + "</pre>",
        "<h2>Versions</h2><pre id='versions'>" + esc(json.dumps(result.versions, indent=2)) + "</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_robustness_report(result: RobustnessResult, out: Path) -> Path:
    """Write the page to ``out`` atomically; return the path."""
    return atomic_write_bytes(Path(out), render_robustness_report(result).encode("utf-8"))


def _first_flip(row: RobustnessRow) -> str:
    """The grid's first-flip ``t``, or the row's status when there is none."""
    return row.status if row.grid_t is None else f"{row.grid_t:g}"


def _norm(l2: float | None, snr: float | None) -> str:
    return MISSING if l2 is None else f"{l2:.3g} ({num(snr, 1)})"


def _html_table(table_id: str, table: Table) -> str:
    head, rows = table
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows)
    return (f"<table id='{esc(table_id)}'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _figure(figure_id: str, png: bytes, caption: str) -> str:
    return (f"<figure class='plots'><img id='{esc(figure_id)}' alt='{esc(caption)}' "
            f"src='data:image/png;base64,{b64(png)}'><figcaption>{esc(caption)}</figcaption></figure>")


def _scatter_png(rows: Sequence[RobustnessRow]) -> bytes:
    fig, ax = plt.subplots(figsize=(6.0, 5.0))
    pairs = [(r.untargeted_l2, r.random_l2, r.source) for r in rows if r.untargeted_l2 and r.random_l2]
    for source in dict.fromkeys(s for _, _, s in pairs):
        xs, ys = zip(*((x, y) for x, y, s in pairs if s == source))
        ax.scatter(xs, ys, label=source, s=22)
    if pairs:
        lo = min(min(x, y) for x, y, _ in pairs) / 2
        hi = max(max(x, y) for x, y, _ in pairs) * 2
        line = np.geomspace(lo, hi, 10)
        root = float(np.median([r.sqrt_n_over_m for r in rows]))
        ax.plot(line, line, color="0.5", linestyle=":", label="ratio 1")
        ax.plot(line, root * line, color="0.2", linestyle="--", label=f"ratio sqrt(N/M) = {root:.0f}")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no clause changed\nunder both", ha="center", va="center", transform=ax.transAxes)
    ax.set(xscale="log", yscale="log", xlabel="‖w_untargeted‖ (L2)", ylabel="‖w_random‖ (L2)")
    return png_bytes(fig)


def _ratio_png(rows: Sequence[RobustnessRow]) -> bytes:
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ratios = {s: [r.ratio_untargeted for r in rows if r.source == s and r.ratio_untargeted]
              for s in dict.fromkeys(r.source for r in rows)}
    values = [v for vs in ratios.values() for v in vs]
    if values:
        bins = np.geomspace(max(min(values) / 1.5, 1e-3), max(values) * 1.5, 16)
        for source, vs in ratios.items():
            if vs:
                ax.hist(vs, bins=bins, alpha=0.55, label=source)
        root = float(np.median([r.sqrt_n_over_m for r in rows]))
        ax.axvline(root, color="0.2", linestyle="--", label=f"sqrt(N/M) = {root:.0f}")
        ax.set_xscale("log")
        ax.legend(fontsize=7)
    ax.set(xlabel="‖w_random‖ / ‖w_untargeted‖", ylabel="clauses")
    return png_bytes(fig)


__all__ = ["clause_table", "detector_table", "original_table", "render_robustness_report", "summary_table",
           "write_robustness_report"]
