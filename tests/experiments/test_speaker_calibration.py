"""Leave-one-speaker-out calibration (experiments/speaker_calibration.py, ``synthcheck calibrate-speakers``) with the
real components: Whisper base transcribes a subset of the real human sets, the real likelihood judge (Whisper
tiny.en) and pocketsphinx's alignment score the clean clips. Every fold's numbers are recomputed here from the
clips' scores with :func:`calibrate_threshold` and :func:`wilson_interval`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthcheck.cli import main
from synthcheck.cli.calibration import _DEFAULT_DETECTORS, render
from synthcheck.data.datasets import Utterance, load_dataset
from synthcheck.detect.calibration import calibrate_threshold, false_positive_rate, wilson_interval
from synthcheck.detect.combined import AllOfDetector
from synthcheck.detect.configs import DETECTOR_CONFIGS, build_detector
from synthcheck.detect.detector import ConsistencyDetector
from synthcheck.errors import BadInputError
from synthcheck.experiments import speaker_calibration as sc
from synthcheck.experiments.executors import run_with_threads
from synthcheck.guard.core import DEFAULT_GUARD_ASR

SYNTHCHECK = Path(sys.executable).with_name("synthcheck")
MERGE = (("beckett", "librivox-two-cities"),)


def _subset() -> list[tuple[str, Utterance]]:
    """Two LibriVox clauses and one Whisper base gets wrong (two-cities-05), two alsa clips, two beckett sentences
    and the clone-test clip: four speakers, eight clips (about 20 s on one thread)."""
    two_cities, moonshine = load_dataset("two-cities-human"), load_dataset("moonshine-human")
    return ([("two-cities-human", u) for u in [*two_cities[:2], two_cities[5]]]
            + [("alsa-human", u) for u in load_dataset("alsa-human")[:2]]
            + [("moonshine-human", u) for u in moonshine if u.key != "moonshine-beckett-00"])


@pytest.fixture(scope="module")
def pool():
    return _subset()


@pytest.fixture(scope="module")
def checks():
    """Every check_transcript call of the run (detector name, clip), counted by a spy on the real classes."""
    return []


@pytest.fixture(scope="module")
def result(pool, checks) -> sc.SpeakerCalibration:
    with pytest.MonkeyPatch.context() as patch:
        for cls in (ConsistencyDetector, AllOfDetector):
            original = cls.check_transcript

            def spy(self, audio, transcript, *, asr_seconds=0.0, _original=original):
                checks.append((self.name, transcript))
                return _original(self, audio, transcript, asr_seconds=asr_seconds)

            patch.setattr(cls, "check_transcript", spy)
        return run_with_threads(lambda s: sc.run_speaker_calibration(s, pool=pool), 1, sc.SpeakerCalibrationSettings())


def _clean(result: sc.SpeakerCalibration, groups: dict[str, str] | None = None):
    """(group label, scores) of the clean clips."""
    groups = groups or {c.recorded_speaker: c.recorded_speaker for c in result.clips}
    clean = [c for c in result.clips if c.correct]
    return np.array([groups[c.recorded_speaker] for c in clean]), np.array([c.scores for c in clean])


def _detector(result: sc.SpeakerCalibration, name: str, variant: str) -> sc.DetectorCalibration:
    (found,) = [d for d in result.detectors if d.detector == name and d.variant == variant]
    return found


def test_defaults_are_those_of_detect_and_the_cli():
    assert sc.DEFAULT_RECOGNIZER == DEFAULT_GUARD_ASR == "whisper-base"
    assert tuple(_DEFAULT_DETECTORS.split(",")) == sc.DEFAULT_DETECTORS
    assert {"two-cities-human", "alsa-human", "moonshine-human"} <= set(sc.recorded_datasets())
    assert "two-cities-tts" not in sc.recorded_datasets()


def test_misrecognised_clips_are_excluded_and_counted_per_speaker(result):
    groups = {g.speaker: g for g in result.speakers}
    assert list(groups) == ["librivox-two-cities", "alsa", "beckett", "clone-test"]
    librivox = groups["librivox-two-cities"]
    assert librivox.n_clips == 3 and "two-cities-human/two-cities-05" in librivox.excluded
    assert librivox.n_clean == 3 - len(librivox.excluded)
    for group in result.speakers:
        mine = [c for c in result.clips if c.recorded_speaker in group.recorded]
        assert group.n_clean == sum(c.correct for c in mine) and group.n_clips == len(mine)
        assert group.excluded == tuple(c.key for c in mine if not c.correct)
    for clip in result.clips:
        assert len(clip.scores) == (len(result.members) if clip.correct else 0)


def test_each_clean_clip_is_scored_once_per_member_and_never_as_a_union(result, checks):
    assert result.members == ("likelihood-tiny.en", "align")
    n_clean = sum(c.correct for c in result.clips)
    assert sorted(name for name, _ in checks) == sorted(["likelihood-tiny.en"] * n_clean + ["align"] * n_clean)
    assert not any(name == "likelihood+align" for name, _ in checks)


def test_stored_scores_are_the_detectors_verdicts(result, pool):
    from synthcheck.asr.registry import get_recognizer

    key, utterance = next((f"{d}/{u.key}", u) for d, u in pool if u.speaker == "alsa")
    clip = next(c for c in result.clips if c.key == key)
    assert clip.correct
    verdict = build_detector(get_recognizer("whisper-base"), "align").check_transcript(utterance.audio, clip.transcript)
    assert clip.scores[result.members.index("align")] == pytest.approx(verdict.score, abs=1e-9)


@pytest.mark.parametrize("name", ["likelihood", "align"])
def test_fold_thresholds_come_from_the_other_speakers_only(result, name):
    calibration = _detector(result, name, sc.SINGLE)
    column = result.members.index(calibration.config)
    labels, scores = _clean(result)
    for fold in calibration.folds:
        others, held = scores[labels != fold.speaker, column], scores[labels == fold.speaker, column]
        assert fold.threshold == calibrate_threshold(others, 0.05)
        assert fold.n_calibration == others.size
        assert fold.held_out.n == held.size and fold.held_out.flagged == int(np.sum(held < fold.threshold))
        assert fold.held_out.rate == pytest.approx(false_positive_rate(held, fold.threshold))
        assert (fold.held_out.low, fold.held_out.high) == wilson_interval(fold.held_out.flagged, held.size)
        shipped = DETECTOR_CONFIGS[calibration.config].threshold
        assert calibration.shipped_threshold == shipped
        assert fold.shipped.flagged == int(np.sum(held < shipped))
        assert len(fold.flagged) == fold.held_out.flagged
    assert calibration.held_out.flagged == sum(f.held_out.flagged for f in calibration.folds)
    assert calibration.held_out.n == len(scores)
    assert (calibration.held_out.low, calibration.held_out.high) == wilson_interval(
        calibration.held_out.flagged, calibration.held_out.n)
    assert calibration.in_sample_threshold == calibrate_threshold(scores[:, column], 0.05)


def test_a_held_out_speakers_own_scores_never_move_its_threshold(result):
    settings = result.settings
    before = sc.calibrate_clips(result.clips, result.members, settings)
    assert before == result.detectors
    for speaker in ("alsa", "beckett"):
        # the held-out speaker's clips now score far below everyone: its own fold must not notice
        moved = [dataclasses.replace(c, scores=tuple(0.01 * s for s in c.scores))
                 if c.recorded_speaker == speaker and c.correct else c for c in result.clips]
        after = sc.calibrate_clips(moved, result.members, settings)
        for old, new in zip(before, after):
            (f_old,) = [f for f in old.folds if f.speaker == speaker]
            (f_new,) = [f for f in new.folds if f.speaker == speaker]
            assert (f_new.threshold, f_new.member_thresholds) == (f_old.threshold, f_old.member_thresholds)
            assert f_new.held_out.flagged == f_new.held_out.n > 0
            # not vacuous: the folds calibrated *with* those clips do move
            assert any((f.threshold, f.member_thresholds) != (g.threshold, g.member_thresholds)
                       for f, g in zip(old.folds, new.folds) if f.speaker != speaker)


def test_all_of_variants(result):
    members = _detector(result, "likelihood+align", sc.MEMBERS)
    normalised = _detector(result, "likelihood+align", sc.NORMALISED)
    assert members.members == normalised.members == ("likelihood-tiny.en", "align")
    columns = [result.members.index(m) for m in members.members]
    labels, scores = _clean(result)
    scores = scores[:, columns]
    shipped = tuple(DETECTOR_CONFIGS[m].threshold for m in members.members)
    for fold_a, fold_b in zip(members.folds, normalised.folds):
        others, held = scores[labels != fold_a.speaker], scores[labels == fold_a.speaker]
        expected = tuple(calibrate_threshold(others[:, k], 0.05) for k in range(2))
        assert fold_a.member_thresholds == fold_b.member_thresholds == expected
        # (a) union at 1.0: flagged when any member is below its own threshold
        assert fold_a.threshold == 1.0
        assert fold_a.held_out.flagged == int(np.sum(np.any(held < np.array(expected), axis=1)))
        # (b) the normalised score, calibrated on the other speakers
        ratio = lambda s: np.min(s / np.array(expected), axis=1)  # noqa: E731
        assert fold_b.threshold == calibrate_threshold(ratio(others), 0.05) <= 1.0 + 1e-12
        assert fold_b.held_out.flagged == int(np.sum(ratio(held) < fold_b.threshold))
        assert fold_a.shipped == fold_b.shipped
        assert fold_a.shipped.flagged == int(np.sum(np.any(held < np.array(shipped), axis=1)))
    # in sample, (b) meets the target by construction; (a) may flag up to the sum of the members' rates
    n = len(scores)
    assert normalised.in_sample.flagged <= int(0.05 * n + 1e-9)
    single = [_detector(result, m, sc.SINGLE).in_sample.flagged for m in ("likelihood", "align")]
    assert max(single) <= members.in_sample.flagged <= sum(single)
    assert normalised.held_out.flagged <= members.held_out.flagged


def test_too_few_clips_cannot_certify_five_percent(result):
    needed = sc.clips_needed_to_certify(0.05)
    assert needed == result.clips_needed == 73
    assert wilson_interval(0, needed)[1] <= 0.05 < wilson_interval(0, needed - 1)[1]
    assert sc.clips_needed_to_certify(0.0) is None
    for calibration in result.detectors:
        assert not calibration.certified
        for fold in calibration.folds:
            assert not fold.certified and fold.held_out.high > 0.05


def test_merging_beckett_into_the_librivox_reader(result, pool):
    groups = sc.speaker_groups([u for _, u in pool], MERGE)
    assert groups == {"librivox-two-cities": "librivox-two-cities", "alsa": "alsa", "beckett": "librivox-two-cities",
                      "clone-test": "clone-test"}
    merged = sc.calibrate_clips(result.clips, result.members, dataclasses.replace(result.settings, merge=MERGE))
    separate = {d.detector + d.variant: d for d in result.detectors}
    labels, scores = _clean(result, groups)
    for calibration in merged:
        assert [f.speaker for f in calibration.folds] == ["librivox-two-cities", "alsa", "clone-test"]
        librivox = calibration.folds[0]
        assert librivox.held_out.n == sum(labels == "librivox-two-cities")
        assert librivox.n_calibration == sum(labels != "librivox-two-cities")
        assert calibration.held_out.n == separate[calibration.detector + calibration.variant].held_out.n
    with pytest.raises(BadInputError, match="unknown speaker 'nobody'"):
        sc.speaker_groups([u for _, u in pool], (("nobody", "alsa"),))
    with pytest.raises(BadInputError, match="unknown speaker 'nobody'"):
        sc.calibrate_clips(result.clips, result.members,
                           dataclasses.replace(result.settings, merge=(("alsa", "nobody"),)))
    alone = [c for c in result.clips if c.recorded_speaker == "alsa"]
    with pytest.raises(BadInputError, match="at least two speakers"):
        sc.calibrate_clips(alone, result.members, result.settings)
    with pytest.raises(BadInputError, match="no speaker label"):
        sc.speaker_groups([dataclasses.replace(pool[0][1], speaker="")])


def test_settings_refuse_bad_input():
    with pytest.raises(BadInputError, match="unknown detector 'nope'"):
        sc.SpeakerCalibrationSettings(detectors=("nope",))
    for target in (1.0, -0.01, float("nan")):
        with pytest.raises(BadInputError, match=r"\[0, 1\)"):
            sc.SpeakerCalibrationSettings(target_fpr=target)
    with pytest.raises(BadInputError, match="synthetic"):
        sc.SpeakerCalibrationSettings(datasets=("two-cities-tts",))
    with pytest.raises(BadInputError, match="itself"):
        sc.SpeakerCalibrationSettings(merge=(("alsa", "alsa"),))
    with pytest.raises(BadInputError, match="merged away"):
        sc.SpeakerCalibrationSettings(merge=(("a", "b"), ("b", "c")))
    assert sc.parse_merge(["beckett=librivox-two-cities", "a=b, c=d"]) == (
        ("beckett", "librivox-two-cities"), ("a", "b"), ("c", "d"))
    for bad in ("beckett", "=x", "a=", "a=b=c"):
        with pytest.raises(BadInputError, match="SPEAKER=INTO"):
            sc.parse_merge([bad])


def test_result_json_and_tables(result):
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["settings"]["recognizer"] == "whisper-base" and data["settings"]["target_fpr"] == 0.05
    assert {"python", "torch", "openai-whisper", "pocketsphinx"} <= set(data["versions"])
    assert len(data["detectors"]) == 4 and len(data["clips"]) == len(result.clips)
    text = render(result)
    for calibration in result.detectors:
        for fold in calibration.folds:
            assert f"| {fold.speaker} |" in text
    assert text.count("**pooled (LOSO)**") == 4 and "73 clean clips" in text


BAD = [
    (["--detectors", "likelihood,nope"], "unknown detector 'nope'"),
    (["--merge", "nobody=alsa", "--datasets", "two-cities-human,alsa-human"], "unknown speaker 'nobody'"),
    (["--datasets", "two-cities-tts"], "synthetic"),
    (["--datasets", "nope"], "unknown dataset 'nope'"),
    (["--datasets", "alsa-human,,moonshine-human"], "without empty entries"),
    (["--merge", "beckett"], "speaker=into"),
    (["--target-fpr", "1"], "[0, 1)"),
    (["--target-fpr", "-0.5"], "[0, 1)"),
    (["--asr", "nope"], "unknown recogniser 'nope'"),
    (["--out", "result.txt"], ".json"),
    (["--threads", "0"], "--threads"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_cli_bad_input_one_line_exit_2(args, fragment, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    code = main(["calibrate-speakers", *args])
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("synthcheck: error: ") and "Traceback" not in err + out, err
    assert fragment in lines[0].lower()


def test_cli_real_entry_point_bad_merge(tmp_path):
    done = subprocess.run([str(SYNTHCHECK), "calibrate-speakers", "--merge", "beckett=nobody",
                           "--datasets", "two-cities-human,alsa-human,moonshine-human"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "unknown speaker 'nobody'" in done.stderr


def test_cli_end_to_end_on_the_subset(result, pool, tmp_path, monkeypatch, capsys):
    few = [pool[0], pool[3], pool[5], pool[7]]  # librivox, alsa, beckett, clone-test: one clip each
    assert [u.speaker for _, u in few] == ["librivox-two-cities", "alsa", "beckett", "clone-test"]
    monkeypatch.setattr(sc, "human_pool", lambda datasets=(): list(few))
    out = tmp_path / "loso.json"
    code = main(["calibrate-speakers", "--detectors", "likelihood,align", "--merge", "beckett=librivox-two-cities",
                 "--seed", "3", "--threads", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads(out.read_text())
    assert data["settings"]["merge"] == [["beckett", "librivox-two-cities"]] and data["settings"]["seed"] == 3
    assert [d["detector"] for d in data["detectors"]] == ["likelihood", "align"]
    # the same clips and scores as the library run (nothing random), regrouped
    library = {c.key: c for c in result.clips}
    assert len(data["clips"]) == 4
    for stored in data["clips"]:
        assert stored["transcript"] == library[stored["key"]].transcript
        assert stored["scores"] == list(library[stored["key"]].scores)
    assert [f["speaker"] for f in data["detectors"][0]["folds"]] == ["librivox-two-cities", "alsa", "clone-test"]
    assert "## likelihood (likelihood-tiny.en)" in printed and "| clone-test | 1/1 |" in printed
