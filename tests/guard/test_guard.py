"""synthcheck.Guard: one object holding the models, checking arrays, files and batches like ``detect`` does."""

from __future__ import annotations

import numpy as np
import pytest

import synthcheck
from synthcheck.audio.io import load_audio
from synthcheck.detect import build_detector, custom_config
from synthcheck.errors import BadInputError
from synthcheck.guard import FileCheck, Guard, GuardSettings


def test_the_guard_is_importable_from_the_package_top_without_torch() -> None:
    import subprocess
    import sys

    code = "import sys, synthcheck; synthcheck.Guard; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False" and synthcheck.Guard is Guard


def test_verdicts_equal_those_of_the_detector_built_directly(guard, clips) -> None:
    audio = load_audio(clips["human.wav"])
    direct = build_detector(guard.recognizer, "likelihood+align").check(audio)
    verdict = guard.check(audio)
    assert verdict.to_dict() | {"timings": {}} == direct.to_dict() | {"timings": {}}
    assert verdict.consistent and verdict.detector == "likelihood+align"


def test_named_detectors_and_the_likelihood_alias(guard, clips) -> None:
    assert guard.detector_names == ("likelihood+align", "paper") and guard.default_detector == "likelihood+align"
    verdict = guard.check_file(clips["tts.flac"], "paper").verdict
    assert verdict is not None and verdict.detector == "paper" and verdict.resynthesized is not None
    with pytest.raises(BadInputError, match="not loaded here; choose one of: likelihood\\+align, paper"):
        guard.check_file(clips["tts.flac"], "dtw")
    with pytest.raises(BadInputError, match="unknown detector"):
        guard.detector("nonsense")


def test_describe_lists_members_with_their_thresholds(guard) -> None:
    first, paper = guard.describe()
    assert first.name == "likelihood+align" and first.threshold == 0.719
    assert first.members == {"likelihood-base": 0.551, "align": 0.166}  # tiny.en is judged by base
    assert paper.to_dict()["members"] == {} and paper.threshold == 0.4


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("junk.wav", "could not decode"), ("silent.wav", "silent"), ("notes.txt", "could not decode"),
     ("missing.wav", "no such file")],
)
def test_a_bad_file_is_a_result_with_its_one_line_error_not_an_exception(guard, clips, name, fragment) -> None:
    path = clips.get(name, clips["human.wav"].with_name(name))
    result = guard.check_file(path)
    assert isinstance(result, FileCheck) and not result.ok and not result.flagged
    assert fragment in result.error and "\n" not in result.error and result.seconds is None
    assert set(result.to_dict()) == {"file", "seconds", "elapsed", "error"}


def test_the_duration_limit_is_flagged_as_too_long(guard, clips) -> None:
    result = guard.check_file(clips["long.wav"], max_seconds=60)
    assert result.too_long and "longer than the limit of 60 s" in result.error


def test_check_files_yields_in_order_and_reports_progress(guard, clips) -> None:
    seen: list[str] = []
    files = [clips["human.wav"], clips["junk.wav"], clips["alsa.wav"]]
    results = list(guard.check_files(files, progress=lambda r: seen.append(r.file)))
    assert [r.file for r in results] == seen == [str(f) for f in files]
    assert [r.ok for r in results] == [True, False, True]
    assert results[0].seconds == pytest.approx(load_audio(files[0]).size / 16_000)


def test_a_custom_configuration_and_a_threshold_override() -> None:
    guard = Guard(GuardSettings(asr="pocketsphinx", detectors=(custom_config("dtw-mfcc"),), threshold=0.9))
    assert guard.detector_names == ("custom",) and guard.detector().threshold == 0.9
    assert guard.describe()[0].description == "pico2wave:en-US, dtw-mfcc"


def test_settings_refuse_no_detector_and_a_detector_named_twice() -> None:
    with pytest.raises(BadInputError, match="at least one detector"):
        GuardSettings(detectors=())
    with pytest.raises(BadInputError, match="named twice"):
        Guard(GuardSettings(asr="pocketsphinx", detectors=("paper", "paper")))


def test_checking_an_array_refuses_bad_audio(guard) -> None:
    with pytest.raises(BadInputError, match="NaN"):
        guard.check(np.full(16_000, np.nan, dtype=np.float32))


def test_files_judged_together_get_the_verdicts_they_get_alone(guard, clips) -> None:
    files = [clips["human.wav"], clips["junk.wav"], clips["alsa.wav"], clips["tts.flac"]]
    together = guard.check_file_batch(files)
    alone = [guard.check_file(f) for f in files]
    assert [r.file for r in together] == [str(f) for f in files]
    for batched, single in zip(together, alone, strict=True):
        assert batched.error == single.error
        if single.ok:
            assert batched.verdict.transcript == single.verdict.transcript
            assert batched.verdict.consistent == single.verdict.consistent
            assert batched.verdict.score == pytest.approx(single.verdict.score, abs=1e-5)
