"""``synthcheck detect FILE|DIR ...``: one model load, one JSON line per file, bad files recorded, resumable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthcheck.cli import main
from synthcheck.guard import find_audio_files
from synthcheck.guard.core import FILES_PER_CALL

ASR = ["--asr", "whisper-tiny.en"]


@pytest.fixture()
def folder(tmp_path, clips) -> Path:
    """A directory of recordings: two good ones at the top, a bad one, a text file, one more in a sub-folder."""
    root = tmp_path / "recordings"
    (root / "sub").mkdir(parents=True)
    for name in ("human.wav", "tts.flac", "junk.wav", "notes.txt"):
        shutil.copy(clips[name], root / name)
    shutil.copy(clips["alsa.wav"], root / "sub" / "Front_Center.WAV")
    return root


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_directory_is_walked_for_audio_endings_only(folder) -> None:
    found = [Path(f).relative_to(folder).as_posix() for f in find_audio_files([folder])]
    assert found == ["human.wav", "junk.wav", "sub/Front_Center.WAV", "tts.flac"]
    assert find_audio_files([folder / "notes.txt", folder, folder / "human.wav"])[0].endswith("notes.txt")
    assert len(find_audio_files([folder, folder])) == 4


def test_batch_writes_one_line_per_file_and_a_summary_then_resumes(folder, tmp_path, guard, capsys) -> None:
    out = tmp_path / "out" / "verdicts.jsonl"
    assert main(["detect", str(folder), "--jsonl", str(out), *ASR]) == 0
    err = capsys.readouterr().err
    lines = {Path(line["file"]).name: line for line in _lines(out)}
    assert set(lines) == {"human.wav", "junk.wav", "Front_Center.WAV", "tts.flac"}
    assert "could not decode" in lines["junk.wav"]["error"] and "verdict" not in lines["junk.wav"]
    assert lines["human.wav"]["verdict"] == guard.check_file(folder / "human.wav").verdict.to_dict() | {
        "timings": lines["human.wav"]["verdict"]["timings"]}
    flagged = sum(not line["verdict"]["consistent"] for line in lines.values() if "verdict" in line)
    assert "checked 3 files" in err and f"{flagged} flagged inconsistent, 1 failed" in err
    assert "s per second of audio" in err

    before = out.read_text()
    assert main(["detect", str(folder), "--jsonl", str(out), *ASR]) == 0
    assert "checked 0 files" in capsys.readouterr().err and out.read_text() == before  # nothing redone

    shutil.copy(folder / "human.wav", folder / "again.wav")
    assert main(["detect", str(folder), "--jsonl", str(out), *ASR]) == 0
    err = capsys.readouterr().err
    assert "checked 1 file " in err and "4 already in" in err
    assert [Path(line["file"]).name for line in _lines(out)][-1] == "again.wav" and len(_lines(out)) == 5


def test_a_line_torn_by_a_kill_is_dropped_and_its_file_checked_again(folder, tmp_path, capsys) -> None:
    out = tmp_path / "verdicts.jsonl"
    good = json.dumps({"file": str(folder / "human.wav"), "seconds": 1.0, "elapsed": 0.1, "verdict": {}})
    out.write_text(good + "\n" + '{"file": "' + str(folder / "tts.flac") + '", "sec')
    assert main(["detect", str(folder / "human.wav"), str(folder / "tts.flac"), "--jsonl", str(out), *ASR]) == 0
    lines = _lines(out)
    assert lines[0] == json.loads(good) and [Path(x["file"]).name for x in lines] == ["human.wav", "tts.flac"]
    assert "1 already in" in capsys.readouterr().err


def test_without_jsonl_the_lines_go_to_stdout(folder, capsys) -> None:
    assert main(["detect", str(folder / "junk.wav"), str(folder / "human.wav"), *ASR]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [("error" in line, "verdict" in line) for line in lines] == [(True, False), (False, True)]
    assert "checked 1 file " in captured.err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["%F/none-such-dir", "%F/human.wav"], "no such file or directory"),
        (["%F", "--json"], "--json prints one verdict"),
        (["%F", "--jsonl", "%F"], "is a directory"),
        (["%F/sub", "--allow-truncated"], "applies to one file"),
        (["%F", "--jsonl", "%F/notes.txt"], "not a synthcheck result line"),
        (["%F", "--executor", "dask"], "unknown executor"),
        (["%F", "--detector", "nonsense"], "unknown detector"),
    ],
)
def test_batch_usage_errors_are_one_line_and_exit_2(folder, args, fragment, capsys) -> None:
    argv = ["detect", *[a.replace("%F", str(folder)) for a in args], *ASR]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0].lower(), err


def test_a_batch_killed_with_sigkill_finishes_on_rerun_without_redoing_work(tmp_path, clips) -> None:
    root = tmp_path / "many"
    root.mkdir()
    total = FILES_PER_CALL + 3  # the first task's lines land, the second task is killed in progress
    for i in range(total):
        shutil.copy(clips["human.wav" if i % 2 else "tts.flac"], root / f"clip{i}.{'wav' if i % 2 else 'flac'}")
    out = tmp_path / "verdicts.jsonl"
    argv = [str(Path(sys.executable).with_name("synthcheck")), "detect", str(root), "--jsonl", str(out), *ASR]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 180
    while not (out.exists() and out.read_text().count("\n") >= FILES_PER_CALL):
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    first = out.read_text()
    finished = first.count("\n")
    assert FILES_PER_CALL <= finished < total
    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{finished} already in" in rerun.stderr
    text = out.read_text()
    assert text.startswith(first[: first.rfind("\n") + 1])  # finished lines kept as they were
    names = sorted(Path(line["file"]).name for line in _lines(out))
    assert names == sorted(p.name for p in root.iterdir())  # each file exactly once


def test_ray_executor_gives_the_same_verdicts_as_local(folder, tmp_path) -> None:
    local, ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    files = [str(folder / "human.wav"), str(folder / "junk.wav")]
    assert main(["detect", *files, "--jsonl", str(local), *ASR]) == 0
    assert main(["detect", *files, "--jsonl", str(ray), "--executor", "ray", *ASR]) == 0

    def by_file(path: Path) -> dict[str, dict]:
        return {line["file"]: {k: v for k, v in line.items() if k != "elapsed"} | {
            "verdict": {k: v for k, v in line.get("verdict", {}).items() if k != "timings"}} for line in _lines(path)}

    assert by_file(local) == by_file(ray)
