"""Where an experiment's source utterances come from: TTS renderings or a built-in speech set.

``dataset = "tts"`` (:data:`TTS_DATASET`) renders each sentence with the configured engine and voice (the
paper's setting). A set of the dataset registry (:data:`synthcheck.data.datasets.DATASETS`: the recorded human
sets, or ``two-cities-tts``, their pico2wave twin) supplies its own utterances instead; its items are chosen by
their text, and that text is the item's true transcript. Either way the config's channel is applied afterwards.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from synthcheck.data.datasets import DATASETS
from synthcheck.errors import BadInputError

#: The source that renders the config's sentences with its TTS engine and voice.
TTS_DATASET = "tts"
#: Every value of an experiment's ``dataset``: TTS rendering, then the registered sets.
EXPERIMENT_DATASETS = (TTS_DATASET, *DATASETS)
#: Items of a set used when no sentences are given (two-cities-*: the paper's ten clauses).
DEFAULT_SET_ITEMS = 10


@lru_cache(maxsize=len(DATASETS))
def dataset_texts(dataset: str) -> tuple[str, ...]:
    """The texts of a registered set's utterances, in the set's order (without audio when the set can)."""
    if dataset not in DATASETS:
        raise BadInputError(f"unknown dataset {dataset!r}; choose one of: {', '.join(EXPERIMENT_DATASETS)}")
    texts = DATASETS[dataset].texts
    return tuple(texts()) if texts is not None else tuple(dataset_audio(dataset))


def select_utterances(dataset: str, sentences: tuple[str, ...]) -> tuple[str, ...]:
    """The utterance texts of ``dataset`` matching ``sentences`` (normalised), or its first ten when empty.

    Raises
    ------
    BadInputError
        A sentence is not the text of any utterance of the set.
    """
    from synthcheck.audio.metrics import normalize_text

    texts = dataset_texts(dataset)
    if not sentences:
        return texts[:DEFAULT_SET_ITEMS]
    by_text = {normalize_text(t): t for t in texts}
    for sentence in sentences:
        if normalize_text(sentence) not in by_text:
            raise BadInputError(f"config: {sentence!r} is not an utterance of dataset {dataset} "
                                f"(its first is {texts[0]!r}); leave sentences empty to use its first ten")
    return tuple(by_text[normalize_text(s)] for s in sentences)


@lru_cache(maxsize=len(DATASETS))
def dataset_audio(dataset: str) -> dict[str, np.ndarray]:
    """Text -> 16 kHz audio of every utterance of a registered set (loaded once per process)."""
    return {u.text: u.audio for u in DATASETS[dataset].build()}


__all__ = ["DEFAULT_SET_ITEMS", "EXPERIMENT_DATASETS", "TTS_DATASET", "dataset_audio", "dataset_texts",
           "select_utterances"]
