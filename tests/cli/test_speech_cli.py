"""``synthcheck synthesize / voices / transcribe / detect`` end to end, and their answers to bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthcheck.audio.io import SAMPLE_RATE, load_audio, resample, save_wav
from synthcheck.cli import main
from synthcheck.audio.windows import split_points
from synthcheck.cli.speech import DEFAULT_ASR
from synthcheck.guard.core import DEFAULT_GUARD_ASR
from synthcheck.data.two_cities import librivox_two_cities
from synthcheck.detect import DEFAULT_DETECTOR, DETECTOR_CONFIGS
from synthcheck.examples import example_sentence
from synthcheck.tts import Pico2Wave

SYNTHCHECK = Path(sys.executable).with_name("synthcheck")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    return save_wav(tmp_path_factory.mktemp("speech") / "best.wav", Pico2Wave("en-US").synthesize(example_sentence()))


def test_synthesize_writes_a_16khz_wav(tmp_path, capsys):
    out = tmp_path / "hello.wav"
    code, _, err = run(capsys, "synthesize", "Hello there, general Kenobi.", "-o", str(out), "--engine", "flite",
                       "--voice", "awb")
    assert code == 0 and "flite:awb" in err
    info = sf.info(str(out))
    assert info.samplerate == SAMPLE_RATE and info.channels == 1 and info.subtype == "PCM_16"
    assert 1.0 < info.duration < 5.0


def test_synthesize_unspeakable_text_is_one_line_exit_2(tmp_path, capsys):
    code, out, err = run(capsys, "synthesize", "😀😀", "-o", str(tmp_path / "x.wav"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "nothing speakable" in err
    assert not (tmp_path / "x.wav").exists()


def test_voices_lists_engine_voice_ids(capsys):
    code, out, _ = run(capsys, "voices")
    lines = out.split()
    assert code == 0 and "pico2wave:en-US" in lines and "flite:slt" in lines and "espeak-ng:en-us" in lines


def test_transcribe_json(speech_wav, capsys):
    code, out, _ = run(capsys, "transcribe", str(speech_wav), "--json")
    data = json.loads(out)
    assert code == 0 and data["recognizer"] == DEFAULT_ASR and data["windows"] == 1
    assert "best of times" in data["transcript"] and data["seconds"] == pytest.approx(4.0, abs=1.0)


def test_transcribe_plain_prints_the_transcript(speech_wav, capsys):
    code, out, _ = run(capsys, "transcribe", str(speech_wav))
    assert code == 0 and "best of times" in out and out.count("\n") == 1


@pytest.mark.slow  # about 35 s of audio through pocketsphinx
def test_long_file_is_transcribed_in_windows_cut_in_a_pause(tmp_path, capsys):
    speech = Pico2Wave("en-US").synthesize(example_sentence())
    gap = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([speech, gap] * 8)  # 36 s: eight sentences with half-second pauses
    audio += 1e-4 * np.random.default_rng(0).standard_normal(audio.size).astype(np.float32)
    (cut,) = split_points(audio)
    assert 27 * SAMPLE_RATE <= cut <= 30 * SAMPLE_RATE
    assert np.abs(audio[cut - 80 : cut + 80]).max() < 1e-3  # the cut falls in a pause
    path = save_wav(tmp_path / "long.wav", audio)
    code, out, _ = run(capsys, "transcribe", str(path), "--json")
    data = json.loads(out)
    assert code == 0 and data["windows"] == 2 and data["transcript"].count("times") >= 12


def test_split_points_bound_every_window():
    audio = np.random.default_rng(1).standard_normal(95 * SAMPLE_RATE).astype(np.float32)
    quiet = slice(int(28.5 * SAMPLE_RATE), int(28.5 * SAMPLE_RATE) + 800)  # inside the 1st search range
    audio[quiet] = 0.0
    cuts = split_points(audio)
    windows = np.diff([0, *cuts, audio.size])
    assert len(cuts) == 3 and windows.max() <= 30 * SAMPLE_RATE and windows[:-1].min() >= 27 * SAMPLE_RATE - 320
    assert quiet.start <= cuts[0] < quiet.stop
    assert split_points(audio[: 30 * SAMPLE_RATE]) == []


def test_detect_json_on_a_file_with_a_custom_detector(speech_wav, capsys):
    code, out, _ = run(capsys, "detect", str(speech_wav), "--json", "--comparator", "xcorr-full", "--asr", "pocketsphinx")
    data = json.loads(out)
    assert code == 0 and out.count("\n") == 1
    assert isinstance(data["transcript"], str) and "times" in data["transcript"]
    assert isinstance(data["score"], float) and 0.0 <= data["score"] <= 1.0
    assert data["threshold"] == DETECTOR_CONFIGS["xcorr-full"].threshold and isinstance(data["consistent"], bool)
    assert data["consistent"] == (data["score"] >= data["threshold"])
    assert isinstance(data["lag"], int) and data["recognizer"] == "pocketsphinx"
    assert data["synthesizer"] == "pico2wave:en-US" and data["comparator"] == "xcorr-full"
    assert data["detector"] == "custom" and data["details"]["voice"] == "pico2wave:en-US"
    assert set(data["timings"]) >= {"asr", "tts", "compare", "total"}


def test_detect_paper_detector_by_name(speech_wav, capsys):
    code, out, _ = run(capsys, "detect", str(speech_wav), "--json", "--detector", "paper", "--asr", "pocketsphinx")
    data = json.loads(out)
    assert code == 0 and data["detector"] == "paper" and data["threshold"] == 0.4
    assert data["comparator"] == "xcorr-paper" and data["synthesizer"] == "pico2wave:en-US"


def test_detect_voice_search_names_the_best_take(speech_wav, capsys):
    code, out, _ = run(capsys, "detect", str(speech_wav), "--detector", "voices-dtw", "--asr", "pocketsphinx")
    assert code == 0 and "voices-dtw: dtw-mfcc" in out and "best take pico2wave:en-US at speed 1" in out
    assert f"vs threshold {DETECTOR_CONFIGS['voices-dtw'].threshold:.3f}" in out


def test_detect_default_is_likelihood_and_alignment_on_the_human_example(capsys):
    code, out, err = run(capsys, "detect")
    assert code == 0 and "built-in example" in err and "LibriVox" in err
    assert f"({DEFAULT_GUARD_ASR})" in out and f"{DEFAULT_DETECTOR}: likelihood-tiny.en+align-pocketsphinx" in out
    assert f"vs threshold {DETECTOR_CONFIGS[DEFAULT_DETECTOR].threshold:.3f}" in out and out.count("(passes)") == 2
    assert "verdict     consistent" in out  # a real reader, heard right by base; both judges agree


def test_detect_tts_example_with_the_likelihood_judge(capsys):
    code, out, err = run(capsys, "detect", "--example", "tts", "--seed", "3", "--detector", "likelihood")
    assert code == 0 and "pico2wave, 28 dB AWGN, seed 3" in err
    assert "likelihood-tiny.en" in out and "no re-synthesis" in out
    assert f"vs threshold {DETECTOR_CONFIGS['likelihood-tiny.en'].threshold:.3f}" in out
    assert "verdict     consistent" in out  # Whisper base hears the example right; tiny.en agrees


def test_detect_judges_a_long_human_reading_window_by_window(tmp_path, capsys):
    """The 44 s LibriVox reading: two windows, each judged against its own transcript (the likelihood judge
    reads at most 30 s); the decisive window is the lower-scoring one."""
    path = save_wav(tmp_path / "reading.wav", librivox_two_cities())
    code, out, _ = run(capsys, "detect", str(path), "--json")
    data = json.loads(out)
    windows = data["details"]["windows"]
    assert code == 0 and len(windows) == 2 and windows[0]["start_s"] == 0.0 and 27.0 <= windows[1]["start_s"] <= 30.0
    assert data["score"] == min(w["score"] for w in windows) == windows[data["details"]["decisive_window"]]["score"]
    assert data["consistent"] and all(w["consistent"] for w in windows)
    assert data["transcript"] == " ".join(w["transcript"] for w in windows) and "worst of times" in data["transcript"]
    code, out, _ = run(capsys, "detect", str(path))
    assert code == 0 and "windows     2 (scores" in out and "decides" in out


def test_detect_all_of_detector_shows_each_member(speech_wav, capsys):
    code, out, _ = run(capsys, "detect", str(speech_wav), "--detector", "likelihood+align")
    assert code == 0 and "likelihood+align: likelihood-tiny.en+align-pocketsphinx" in out
    assert out.count("  member    ") == 2 and "align: " in out and "likelihood-tiny.en: " in out
    assert f"vs {DETECTOR_CONFIGS['align'].threshold:.3f}" in out and f"vs threshold {DETECTOR_CONFIGS['likelihood+align'].threshold:.3f}" in out


def test_detect_with_a_stranger_threshold_can_flip_the_verdict(speech_wav, capsys):
    code, out, _ = run(capsys, "detect", str(speech_wav), "--json", "--detector", "likelihood", "--threshold", "1.01")
    data = json.loads(out)
    assert code == 0 and data["consistent"] is False and data["threshold"] == 1.01
    assert data["detector"] == "likelihood-tiny.en" and data["synthesizer"] == "none" and data["lag"] is None


def _bad_inputs(root: Path, speech: np.ndarray) -> dict[str, Path]:
    files = {}
    files["missing"] = root / "does-not-exist.wav"
    files["empty"] = root / "empty.wav"
    files["empty"].write_bytes(b"")
    files["text"] = root / "notes.wav"
    files["text"].write_text("this is not audio at all\n" * 20)
    good = save_wav(root / "good.wav", speech)
    files["truncated"] = root / "truncated.wav"
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # header intact, data cut short
    files["zeros"] = save_wav(root / "zeros.wav", np.zeros(SAMPLE_RATE, dtype=np.float32))
    files["nan"] = root / "nan.wav"
    with_nan = speech.copy()
    with_nan[100:200] = np.nan
    sf.write(str(files["nan"]), with_nan, SAMPLE_RATE, subtype="FLOAT")
    return files


BAD = {"missing": "no such file", "empty": "empty", "text": "could not decode",
       "truncated": "truncated", "zeros": "silent", "nan": "NaN"}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("command", ["transcribe", "detect"])
def test_bad_input_is_one_line_and_exit_2(kind, command, tmp_path, capsys):
    path = _bad_inputs(tmp_path, Pico2Wave("en-US").synthesize("Good morning."))[kind]
    code, out, err = run(capsys, command, str(path))
    assert code == 2, err
    assert out == "" and err.count("\n") == 1 and err.startswith("synthcheck: error: ")
    message = err.replace(str(path), "<file>")  # the fragment must be in the message, not in the file's name
    assert BAD[kind] in message and "Traceback" not in err


def test_stereo_44khz_is_converted_and_runs(speech_wav, tmp_path, capsys):
    mono = resample(load_audio(speech_wav), SAMPLE_RATE, 44_100)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([mono, 0.5 * mono], axis=1), 44_100, subtype="PCM_24")
    code, out, _ = run(capsys, "transcribe", str(path), "--json")
    assert code == 0 and "best of times" in json.loads(out)["transcript"]


@pytest.mark.parametrize("args", [
    ["transcribe", "{wav}", "--asr", "nosuch"], ["detect", "{wav}", "--asr", "nosuch"],
    ["detect", "--tts", "festival"], ["detect", "--voice", "xx-XX"], ["detect", "--detector", "nope"],
    ["detect", "--detector", "paper", "--comparator", "dtw-mfcc"], ["detect", "--comparator", "euclid"],
    ["transcribe"], ["detect", "--threshold", "abc"], ["detect", "--example", "robot"],
])
def test_bad_options_are_one_line_and_exit_2(args, speech_wav, capsys):
    code, out, err = run(capsys, *[a.format(wav=speech_wav) for a in args])
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err


def test_installed_command_reports_errors_as_one_line(speech_wav):
    done = subprocess.run([str(SYNTHCHECK), "transcribe", str(speech_wav), "--asr", "nosuch"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "unknown recogniser 'nosuch'" in done.stderr
    assert "Traceback" not in done.stderr


def test_installed_command_detect_json(tmp_path):
    done = subprocess.run([str(SYNTHCHECK), "detect", "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"transcript", "score", "threshold", "consistent", "lag", "timings", "detector"} <= set(data)
    assert data["detector"] == DEFAULT_DETECTOR and set(data["details"]["members"]) == {"likelihood-tiny.en", "align"}
