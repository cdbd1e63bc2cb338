"""The comparator registry (detect/registry.py): one frozen config per name, and no import cycle."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from synthcheck.detect import DETECTOR_CONFIGS
from synthcheck.detect.comparators import DifferentiableComparator, DifferentiableTranscriptComparator
from synthcheck.detect.registry import COMPARATOR_CONFIGS, COMPARATORS, get_comparator
from synthcheck.errors import BadInputError

DIFFERENTIABLE = {"xcorr-template", "xcorr-full", "dtw-mfcc", "likelihood-tiny.en", "likelihood-base"}


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
    with pytest.raises(BadInputError, match="unknown comparator 'euclid'; choose one of: seed-corrcoef"):
        get_comparator("euclid")


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
