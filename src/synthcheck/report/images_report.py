"""The self-contained HTML report of an image run (decompress-and-compare detection against adversarial images).

Sections: the run (dataset, images, wall time, config, versions with the weights files); the clean images
(accuracy, each detector's false flags, the residual acceptance radius r); accuracy under attack, ABS-style (the
classifier alone and with each detector, :class:`~synthcheck.images.metrics.RobustAccuracy`); detection per attack
stage and detector with the Theorem 1.3 bound (:class:`~synthcheck.images.metrics.StageDetection`) and a ROC
figure per stage; a grid of clean image, adversarial, perturbation and codeword per attack stage.

As the speech report (:mod:`synthcheck.report.html`, whose style and helpers it shares) the page embeds its
figures as ``data:image/png`` URIs and escapes every piece of text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from synthcheck.cache import atomic_write_bytes
from synthcheck.experiments.metrics import CALIBRATION_FPR
from synthcheck.experiments.results import ItemRecord
from synthcheck.experiments.store import ResultsStore
from synthcheck.images.experiment import ImageRun
from synthcheck.images.metrics import BOUND_DETECTOR, ImageMetrics
from synthcheck.images.results import ImageCleanResult
from synthcheck.report.html import REPORT_NAME, STYLE, b64, esc, fmt_num, fmt_pct
from synthcheck.report.image_plots import GridColumn, accuracy_png, evasion_png, image_grid_png, stage_roc_png

log = logging.getLogger(__name__)

#: Images shown in each attack stage's grid.
GRID_IMAGES = 8
_NORMS = {"linf": "L∞", "l2": "L2"}
_EXTRA_STYLE = """
figure{margin:8px 0} figcaption{font-size:13px;color:#444}
.provenance{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}
"""


def write_image_report(run: ImageRun, path: Path | str | None = None) -> Path:
    """Write the report page of ``run`` (atomically) and return its path.

    Parameters
    ----------
    run
        The run as :func:`~synthcheck.experiments.pipeline.run_experiment` returned it, or
        :meth:`ImageRun.read` of a stored one; its arrays are read from ``run.run_dir``.
    path
        Where to write the page (default ``run.run_dir / "report.html"``).
    """
    out = run.run_dir / REPORT_NAME if path is None else Path(path)
    written = atomic_write_bytes(out, render_image_report(run).encode("utf-8"))
    log.info("image report written to %s", written)
    return written


def render_image_report(run: ImageRun) -> str:
    """The report page of ``run`` as one string."""
    config, metrics = run.config, run.metrics
    title = run.run_dir.name
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>synthcheck image report: {esc(title)}</title><style>{STYLE}{_EXTRA_STYLE}</style></head><body>",
        f"<h1>synthcheck: adversarial {esc(config.dataset)} images against decompress-and-compare "
        f"&mdash; run {esc(title)}</h1>",
        _summary(run),
        "<section class='provenance'><div><h2>Configuration</h2>",
        _key_value_table("config", {k: ", ".join(v) if isinstance(v, list) else v
                                    for k, v in config.to_dict().items()}),
        f"<p>config hash <code>{esc(config.config_hash())}</code></p></div>",
        "<div><h2>Versions</h2>", _key_value_table("versions", _weights_first(run.versions)), "</div></section>",
        _clean_section(run),
        _accuracy_section(metrics, config.detectors),
        _detection_section(run),
        _ladder_section(metrics),
        _grid_section(run),
        "</body></html>",
    ]
    return "\n".join(parts)


def _summary(run: ImageRun) -> str:
    m, config = run.metrics, run.config
    primary = config.detectors[0]
    cells = [
        ("dataset", config.dataset, f"{m.n_images} test images"),
        ("clean accuracy", fmt_pct(m.clean_accuracy), "the classifier alone"),
        ("clean flagged", fmt_pct(m.clean_flagged.get(primary)), f"correct images, primary detector {primary}"),
        ("radius r", fmt_num(m.radius, 3), f"{BOUND_DETECTOR} detector's acceptance radius (L2)"),
        ("attack stages", str(len(config.attacks)), f"{config.attack_steps} steps each"),
        ("wall time", fmt_num(run.wall_seconds, 1, " s"), "compute, summed over sessions"),
    ]
    body = "".join(f"<div>{esc(label)}<b>{esc(value)}</b><small>{esc(note)}</small></div>"
                   for label, value, note in cells)
    return f"<h2>Summary</h2><section class='summary' id='summary'>{body}</section>"


def _clean_section(run: ImageRun) -> str:
    m = run.metrics
    cleans = _cleans(run.records)
    correct = sum(c.correct for c in cleans)
    head = ("detector", "threshold", "correctly classified images flagged", "misclassified images flagged")
    rows = []
    for name in run.config.detectors:
        wrong_flagged = sum(not c.detectors[name].consistent for c in cleans if not c.correct)
        threshold = cleans[0].detectors[name].threshold if cleans else math.nan
        cells = (name, fmt_num(threshold, 3), fmt_pct(m.clean_flagged.get(name)),
                 f"{wrong_flagged}/{len(cleans) - correct}")
        rows.append(f"<tr class='clean' data-detector='{esc(name)}'>{_cells(cells)}</tr>")
    return (f"<h2>Clean images</h2><p>Clean accuracy {esc(fmt_pct(m.clean_accuracy))} ({correct}/{len(cleans)}). "
            "A flag on a correctly classified image is a false positive; on a misclassified one it catches the "
            f"classifier's error. The {esc(BOUND_DETECTOR)} detector accepts an image as its decided class within "
            f"r = {esc(fmt_num(m.radius, 3))} (L2) of that class's generated manifold.</p>"
            f"<table id='clean'>{_head(head)}<tbody>{''.join(rows)}</tbody></table>")


def _accuracy_section(m: ImageMetrics, detectors: Sequence[str]) -> str:
    head = ("stage", "norm", "ε", "images", "classifier alone", *(f"+ {name}" for name in detectors))
    rows = "".join(
        f"<tr class='accuracy' data-stage='{esc(a.stage)}'>"
        + _cells((a.stage, _NORMS.get(a.norm, a.norm), f"{a.epsilon:g}", a.n_images, fmt_pct(a.accuracy),
                  *(fmt_pct(a.accuracy_with_detector.get(name)) for name in detectors)))
        + "</tr>"
        for a in m.accuracy)
    return ("<h2>Accuracy under attack</h2><p>The fraction of images handled when the attacker may change each by "
            "at most ε: the classifier alone is right if the clean decision is right and the attack found no "
            "adversarial within ε; with a detector an image is also handled if the detector flags what the "
            "classifier sees. Minimal-norm attacks are read at each standard budget of their norm.</p>"
            f"<table id='accuracy'>{_head(head)}<tbody>{rows}</tbody></table>"
            + _figure("accuracy-plot", accuracy_png(m, detectors[0]),
                      f"Accuracy against budget: the classifier alone (solid) and with {detectors[0]} (dashed)."))


def _detection_section(run: ImageRun) -> str:
    m, detectors = run.metrics, run.config.detectors
    head = ("stage", "detector", "successful adversarials", "median L2", "median L∞", "AUC",
            "detection rate at the calibrated threshold", f"TPR at {100 * CALIBRATION_FPR:g} % FPR", "evasions",
            "evasions below the Theorem 1.3 bound", "median bound (L2)")
    rows = "".join(
        f"<tr class='detection' data-stage='{esc(d.stage)}' data-detector='{esc(d.detector)}'>"
        + _cells((d.stage, d.detector, d.n_success, fmt_num(d.median_l2, 2), fmt_num(d.median_linf, 3),
                  fmt_num(d.auc, 3), fmt_pct(d.detection_rate), fmt_pct(d.tpr_at_5_fpr), d.evasions, d.below_bound,
                  fmt_num(d.median_bound, 2)))
        + "</tr>"
        for d in m.detection)
    figures = []
    for stage in _stages(run.records):
        scores = {(stage, name): _stage_scores(run.records, stage, name) for name in detectors}
        clean, attacked = next(iter(scores.values()))
        figures.append(_figure(f"roc-{stage}", stage_roc_png(m, scores, detectors),
                               f"ROC of {stage}: {len(attacked)} successful adversarials against {len(clean)} "
                               "correctly classified clean images."))
    return ("<h2>Detection</h2><p>Each detector's scores of the successful adversarials of correctly classified "
            f"images against the clean scores of those images. The TPR at {100 * CALIBRATION_FPR:g} % FPR is read "
            "off this run's clean images (optimistic). An evasion is a successful adversarial the detector accepts; "
            "Theorem 1.3 guarantees a flag for an adversarial closer (L2) to its clean image than the bound "
            "min ‖c − x‖ − r over the target class's codewords c, so an evasion below it is a failure of the "
            f"latent search.</p><table id='detection'>{_head(head)}<tbody>{rows}</tbody></table>"
            + "".join(figures))


def _ladder_section(m: ImageMetrics) -> str:
    if not m.ladders:
        return ""
    rows = []
    for ladder in m.ladders:
        rates = "; ".join(f"ε {b:g}: {fmt_pct(rate)} [{fmt_pct(low)}, {fmt_pct(high)}]" for b, rate, (low, high)
                          in zip(ladder.budgets, ladder.evasion_rates, ladder.intervals, strict=True))
        rows.append(f"<tr class='ladder' data-kind='{esc(ladder.kind)}' data-detector='{esc(ladder.detector)}'>"
                    + _cells((ladder.kind, _NORMS.get(ladder.norm, ladder.norm), ladder.detector, ladder.n_images,
                              rates, fmt_pct(ladder.evaded_any), ladder.needed_label)) + "</tr>")
    head = ("attack", "norm", "detector", "images", "evasion rate at each budget [Wilson 95 %]", "evades at some ε",
            "median ε needed")
    return ("<h2>Perturbation needed to evade</h2><p>Each attack run at several budgets, read per image: it evades "
            "at ε when its adversarial at ε is classified as the attacker wanted and the detector accepts it "
            "(correctly classified clean images only). The median ε needed is the per-image smallest such budget "
            "(&gt; the largest when at most half the images evade at any). An adaptive attack that needs no more "
            "perturbation than the non-adaptive one has found the detector's blind spot, not paid for it.</p>"
            f"<table id='ladders'>{_head(head)}<tbody>{''.join(rows)}</tbody></table>"
            + _figure("ladder-plot", evasion_png(m), "Evasion rate against budget with Wilson 95 % intervals, one "
                      "panel per norm and detector."))


def _grid_section(run: ImageRun) -> str:
    primary = run.config.detectors[0]
    figures = []
    with ResultsStore.read(run.run_dir) as store:
        for stage in _stages(run.records):
            chosen = _grid_records(run.records, stage)
            columns = [GridColumn(clean=store.read_array(r.clean.audio["image"]),
                                  adversarial=store.read_array(r.attacks[stage].audio["adversarial"]),
                                  codeword=store.read_array(r.attacks[stage].audio["codeword"]),
                                  caption=_caption(r, stage)) for r in chosen]
            png = image_grid_png(f"{stage} (primary detector {primary})", columns)
            captions = "; ".join(c.caption for c in columns)
            figures.append(_figure(f"grid-{stage}", png, f"{stage}: {len(columns)} images ({captions}).",
                                   css_class="plots grid"))
    return (f"<h2>Adversarial images</h2><p>Per attack stage up to {GRID_IMAGES} images, successful attacks first and among them those the primary detector "
            f"{esc(primary)} accepts (evades). Rows: the clean image x, the adversarial y, the perturbation y − x "
            "and the codeword c(y) of the class the classifier decided for y.</p>" + "".join(figures))


def _grid_records(records: Sequence[ItemRecord], stage: str) -> list[ItemRecord]:
    """Up to :data:`GRID_IMAGES` records attacked by ``stage``: successful attacks on correctly classified images
    first, evading ones (the primary detector accepts them) before flagged ones; record order otherwise."""
    attacked = [r for r in records if isinstance(r.clean, ImageCleanResult) and stage in r.attacks]
    ranked = sorted(attacked, key=lambda r: (not (r.attacks[stage].success and r.clean.correct),
                                             not r.attacks[stage].consistent))
    return ranked[:GRID_IMAGES]


def _caption(record: ItemRecord, stage: str) -> str:
    """``true→decided norm size verdict`` of one attacked image, e.g. ``7→3 L2 1.52 evades``."""
    outcome = record.attacks[stage]
    size = outcome.l2 if outcome.norm == "l2" else outcome.linf
    verdict = ("evades" if outcome.consistent else "flagged") if outcome.success else "failed"
    return (f"{record.spec.sentence}→{outcome.transcript} {_NORMS.get(outcome.norm, outcome.norm)} "
            f"{fmt_num(size, 2)} {verdict}")


def _stage_scores(records: Sequence[ItemRecord], stage: str, detector: str) -> tuple[list[float], list[float]]:
    """``detector``'s scores of the correctly classified clean images and of the successful adversarials of
    ``stage`` on them (the populations of :class:`~synthcheck.images.metrics.StageDetection`)."""
    pairs = [(r.clean, r.attacks.get(stage)) for r in records if isinstance(r.clean, ImageCleanResult)]
    clean = [c.detectors[detector].score for c, _ in pairs if c.correct]
    attacked = [o.detectors[detector].score for c, o in pairs if o is not None and o.success and c.correct]
    return clean, attacked


def _cleans(records: Sequence[ItemRecord]) -> list[ImageCleanResult]:
    return [r.clean for r in records if isinstance(r.clean, ImageCleanResult)]


def _stages(records: Sequence[ItemRecord]) -> list[str]:
    """The attack stages with results, in the order the metrics list them."""
    return list(dict.fromkeys(stage for r in records if isinstance(r.clean, ImageCleanResult) for stage in r.attacks))


def _weights_first(versions: dict[str, str]) -> dict[str, str]:
    """``versions`` with the weights files (``*_weights``) first, the rest in stored order."""
    return dict(sorted(versions.items(), key=lambda kv: not kv[0].endswith("_weights")))


def _key_value_table(table_id: str, values: dict[str, object]) -> str:
    rows = "".join(f"<tr><th>{esc(key)}</th><td>{esc(value)}</td></tr>" for key, value in values.items())
    return f"<table id='{esc(table_id)}'><tbody>{rows}</tbody></table>"


def _head(head: Sequence[str]) -> str:
    return f"<thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>"


def _cells(values: Sequence[object]) -> str:
    return "".join(f"<td>{esc(v)}</td>" for v in values)


def _figure(figure_id: str, png: bytes, caption: str, css_class: str = "plots") -> str:
    return (f"<figure class='{esc(css_class)}' id='{esc(figure_id)}'><img alt='{esc(caption)}' "
            f"src='data:image/png;base64,{b64(png)}'><figcaption>{esc(caption)}</figcaption></figure>")


__all__ = ["GRID_IMAGES", "render_image_report", "write_image_report"]
