"""A new user's bad and unusual inputs, across every command: one stderr line, exit status 2, no traceback.

Every input is generated here (truncated, corrupted, wrong-type, hostile names with shell metacharacters,
huge, empty, non-UTF-8, NaN/inf, wrong rates and channels). Each case must fail *before* any expensive work
(model loading, TTS rendering, attacks), so the whole table runs in-process in a few seconds; a few cases
also run at the real ``synthcheck`` entry point.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthcheck.cli import main
from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.store import DB_NAME, ResultsStore

SYNTHCHECK = Path(sys.executable).with_name("synthcheck")
#: A file name built to hurt a shell: command substitution, backticks, a separator, a pipe and a glob.
HOSTILE = "a $(touch PWNED) `touch PWNED` ; rm -rf x | *.wav"
#: Placeholder for the directory of generated inputs inside a case's arguments.
D = "%D%"


def _wav_bytes(channels: int, rate: int, data: bytes, bits: int = 16, declared: int | None = None) -> bytes:
    """A PCM WAV file with a hand-written header (``declared``: the data size the header promises)."""
    align = max(channels, 1) * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, bits)
    size = len(data) if declared is None else declared
    return (b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", size) + data)


def _tone(seconds: float = 1.0, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Write every bad input of the table into one directory."""
    d = tmp_path_factory.mktemp("bad inputs")
    tone = _tone()
    sf.write(d / "ok.wav", tone, 16_000, subtype="PCM_16")
    whole = (d / "ok.wav").read_bytes()
    (d / "trunc.wav").write_bytes(whole[: len(whole) // 2])  # a download cut short
    (d / "header-only.wav").write_bytes(whole[:44])
    (d / "empty.wav").write_bytes(b"")
    (d / "text.wav").write_text("this is not audio\n")
    (d / "-dash.wav").write_text("not audio either\n")
    (d / HOSTILE).write_bytes(b"RIFF\x00\x00")
    sf.write(d / "nan.wav", np.where(np.arange(tone.size) % 100 == 0, np.nan, tone), 16_000, subtype="FLOAT")
    sf.write(d / "inf.wav", np.where(np.arange(tone.size) == 50, np.inf, tone), 16_000, subtype="DOUBLE")
    sf.write(d / "silent.wav", np.zeros(16_000, np.float32), 16_000, subtype="PCM_16")
    stereo = np.stack([_tone(1.0, 48_000), 0.5 * _tone(1.0, 48_000)], axis=1)
    sf.write(d / "stereo48k.wav", stereo, 48_000, subtype="PCM_24")
    whole = (d / "stereo48k.wav").read_bytes()
    (d / "stereo48k-trunc.wav").write_bytes(whole[: len(whole) - 1000])
    (d / "zero-channels.wav").write_bytes(_wav_bytes(0, 16_000, b"\x00\x10" * 800))
    (d / "zero-rate.wav").write_bytes(_wav_bytes(1, 0, b"\x00\x10" * 800))
    (d / "absurd-rate.wav").write_bytes(_wav_bytes(1, 2**31 - 1, b"\x00\x10" * 2000))
    (d / "7hz.wav").write_bytes(_wav_bytes(1, 7, b"\x00\x10" * 2000))
    (d / "lying.wav").write_bytes(_wav_bytes(1, 16_000, b"\x00\x10" * 800, declared=2**31))
    sf.write(d / "huge.wav", np.zeros(601 * 8000, np.float32) + 0.25, 8000, subtype="PCM_U8")  # 601 s
    sf.write(d / "ok.flac", tone, 16_000)
    whole = (d / "ok.flac").read_bytes()
    (d / "trunc.flac").write_bytes(whole[: len(whole) // 2])
    (d / "bad.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(0).bytes(4000))
    (d / "dir.wav").mkdir()
    (d / "a-file").write_text("a regular file\n")
    (d / "nonutf8.txt").write_bytes(b"it was the best of times\ncaf\xe9 au lait\n")
    (d / "comments.txt").write_text("# only a comment\n\n   \n")
    (d / "long.txt").write_text("word " * 3000 + "\n")
    (d / "bad.json").write_text("{not json")
    (d / "unknown.json").write_text(json.dumps({"sentences": ["a"], "colour": "red"}))
    (d / "nonutf8.toml").write_bytes(b"target = \"caf\xe9\"\n")
    (d / "results-bad.json").write_text("[1, 2")
    (d / "results-list.json").write_text("[1, 2]")
    (d / "results-nonutf8.json").write_bytes(b"{\"x\": \"\xff\"}")
    for name, settings in (("eval-nonutf8", b"{\"x\": \"\xff\"}"), ("eval-list", b"[1, 2]"),
                           ("eval-unknown-key", b"{\"telepathy\": 1}")):
        (d / name).mkdir()
        (d / name / "settings.json").write_bytes(settings)
    (d / "eval-no-runs").mkdir()
    (d / "eval-no-runs" / "settings.json").write_text('{"sources": ["alsa-human"], "detectors": ["paper"]}')
    for name, content in (("garbage-run", b"this is not a database " * 50), ("zero-run", b"")):
        (d / name).mkdir()
        (d / name / DB_NAME).write_bytes(content)
    real = d / "real-run"
    ResultsStore.open(real, ExperimentConfig(sentences=("one sentence",)), {"python": "3"}).close()
    db = (real / DB_NAME).read_bytes()
    (d / "trunc-run").mkdir()
    (d / "trunc-run" / DB_NAME).write_bytes(db[: len(db) // 3])
    (d / "empty-db-run").mkdir()
    sqlite3.connect(d / "empty-db-run" / DB_NAME).close()
    (d / "hostile-run $(touch PWNED)").mkdir()
    (d / "hostile-run $(touch PWNED)" / DB_NAME).write_bytes(b"\x00" * 4096)
    return d


# (id, argv with %D% for the inputs directory, a fragment the one stderr line must contain (lower case))
CASES = [
    # detect
    ("detect-missing", ["detect", f"{D}/missing.wav"], "no such file"),
    ("detect-empty", ["detect", f"{D}/empty.wav"], "empty"),
    ("detect-truncated", ["detect", f"{D}/trunc.wav"], "truncated"),
    ("detect-directory-without-audio", ["detect", f"{D}/dir.wav"], "no audio files"),
    ("detect-text-as-wav", ["detect", f"{D}/text.wav"], "could not decode"),
    ("detect-nan", ["detect", f"{D}/nan.wav"], "nan"),
    ("detect-silent", ["detect", f"{D}/silent.wav"], "silent"),
    ("detect-huge", ["detect", f"{D}/huge.wav"], "longer than the limit"),
    ("detect-hostile-name", ["detect", f"{D}/{HOSTILE}"], "could not decode"),
    ("detect-bad-example", ["detect", "--example", "robot"], "--example"),
    ("detect-bad-detector", ["detect", "--detector", "nope", f"{D}/ok.wav"], "nope"),
    ("detect-custom-and-named", ["detect", "--detector", "paper", "--comparator", "dtw", f"{D}/ok.wav"], "--detector"),
    ("detect-max-seconds-nan", ["detect", "--max-seconds", "nan", f"{D}/ok.wav"], "max"),
    # transcribe
    ("transcribe-corrupt-mp3", ["transcribe", f"{D}/bad.mp3"], "could not decode"),
    ("transcribe-truncated-flac", ["transcribe", f"{D}/trunc.flac"], "truncated"),
    ("transcribe-truncated-stereo-48k", ["transcribe", f"{D}/stereo48k-trunc.wav"], "truncated"),
    ("transcribe-header-only", ["transcribe", f"{D}/header-only.wav"], "truncated"),
    ("transcribe-header-lies", ["transcribe", f"{D}/lying.wav"], "truncated"),
    ("transcribe-zero-channels", ["transcribe", f"{D}/zero-channels.wav"], "could not decode"),
    ("transcribe-zero-rate", ["transcribe", f"{D}/zero-rate.wav"], "could not decode"),
    ("transcribe-absurd-rate", ["transcribe", f"{D}/absurd-rate.wav"], "sample rate"),
    ("detect-7-hz", ["detect", f"{D}/7hz.wav"], "sample rate"),
    ("transcribe-inf", ["transcribe", f"{D}/inf.wav"], "infinite"),
    ("transcribe-leading-dash-name", ["transcribe", "--", f"{D}/-dash.wav"], "could not decode"),
    ("transcribe-dash-as-option", ["transcribe", "-dash.wav"], "no such option"),
    ("transcribe-too-long", ["transcribe", "--max-seconds", "0.5", f"{D}/ok.wav"], "longer than the limit"),
    ("transcribe-negative-max-seconds", ["transcribe", "--max-seconds", "-1", f"{D}/ok.wav"], "max"),
    ("transcribe-beam-pocketsphinx", ["transcribe", "--asr", "pocketsphinx", "--beam-size", "3", f"{D}/ok.wav"], "beam"),
    ("transcribe-unknown-asr", ["transcribe", "--asr", "nope", f"{D}/ok.wav"], "nope"),
    # synthesize
    ("synthesize-mp4", ["synthesize", "hello", "-o", f"{D}/out.mp4"], ".wav"),
    ("synthesize-no-extension", ["synthesize", "hello", "-o", f"{D}/out"], ".wav"),
    ("synthesize-into-directory", ["synthesize", "hello", "-o", f"{D}/dir.wav"], "directory"),
    ("synthesize-parent-is-file", ["synthesize", "hello", "-o", f"{D}/a-file/out.wav"], "cannot write"),
    ("synthesize-empty-text", ["synthesize", "", "-o", f"{D}/out.wav"], "empty"),
    ("synthesize-emoji-only", ["synthesize", "\U0001f642\U0001f642", "-o", f"{D}/out.wav"], "nothing speakable"),
    ("synthesize-control-only", ["synthesize", "\x07\x1b\x7f", "-o", f"{D}/out.wav"], "nothing speakable"),
    ("synthesize-huge-text", ["synthesize", "word " * 3000, "-o", f"{D}/out.wav"], "characters"),
    ("synthesize-unknown-engine", ["synthesize", "hello", "--engine", "nope", "-o", f"{D}/out.wav"], "nope"),
    ("synthesize-unknown-voice", ["synthesize", "hello", "--voice", "xx-YY", "-o", f"{D}/out.wav"], "xx-yy"),
    # attack
    ("attack-zero-steps", ["attack", f"{D}/ok.wav", "-t", "hello", "-o", f"{D}/adv.wav", "--max-steps", "0"], "steps"),
    ("attack-negative-steps", ["attack", f"{D}/ok.wav", "-t", "hello", "-o", f"{D}/adv.wav", "--max-steps", "-3"], "steps"),
    ("attack-no-target", ["attack", f"{D}/ok.wav", "-o", f"{D}/adv.wav"], "--target"),
    ("attack-blank-target", ["attack", f"{D}/ok.wav", "-t", "  ", "-o", f"{D}/adv.wav"], "--target"),
    ("attack-truncated", ["attack", f"{D}/trunc.wav", "-t", "hello", "-o", f"{D}/adv.wav"], "truncated"),
    ("attack-bad-bound", ["attack", f"{D}/ok.wav", "-t", "hi", "-o", f"{D}/adv.wav", "--initial-bound", "1e9"], "bound"),
    ("attack-nan-rate", ["attack", f"{D}/ok.wav", "-t", "hi", "-o", f"{D}/adv.wav", "--learning-rate", "nan"], "learning"),
    ("attack-negative-budget", ["attack", f"{D}/ok.wav", "-t", "hi", "-o", f"{D}/adv.wav", "--time-budget", "-1"], "budget"),
    ("attack-unknown-precision", ["attack", f"{D}/ok.wav", "-t", "hi", "-o", f"{D}/adv.wav", "--precision", "fp16"],
     "unknown precision 'fp16'; choose one of: auto, fp32, bf16"),
    ("reproduce-unknown-precision", ["reproduce", "--precision", "half", "--run-dir", f"{D}/run-precision"],
     "config: unknown precision 'half'"),
    ("robustness-unknown-precision", ["robustness", "--precision", "x"], "unknown precision 'x'"),
    ("attack-mp3-output", ["attack", f"{D}/ok.wav", "-t", "hi", "-o", f"{D}/adv.mp3"], ".wav"),
    ("attack-unknown-asr", ["attack", f"{D}/ok.wav", "-t", "hi", "-o", f"{D}/adv.wav", "--asr", "nope"], "nope"),
    # reproduce and sweep
    ("reproduce-garbage-db", ["reproduce", "--run-dir", f"{D}/garbage-run"], "not a"),
    ("reproduce-truncated-db", ["reproduce", "--run-dir", f"{D}/trunc-run"], "database"),
    ("reproduce-hostile-run-dir", ["reproduce", "--run-dir", f"{D}/hostile-run $(touch PWNED)"], "database"),
    ("reproduce-run-dir-is-file", ["reproduce", "--run-dir", f"{D}/a-file"], "not a directory"),
    ("reproduce-nonutf8-sentences", ["reproduce", "--sentences", f"{D}/nonutf8.txt"], "utf-8"),
    ("reproduce-comment-only-sentences", ["reproduce", "--sentences", f"{D}/comments.txt"], "no sentences"),
    ("reproduce-missing-sentences", ["reproduce", "--sentences", f"{D}/missing.txt"], "not found"),
    ("reproduce-sentences-directory", ["reproduce", "--sentences", f"{D}/dir.wav"], "directory"),
    ("reproduce-huge-sentence", ["reproduce", "--sentences", f"{D}/long.txt"], "characters"),
    ("reproduce-bad-json-config", ["reproduce", "--config", f"{D}/bad.json"], "json"),
    ("reproduce-unknown-key", ["reproduce", "--config", f"{D}/unknown.json"], "colour"),
    ("reproduce-nonutf8-toml", ["reproduce", "--config", f"{D}/nonutf8.toml"], "toml"),
    ("reproduce-nan-snr", ["reproduce", "--snr", "nan"], "snr"),
    ("reproduce-inf-snr", ["reproduce", "--snr", "inf"], "snr"),
    ("reproduce-zero-attenuation", ["reproduce", "--attenuation", "0"], "attenuation"),
    ("reproduce-unknown-recognizer", ["reproduce", "--recognizer", "nope"], "nope"),
    ("reproduce-unknown-executor", ["reproduce", "--executor", "nope"], "nope"),
    ("reproduce-zero-steps", ["reproduce", "--steps", "0"], "steps"),
    ("reproduce-unknown-detector", ["reproduce", "--detectors", "nope"], "nope"),
    ("reproduce-unknown-dataset", ["reproduce", "--dataset", "nope"], "nope"),
    ("sweep-bad-snr-list", ["sweep", "--snr", "20,abc"], "snr"),
    ("sweep-unknown-attack", ["sweep", "--attacks", "targeted,nope"], "nope"),
    ("sweep-unknown-voice", ["sweep", "--voice", "en-US,xx-YY"], "xx-yy"),
    # report
    ("report-missing-dir", ["report", f"{D}/missing-run"], "no results.sqlite"),
    ("report-garbage-db", ["report", f"{D}/garbage-run"], "not a"),
    ("report-truncated-db", ["report", f"{D}/trunc-run"], "database"),
    ("report-zero-byte-db", ["report", f"{D}/zero-run"], "never started"),
    ("report-empty-db", ["report", f"{D}/empty-db-run"], "never started"),
    ("report-on-a-file", ["report", f"{D}/a-file"], "no results.sqlite"),
    # evaluate-detectors and report-detectors
    ("evaluate-zero-n", ["evaluate-detectors", "--n", "0"], "at least 1"),
    ("evaluate-unknown-stage", ["evaluate-detectors", "--stages", "nope"], "nope"),
    ("evaluate-zero-steps", ["evaluate-detectors", "--steps", "0"], "steps"),
    ("evaluate-unknown-dataset", ["evaluate-detectors", "--dataset", "nope"], "nope"),
    ("evaluate-unknown-recognizer", ["evaluate-detectors", "--recognizer", "nope"], "nope"),
    ("evaluate-unknown-detector", ["evaluate-detectors", "--detectors", "nope"], "nope"),
    ("report-detectors-old-json", ["report-detectors", f"{D}/results-bad.json"], "before 2026-12"),
    ("report-detectors-old-json-list", ["report-detectors", f"{D}/results-list.json"], "rerun evaluate-detectors"),
    ("report-detectors-missing", ["report-detectors", f"{D}/missing"], "not found"),
    ("report-detectors-nonutf8-settings", ["report-detectors", f"{D}/eval-nonutf8"], "not a json settings file"),
    ("report-detectors-settings-list", ["report-detectors", f"{D}/eval-list"], "json object"),
    ("report-detectors-settings-unknown-key", ["report-detectors", f"{D}/eval-unknown-key"], "unknown key"),
    ("report-detectors-no-runs", ["report-detectors", f"{D}/eval-no-runs"], "no results.sqlite"),
    ("report-detectors-pool-without-o", ["report-detectors", f"{D}/bad.json", f"{D}/bad.json"], "-o"),
    # theory
    ("theory-negative-n", ["theory", "linear", "--n", "-5", "--m", "2"], "n must"),
    ("theory-m-not-a-number", ["theory", "linear", "--m", "10,abc"], "--m"),
    ("theory-m-zero", ["theory", "linear", "--n", "10", "--m", "0"], "between 1 and n"),
    ("theory-zero-trials", ["theory", "linear", "--n", "10", "--m", "2", "--trials", "0"], "trial"),
    ("theory-bad-confidence", ["theory", "linear", "--n", "10", "--m", "2", "--confidence", "1.5"], "confidence"),
    ("theory-nan-radius", ["theory", "linear", "--n", "10", "--m", "2", "--radius", "nan"], "r=nan"),
    ("theory-plot-txt", ["theory", "linear", "--n", "10", "--m", "2", "--plot", f"{D}/plot.txt"], ".png"),
    ("theory-unknown-model", ["theory", "fragility", "--model", "nope"], "nope"),
    ("theory-truncated-audio", ["theory", "fragility", "--model", "whisper-tiny.en", "--audio", f"{D}/trunc.wav"],
     "truncated"),
]


def _argv(args: list[str], inputs: Path) -> list[str]:
    return [arg.replace(D, str(inputs)) for arg in args]


@pytest.mark.parametrize(("args", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(args, fragment, inputs, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)  # anything a command writes (runs/...) or a shell would touch lands here
    code = main(_argv(args, inputs))
    out, err = capfd.readouterr()  # file-descriptor level: C libraries' noise counts too
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("synthcheck: error: "), err
    assert "Traceback" not in err + out
    assert fragment in lines[0].lower(), lines[0]
    assert not list(tmp_path.rglob("PWNED")) and not list(inputs.rglob("PWNED")), "a shell ran"


def test_the_corpus_covers_every_command():
    commands = {c[1][0] for c in CASES}
    assert {"detect", "transcribe", "synthesize", "attack", "reproduce", "sweep", "report", "evaluate-detectors",
            "theory"} <= commands
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", ["transcribe-corrupt-mp3", "reproduce-garbage-db", "synthesize-mp4", "theory-negative-n"])
def test_the_real_entry_point_prints_one_line(case, inputs, tmp_path):
    (args, fragment), = [c[1:] for c in CASES if c[0] == case]
    done = subprocess.run([str(SYNTHCHECK), *_argv(args, inputs)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and fragment in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr


def test_allow_truncated_loads_the_samples_present_with_one_warning(inputs, caplog):
    from synthcheck.audio.io import load_audio

    audio = load_audio(inputs / "trunc.wav", allow_truncated=True)
    assert 7000 < audio.size < 8000
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "16000 samples" in caplog.text and f"{audio.size} samples" in caplog.text


@pytest.mark.parametrize("command", ["transcribe", "detect", "attack"])
def test_every_audio_reading_command_offers_allow_truncated(command, capsys):
    assert main([command, "--help"]) == 0
    assert "--allow-truncated" in capsys.readouterr().out


def test_allow_truncated_at_the_entry_point_warns_in_one_line(inputs, tmp_path):
    wav = inputs / "stereo48k-trunc.wav"
    refused = subprocess.run([str(SYNTHCHECK), "transcribe", str(wav)], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "48000 samples" in refused.stderr and "--allow-truncated" in refused.stderr
    done = subprocess.run([str(SYNTHCHECK), "transcribe", "--allow-truncated", str(wav)], capture_output=True,
                          text=True, timeout=180, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "truncated" in line]
    assert len(warnings) == 1 and "Traceback" not in done.stderr, done.stderr
