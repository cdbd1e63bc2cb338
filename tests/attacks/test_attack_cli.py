"""``synthcheck attack`` end to end on real Whisper tiny.en (in-process CLI)."""

from __future__ import annotations

import json

import numpy as np

from synthcheck.audio.io import load_audio
from synthcheck.audio.metrics import normalize_text
from synthcheck.cli import main


def test_cli_targeted_json_and_wav(hello_wav, tmp_path, capsys, tiny):
    out = tmp_path / "adv.wav"
    argv = ["attack", str(hello_wav), "--target", "open the door", "-o", str(out), "--asr", "whisper-tiny.en",
            "--max-steps", "60", "--stop-db-x", "-30", "--seed", "0", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["success"] is True
    assert normalize_text(summary["transcript"]) == "open the door"
    assert summary["db_x"] <= -30 and summary["snr_db"] > 20 and 1 <= summary["steps"] <= 60
    adversarial = load_audio(out)
    assert normalize_text(tiny.transcribe(adversarial)) == "open the door"
    clean = load_audio(hello_wav)
    delta = adversarial.astype(np.float64) - clean
    assert abs(summary["db_x"] - 20 * np.log10(np.abs(delta).max() / np.abs(clean).max())) < 1e-3
    assert json.loads(out.with_suffix(".json").read_text())["success"] is True


def test_cli_untargeted_with_transfer_renders_table(hello_wav, tmp_path, capsys):
    out = tmp_path / "u.wav"
    argv = ["attack", str(hello_wav), "--untargeted", "-o", str(out), "--asr", "whisper-tiny.en", "--max-steps", "1", "--transfer"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "untargeted" in text and "reference" in text and "hello world" in normalize_text(text)
    for name in ("whisper-tiny.en", "whisper-base", "pocketsphinx"):
        assert f"transfer {name}" in text
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["kind"] == "untargeted" and summary["steps"] == 1 and isinstance(summary["success"], bool)
