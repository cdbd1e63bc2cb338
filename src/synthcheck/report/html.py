"""The self-contained HTML report of a run: numbers, per-detector table, per-sentence table with audio, plots,
provenance.

Everything is embedded (16-bit WAVs as ``data:audio/wav`` URIs, plots as ``data:image/png``), so
``report.html`` can be mailed or archived alone. Every piece of text is escaped with :func:`html.escape`:
transcripts are chosen by the attacker.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from synthcheck.cache import atomic_write_bytes
from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.metrics import ALL_DATASETS, CALIBRATION_FPR, DetectorMetrics, ExperimentMetrics
from synthcheck.experiments.pipeline import ExperimentRun
from synthcheck.experiments.results import ResultRow, StageResult
from synthcheck.experiments.store import REPORT_FILES
from synthcheck.experiments.sweep import group_metrics
from synthcheck.report.plots import roc_png, score_histogram_png, scores_by_sentence_png

REPORT_NAME, FIG4_NAME, ROC_NAME, HISTOGRAM_NAME = REPORT_FILES
#: Audio players per item: (stage, stored name, label).
_PLAYERS = (
    ("clean", "clean", "x (source)"),
    ("clean", "channel", "y1 (channel)"),
    ("clean", "clean_resynth", "TTS(t1)"),
    ("attack", "adversarial", "y2 (adversarial)"),
    ("attack", "adversarial_resynth", "TTS(t2)"),
)
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1800px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:28px}
.summary{display:flex;flex-wrap:wrap;gap:12px;border:1px solid #bbb;border-radius:8px;padding:12px;background:#f4f7fb}
.summary div{min-width:150px} .summary b{display:block;font-size:1.4em}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
th{background:#eef} .flag{color:#b00;font-weight:bold} .ok{color:#070} .det{white-space:nowrap}
audio{width:190px;height:28px;display:block} .plots img{max-width:100%;margin:6px;border:1px solid #ddd}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
"""


def write_report(run: ExperimentRun) -> Path:
    """Write ``report.html`` and the PNG plots of ``run`` into its run directory (as :func:`run_experiment` returned
    it, or :meth:`ExperimentRun.read` of a stored one); return the page's path."""
    config, rows = run.config, run.rows
    overall = [d for d in run.detector_metrics if d.dataset == ALL_DATASETS]
    plots = {
        FIG4_NAME: scores_by_sentence_png(rows, config.detectors, [d.threshold for d in overall]),
        ROC_NAME: roc_png(run.detector_metrics),
        HISTOGRAM_NAME: score_histogram_png(rows, config.detectors, [d.threshold for d in overall]),
    }
    for name, png in plots.items():
        atomic_write_bytes(run.run_dir / name, png)
    page = render_report(
        title=run.run_dir.name,
        config=config,
        versions=run.versions,
        rows=rows,
        metrics=run.metrics,
        detectors=run.detector_metrics,
        wall_seconds=run.wall_seconds,
        plots=plots,
        audio={rel: (run.run_dir / rel).read_bytes() for rel in _audio_files(rows)},
    )
    return atomic_write_bytes(run.run_dir / REPORT_NAME, page.encode("utf-8"))


def render_report(
    *,
    title: str,
    config: ExperimentConfig,
    versions: Mapping[str, str],
    rows: Sequence[ResultRow],
    metrics: ExperimentMetrics,
    detectors: Sequence[DetectorMetrics],
    wall_seconds: float,
    plots: Mapping[str, bytes],
    audio: Mapping[str, bytes],
) -> str:
    """The report page as one string (``audio`` maps stored relative paths to WAV bytes; ``detectors`` are the
    rows of :func:`~synthcheck.experiments.metrics.detector_metrics`)."""
    groups = group_metrics(rows, config.threshold)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>synthcheck report: {esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>synthcheck: adversarial detection by re-synthesis &mdash; run {esc(title)}</h1>",
    ]
    if FIG4_NAME in plots:
        parts.append("<h2>Fig. 4: score per sentence, clean and adversarial</h2><div class='plots' id='fig4'>"
                     f"<img alt='{esc(FIG4_NAME)}' src='data:image/png;base64,{b64(plots[FIG4_NAME])}'></div>")
    parts += [_detector_table(detectors), _summary(metrics, wall_seconds, config)]
    if len(groups) > 1:
        parts.append(_group_table(groups))
    for group in groups:
        parts.append(_item_table(group, [r for r in rows if r.group == group], audio, len(groups) > 1))
    parts.append("<h2>Plots</h2><div class='plots'>")
    parts.extend(f"<img alt='{esc(name)}' src='data:image/png;base64,{b64(png)}'>" for name, png in plots.items()
                 if name != FIG4_NAME)
    parts.append("</div>")
    parts.append("<h2>Configuration</h2><pre id='config'>"
                 f"{esc(json.dumps(config.to_dict(), indent=2))}</pre>")
    parts.append(f"<p>config hash <code>{esc(config.config_hash())}</code></p>")
    parts.append(f"<h2>Versions</h2><pre id='versions'>{esc(json.dumps(dict(versions), indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(m: ExperimentMetrics, wall_seconds: float, config: ExperimentConfig) -> str:
    cells = [
        ("detection rate", fmt_pct(m.detection_rate), f"{m.n_attack_success} successful attacks"),
        ("false-positive rate", fmt_pct(m.false_positive_rate), f"{m.n_clean} clean items"),
        ("AUC", fmt_num(m.auc, 3), "adversarial vs clean"),
        ("median SNR", fmt_num(m.median_snr_db, 1, " dB"), f"median dB_x {fmt_num(m.median_db_x, 1)}"),
        ("attack success", fmt_pct(m.attack_success_rate), f"{m.n_attack_success}/{m.n_attacked} attacked"),
        ("items", str(m.n_items), f"{m.n_clean_misrecognized} clean misrecognised "
                                  f"({m.false_positives_misrecognized} of them flagged)"),
        ("wall time", _duration(wall_seconds), f"recogniser {config.recognizer}"),
        ("threshold", f"{config.threshold:g}", f"primary detector {config.primary_detector}"),
        ("dataset", config.dataset, _source_note(config)),
    ]
    body = "".join(f"<div>{esc(label)}<b>{esc(value)}</b><small>{esc(note)}</small></div>"
                   for label, value, note in cells)
    return f"<h2>Summary</h2><section class='summary' id='summary'>{body}</section>"


def _source_note(config: ExperimentConfig) -> str:
    if config.dataset == "tts":
        return f"sentences rendered by {config.tts_engine}"
    return "recorded human speech"


def _detector_table(rows: Sequence[DetectorMetrics]) -> str:
    target = f"{100 * CALIBRATION_FPR:g} %"
    head = ("detector", "dataset", "clean", "adversarial", "threshold", "detection rate", "false-positive rate",
            "flags on exact transcripts", "flags on misrecognised", "AUC", f"threshold at {target} FPR",
            "FPR there", "FPR there (leave-one-out)", "detection rate there")
    body = "".join(_detector_row(m) for m in rows)
    return (f"<h2>Detectors</h2><p>The first is the primary detector of the summary. Clean flags are split: a flag on "
            f"an exact transcript is a true false positive, a flag on a misrecognised one detects a recognition "
            f"error. Thresholds in the last columns are calibrated on this run's clean scores for a {esc(target)} "
            f"false-positive rate.</p>"
            f"<table id='detectors'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _detector_row(m: DetectorMetrics) -> str:
    c = m.calibrated
    cells = (m.detector, m.cell, c.n_clean, c.n_attacked, fmt_num(m.threshold, 3), fmt_pct(m.detection_rate),
             fmt_pct(m.false_positive_rate), f"{m.flagged_exact}/{m.n_clean_exact}",
             f"{m.flagged_misrecognized}/{m.n_clean_misrecognized}", fmt_num(c.auc, 3), fmt_num(c.threshold, 3),
             fmt_pct(c.fpr), fmt_pct(c.fpr_loo), fmt_pct(c.detection_rate))
    body = "".join(f"<td>{esc(v)}</td>" for v in cells)
    return f"<tr class='detector' data-detector='{esc(m.detector)}'>{body}</tr>"


def _group_table(groups: Mapping[str, ExperimentMetrics]) -> str:
    head = ("cell", "items", "attack success", "detection rate", "false-positive rate", "AUC", "median SNR (dB)")
    rows = "".join(
        "<tr class='group'>" + "".join(f"<td>{esc(v)}</td>" for v in (
            group, m.n_items, fmt_pct(m.attack_success_rate), fmt_pct(m.detection_rate), fmt_pct(m.false_positive_rate),
            fmt_num(m.auc, 3), fmt_num(m.median_snr_db, 1))) + "</tr>"
        for group, m in groups.items()
    )
    return (f"<h2>Per sweep cell (voice, SNR, attack)</h2><table id='groups'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _item_table(group: str, rows: Sequence[ResultRow], audio: Mapping[str, bytes], titled: bool) -> str:
    head = ("#", "sentence s", "t1 = ASR(y1)", "WER t1", "scores clean", "clean verdict", "t2 = ASR(y2)",
            "attack", "WER t2 vs target", "WER t2 vs s", "scores adversarial", "adversarial verdict",
            "dB_x", "SNR (dB)", "audio")
    body = "".join(_item_row(r, audio) for r in rows)
    title = f"<h2>Sentences: {esc(group)}</h2>" if titled else "<h2>Sentences</h2>"
    return (f"{title}<table class='items'><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _item_row(row: ResultRow, audio: Mapping[str, bytes]) -> str:
    clean, attack = row.clean, row.attack
    cells = [
        esc(row.spec.index + 1),
        esc(row.spec.sentence),
        esc(clean.transcript if clean else ""),
        esc(fmt_num(clean.wer if clean else None, 2)),
        _scores(clean),
        _verdict(clean),
        esc(attack.transcript if attack else ""),
        esc("" if not attack else ("success" if attack.success else "failed")),
        esc(fmt_num(attack.wer_target if attack else None, 2)),
        esc(fmt_num(attack.wer_source if attack else None, 2)),
        _scores(attack),
        _verdict(attack),
        esc(fmt_num(attack.db_x if attack else None, 1)),
        esc(fmt_num(attack.snr_db if attack else None, 1)),
        _players(row, audio),
    ]
    return f"<tr class='item' data-key='{esc(row.spec.key)}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _scores(result: StageResult | None) -> str:
    """Each detector's score of a stage result, one line each; flagged ones marked."""
    if result is None:
        return ""
    return "".join(
        f"<div class='det{'' if d.consistent else ' flag'}' data-detector='{esc(name)}'>"
        f"{esc(name)} {esc(fmt_num(d.score, 3))}</div>"
        for name, d in result.detectors.items()
    )


def _verdict(result: StageResult | None) -> str:
    if result is None:
        return ""
    return "<span class='ok'>consistent</span>" if result.consistent else "<span class='flag'>FLAGGED</span>"


def _players(row: ResultRow, audio: Mapping[str, bytes]) -> str:
    out = []
    for stage, name, label in _PLAYERS:
        result = row.clean if stage == "clean" else row.attack
        rel = None if result is None else result.audio.get(name)
        if rel in audio:
            out.append(f"{esc(label)}<audio controls preload='none' src='data:audio/wav;base64,{b64(audio[rel])}'></audio>")
    return "".join(out)


def _audio_files(rows: Sequence[ResultRow]) -> list[str]:
    files = (rel for r in rows for result in (r.clean, r.attack) if result for rel in result.audio.values())
    return list(dict.fromkeys(files))


def esc(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values (quotes included)."""
    return html.escape(str(value), quote=True)


def b64(data: bytes) -> str:
    """``data`` as base64 text, for ``data:`` URIs."""
    return base64.b64encode(data).decode("ascii")


def fmt_num(value: float | None, digits: int, unit: str = "", missing: str = "n/a") -> str:
    """``value`` with ``digits`` decimals and ``unit``; ``missing`` for None, NaN and ±inf."""
    return missing if value is None or not math.isfinite(value) else f"{value:.{digits}f}{unit}"


def fmt_pct(value: float | None, missing: str = "n/a") -> str:
    """A rate in [0, 1] as a whole percentage; ``missing`` for None, NaN and ±inf."""
    return missing if value is None or not math.isfinite(value) else f"{100 * value:.0f} %"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


__all__ = ["REPORT_NAME", "STYLE", "b64", "esc", "fmt_num", "fmt_pct", "render_report", "write_report"]
