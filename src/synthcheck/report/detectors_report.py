"""The HTML report of ``synthcheck evaluate-detectors``: attack stages, every detector per source × stage,
evasion by the adaptive attacks, the Theorem 1.3 estimate, ROC curves and score distributions.

It is rendered from the results JSON the command writes (``AdaptiveEvaluation.to_dict()`` plus ``versions``),
so a saved file can be re-rendered (``synthcheck report-detectors``). Like the run report
(:mod:`synthcheck.report.html`) the page is self-contained (plots are embedded PNGs) and every piece of text is
escaped: targets and transcripts are chosen by the attacker. Missing and undefined numbers (``null``/NaN in
the file, e.g. the AUC of a stage without successful adversarials) show as "–".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthcheck.cache import atomic_write_bytes
from synthcheck.errors import BadInputError
from synthcheck.experiments.metrics import score_roc
from synthcheck.report.html import STYLE, b64, esc, fmt_num, fmt_pct
from synthcheck.report.plots import plt, png_bytes  # plots has chosen the Agg backend

#: How a missing or undefined number is shown.
MISSING = "–"
#: Fields every entry of ``evaluations`` must have (a :class:`~synthcheck.experiments.metrics.DetectorEvaluation`).
_EVALUATION_KEYS = ("config", "source", "n_attacked", "auc", "threshold", "fpr", "fpr_loo", "detection_rate",
                    "latency_per_second", "clean_scores", "attacked_scores")
_STAGE_KEYS = ("n", "successes", "median_db_x", "median_snr_db")
_ITEM_KEYS = ("stage", "source", "key", "target", "transcript", "db_x", "snr_db", "scores", "evades")
_EVASION_KEYS = ("stage", "source", "detector", "n", "evaded", "within_budget", "median_db_x", "median_snr_db")
_THEOREM13_KEYS = ("key", "target", "distance", "bound", "bound_snr_db")
_EXTRA_STYLE = """
td.best{font-weight:bold;background:#dff3df} .evade{color:#b00;font-weight:bold} td.n{text-align:right}
figure{margin:8px 0} figcaption{font-size:13px;color:#444}
"""
_CLEAN, _ATTACKED, _THRESHOLD = "tab:blue", "tab:red", "0.35"


def read_results(results_json: Path) -> dict[str, Any]:
    """The results dict of an ``evaluate-detectors`` JSON file.

    Raises
    ------
    BadInputError
        When the file is missing, is not JSON or does not hold evaluate-detectors results.
    """
    results_json = Path(results_json)
    if not results_json.is_file():
        raise BadInputError(f"{results_json}: results file not found")
    try:
        data = json.loads(results_json.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{results_json}: not a JSON file ({exc})") from None
    try:
        _check_structure(data)
    except BadInputError as exc:
        raise BadInputError(f"{results_json}: {exc}") from None
    return data


def write_detectors_report(results_json: Path, out: Path | None = None) -> Path:
    """Render the results file of ``evaluate-detectors`` to ``out`` (default: ``results_json`` with ``.html``).

    Parameters
    ----------
    results_json
        The JSON written by ``synthcheck evaluate-detectors``.
    out
        Where to write the page (written atomically).

    Returns
    -------
    Path
        The written page.

    Raises
    ------
    BadInputError
        When the file is missing, is not JSON or does not hold evaluate-detectors results.
    """
    page = render_detectors_report(read_results(results_json))
    return atomic_write_bytes(out or Path(results_json).with_suffix(".html"), page.encode("utf-8"))


def write_pooled_report(results: Sequence[Path], out: Path) -> Path:
    """Pool several ``evaluate-detectors`` results (runs over different clauses, :func:`~synthcheck.experiments.
    adaptive_eval.pool_evaluations`) into ``out`` (HTML) and ``out`` with ``.json`` (the pooled results)."""
    from synthcheck.experiments.adaptive_eval import AdaptiveEvaluation, pool_evaluations

    payloads = [read_results(path) for path in results]
    pooled = pool_evaluations([AdaptiveEvaluation.from_dict(p) for p in payloads])
    data = {**pooled.to_dict(), "versions": payloads[0].get("versions", {}),
            "pooled_from": [str(path) for path in results]}
    atomic_write_bytes(Path(out).with_suffix(".json"), json.dumps(data, indent=2).encode("utf-8"))
    return atomic_write_bytes(Path(out), render_detectors_report(data).encode("utf-8"))


def render_detectors_report(evaluation: dict[str, Any]) -> str:
    """The report page of one ``evaluate-detectors`` results dictionary, as one string.

    Parameters
    ----------
    evaluation
        The results as the CLI writes them: ``settings``, ``stages``, ``evaluations`` (required), ``items``,
        ``bound``, ``evasion`` and ``versions`` (optional).

    Raises
    ------
    BadInputError
        When ``evaluation`` lacks a field the report needs.
    """
    _check_structure(evaluation)
    grid = _Grid(evaluation)
    settings = evaluation["settings"]
    title = f"detectors against real attacks on {settings.get('recognizer', MISSING)}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>synthcheck: {esc(title)}</title><style>{STYLE}{_EXTRA_STYLE}</style></head><body>",
        f"<h1>synthcheck evaluate-detectors: {esc(title)}</h1>",
        _settings_summary(settings, evaluation.get("versions", {})),
        _stage_table(evaluation["stages"]),
        _detector_table(grid, settings.get("target_fpr")),
        _evasion_table(evaluation.get("evasion", [])),
        _theorem13_table(evaluation.get("bound", {})),
        _plots(grid),
        _item_table(evaluation.get("items", [])),
        "<h2>Settings</h2><pre id='settings'>" + esc(json.dumps(settings, indent=2)) + "</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


class _Grid:
    """The ``evaluations`` rows indexed by (config, source, stage), with the orders they are shown in."""

    def __init__(self, evaluation: Mapping[str, Any]) -> None:
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in evaluation["evaluations"]:
            source, _, stage = str(row["source"]).rpartition(" / ")
            self.rows[(str(row["config"]), source, stage)] = row
        self.configs = list(dict.fromkeys(config for config, _, _ in self.rows))
        self.sources = list(dict.fromkeys([*(s for _, s, _ in self.rows),
                                           *(s for per in evaluation["stages"].values() for s in per)]))
        self.stages = list(dict.fromkeys([*evaluation["stages"], *(stage for _, _, stage in self.rows)]))

    def get(self, config: str, source: str, stage: str) -> dict[str, Any] | None:
        """The evaluation of ``config`` on ``source`` in ``stage`` (None: not evaluated)."""
        return self.rows.get((config, source, stage))

    def of(self, config: str, source: str) -> list[dict[str, Any]]:
        """The evaluations of ``config`` on ``source``, in stage order."""
        return [row for stage in self.stages if (row := self.get(config, source, stage)) is not None]

    def best_auc(self, source: str, stage: str) -> float:
        """The largest finite AUC of any configuration on ``source`` in ``stage`` (NaN: none)."""
        aucs = [_finite(row["auc"]) for config in self.configs if (row := self.get(config, source, stage))]
        return max((a for a in aucs if math.isfinite(a)), default=math.nan)


def _check_structure(evaluation: Any) -> None:
    """Raise :class:`BadInputError` unless ``evaluation`` has the fields (and containers) the report reads."""
    _require([evaluation], ("settings", "stages", "evaluations"), "the results object")
    for key, kind in (("settings", dict), ("stages", dict), ("evaluations", list), ("items", list),
                      ("bound", dict), ("evasion", list), ("versions", dict)):
        if key in evaluation and not isinstance(evaluation[key], kind):
            raise BadInputError(f"not evaluate-detectors results: {key!r} must be a JSON "
                                f"{'object' if kind is dict else 'array'}")
    _require(evaluation["evaluations"], _EVALUATION_KEYS, "'evaluations'")
    if any(" / " not in str(row["source"]) for row in evaluation["evaluations"]):
        raise BadInputError("not evaluate-detectors results: an evaluation's source is not '<source> / <stage>'")
    _require(evaluation["stages"].values(), (), "'stages' (an object per stage)")
    _require((s for per in evaluation["stages"].values() for s in per.values()), _STAGE_KEYS, "'stages'")
    _require(evaluation.get("items", []), _ITEM_KEYS, "'items'")
    _require(evaluation.get("evasion", []), _EVASION_KEYS, "'evasion'")
    _require(evaluation.get("bound", {}).values(), (), "'bound' (an object per stage)")
    per_source = [b for per in evaluation.get("bound", {}).values() for b in per.values()]
    _require(per_source, ("radius", "items"), "'bound'")
    _require((row for b in per_source for row in b["items"]), _THEOREM13_KEYS, "'bound' items")


def _require(entries: Iterable[Any], keys: Sequence[str], where: str) -> None:
    for entry in entries:
        if not isinstance(entry, dict) or any(k not in entry for k in keys):
            needs = f" with {', '.join(keys)}" if keys else ""
            raise BadInputError(f"not evaluate-detectors results: every entry of {where} must be an object{needs}")


def _settings_summary(settings: Mapping[str, Any], versions: Mapping[str, Any]) -> str:
    budget = settings.get("stage_budget_s")
    stop = f"at most per stage; stop at {_num(settings.get('stop_db_x'), 1)} dB_x"
    cells = [
        ("recogniser", settings.get("recognizer", MISSING), "protected (attacked) model"),
        ("sources", ", ".join(map(str, settings.get("sources", ()))) or MISSING, "speech sets"),
        ("attacked clauses", settings.get("n_attack", MISSING), "per source"),
        ("clean clauses", settings.get("n_clean", MISSING), "per source, for calibration"),
        ("steps", settings.get("steps", MISSING), stop),
        ("stage budget", MISSING if budget is None else f"{budget:g} s", "optimisation time per stage"),
        ("target FPR", fmt_pct(settings.get("target_fpr"), MISSING), "threshold calibration"),
        ("seed", settings.get("seed", MISSING), "noise and initial perturbations"),
    ]
    body = "".join(f"<div>{esc(label)}<b>{esc(value)}</b><small>{esc(note)}</small></div>"
                   for label, value, note in cells)
    version_line = ", ".join(f"{name} {value}" for name, value in versions.items())
    return (f"<h2>Summary</h2><section class='summary' id='summary'>{body}</section>"
            + (f"<p id='versions'>versions: {esc(version_line)}</p>" if version_line else ""))


def _stage_table(stages: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    head = ("stage", "source", "success", "median dB_x", "median SNR (dB)", "steps", "seconds")
    rows = [(stage, source, f"{s['successes']}/{s['n']}", _num(s["median_db_x"], 1), _num(s["median_snr_db"], 1),
             s.get("steps", MISSING), _num(s.get("seconds"), 0))
            for stage, per_source in stages.items() for source, s in per_source.items()]
    return ("<h2>Attack stages</h2><p>Successful adversarials per source; medians over the successes.</p>"
            + _table("stages", head, rows))


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
            latencies = [v for v in (_finite(r["latency_per_second"]) for r in rows) if math.isfinite(v)]
            cells = [f"<td>{esc(v)}</td>" for v in (
                config, source, first.get("n_clean", len(first["clean_scores"])), _num(first["threshold"], 3),
                fmt_pct(first["fpr"], MISSING), fmt_pct(first["fpr_loo"], MISSING),
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


def _stage_cell(row: Mapping[str, Any] | None, best: float, stage: str) -> str:
    if row is None or not row["n_attacked"]:
        return f"<td class='stage' data-stage='{esc(stage)}' title='no successful adversarials'>{MISSING}</td>"
    auc = _finite(row["auc"])
    mark = " best" if math.isfinite(auc) and auc == best else ""
    text = f"{_num(auc, 2)} / {fmt_pct(row['detection_rate'], MISSING)}"
    return f"<td class='stage{mark}' data-stage='{esc(stage)}'>{esc(text)}</td>"


def _evasion_table(rows: Sequence[Mapping[str, Any]]) -> str:
    title = ("<h2>Adaptive attacks: evasion</h2><p>Clips that fooled the recogniser and scored at or above the "
             "detector's calibrated threshold; &ldquo;within budget&rdquo;: no larger (dB_x) than the non-adaptive "
             "attack's perturbation of the same clip.</p>")
    if not rows:
        return title + "<p id='evasion'>No adaptive stage in these results.</p>"
    head = ("stage", "source", "detector", "evaded", "within the non-adaptive budget", "median dB_x",
            "median SNR (dB)")
    return title + _table("evasion", head, [
        (r["stage"], r["source"], r["detector"], f"{r['evaded']}/{r['n']}", f"{r['within_budget']}/{r['n']}",
         _num(r["median_db_x"], 1), _num(r["median_snr_db"], 1)) for r in rows])


def _theorem13_table(estimates: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The Theorem 1.3 estimates (stored under ``"bound"``), per stage, source and attacked clip."""
    title = ("<h2>Theorem 1.3 estimate</h2><p>Lower bound min&#8214;c&minus;x&#8214; &minus; r on the perturbation "
             "(L2) a detector with acceptance radius r must let through, per attacked clip.</p>")
    if not estimates:
        return title + "<p id='bound'>No estimate in these results.</p>"
    head = ("stage", "source", "clip", "target", "r", "min‖c−x‖", "bound", "bound as SNR (dB)")
    return title + _table("bound", head, [
        (stage, source, row["key"], row["target"], _num(b["radius"], 3), _num(row["distance"], 3),
         _num(row["bound"], 3), _theorem13_snr(row))
        for stage, per_source in estimates.items() for source, b in per_source.items() for row in b["items"]])


def _theorem13_snr(row: Mapping[str, Any]) -> str:
    if not math.isfinite(_finite(row["bound"])):
        return MISSING
    return "vacuous (≤ 0)" if row["bound_snr_db"] is None else _num(row["bound_snr_db"], 1)


def _item_table(items: Sequence[Mapping[str, Any]]) -> str:
    if not items:
        return "<h2>Adversarial clips</h2><p id='items'>No successful adversarial in these results.</p>"
    head = ("stage", "source", "clip", "target", "transcript", "dB_x", "SNR (dB)", "scores (red: evades)")
    rows = "".join(
        "<tr class='item'>" + "".join(f"<td>{esc(v)}</td>" for v in (
            item["stage"], item["source"], item["key"], item["target"], item["transcript"], _num(item["db_x"], 1),
            _num(item["snr_db"], 1))) + f"<td>{_item_scores(item)}</td></tr>"
        for item in items)
    return (f"<h2>Adversarial clips</h2><table id='items'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _item_scores(item: Mapping[str, Any]) -> str:
    return "".join(
        f"<div class='det{' evade' if item['evades'].get(name) else ''}' data-detector='{esc(name)}'>"
        f"{esc(name)} {esc(_num(score, 3))}</div>"
        for name, score in item["scores"].items())


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
            clean, attacked = (_scores(row, "clean_scores"), _scores(row, "attacked_scores")) if row else ([], [])
            if not clean or not attacked:
                continue
            ax.plot(*score_roc(clean, attacked), linestyle=("-", "--", "-.", ":")[drawn % 4], linewidth=1.4,
                    label=f"{config} (AUC {_num(row['auc'], 2)})")
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
        groups = [("clean", _scores(rows[0], "clean_scores"))]
        groups += [(stage, _scores(row, "attacked_scores") if (row := grid.get(config, source, stage)) else [])
                   for stage in grid.stages]
        filled = [(i, values) for i, (_, values) in enumerate(groups) if values]
        if filled:
            ax.boxplot([v for _, v in filled], positions=[i for i, _ in filled], widths=0.5, showfliers=False,
                       medianprops={"color": "0.2"})
        for i, values in filled:
            ax.scatter(i + jitter.uniform(-0.15, 0.15, len(values)), values, s=12, alpha=0.75, zorder=3,
                       color=_CLEAN if i == 0 else _ATTACKED)
        threshold = _finite(rows[0]["threshold"])
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


def _scores(row: Mapping[str, Any], key: str) -> list[float]:
    """The finite scores of ``row[key]`` (null/NaN dropped)."""
    return [v for v in (_finite(s) for s in row[key]) if math.isfinite(v)]


def _finite(value: Any) -> float:
    """``value`` as a float, NaN for null."""
    return math.nan if value is None else float(value)


def _num(value: float | None, digits: int) -> str:
    return fmt_num(value, digits, missing=MISSING)


__all__ = ["MISSING", "render_detectors_report", "write_detectors_report"]
