"""Named detector configurations (detect/configs.py), built with real engines and recognisers."""

from __future__ import annotations

import pytest

from synthcheck.asr.registry import get_recognizer
from synthcheck.detect import DEFAULT_DETECTOR, DETECTOR_CONFIGS, DETECTOR_NAMES, build_detector, custom_config
from synthcheck.detect.configs import independent_whisper_size, resolve_config_name
from synthcheck.detect.dtw_comparator import DtwComparator
from synthcheck.detect.likelihood import LikelihoodComparator
from synthcheck.detect.voice_search import VoiceSearch
from synthcheck.errors import BadInputError
from synthcheck.examples import example_audio, example_sentence
from synthcheck.tts import Pico2Wave


@pytest.fixture(scope="module")
def sphinx():
    return get_recognizer("pocketsphinx")


def test_every_named_configuration_builds_with_its_threshold(sphinx) -> None:
    assert {"paper", "xcorr-full", "dtw", "voices-dtw", "likelihood-tiny.en", "likelihood-base"} <= set(DETECTOR_CONFIGS)
    for name, config in DETECTOR_CONFIGS.items():
        detector = build_detector(sphinx, name)
        assert detector.name == name and detector.threshold == config.threshold
        assert config.description
        if config.members:  # an all-of detector: threshold on min_k score_k / threshold_k
            assert [m.name for m in detector.members] == [resolve_config_name(m, sphinx.name) for m in config.members]
            continue
        assert 0.0 < config.threshold < 1.0
        assert detector.comparator.name == config.comparator
        assert (detector.synthesizer is None) == (not detector.comparator.needs_rendering)
    assert build_detector(sphinx, "paper").threshold == 0.4  # the paper's
    assert build_detector(sphinx, "dtw", threshold=0.7).threshold == 0.7


def test_components_of_the_main_configurations(sphinx) -> None:
    paper = build_detector(sphinx, "paper")
    assert isinstance(paper.synthesizer, Pico2Wave) and paper.synthesizer.id == "pico2wave:en-US"
    voices = build_detector(sphinx, "voices-dtw")
    assert isinstance(voices.synthesizer, VoiceSearch) and isinstance(voices.comparator, DtwComparator)
    assert voices.synthesizer.id == "voice-search:8x1"
    likelihood = build_detector(sphinx, "likelihood")
    assert isinstance(likelihood.comparator, LikelihoodComparator) and likelihood.synthesizer is None


@pytest.mark.parametrize(("recognizer", "size"), [("whisper-base", "tiny.en"), ("whisper-tiny.en", "base"),
                                                  ("pocketsphinx", "tiny.en")])
def test_likelihood_uses_the_independent_whisper(recognizer: str, size: str) -> None:
    assert independent_whisper_size(recognizer) == size
    assert resolve_config_name("likelihood", recognizer) == f"likelihood-{size}"
    assert resolve_config_name("smoothed-likelihood", recognizer) == f"smoothed-likelihood-{size}"
    assert resolve_config_name("dtw", recognizer) == "dtw"


def test_default_is_likelihood_and_alignment_and_names_hold_the_alias() -> None:
    assert DEFAULT_DETECTOR == "likelihood+align" and DETECTOR_CONFIGS[DEFAULT_DETECTOR].members == ("likelihood", "align")
    assert DETECTOR_NAMES[:2] == ("likelihood", "smoothed-likelihood") and set(DETECTOR_NAMES[2:]) == set(DETECTOR_CONFIGS)


def test_named_detector_judges_real_speech(sphinx) -> None:
    observed = example_audio(seed=0)
    detector = build_detector(sphinx, "paper")
    right = detector.check_transcript(observed, example_sentence())
    assert right.consistent and right.detector == "paper" and right.to_dict()["detector"] == "paper"


def test_custom_configuration_takes_the_comparators_calibrated_threshold(sphinx) -> None:
    dtw = custom_config("dtw-mfcc", "flite:slt")
    assert dtw.name == "custom" and dtw.threshold == DETECTOR_CONFIGS["dtw"].threshold
    detector = dtw.build(sphinx)
    assert detector.synthesizer.id == "flite:slt" and detector.name == "custom"
    assert custom_config("xcorr-paper").threshold == 0.4
    assert custom_config("likelihood-base").build(sphinx).synthesizer is None


def test_unknown_names_are_one_line_errors(sphinx) -> None:
    with pytest.raises(BadInputError, match="unknown detector 'nope'.*likelihood, paper"):
        build_detector(sphinx, "nope")
    with pytest.raises(BadInputError, match="unknown comparator"):
        custom_config("euclid")
    with pytest.raises(BadInputError):
        custom_config("dtw-mfcc", "pico2wave:xx-XX").build(sphinx)
