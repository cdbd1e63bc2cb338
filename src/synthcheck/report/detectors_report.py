"""The HTML report of ``synthcheck evaluate-detectors``: attack stages, every detector per source × stage,
evasion by the adaptive attacks, the Theorem 1.3 estimate, ROC curves and score distributions.

It renders the :class:`~synthcheck.experiments.attack_evaluation.AttackEvaluation` the command computed (or
:func:`~synthcheck.experiments.attack_evaluation.read_attack_evaluation` of finished work directories:
``synthcheck report-detectors``). Like the run report (:mod:`synthcheck.report.html`) the page is
self-contained (plots are embedded PNGs) and every piece of text is escaped: targets and transcripts are chosen
by the attacker. Undefined numbers (NaN, e.g. the AUC of a stage without successful adversarials) show as "–".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.cache import atomic_write_bytes
from synthcheck.experiments.attack_evaluation import AttackEvaluation, EvasionRow, StageSummary
from synthcheck.experiments.metrics import DetectorEvaluation, score_roc
from synthcheck.report.detector_tables import MISSING, evasion_table, stage_table, theorem13_table
from synthcheck.report.html import STYLE, b64, esc, fmt_num, fmt_pct
from synthcheck.report.plots import plt, png_bytes  # plots has chosen the Agg backend
from synthcheck.theory.theorem13 import Theorem13Row

_EXTRA_STYLE = """
td.best{font-weight:bold;background:#dff3df} .evade{color:#b00;font-weight:bold} td.n{text-align:right}
figure{margin:8px 0} figcaption{font-size:13px;color:#444}
"""
_CLEAN, _ATTACKED, _THRESHOLD = "tab:blue", "tab:red", "0.35"


def write_detectors_report(evaluation: AttackEvaluation, out: Path) -> Path:
    """Render ``evaluation`` to ``out`` (written atomically) and return the path."""
    return atomic_write_bytes(Path(out), render_detectors_report(evaluation).encode("utf-8"))


def render_detectors_report(evaluation: AttackEvaluation) -> str:
    """The report page of an evaluation, as one string."""
    grid = _Grid(evaluation)
    settings = evaluation.settings
    title = f"detectors against real attacks on {settings.recognizer}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>synthcheck: {esc(title)}</title><style>{STYLE}{_EXTRA_STYLE}</style></head><body>",
        f"<h1>synthcheck evaluate-detectors: {esc(title)}</h1>",
        _settings_summary(evaluation),
        _stage_table(evaluation.stages),
        _detector_table(grid, settings.target_fpr),
        _evasion_table(evaluation.evasion),
        _theorem13_table(evaluation.theorem13),
        _plots(grid),
        _item_table(evaluation),
        "<h2>Settings</h2><pre id='settings'>" + esc(json.dumps(settings.to_dict(), indent=2)) + "</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


class _Grid:
    """The evaluations indexed by (config, source, stage), with the orders they are shown in."""

    def __init__(self, evaluation: AttackEvaluation) -> None:
        self.rows: dict[tuple[str, str, str], DetectorEvaluation] = {e.key: e for e in evaluation.evaluations}
        self.configs = list(dict.fromkeys(config for config, _, _ in self.rows))
        self.sources = list(dict.fromkeys([*(s for _, s, _ in self.rows), *(s.source for s in evaluation.stages)]))
        self.stages = list(dict.fromkeys([*(s.stage for s in evaluation.stages), *(st for _, _, st in self.rows)]))

    def get(self, config: str, source: str, stage: str) -> DetectorEvaluation | None:
        """The evaluation of ``config`` on ``source`` in ``stage`` (None: not evaluated)."""
        return self.rows.get((config, source, stage))

    def of(self, config: str, source: str) -> list[DetectorEvaluation]:
        """The evaluations of ``config`` on ``source``, in stage order."""
        return [row for stage in self.stages if (row := self.get(config, source, stage)) is not None]

    def best_auc(self, source: str, stage: str) -> float:
        """The largest finite AUC of any configuration on ``source`` in ``stage`` (NaN: none)."""
        aucs = [row.auc for config in self.configs if (row := self.get(config, source, stage))]
        return max((a for a in aucs if math.isfinite(a)), default=math.nan)


def _settings_summary(evaluation: AttackEvaluation) -> str:
    settings = evaluation.settings
    budget = settings.stage_budget_s
    offsets = ", ".join(str(o) for o in evaluation.offsets)
    cells = [
        ("recogniser", settings.recognizer, "protected (attacked) model"),
        ("sources", ", ".join(settings.sources), "speech sets"),
        ("attacked clauses", evaluation.n_attack, f"per source, from clause {offsets}"),
        ("clean clauses", settings.n_clean, "per source, for calibration"),
        ("steps", settings.steps, f"at most per stage; stop at {_num(settings.stop_db_x, 1)} dB_x"),
        ("stage budget", MISSING if budget is None else f"{budget:g} s", "optimisation time per batch"),
        ("target FPR", fmt_pct(settings.target_fpr, MISSING), "threshold calibration"),
        ("seed", settings.seed, "noise and initial perturbations"),
    ]
    body = "".join(f"<div>{esc(label)}<b>{esc(value)}</b><small>{esc(note)}</small></div>"
                   for label, value, note in cells)
    version_line = ", ".join(f"{name} {value}" for name, value in evaluation.versions.items())
    return (f"<h2>Summary</h2><section class='summary' id='summary'>{body}</section>"
            + (f"<p id='versions'>versions: {esc(version_line)}</p>" if version_line else ""))


def _stage_table(stages: Sequence[StageSummary]) -> str:
    return ("<h2>Attack stages</h2><p>Successful adversarials per source; medians over the successes.</p>"
            + _table("stages", *stage_table(stages)))


def _detector_table(grid: _Grid, target_fpr: float | None) -> str:
    head = ("detector", "source", "clean", "threshold", "FPR (in-sample)", "FPR (leave-one-out)", "latency s/s",
            *grid.stages)
    body = []
    for source in grid.sources:
        best = {stage: grid.best_auc(source, stage) for stage in grid.stages}
        for config in grid.configs:
            rows = grid.of(config, source)
            if not rows:
                continue
            first = rows[0]  # the clean scores, hence threshold and FPRs, are the same in every stage
            latencies = [r.latency_per_second for r in rows if math.isfinite(r.latency_per_second)]
            cells = [f"<td>{esc(v)}</td>" for v in (
                config, source, first.n_clean, _num(first.threshold, 3),
                fmt_pct(first.fpr, MISSING), fmt_pct(first.fpr_loo, MISSING),
                _num(float(np.median(latencies)) if latencies else None, 3))]
            cells += [_stage_cell(grid.get(config, source, stage), best[stage], stage) for stage in grid.stages]
            body.append(f"<tr class='detector' data-detector='{esc(config)}' data-source='{esc(source)}'>"
                        + "".join(cells) + "</tr>")
    target = MISSING if target_fpr is None else f"{100 * target_fpr:g} %"
    return (f"<h2>Detectors</h2><p>Per stage: AUC / detection rate at the threshold calibrated on the source's "
            f"clean scores for a {esc(target)} false-positive rate (adversarials = the stage's successful attacks). "
            f"Bold: the best AUC of the column for that source. Latency: seconds of re-synthesis and comparison per "
            f"second of audio (median over stages).</p>"
            f"<table id='detectors'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _stage_cell(row: DetectorEvaluation | None, best: float, stage: str) -> str:
    if row is None or not row.n_attacked:
        return f"<td class='stage' data-stage='{esc(stage)}' title='no successful adversarials'>{MISSING}</td>"
    auc = row.auc
    mark = " best" if math.isfinite(auc) and auc == best else ""
    text = f"{_num(auc, 2)} / {fmt_pct(row.detection_rate, MISSING)}"
    return f"<td class='stage{mark}' data-stage='{esc(stage)}'>{esc(text)}</td>"


def _evasion_table(rows: Sequence[EvasionRow]) -> str:
    title = ("<h2>Adaptive attacks: evasion</h2><p>Clips that fooled the recogniser and scored at or above the "
             "detector's threshold calibrated on this source's clean clips; &ldquo;within budget&rdquo;: no larger "
             "(dB_x) than the non-adaptive attack's perturbation of the same clip. The last column counts the clips "
             "that passed the detector at the threshold it was built with (its shipped calibration, which the "
             "adaptive attacker aimed at and <code>detect</code> uses).</p>")
    if not rows:
        return title + "<p id='evasion'>No adaptive stage in these results.</p>"
    return title + _table("evasion", *evasion_table(rows))


def _theorem13_table(rows: Sequence[Theorem13Row]) -> str:
    """The Theorem 1.3 estimates, per stage, source and attacked clip."""
    title = ("<h2>Theorem 1.3 estimate</h2><p>Lower bound min&#8214;c&minus;x&#8214; &minus; r on the perturbation "
             "(L2) a detector with acceptance radius r must let through, per attacked clip.</p>")
    if not rows:
        return title + "<p id='theorem13'>No estimate in these results.</p>"
    return title + _table("theorem13", *theorem13_table(rows))


def _item_table(evaluation: AttackEvaluation) -> str:
    items = evaluation.items
    if not items:
        return "<h2>Adversarial clips</h2><p id='items'>No successful adversarial in these results.</p>"
    head = ("stage", "source", "clip", "target", "transcript", "dB_x", "SNR (dB)", "scores (red: evades)")
    rows = "".join(
        "<tr class='item'>" + "".join(f"<td>{esc(v)}</td>" for v in (
            item.stage, item.source, item.key, item.target, item.transcript, _num(item.db_x, 1),
            _num(item.snr_db, 1))) + "<td>" + "".join(
            f"<div class='det{' evade' if item.evades.get(name) else ''}' data-detector='{esc(name)}'>"
            f"{esc(name)} {esc(_num(score, 3))}</div>" for name, score in item.scores.items()) + "</td></tr>"
        for item in items)
    return (f"<h2>Adversarial clips</h2><table id='items'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _table(table_id: str, head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows)
    return (f"<table id='{esc(table_id)}'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _plots(grid: _Grid) -> str:
    parts = ["<h2>Plots</h2>"]
    for i, source in enumerate(grid.sources):
        parts.append(_figure(f"roc-{i}", _roc_grid_png(grid, source),
                             f"ROC per attack stage on {source}: one curve per detector (adversarial = positive, "
                             "ranked by −score), AUC in the legend."))
        parts.append(_figure(f"scores-{i}", _score_distributions_png(grid, source),
                             f"Scores on {source}, one axis per detector (scores of different detectors have "
                             "different ranges): clean clips and each stage's successful adversarials; the dashed "
                             "line is the calibrated threshold (below it: flagged)."))
    return "".join(parts)


def _figure(figure_id: str, png: bytes, caption: str) -> str:
    return (f"<figure class='plots'><img id='{esc(figure_id)}' alt='{esc(caption)}' "
            f"src='data:image/png;base64,{b64(png)}'><figcaption>{esc(caption)}</figcaption></figure>")


def _roc_grid_png(grid: _Grid, source: str) -> bytes:
    """ROC curves of ``source``, one panel per stage with a curve per configuration; a stage without
    successful adversarials gets an empty panel saying so."""
    fig, axes = _panels(len(grid.stages), width=4.2, height=3.9)
    for ax, stage in zip(axes, grid.stages):
        drawn = 0
        for config in grid.configs:
            row = grid.get(config, source, stage)
            clean, attacked = (_finite_scores(row.clean_scores), _finite_scores(row.attacked_scores)) if row else ([], [])
            if not clean or not attacked:
                continue
            ax.plot(*score_roc(clean, attacked), linestyle=("-", "--", "-.", ":")[drawn % 4], linewidth=1.4,
                    label=f"{config} (AUC {_num(row.auc, 2)})")
            drawn += 1
        if drawn:
            ax.legend(loc="lower right", fontsize=6.5)
        else:
            ax.text(0.5, 0.5, "no successful\nadversarials", ha="center", va="center")
        ax.plot([0, 1], [0, 1], color=_THRESHOLD, linestyle=":", linewidth=0.8)
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), title=stage, xlabel="false-positive rate",
               ylabel="detection rate")
    fig.suptitle(f"ROC per stage: {source}")
    return png_bytes(fig)


def _score_distributions_png(grid: _Grid, source: str) -> bytes:
    """Per configuration (one panel each, its own score axis): clean scores and each stage's attacked scores
    of ``source`` as box and jittered strip plots, with the calibrated threshold as a dashed line."""
    configs = [c for c in grid.configs if grid.of(c, source)]
    fig, axes = _panels(len(configs), width=0.9 + 0.75 * len(grid.stages), height=3.6)
    jitter = np.random.default_rng(0)
    for ax, config in zip(axes, configs):
        rows = grid.of(config, source)
        groups = [("clean", _finite_scores(rows[0].clean_scores))]
        groups += [(stage, _finite_scores(row.attacked_scores) if (row := grid.get(config, source, stage)) else [])
                   for stage in grid.stages]
        filled = [(i, values) for i, (_, values) in enumerate(groups) if values]
        if filled:
            ax.boxplot([v for _, v in filled], positions=[i for i, _ in filled], widths=0.5, showfliers=False,
                       medianprops={"color": "0.2"})
        for i, values in filled:
            ax.scatter(i + jitter.uniform(-0.15, 0.15, len(values)), values, s=12, alpha=0.75, zorder=3,
                       color=_CLEAN if i == 0 else _ATTACKED)
        threshold = rows[0].threshold
        if math.isfinite(threshold):
            ax.axhline(threshold, color=_THRESHOLD, linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
            ax.legend(loc="best", fontsize=7)
        ax.set_xticks(range(len(groups)), [f"{name}\n(n={len(values)})" for name, values in groups], fontsize=7,
                      rotation=30, ha="right")
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_title(config, fontsize=10)
        ax.set_ylabel("score (low = inconsistent)", fontsize=8)
    fig.suptitle(f"Score distributions: {source}")
    return png_bytes(fig)


def _panels(n: int, *, width: float, height: float, columns: int = 3) -> tuple[Any, list[Any]]:
    """A figure with ``n`` panels (at least one) on a grid ``columns`` wide; unused cells are hidden."""
    n = max(n, 1)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 0.5 + height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finite_scores(scores: Iterable[float]) -> list[float]:
    """The finite ``scores`` (NaN dropped)."""
    return [s for s in scores if math.isfinite(s)]


def _num(value: float | None, digits: int) -> str:
    return fmt_num(value, digits, missing=MISSING)


__all__ = ["MISSING", "render_detectors_report", "write_detectors_report"]
