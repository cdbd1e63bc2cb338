"""``synthcheck evaluate-detectors`` end to end with the real components (smallest settings), then
``synthcheck report-detectors`` re-rendering the saved results.

Every number of the results JSON is checked against the per-item data it comes from (recomputed here, not
with synthcheck's metric code), and the re-rendered page must be the same page.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from synthcheck.cli import main

DETECTORS = ("paper", "dtw")
SOURCE = "two-cities-tts"


@pytest.mark.slow
def test_evaluate_detectors_end_to_end_and_report_detectors_rerenders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the stage cache goes to ./runs/detectors-<hash>/
    results = tmp_path / "out" / "detectors.json"
    # one attacked clause, three clean ones; stop at the first success (stop dB_x far above what it reaches)
    argv = ["evaluate-detectors", "--dataset", SOURCE, "--n", "1", "--n-clean", "3", "--steps", "120",
            "--stop-db-x", "0", "--stages", "targeted", "--detectors", ",".join(DETECTORS), "--seed", "0",
            "-o", str(results), "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(results.read_text())
    assert printed == saved
    page_path = results.with_suffix(".html")
    assert page_path.is_file() and list((tmp_path / "runs").glob("detectors-*/targeted.npz"))

    stage = saved["stages"]["targeted"][SOURCE]
    assert stage["n"] == 1 and stage["successes"] == 1, stage  # the attack broke the clause
    items = saved["items"]
    assert [(i["stage"], i["source"], i["key"]) for i in items] == [("targeted", SOURCE, "two-cities-00")]
    assert items[0]["target"] == "he travels the fastest who travels alone"
    assert stage["median_db_x"] == items[0]["db_x"] and stage["median_snr_db"] == items[0]["snr_db"]

    assert [e["config"] for e in saved["evaluations"]] == list(DETECTORS)
    page = page_path.read_text()
    for e in saved["evaluations"]:
        name, clean, attacked = e["config"], e["clean_scores"], e["attacked_scores"]
        assert e["source"] == f"{SOURCE} / targeted"
        assert 1 <= e["n_clean"] == len(clean) <= 3
        assert e["n_attacked"] == len(attacked) == stage["successes"]
        assert attacked == [i["scores"][name] for i in items]
        # 5 % target of at most 3 clean scores: floor(0.05 n) = 0 may be flagged, the threshold is the lowest
        assert e["threshold"] == sorted(clean)[math.floor(0.05 * len(clean))] == min(clean)
        assert e["fpr"] == sum(s < e["threshold"] for s in clean) / len(clean) == 0.0
        flagged = [not i["evades"][name] for i in items]
        assert flagged == [s < e["threshold"] for s in attacked]
        assert e["detection_rate"] == sum(flagged) / len(items)
        pairs = [(a < c) + 0.5 * (a == c) for a in attacked for c in clean]
        assert e["auc"] == pytest.approx(sum(pairs) / len(pairs))
        assert f"{e['threshold']:.3f}" in page

    bound = saved["bound"]["targeted"][SOURCE]
    (row,) = bound["items"]
    assert row["bound"] == pytest.approx(row["distance"] - bound["radius"])
    assert row["bound_snr_db"] == (None if row["bound"] <= 0 else pytest.approx(20 * math.log10(row["norm"] / row["bound"])))

    # report-detectors re-renders the saved results: the same page, byte for byte
    page_path.unlink()
    assert main(["report-detectors", str(results)]) == 0
    assert capsys.readouterr().out.strip() == str(page_path)
    assert page_path.read_text() == page
