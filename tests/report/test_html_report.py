"""The HTML report: built from a real results store, escaped, rendered by headless Chromium.

The store holds two detectors' results per item (paper + dtw), as ``reproduce --detectors paper,dtw`` writes.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.pipeline import ExperimentRun
from synthcheck.experiments.results import AttackOutcome, CleanResult, DetectorScore
from synthcheck.experiments.store import ResultsStore
from synthcheck.report import REPORT_NAME, write_report
from synthcheck.tts import get_synthesizer

CHROMIUM = "/usr/bin/chromium"
INJECTION = "<script>alert(1)</script>"
SENTENCES = ("it was the best of times", "it was the worst of times")


def detectors(paper: float, dtw: float) -> dict[str, DetectorScore]:
    """The per-detector verdicts of one stage (paper threshold 0.4, dtw 0.305)."""
    return {"paper": DetectorScore(score=paper, threshold=0.4, consistent=paper >= 0.4, config="paper"),
            "dtw": DetectorScore(score=dtw, threshold=0.305, consistent=dtw >= 0.305, config="dtw")}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished two-item run whose adversarial transcript tries to inject a script."""
    run = tmp_path_factory.mktemp("run")
    config = ExperimentConfig(sentences=SENTENCES, recognizer="whisper-tiny.en", detectors=("paper", "dtw"))
    tts = get_synthesizer("pico2wave", "en-US")
    rng = np.random.default_rng(0)
    with ResultsStore.open(run, config, {"python": "3.11", "note": "<b>not bold</b>"}) as store:
        for i, spec in enumerate(config.items()):
            x = tts.synthesize(spec.sentence)
            y = 0.5 * x + 0.01 * rng.standard_normal(x.size).astype(np.float32)
            store.commit("clean", spec.key, CleanResult(transcript=spec.sentence, wer=0.0,
                                                        detectors=detectors(0.9 - 0.1 * i, 0.61 + 0.1 * i)),
                         {"clean": x, "channel": y, "clean_resynth": x})
            store.commit("targeted", spec.key, AttackOutcome(transcript=f"he travels {INJECTION}", success=True,
                                                             wer_target=0.2, detectors=detectors(0.12 + 0.1 * i, 0.25),
                                                             wer_source=1.0, db_x=-41.5, snr_db=33.0),
                         {"adversarial": y, "adversarial_resynth": tts.synthesize("he travels")}, elapsed=2.0)
    write_report(ExperimentRun.read(run))
    return run


def test_report_is_self_contained_and_escapes_all_text(run_dir):
    page = (run_dir / REPORT_NAME).read_text(encoding="utf-8")
    assert INJECTION not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>not bold</b>" not in page  # versions are escaped too
    assert "<script" not in page.lower()
    assert page.count("data:audio/wav;base64,") == 10  # five players per item
    assert page.count("data:image/png;base64,") == 3
    assert not re.search(r"""(src|href)=['"](?!data:)""", page), "everything must be embedded"
    summary = re.search(r"id='summary'>(.*?)</section>", page, re.S).group(1)
    assert "100 %" in summary and "0.0 s" not in summary  # detection rate; wall time 4 s
    for png in ("scores_by_sentence.png", "roc.png", "score_histogram.png"):
        assert (run_dir / png).read_bytes().startswith(b"\x89PNG")
    assert "two-cities" not in summary and ">tts<" in summary  # the dataset is named


def test_report_has_a_row_per_detector_and_each_detectors_scores_per_sentence(run_dir):
    page = (run_dir / REPORT_NAME).read_text(encoding="utf-8")
    table = re.search(r"<table id='detectors'>(.*?)</table>", page, re.S).group(1)
    rows = re.findall(r"<tr class='detector' data-detector='([^']+)'>(.*?)</tr>", table, re.S)
    assert [name for name, _ in rows] == ["paper", "dtw"]
    cells = {name: re.findall(r"<td>(.*?)</td>", row) for name, row in rows}
    # paper: adversarial 0.12, 0.22 < 0.4 flagged, clean 0.9, 0.8 not; dtw: adversarial 0.25 < 0.305 flagged
    # clean flags split by transcript: both clean transcripts are exact (WER 0), neither flagged
    assert cells["paper"][2:10] == ["2", "2", "0.400", "100 %", "0 %", "0/2", "0/0", "1.000"]
    assert cells["dtw"][2:10] == ["2", "2", "0.305", "100 %", "0 %", "0/2", "0/0", "1.000"]
    # calibrated at 5 % on two clean scores: the lower one; leave-one-out flags that one (the other is higher)
    assert cells["paper"][10:] == ["0.800", "0 %", "50 %", "100 %"]
    assert cells["dtw"][10:] == ["0.610", "0 %", "50 %", "100 %"]
    items = re.findall(r"<tr class='item'.*?</tr>", page, re.S)
    assert len(items) == 2
    assert "dtw 0.710" in items[1] and "paper 0.800" in items[1]  # each detector's clean score
    assert items[0].count("class='det flag' data-detector=") == 2  # the adversarial scores, both flagged


def _chromium(args: list[str], profile) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.chromium
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing; scripts/setup.sh --test installs it")
    url = (run_dir / REPORT_NAME).as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<tr class=\"item\"") == 2
    assert html.count("<audio") == 10
    assert html.count("<tr class=\"detector\"") == 2 and 'data-detector="dtw"' in html
    assert "<script" not in html.lower(), "an injected script element made it into the DOM"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text instead

    shot = tmp_path / "report.png"
    done = _chromium([f"--screenshot={shot}", "--window-size=1280,2000", url], tmp_path / "profile2")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50 and pixels.std() > 0.05, "screenshot looks blank"
