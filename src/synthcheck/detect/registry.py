"""Comparators by name: each name maps to a frozen :class:`ComparatorConfig` whose :meth:`~ComparatorConfig.build`
makes the comparator.

The registry, not :mod:`synthcheck.detect.comparators`, knows the concrete comparator modules, so the base
module imports none of its subclasses. A configuration names its class by module and class name and imports
it on :meth:`~ComparatorConfig.build`: listing the names (``synthcheck detect --help``) loads neither torch
nor pocketsphinx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synthcheck.audio.pearson import PEARSON_MEASURES
from synthcheck.detect.comparators import Comparator
from synthcheck.registry import Registry, import_object


@dataclass(frozen=True)
class ComparatorConfig:
    """A named comparator: the class (``module``, ``cls``) and the keyword options it is built with."""

    name: str
    module: str
    cls: str
    options: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Comparator:
        """A new comparator of this configuration."""
        return import_object(self.module, self.cls)(**dict(self.options))


_COMPARATORS_MODULE = "synthcheck.detect.comparators"

#: Every named comparator (``xcorr-paper`` is the paper's).
COMPARATOR_CONFIGS: Registry[ComparatorConfig] = Registry(
    "comparator",
    [
        *(ComparatorConfig(m, _COMPARATORS_MODULE, "PearsonComparator", (("measure", m),)) for m in PEARSON_MEASURES),
        ComparatorConfig("xcorr-template", _COMPARATORS_MODULE, "CorrelationComparator", (("mode", "template"),)),
        ComparatorConfig("xcorr-full", _COMPARATORS_MODULE, "CorrelationComparator", (("mode", "full"),)),
        ComparatorConfig("dtw-mfcc", "synthcheck.detect.dtw_comparator", "DtwComparator"),
        ComparatorConfig("likelihood-tiny.en", "synthcheck.detect.likelihood", "LikelihoodComparator",
                         (("whisper_size", "tiny.en"),)),
        ComparatorConfig("likelihood-base", "synthcheck.detect.likelihood", "LikelihoodComparator",
                         (("whisper_size", "base"),)),
        ComparatorConfig("align-pocketsphinx", "synthcheck.detect.forced_alignment", "AlignmentComparator"),
        # The judges heard through noise at SMOOTHING_SNR_DB, averaged over draws (synthcheck.detect.smoothing).
        *(ComparatorConfig(f"smoothed-{inner}", "synthcheck.detect.smoothing", "SmoothedComparator",
                           (("inner", inner),))
          for inner in ("likelihood-tiny.en", "likelihood-base", "align-pocketsphinx")),
    ],
)
#: Comparator names accepted by :func:`get_comparator` (and ``synthcheck detect --comparator``).
COMPARATORS = COMPARATOR_CONFIGS.names


def get_comparator(name: str) -> Comparator:
    """The comparator called ``name`` (one of :data:`COMPARATORS`).

    Raises
    ------
    BadInputError
        Unknown name (the message lists :data:`COMPARATORS`).
    """
    return COMPARATOR_CONFIGS[name].build()
