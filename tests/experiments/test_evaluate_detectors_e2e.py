"""``synthcheck evaluate-detectors`` end to end with the real components (smallest settings), its resume, then
``synthcheck report-detectors`` re-rendering the work directory.

Every number of the results JSON is checked against the per-item data in the run's results store (recomputed
here, not with synthcheck's metric code); the rerun must compute nothing and the re-rendered page must be the
same page.
"""

from __future__ import annotations

import json
import math

import pytest

from synthcheck.cli import main
from synthcheck.experiments.config import PAPER_TARGET
from synthcheck.experiments.store import DB_NAME, ResultsStore

DETECTORS = ("paper", "dtw")
SOURCE = "two-cities-tts"


@pytest.mark.slow
def test_evaluate_detectors_end_to_end_resumes_and_report_detectors_rerenders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the work directory goes to ./runs/detectors-<hash>/
    results = tmp_path / "out" / "detectors.json"
    # one attacked clause, three clean ones; stop at the first success (stop dB_x far above what it reaches)
    argv = ["evaluate-detectors", "--dataset", SOURCE, "--n", "1", "--n-clean", "3", "--steps", "120",
            "--stop-db-x", "0", "--stages", "targeted", "--detectors", ",".join(DETECTORS), "--seed", "0",
            "--json", "-o", str(results)]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(results.read_text())
    assert printed == saved
    page_path = results.with_suffix(".html")
    (work_dir,) = (tmp_path / "runs").glob("detectors-*")
    assert page_path.is_file() and (work_dir / SOURCE / DB_NAME).is_file()
    with ResultsStore.read(work_dir / SOURCE) as store:
        records, wall_seconds = store.records(), store.wall_seconds()
    assert [r.spec.index for r in records] == [0, 1, 2]
    assert all(r.attempts == ({"clean": 1, "targeted": 1} if r.spec.index == 0 else {"clean": 1}) for r in records)

    (stage,) = saved["stages"]
    assert (stage["stage"], stage["source"], stage["n"], stage["successes"]) == ("targeted", SOURCE, 1, 1), stage
    (item,) = saved["items"]
    outcome = records[0].attacks["targeted"]
    assert (item["stage"], item["source"], item["key"]) == ("targeted", SOURCE, records[0].spec.key)
    assert item["target"] == PAPER_TARGET == "he travels the fastest who travels alone" == outcome.target
    assert outcome.success and item["db_x"] == outcome.db_x and item["snr_db"] == outcome.snr_db
    assert stage["median_db_x"] == item["db_x"] and stage["median_snr_db"] == item["snr_db"]
    assert stage["steps"] == outcome.steps <= 120

    # the calibration set: the clean clips the recogniser got exactly right
    calibration = [r.clean for r in records if r.clean.exact]
    assert [e["config"] for e in saved["evaluations"]] == list(DETECTORS)
    page = page_path.read_text()
    for e in saved["evaluations"]:
        name, clean, attacked = e["config"], e["clean_scores"], e["attacked_scores"]
        assert (e["source"], e["stage"]) == (SOURCE, "targeted")
        assert 1 <= e["n_clean"] == len(clean) == len(calibration) <= 3
        assert clean == [c.detectors[name].score for c in calibration]
        assert e["n_attacked"] == len(attacked) == stage["successes"]
        assert attacked == [item["scores"][name]] == [outcome.detectors[name].score]
        # 5 % target of at most 3 clean scores: floor(0.05 n) = 0 may be flagged, the threshold is the lowest
        assert e["threshold"] == sorted(clean)[math.floor(0.05 * len(clean))] == min(clean)
        assert e["fpr"] == sum(s < e["threshold"] for s in clean) / len(clean) == 0.0
        flagged = [not item["evades"][name]]
        assert flagged == [s < e["threshold"] for s in attacked]
        assert e["detection_rate"] == sum(flagged) / len(flagged)
        pairs = [(a < c) + 0.5 * (a == c) for a in attacked for c in clean]
        assert e["auc"] == pytest.approx(sum(pairs) / len(pairs))
        assert f"{e['threshold']:.3f}" in page

    (row,) = saved["theorem13"]
    assert (row["stage"], row["source"], row["key"], row["target"]) == ("targeted", SOURCE, item["key"], PAPER_TARGET)
    assert row["radius"] > 0 and row["margin"] == pytest.approx(row["distance"] - row["radius"])
    assert row["margin_snr_db"] == (None if row["margin"] <= 0
                                    else pytest.approx(20 * math.log10(row["norm"] / row["margin"])))

    # the same command again resumes the finished run: nothing is recomputed, the results are the same
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == saved
    with ResultsStore.read(work_dir / SOURCE) as store:
        assert [r.attempts for r in store.records()] == [r.attempts for r in records]
        assert store.wall_seconds() == wall_seconds
    assert page_path.read_text() == page

    # report-detectors re-renders the work directory: the same page, byte for byte
    assert main(["report-detectors", str(work_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(work_dir / "report.html")
    assert (work_dir / "report.html").read_text() == page
    assert json.loads((work_dir / "report.json").read_text()) == saved

    # a results file of the earlier format is refused in one line
    old = tmp_path / "some_old.json"
    old.write_text(json.dumps({"settings": {}, "stages": {}, "evaluations": [], "bound": {}}))
    assert main(["report-detectors", str(old)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"synthcheck: error: {old}: ") and "rerun evaluate-detectors" in err
