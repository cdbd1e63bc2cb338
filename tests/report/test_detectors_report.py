"""The ``evaluate-detectors`` HTML report: tables, escaping, missing numbers, empty stages, plots, Chromium, CLI.

The evaluation is computed by :func:`attack_evaluation` from typed rows built by hand (both sources, 3 attacked
clauses, 3 stages, 3 detectors) with hand-picked scores whose AUCs and rates are worked out in the comments.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil

import pytest
from experiments.evaluation_rows import evaluation_part, write_work_dir
from matplotlib.image import imread
from report.test_html_report import CHROMIUM, _chromium

from synthcheck.cli import main
from synthcheck.experiments.attack_evaluation import AttackEvaluation, EvaluationSettings, attack_evaluation
from synthcheck.experiments.config import PAPER_TARGET
from synthcheck.report.detectors_report import MISSING, render_detectors_report, write_detectors_report
from synthcheck.theory.theorem13 import Theorem13Row

INJECTION = "<script>alert(1)</script>"
TTS, HUMAN = "two-cities-tts", "two-cities-human"
STAGES = ("targeted", "small-edit", "adaptive-likelihood")
CONFIGS = ("paper", "dtw", "likelihood-tiny.en")
#: Clauses 0–5 are recognised exactly, clause 6 is not (its outlier score must not calibrate anything).
SETTINGS = EvaluationSettings(n_attack=3, n_clean=7, stages=STAGES, detectors=CONFIGS)
#: Clean scores per (config, source): six each, so the 5 % threshold is the smallest one (FPR 0 %, LOO 1/6).
CLEAN = {
    ("paper", TTS): [0.98, 0.97, 0.99, 0.96, 0.98, 0.95], ("paper", HUMAN): [0.21, 0.25, 0.18, 0.30, 0.22, 0.27],
    ("dtw", TTS): [0.90, 0.88, 0.92, 0.91, 0.87, 0.89], ("dtw", HUMAN): [0.55, 0.60, 0.52, 0.58, 0.61, 0.57],
    ("likelihood-tiny.en", TTS): [0.80, 0.85, 0.82, 0.79, 0.90, 0.84],
    ("likelihood-tiny.en", HUMAN): [0.70, 0.75, 0.72, 0.68, 0.80, 0.77],
}
#: Attacked scores per (config, source, stage); the human adaptive stage has no successful adversarial.
ATTACKED = {
    ("paper", TTS, "targeted"): [0.10, 0.20, 0.15],              # AUC 1.00, 100 %
    ("paper", TTS, "small-edit"): [0.96, 0.50, 0.97],            # AUC (6 + 4.5 + 3.5) / 18 = 0.78, 33 %
    ("paper", TTS, "adaptive-likelihood"): [0.30, 0.40, 0.20],
    ("paper", HUMAN, "targeted"): [0.35, 0.20, 0.40],            # AUC 5 / 18 = 0.28, 0 %
    ("paper", HUMAN, "small-edit"): [0.24, 0.19, 0.26],
    ("dtw", TTS, "targeted"): [0.20, 0.30, 0.25],
    ("dtw", TTS, "small-edit"): [0.50, 0.60, 0.40],
    ("dtw", TTS, "adaptive-likelihood"): [0.50, 0.45, 0.55],
    ("dtw", HUMAN, "targeted"): [0.30, 0.60, 0.50],              # AUC (6 + 1.5 + 6) / 18 = 0.75, 67 %
    ("dtw", HUMAN, "small-edit"): [0.56, 0.59, 0.53],
    ("likelihood-tiny.en", TTS, "targeted"): [0.10, 0.20, 0.15],
    ("likelihood-tiny.en", TTS, "small-edit"): [0.81, 0.30, 0.20],
    ("likelihood-tiny.en", TTS, "adaptive-likelihood"): [0.83, 0.30, 0.86],  # two evade the 0.79 threshold
    ("likelihood-tiny.en", HUMAN, "targeted"): [0.10, 0.20, 0.15],           # AUC 1.00, 100 %: best of the column
    ("likelihood-tiny.en", HUMAN, "small-edit"): [0.40, 0.30, 0.35],
}
DB_X = {"targeted": [-48.0, -47.0, -49.0], "small-edit": [-50.0, -51.0, -52.0],
        "adaptive-likelihood": [-53.0, -49.0, -50.0]}  # vs small-edit: clip 0 within budget, clip 2 not


def latency(config: str, source: str) -> float:
    """Compare seconds per second of audio; the likelihood judge's is undefined on human speech (NaN → "–")."""
    if config == "likelihood-tiny.en" and source == HUMAN:
        return math.nan
    return {"paper": 0.002, "dtw": 0.003, "likelihood-tiny.en": 0.1}[config]


def target(stage: str, j: int) -> str:
    return PAPER_TARGET if stage == "targeted" else f"it was the age of {INJECTION} {j}"


def build_part(attacked: dict = ATTACKED, settings: EvaluationSettings = SETTINGS):
    """The typed rows of the run (one :class:`EvaluationPart`)."""
    return evaluation_part(settings, CLEAN, attacked, db_x=DB_X, target=target, latency=latency)


def build_evaluation(attacked: dict = ATTACKED) -> AttackEvaluation:
    """The evaluation of the run, with a hand-made Theorem 1.3 estimate and hostile version text."""
    part = build_part(attacked)
    first = {source: part.rows[source][0].spec.key for source in (TTS, HUMAN)}
    theorem13 = [
        Theorem13Row(stage="targeted", source=TTS, key=first[TTS], target=PAPER_TARGET, radius=1.16, distance=19.06,
                     margin=17.9, margin_snr_db=0.74, norm=20.0),
        Theorem13Row(stage="targeted", source=HUMAN, key=first[HUMAN], target=INJECTION, radius=2.93, distance=1.7,
                     margin=-1.23, margin_snr_db=None, norm=9.0),
    ]
    evaluation = attack_evaluation([part], theorem13)
    evaluation.versions = {"synthcheck": "0.1.0", "python": "3.11.7", "note": "<b>not bold</b>"}
    return evaluation


@pytest.fixture(scope="module")
def page() -> str:
    return render_detectors_report(build_evaluation())


def detector_cells(page: str) -> dict[tuple[str, str], list[str]]:
    table = re.search(r"<table id='detectors'>(.*?)</table>", page, re.S).group(1)
    rows = re.findall(r"<tr class='detector' data-detector='([^']+)' data-source='([^']+)'>(.*?)</tr>", table, re.S)
    return {(config, source): re.findall(r"<td[^>]*>(.*?)</td>", row) for config, source, row in rows}


def table_rows(page: str, table_id: str) -> list[list[str]]:
    table = re.search(rf"<table id='{table_id}'>(.*?)</table>", page, re.S).group(1)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]]


def pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r"src='data:image/png;base64,([^']+)'", page)]


def text_of(page: str) -> str:
    """The page without its embedded images (base64 can spell anything)."""
    return re.sub(r"data:image/png;base64,[^']+", "", page)


def test_detector_table_has_auc_and_detection_per_stage_and_marks_the_best(page):
    cells = detector_cells(page)
    assert list(cells) == [(c, s) for s in (TTS, HUMAN) for c in CONFIGS]  # grouped by source
    head = re.search(r"<table id='detectors'><thead>(.*?)</thead>", page).group(1)
    assert re.findall(r"<th>(.*?)</th>", head)[-3:] == list(STAGES)
    # detector, source, clean, threshold, FPR, FPR (LOO), latency, then one column per stage; the misrecognised
    # clause 6 (score 0.01) is not among the 6 clean clips, else the thresholds would be 0.010
    assert cells["paper", TTS] == ["paper", TTS, "6", "0.950", "0 %", "17 %", "0.002",
                                   "1.00 / 100 %", "0.78 / 33 %", "1.00 / 100 %"]
    assert cells["paper", HUMAN][:8] == ["paper", HUMAN, "6", "0.180", "0 %", "17 %", "0.002", "0.28 / 0 %"]
    assert cells["dtw", HUMAN][7] == "0.75 / 67 %"
    assert cells["likelihood-tiny.en", HUMAN][6] == MISSING  # NaN latency
    assert [cells[c, HUMAN][-1] for c in CONFIGS] == [MISSING] * 3  # no successful human adaptive adversarial
    rows = re.findall(r"<tr class='detector' data-detector='([^']+)' data-source='([^']+)'>(.*?)</tr>", page, re.S)
    best = [(c, s) for c, s, row in rows if "<td class='stage best' data-stage='targeted'>" in row]
    assert best == [(c, TTS) for c in CONFIGS] + [("likelihood-tiny.en", HUMAN)]  # AUC 1.00; ties all marked
    assert page.count("class='stage best' data-stage='small-edit'") == 2  # tts: dtw 1.00; human: likelihood 1.00


def test_stage_evasion_and_theorem13_tables(page):
    stages = {(r[0], r[1]): r[2:] for r in table_rows(page, "stages")}
    assert stages["targeted", TTS] == ["3/3", "-48.0", "36.0", "120", "86"]
    assert stages["adaptive-likelihood", HUMAN][:3] == ["0/3", MISSING, MISSING]
    evasion = {(r[1], r[2]): r[3:] for r in table_rows(page, "evasion")}
    # likelihood on tts: clips 0 (-53 dB_x ≤ -50, within budget) and 2 (-50 > -52) evade
    # last column: at the configured threshold of these rows (0.5) the same two pass, and none of paper's
    assert evasion[TTS, "likelihood-tiny.en"] == ["2/3", "1/3", "-51.5", "39.5", "2/3"]
    assert evasion[TTS, "paper"] == ["0/3", "0/3", MISSING, MISSING, "0/3"]
    bound = table_rows(page, "theorem13")
    assert bound[0][4:] == ["1.160", "19.060", "17.900", "0.7"] and bound[1][-1] == "vacuous (≤ 0)"


def test_all_text_is_escaped_and_missing_numbers_are_dashes(page):
    assert INJECTION not in page and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>not bold</b>" not in page and "&lt;b&gt;not bold&lt;/b&gt;" in page
    text = text_of(page)
    for word in ("nan", "None", "null", "n/a", "inf"):
        assert not re.search(rf"[>\s/]{word}[<\s%]", text), word
    items = table_rows(page, "items")
    assert len(items) == 15  # 3 clips × 5 source × stage pairs with successes
    evading = re.findall(r"<div class='det evade' data-detector='([^']+)'>", page)
    assert evading.count("likelihood-tiny.en") == 3  # tts (threshold 0.79): small-edit 0.81, adaptive 0.83, 0.86


def test_plots_are_png_roc_grids_and_score_distributions_per_source(page):
    images = pngs(page)
    assert len(images) == 4  # (ROC grid, score distributions) × 2 sources
    assert re.findall(r"<img id='([^']+)'", page) == ["roc-0", "scores-0", "roc-1", "scores-1"]
    for png in images:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = imread(io.BytesIO(png))[..., :3]
        assert pixels.shape[0] > 300 and pixels.shape[1] > 900 and pixels.std() > 0.05  # three panels across


def test_a_run_without_any_successful_adversarial_renders():
    evaluation = build_evaluation(attacked={})
    results = evaluation.to_dict()
    assert results["items"] == [] and all(e["auc"] is None for e in results["evaluations"])
    page = render_detectors_report(evaluation)
    cells = detector_cells(page)
    assert all(row[-3:] == [MISSING] * 3 for row in cells.values()) and "class='stage best'" not in page
    assert "No successful adversarial in these results." in page
    assert len(pngs(page)) == 4 and all(p.startswith(b"\x89PNG") for p in pngs(page))
    assert {tuple(r[2:5]) for r in table_rows(page, "stages")} == {("0/3", MISSING, MISSING)}


@pytest.mark.chromium
def test_report_renders_in_headless_chromium(tmp_path):
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing; scripts/setup.sh --test installs it")
    page = write_detectors_report(build_evaluation(), tmp_path / "detectors.html")
    dom = _chromium(["--dump-dom", page.as_uri()], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for table in ("stages", "detectors", "evasion", "theorem13", "items"):
        assert f'<table id="{table}">' in html, table
    assert html.count('<tr class="detector"') == 6 and html.count("<img") == 4
    assert html.count('src="data:image/png;base64,') == 4
    assert "<script" not in html.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


#: A run of the adaptive stage alone, stored: no Theorem 1.3 stage, so reading it renders no voices.
STORED_SETTINGS = EvaluationSettings(n_attack=3, n_clean=7, stages=("adaptive-likelihood",), detectors=CONFIGS)


def test_cli_report_detectors_renders_a_work_directory(tmp_path, capsys):
    part = build_part(settings=STORED_SETTINGS)
    work = write_work_dir(part, tmp_path / "detectors-abc")
    code, out, _ = run(capsys, "report-detectors", str(work))
    assert code == 0 and out.strip() == str(work / "report.html")
    assert "<table id='detectors'>" in (work / "report.html").read_text(encoding="utf-8")
    # every number survives the store: the page's JSON is the evaluation of the rows stored
    saved = json.loads((work / "report.json").read_text())
    expected = attack_evaluation([part]).to_dict()
    for table in ("stages", "evaluations", "items", "evasion"):
        assert saved[table] == expected[table], table
    assert saved["evasion"][2]["evaded"] == 2  # likelihood-tiny.en on tts: 0.83 and 0.86 evade 0.79
    code, out, _ = run(capsys, "report-detectors", str(work), "-o", str(tmp_path / "sub" / "page.html"))
    assert code == 0 and (tmp_path / "sub" / "page.html").is_file() and (tmp_path / "sub" / "page.json").is_file()


@pytest.mark.parametrize(("name", "settings", "message"), [
    ("detectors-old.json", None, "rerun evaluate-detectors"),  # a results file of the earlier format
    ("missing", None, "not found"),
    ("empty-dir", "", "no settings.json"),
    ("not-json", "{not json", "not a JSON settings file"),
    ("a-list", "[1, 2]", "must be a JSON object"),
    ("unknown-key", '{"n_attack": 3, "bogus": 1}', "unknown key(s) bogus"),
    ("wrong-type", '{"n_attack": "3"}', "settings.json"),
    ("no-store", '{"sources": ["two-cities-tts"]}', "no results.sqlite"),
])
def test_cli_report_detectors_rejects_what_is_no_work_directory_in_one_line(tmp_path, capsys, name, settings,
                                                                            message):
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps({"settings": {}, "stages": {}, "evaluations": []}))
    elif settings is not None:
        path.mkdir()
        if settings:
            (path / "settings.json").write_text(settings)
    code, out, err = run(capsys, "report-detectors", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"synthcheck: error: {path}") and message in err
    assert not list(tmp_path.rglob("*.html"))
