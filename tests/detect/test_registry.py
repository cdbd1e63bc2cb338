"""The comparator and detector registries (detect/registry.py, detect/configs.py): one frozen config per name,
listed without torch, and no import cycle."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from synthcheck.asr import get_recognizer
from synthcheck.detect import DETECTOR_CONFIGS, ConsistencyDetector
from synthcheck.detect.configs import DETECTOR_NAMES
from synthcheck.detect.comparators import DifferentiableComparator, DifferentiableTranscriptComparator
from synthcheck.detect.registry import COMPARATOR_CONFIGS, COMPARATORS, get_comparator
from synthcheck.errors import BadInputError
from synthcheck.registry import Registry

DIFFERENTIABLE = {"align-pocketsphinx", "xcorr-template", "xcorr-full", "dtw-mfcc", "likelihood-tiny.en", "likelihood-base"}
DIFFERENTIABLE |= {f"smoothed-{name}" for name in ("align-pocketsphinx", "likelihood-tiny.en", "likelihood-base")}


@pytest.mark.parametrize("name", COMPARATORS)
def test_every_name_builds_its_comparator(name: str) -> None:
    config = COMPARATOR_CONFIGS[name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "other"  # type: ignore[misc]
    comparator = config.build()
    assert comparator.name == name and get_comparator(name) is not comparator
    differentiable = isinstance(comparator, (DifferentiableComparator, DifferentiableTranscriptComparator))
    assert differentiable == (name in DIFFERENTIABLE)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(BadInputError, match="unknown comparator 'euclid'; choose one of: seed-corrcoef") as info:
        get_comparator("euclid")
    assert str(info.value).endswith(", ".join(COMPARATORS))
    with pytest.raises(BadInputError, match="unknown detector 'nope'; choose one of: paper, seed-corrcoef"):
        DETECTOR_CONFIGS["nope"]


def test_detector_registry_holds_frozen_configs_that_build_detectors() -> None:
    assert isinstance(DETECTOR_CONFIGS, Registry) and isinstance(COMPARATOR_CONFIGS, Registry)
    assert DETECTOR_NAMES == ("likelihood", "smoothed-likelihood", *DETECTOR_CONFIGS.names)
    assert "dtw" in DETECTOR_CONFIGS and "likelihood" not in DETECTOR_CONFIGS  # an alias, not a configuration
    assert "smoothed-likelihood" not in DETECTOR_CONFIGS
    config = DETECTOR_CONFIGS["dtw"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.threshold = 0.9  # type: ignore[misc]
    detector = config.build(get_recognizer("pocketsphinx"))
    assert isinstance(detector, ConsistencyDetector) and detector.comparator.name == "dtw-mfcc"
    assert detector.threshold == config.threshold and detector.synthesizer.id == "pico2wave:en-US"


def test_every_detector_configuration_names_a_registered_comparator() -> None:
    assert {c.comparator for c in DETECTOR_CONFIGS.values() if not c.members} <= set(COMPARATORS)


def test_the_base_module_and_the_registry_load_no_concrete_comparator() -> None:
    code = (
        "import sys; import synthcheck.detect.registry; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('synthcheck.detect.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'torch'" not in loaded and "dtw_comparator" not in loaded and "likelihood" not in loaded
    assert "synthcheck.detect.registry" in loaded


def test_listing_the_detector_names_loads_neither_torch_nor_pocketsphinx() -> None:
    code = ("import sys; from synthcheck.detect.configs import DETECTOR_NAMES; assert 'paper' in DETECTOR_NAMES; "
            "print('torch' in sys.modules, 'pocketsphinx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
