"""The Markdown tables of a run: per detector (clean flags split) and per sentence."""

from __future__ import annotations

from dataclasses import replace

from tests.experiments.records import record
from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.metrics import detector_metrics
from synthcheck.report.markdown import detector_markdown, run_markdown, sentence_markdown


def test_detector_table_counts_flags_and_sentence_table_shows_verdicts():
    records = [record(0, 0.9, 0.1), record(1, 0.3, 0.2, wer=0.5), record(2, 0.8, 0.6, success=False)]
    config = ExperimentConfig(detectors=("paper",), sentences=("a", "b", "c"))
    rows = detector_markdown(detector_metrics(records, ["paper"])).splitlines()
    assert rows[0].startswith("| detector | threshold | adversarial flagged")
    # two successful attacks, both flagged; exact clean 0/2 flagged; the misrecognised one flagged
    assert rows[2] == "| paper | 0.400 | 2/2 | 0/2 | 1/1 | 1.00 |"
    table = sentence_markdown(config, records).splitlines()
    assert len(table) == 2 + 3
    assert table[3].split(" | ")[4:6] == ["0.300", "**yes**"]  # the misrecognised clean item is flagged
    assert "(attack failed)" in table[4]


def test_attacker_text_cannot_break_the_table():
    plain = record(0, 0.9, 0.1)
    hostile = replace(plain, attack=replace(plain.attack, transcript="a | b\nc"))
    text = run_markdown(ExperimentConfig(detectors=("paper",), sentences=("a",)), [hostile],
                        detector_metrics([hostile], ["paper"]))
    row = text.splitlines()[-1]
    assert "a \\| b c" in row and row.count(" | ") == 10  # eleven cells, the pipe escaped
