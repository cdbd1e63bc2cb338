"""Attacker-controlled text in both HTML reports: sentences (from a sentences file), transcripts and targets carry
script tags and event handlers; headless Chromium loads the pages and no script runs.

Every payload would set ``document.title`` to ``PW`` + ``NED``; the escaped text shows ``'PW'+'NED'``, so the
word PWNED appears in the rendered DOM only if a payload ran. A control page with the payloads unescaped proves
that this check sees a script that runs.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from experiments.evaluation_rows import evaluation_part
from report.test_detectors_report import ATTACKED, CLEAN, DB_X, SETTINGS, latency
from report.test_html_report import CHROMIUM, _chromium, detectors

from synthcheck.experiments.attack_evaluation import attack_evaluation
from synthcheck.experiments.config import ExperimentConfig, read_sentences_file
from synthcheck.experiments.pipeline import ExperimentRun
from synthcheck.experiments.results import AttackOutcome, CleanResult
from synthcheck.experiments.store import ResultsStore
from synthcheck.report import REPORT_NAME, write_report
from synthcheck.report.detectors_report import write_detectors_report

RUN = "document.title='PW'+'NED'"
PAYLOADS = (
    f"<script>{RUN}</script>",
    f"<img src=x onerror=\"{RUN}\">",
    f"<svg onload=\"{RUN}\"></svg>",
    f"'><img src=x onerror={RUN}>",
    f"</td></tr></table><body onload=\"{RUN}\">",
    f"<iframe srcdoc=\"<script>parent.{RUN}</script>\"></iframe>",
)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A finished run whose sentences file and transcripts are the payloads."""
    root = tmp_path_factory.mktemp("hostile")
    sentences_file = root / "sentences.txt"
    sentences_file.write_text("".join(f"say {p} now\n" for p in PAYLOADS[:3]), encoding="utf-8")
    config = ExperimentConfig(sentences=read_sentences_file(sentences_file), detectors=("paper", "dtw"))
    tone = (0.3 * np.sin(np.arange(4800) * 0.07)).astype(np.float32)
    run = root / "run"
    with ResultsStore.open(run, config, {"python": PAYLOADS[4]}) as store:
        for i, spec in enumerate(config.items()):
            store.commit("clean", spec.key, CleanResult(transcript=PAYLOADS[3], wer=0.0, detectors=detectors(0.9, 0.7)),
                         {"clean": tone, "channel": tone, "clean_resynth": tone})
            store.commit("targeted", spec.key, AttackOutcome(transcript=PAYLOADS[5], success=True, wer_target=0.0,
                                                             target=PAYLOADS[2], detectors=detectors(0.1, 0.2),
                                                             wer_source=1.0, db_x=-40.0, snr_db=30.0),
                         {"adversarial": tone, "adversarial_resynth": tone})
    write_report(ExperimentRun.read(run))
    return run / REPORT_NAME


@pytest.fixture(scope="module")
def hostile_detectors_report(tmp_path_factory):
    """The evaluate-detectors report whose adversarials' targets and transcripts are the payloads."""
    root = tmp_path_factory.mktemp("hostile-detectors")

    def target(stage: str, j: int) -> str:
        return PAYLOADS[(SETTINGS.stages.index(stage) * SETTINGS.n_attack + j) % len(PAYLOADS)]

    part = evaluation_part(SETTINGS, CLEAN, ATTACKED, db_x=DB_X, target=target, latency=latency)
    return write_detectors_report(attack_evaluation([part]), root / "detectors.html")


@pytest.mark.parametrize("report", ["hostile_run", "hostile_detectors_report"])
def test_payloads_are_escaped_in_the_page_source(report, request):
    page = request.getfixturevalue(report).read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<iframe" not in page.lower() and "<svg" not in page.lower()
    assert all(payload not in page for payload in PAYLOADS) and "<img src=x" not in page and "<body onload" not in page
    assert "&lt;script&gt;document.title=&#x27;PW&#x27;+&#x27;NED&#x27;&lt;/script&gt;" in page


def _dom(url: str, profile) -> str:
    done = _chromium(["--virtual-time-budget=3000", "--dump-dom", url], profile)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.chromium
def test_no_payload_runs_in_headless_chromium(hostile_run, hostile_detectors_report, tmp_path):
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing; scripts/setup.sh --test installs it")
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><head><title>x</title></head><body>{PAYLOADS[1]}</body></html>")
    assert "PWNED" in _dom(control.as_uri(), tmp_path / "p0"), "the check cannot see a payload that runs"
    for i, page in enumerate((hostile_run, hostile_detectors_report)):
        dom = _dom(page.as_uri(), tmp_path / f"p{i + 1}")
        assert "PWNED" not in dom, f"a payload ran in {page.name}"
        assert "'PW'+'NED'" in dom or "&#x27;PW&#x27;+&#x27;NED&#x27;" in dom or "PW'+'NED" in dom  # shown as text
        assert "<script" not in dom.lower() and "<iframe" not in dom.lower()
