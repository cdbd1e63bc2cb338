"""The image experiment through the one driver and the CLI, with the real CNN, VAEs, foolbox and SQLite store:
`synthcheck reproduce --dataset mnist` killed with SIGKILL during the attack stage and resumed, its results
equal to an uninterrupted run's; `report` on an image run; `detect --dataset`; and bad input."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synthcheck.cli import main
from synthcheck.errors import BadInputError
from synthcheck.experiments.domains import read_run
from synthcheck.experiments.store import DB_NAME
from synthcheck.images.data import load_dataset
from synthcheck.images.detector import CALIBRATION_IMAGES
from synthcheck.images.experiment import ImageExperimentConfig, ImageRun, evaluation_indices, parse_stage
from synthcheck.images.io import save_png

STAGES = "pgd-linf@0.3,core-pgd-l2@2,adaptive-pgd-linf@0.3"
#: Small batches, so a kill can fall between two committed batches of one stage.
ARGS = ("--dataset", "mnist", "--quick", "--images", "6", "--attacks", STAGES, "--steps", "10", "--batch-size", "2")


def command(run_dir: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "synthcheck"), "reproduce", *ARGS, "--run-dir", str(run_dir), "--json"]


def stored(run_dir: Path) -> dict[tuple[str, str], dict]:
    """Every committed stage result, without its timings (wall times differ between runs)."""
    with sqlite3.connect(run_dir / DB_NAME) as db:
        rows = db.execute("SELECT key, stage, result FROM stages WHERE done_at IS NOT NULL").fetchall()
    results = {}
    for key, stage, text in rows:
        result = json.loads(text)
        for name in ("seconds", "compute_seconds"):
            result.pop(name, None)
        for verdict in result["detectors"].values():
            verdict.pop("seconds"), verdict.pop("compare_seconds")
        results[key, stage] = result
    return results


def done_stages(run_dir: Path) -> list[str]:
    if not (run_dir / DB_NAME).exists():
        return []
    try:
        with sqlite3.connect(run_dir / DB_NAME) as db:
            return [s for (s,) in db.execute("SELECT stage FROM stages WHERE done_at IS NOT NULL")]
    except sqlite3.OperationalError:  # the schema is being created
        return []


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("images") / "run"
    done = subprocess.run(command(run_dir), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return run_dir, json.loads(done.stdout)


def test_a_run_summarises_what_it_stored(uninterrupted) -> None:
    run_dir, summary = uninterrupted
    run = read_run(run_dir)
    assert isinstance(run, ImageRun) and run.metrics.n_images == 6 and summary["images"] == 6
    assert len(run.records) == 6 and all(set(r.attacks) == set(STAGES.split(",")) for r in run.records)
    # the images are the seeded evaluation images, after the calibration images
    indices = [r.spec.index for r in run.records]
    assert indices == evaluation_indices("mnist", 6, 0).tolist() and min(indices) >= CALIBRATION_IMAGES
    test = load_dataset("mnist").test
    for record in run.records:
        image = np.load(run_dir / record.clean.audio["image"])
        np.testing.assert_array_equal(image, test.images[record.spec.index])
        adversarial = np.load(run_dir / record.attacks["pgd-linf@0.3"].audio["adversarial"])
        assert np.abs(adversarial - image).max() <= 0.3 + 1e-6
        assert record.attacks["pgd-linf@0.3"].linf == pytest.approx(float(np.abs(adversarial - image).max()), abs=1e-6)
    accuracy = {(row.stage, row.epsilon): row for row in run.metrics.accuracy}
    assert summary["clean_accuracy"] == run.metrics.clean_accuracy
    # a L∞ 0.3 PGD breaks a plain CNN on nearly every image; the classifier alone keeps almost none
    assert accuracy["pgd-linf@0.3", 0.3].accuracy <= 0.34
    assert run.versions["classifier_weights"].startswith("classifier-mnist-") and "foolbox" in run.versions
    assert (run_dir / "report.html").is_file() and summary["report"] == str(run_dir / "report.html")


def test_reproduce_survives_sigkill_in_the_attack_stage(tmp_path, uninterrupted) -> None:
    run_dir = tmp_path / "run"
    log = tmp_path / "run.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(command(run_dir), stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 600
    try:
        # kill once the clean stage and at least one attack batch are committed
        while sum(stage != "clean" for stage in done_stages(run_dir)) < 2:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before the kill point: {log.read_text()[-2000:]}")
            assert time.monotonic() < deadline, "kill point not reached"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    at_kill = stored(run_dir)
    assert len(at_kill) < 6 * 4, "killed after everything was done; the kill point is too late"
    resumed = subprocess.run(command(run_dir), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = stored(run_dir)
    assert {k: final[k] for k in at_kill} == at_kill  # nothing finished was redone differently or lost
    assert final == stored(uninterrupted[0])  # and the whole equals a run never killed
    again = subprocess.run(command(run_dir), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and not any(json.loads(again.stdout)["computed"].values())


def test_report_rebuilds_an_image_run(uninterrupted, capsys) -> None:
    run_dir, _ = uninterrupted
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (run_dir / "report.html").is_file() and summary["dataset"] == "mnist"
    assert {row["stage"] for row in summary["detection"]} == set(STAGES.split(","))
    assert main(["report", str(run_dir), "--markdown"]) == 2
    assert "speech runs" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (("--dataset", "mnist", "--voice", "en-US"), "--voice: speech option"),
    (("--dataset", "mnist", "--attacks", "pgd-linf"), "give its budget, e.g. pgd-linf@0.3"),
    (("--dataset", "mnist", "--attacks", "cw-l2@2"), "it takes no @budget"),
    (("--dataset", "mnist", "--attacks", "pgd-linf@big"), "the budget after @ must be a number"),
    (("--dataset", "mnist", "--attacks", "fgsm@0.1"), "unknown image attack 'fgsm'"),
    (("--dataset", "mnist", "--images", "0"), "images must be between 1 and 9000"),
    (("--dataset", "mnist", "--detectors", "abs"), "residual, evidence"),
    (("--images", "5",), "--images is an option of image runs"),
    (("--dataset", "mnist", "--attacks", "eot-pgd-linf@0.3"), "put one first in detectors (e.g. evidence-random)"),
])
def test_bad_image_runs_are_one_line_errors(args, message, tmp_path, capsys) -> None:
    assert main(["reproduce", *args, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_detect_judges_image_files(tmp_path, capsys) -> None:
    test = load_dataset("mnist").test
    digit = save_png(tmp_path / "digit.png", test.images[5000])
    assert main(["detect", "--dataset", "mnist", "--json", str(digit)]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["label"] == test.labels[5000] and verdict["consistent"] and verdict["detector"] == "evidence"
    # an image far from every digit's manifold (uniform noise) is decided as something and flagged
    noise = save_png(tmp_path / "noise.png", np.random.default_rng(0).random((28, 28)).astype(np.float32))
    assert main(["detect", "--dataset", "mnist", "--detector", "residual", str(noise)]) == 0
    assert "INCONSISTENT" in capsys.readouterr().out
    # a batch: a bad file is an error line, the others are judged
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["detect", "--dataset", "mnist", str(digit), str(bad), str(noise)]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 2 and err.count("\n") == 1 and "bad.png: not an image file" in err


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: np.save(p.with_suffix(".npy"), np.full((28, 28), np.nan)), "contains NaN"),
    (lambda p: __import__("PIL.Image").Image.new("RGB", (28, 28)).save(p), "RGB image"),
    (lambda p: __import__("PIL.Image").Image.new("L", (32, 32)).save(p), "32x32 pixels; give a 28x28 image"),
    (lambda p: p.write_bytes(b"\x89PNG broken"), "not an image file"),
])
def test_detect_refuses_bad_image_files_in_one_line(make, message, tmp_path, capsys) -> None:
    path = tmp_path / "image.png"
    make(path)
    target = path.with_suffix(".npy") if path.with_suffix(".npy").exists() else path
    assert main(["detect", "--dataset", "mnist", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(("args", "message"), [
    (("--dataset", "cifar10"), "unknown image dataset 'cifar10'"),
    (("--dataset", "mnist", "--tts", "flite"), "--tts: audio option"),
    (("--dataset", "mnist",), "needs image files"),
])
def test_detect_refuses_bad_image_options(args, message, capsys) -> None:
    assert main(["detect", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_stage_names_and_configs() -> None:
    assert parse_stage("pgd-l2@1.5") == ("pgd-l2", 1.5)
    name, budget = parse_stage("cw-l2")
    assert name == "cw-l2" and budget != budget  # NaN: minimal-norm
    config = ImageExperimentConfig(images=3, attacks=("pgd-linf@0.1",))
    assert ImageExperimentConfig.from_dict(config.to_dict()) == config
    assert config.config_hash() != config.with_overrides(seed=1).config_hash()
    assert [s.key for s in config.items()] == [s.key for s in config.with_overrides(attacks=("cw-l2",)).items()]
    assert [s.index for s in config.items()] != [s.index for s in config.with_overrides(seed=1).items()]
    with pytest.raises(BadInputError, match="unknown keys voices"):
        ImageExperimentConfig.from_dict({"voices": ["en-US"]})
    with pytest.raises(BadInputError, match="must not repeat"):
        ImageExperimentConfig(attacks=("cw-l2", "cw-l2"))
