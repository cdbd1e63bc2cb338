"""The image run's HTML report: built from a real small MNIST run (the cached CNN and VAEs, foolbox PGD, the
core and adaptive PGD), self-contained, escaped, its tables matching the run's metrics, rendered by headless
Chromium."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from synthcheck.experiments.pipeline import run_experiment
from synthcheck.images.experiment import ImageExperimentConfig
from synthcheck.report.html import fmt_num, fmt_pct
from synthcheck.report.images_report import GRID_IMAGES, write_image_report

CHROMIUM = "/usr/bin/chromium"
INJECTION = "<script>alert(1)</script>"
#: adaptive-pgd-linf@0.4: at 0.3 and 10 steps none of the 6 images evaded with some trainings of the models
STAGES = ("pgd-linf@0.3", "core-pgd-l2@2", "adaptive-pgd-linf@0.4", "adaptive-pgd-linf@0.1")
#: One accuracy plot, one evasion-ladder plot (adaptive-pgd-linf at two budgets), one ROC figure and one grid per stage.
N_FIGURES = 2 + 2 * len(STAGES)
CAPTION = re.compile(r"^\S+→\S+ (L2|L∞) \d+\.\d\d (evades|flagged|failed)$")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished six-image run of three attack stages, its report written to the default path."""
    cfg = ImageExperimentConfig.quick(images=6, attacks=STAGES, attack_steps=10)
    run = run_experiment(cfg, tmp_path_factory.mktemp("image-run"))
    assert write_image_report(run) == run.run_dir / "report.html"
    return run


@pytest.fixture(scope="module")
def page(run):
    return (run.run_dir / "report.html").read_text(encoding="utf-8")


def table(page: str, table_id: str) -> str:
    return re.search(rf"<table id='{table_id}'>(.*?)</table>", page, re.S).group(1)


def cells(row: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", row, re.S)


def test_report_is_self_contained(page):
    assert page.count("data:image/png;base64,") == N_FIGURES
    assert not re.search(r"""(src|href)=['"](?!data:)""", page), "everything must be embedded"
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()


def test_header_names_the_dataset_config_versions_and_wall_time(run, page):
    summary = re.search(r"id='summary'>(.*?)</section>", page, re.S).group(1)
    assert "<b>mnist</b>" in summary and "6 test images" in summary
    assert f"<b>{fmt_num(run.wall_seconds, 1, ' s')}</b>" in summary and run.wall_seconds > 0
    assert "<th>attacks</th><td>pgd-linf@0.3, core-pgd-l2@2, adaptive-pgd-linf@0.4, adaptive-pgd-linf@0.1</td>" in table(page, "config")
    versions = table(page, "versions")
    for name in ("classifier_weights", "generator_weights"):
        assert f"<th>{name}</th><td>{run.versions[name]}</td>" in versions and run.versions[name].endswith(".pt")
    assert run.config.config_hash() in page


def test_clean_table_has_each_detectors_false_flag_rate_and_the_radius(run, page):
    m = run.metrics
    rows = re.findall(r"<tr class='clean' data-detector='([^']+)'>(.*?)</tr>", table(page, "clean"), re.S)
    assert [name for name, _ in rows] == list(run.config.detectors)
    for name, row in rows:
        assert cells(row)[2] == fmt_pct(m.clean_flagged[name])
    assert np.isfinite(m.radius) and f"r = {fmt_num(m.radius, 3)} (L2)" in page
    assert f"Clean accuracy {fmt_pct(m.clean_accuracy)} (" in page


def test_accuracy_table_has_a_row_per_stage_matching_the_metrics(run, page):
    rows = re.findall(r"<tr class='accuracy' data-stage='([^']+)'>(.*?)</tr>", table(page, "accuracy"), re.S)
    assert [stage for stage, _ in rows] == list(STAGES)  # fixed-budget stages: one row each
    for (stage, row), a in zip(rows, run.metrics.accuracy, strict=True):
        assert stage == a.stage
        assert cells(row) == [stage, "L2" if a.norm == "l2" else "L∞", f"{a.epsilon:g}", "6", fmt_pct(a.accuracy),
                              *(fmt_pct(a.accuracy_with_detector[name]) for name in run.config.detectors)]
    assert "id='accuracy-plot'" in page


def test_detection_table_has_a_row_per_stage_and_detector_matching_the_metrics(run, page):
    rows = re.findall(r"<tr class='detection' data-stage='([^']+)' data-detector='([^']+)'>(.*?)</tr>",
                      table(page, "detection"), re.S)
    assert [(stage, name) for stage, name, _ in rows] == [(s, n) for s in STAGES for n in run.config.detectors]
    for stage, name, row in rows:
        d = run.metrics.detection_of(stage, name)
        assert cells(row) == [stage, name, str(d.n_success), fmt_num(d.median_l2, 2), fmt_num(d.median_linf, 3),
                              fmt_num(d.auc, 3), fmt_pct(d.detection_rate), fmt_pct(d.tpr_at_5_fpr), str(d.evasions),
                              str(d.below_bound), fmt_num(d.median_bound, 2)]
    assert any(d.n_success for d in run.metrics.detection), "the attacks found no adversarial; nothing is tested"
    for stage in STAGES:
        assert f"<figure class='plots' id='roc-{stage}'>" in page


def test_ladder_table_reads_each_image_at_every_budget(run, page):
    rows = re.findall(r"<tr class='ladder' data-kind='([^']+)' data-detector='([^']+)'>(.*?)</tr>",
                      table(page, "ladders"), re.S)
    assert [(kind, name) for kind, name, _ in rows] == [("adaptive-pgd-linf", n) for n in run.config.detectors]
    correct = [r for r in run.records if r.clean.correct]
    for (_, name, row), ladder in zip(rows, run.metrics.ladders, strict=True):
        assert ladder.budgets == (0.1, 0.4) and ladder.n_images == len(correct)
        # recount from the stored records: evaded at ε = succeeded and accepted by this detector
        evaded = [[r.attacks[f"adaptive-pgd-linf@{b:g}"].success
                   and r.attacks[f"adaptive-pgd-linf@{b:g}"].detectors[name].consistent for b in ladder.budgets]
                  for r in correct]
        assert ladder.evasion_rates == tuple(np.mean(evaded, axis=0))
        assert ladder.evaded_any == np.mean([any(e) for e in evaded])
        for rate, (low, high) in zip(ladder.evasion_rates, ladder.intervals, strict=True):
            assert low <= rate <= high
        needed = sorted(min((b for b, e in zip(ladder.budgets, row_evaded) if e), default=np.inf)
                        for row_evaded in evaded)
        assert ladder.median_needed == np.median(needed)
        text = cells(row)
        assert text[:4] == ["adaptive-pgd-linf", "L∞", name, str(len(correct))]
        assert text[4].startswith(f"ε 0.1: {fmt_pct(ladder.evasion_rates[0])} [")
        assert text[6] == ("&gt; 0.4" if np.isinf(ladder.median_needed) else f"{ladder.median_needed:g}")
    assert "id='ladder-plot'" in page


def test_one_grid_per_stage_evading_adversarials_first(run, page):
    grids = dict(re.findall(r"<figure class='plots grid' id='grid-([^']+)'>.*?<figcaption>[^:]*: \d+ images "
                            r"\((.*?)\)\.</figcaption>", page, re.S))
    assert list(grids) == list(STAGES)
    for stage, text in grids.items():
        captions = text.split("; ")
        assert len(captions) == min(GRID_IMAGES, run.metrics.n_images)
        assert all(CAPTION.match(c) for c in captions), captions
        evading = sum(r.clean.correct and r.attacks[stage].success and r.attacks[stage].consistent
                      for r in run.records)
        assert [c.endswith("evades") for c in captions[:evading]] == [True] * evading
        if evading < len(captions):  # the next one is a successful attack the primary detector flagged, or failed
            assert not captions[evading].endswith("evades")
    assert any(c.endswith("evades") for text in grids.values() for c in text.split("; ")), \
        "no adaptive adversarial evaded the primary detector; the ordering is untested"


def test_text_from_the_data_is_escaped(run, tmp_path):
    """A hostile class name and version string (through the records and the versions) stay text."""
    records = [dataclasses.replace(r, spec=dataclasses.replace(r.spec, sentence=INJECTION)) for r in run.records]
    hostile = dataclasses.replace(run, records=records, versions={**run.versions, "note": "<b>not bold</b>"})
    out = write_image_report(hostile, tmp_path / "hostile.html")
    assert out == tmp_path / "hostile.html" and [p.name for p in tmp_path.iterdir()] == ["hostile.html"]
    page = out.read_text(encoding="utf-8")
    assert INJECTION not in page and "<b>not bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;→" in page  # the grid captions, as text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page
    assert "<script" not in page.lower()


def _chromium(args: list[str], profile) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.chromium
def test_report_renders_in_headless_chromium(run, tmp_path):
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing; scripts/setup.sh --test installs it")
    url = (run.run_dir / "report.html").as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for table_id in ("clean", "accuracy", "detection", "config", "versions"):
        assert f'<table id="{table_id}">' in html
    assert html.count('<tr class="accuracy"') == len(run.metrics.accuracy)
    assert html.count('<tr class="detection"') == len(run.metrics.detection)
    assert html.count('<figure class="plots grid"') == len(STAGES)
    assert html.count("<img") == N_FIGURES
    assert "<script" not in html.lower()

    shot = tmp_path / "report.png"
    done = _chromium([f"--screenshot={shot}", "--window-size=1280,3000", url], tmp_path / "profile2")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1280)
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50 and pixels.std() > 0.05, "screenshot looks blank"
