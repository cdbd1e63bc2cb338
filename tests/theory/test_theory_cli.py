"""``synthcheck theory linear`` and ``synthcheck theory fragility`` end to end, and their answers to bad input."""

from __future__ import annotations

import json

import pytest

from synthcheck.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_linear_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "linear.png"
    code, out, _ = run(capsys, "theory", "linear", "--n", "200", "--m", "10,50,200", "--trials", "2",
                       "--samples", "500", "--seed", "3", "--json", "--plot", str(plot))
    assert code == 0
    rows = json.loads(out)
    assert [row["m"] for row in rows] == [10, 50, 200, 200]
    for row in rows:
        assert {"m", "adv_targeted", "adv_untargeted", "random_radius", "ratio", "sqrt_n_over_m"} <= row.keys()
        assert row["ratio"] == pytest.approx(row["random_radius"] / row["adv_untargeted"], rel=0.1)
    assert rows[0]["sqrt_n_over_m"] == pytest.approx(200**0.5 / 10**0.5)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_linear_table_is_reproducible_with_a_seed(capsys):
    args = ("theory", "linear", "--n", "100", "--m", "10", "--trials", "2", "--samples", "300", "--seed", "5")
    first, second = run(capsys, *args), run(capsys, *args)
    assert first[0] == 0 and first[1] == second[1]
    assert "theory" in first[1] and "A=I" in first[1]


def test_fragility_gaussian_json(capsys):
    code, out, _ = run(capsys, "theory", "fragility", "--model", "gaussian", "--n", "1000", "--m", "50",
                       "--iters", "200", "--rel-tol", "1e-6", "--samples", "200", "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["n"], report["m"]) == (1000, 50)
    assert report["ratio"] == pytest.approx(report["expected_ratio"], rel=0.05)
    assert report["ratio"] > report["sqrt_n_plus_m_over_m"] > report["sqrt_n_over_m"]


def test_fragility_text_output(capsys):
    code, out, _ = run(capsys, "theory", "fragility", "--model", "mnist-logits", "--samples", "16", "--fd-steps", "1e-3")
    assert code == 0
    assert "ratio" in out and "sqrt(N/M)" in out and "N = 784, M = 10" in out
    assert out.count("finite differences") == 1


@pytest.mark.parametrize("args,message", [
    (("theory", "linear", "--m", "ten"), "comma-separated list"),
    (("theory", "fragility", "--fd-steps", "small"), "comma-separated list"),
    (("theory", "linear", "--n", "100", "--m", "10,500"), "between 1 and N=100"),
    (("theory", "linear", "--offset", "2"), "offset"),
    (("theory", "fragility", "--model", "whisper-tiny.en"), "--audio"),
    (("theory", "fragility", "--model", "vgg"), "unknown fragility model"),
    (("theory", "fragility", "--model", "gaussian", "--n", "10", "--m", "20"), "1 ≤ M ≤ N"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
