"""Where an experiment's source utterances come from: TTS renderings or a recorded speech set.

``dataset = "tts"`` (:data:`TTS_DATASET`) renders each sentence with the configured engine and voice (the
paper's setting). A recorded set of the dataset registry (:data:`synthcheck.data.datasets.RECORDED_DATASETS`)
supplies human speech instead; its items are chosen by their text, and that text is the item's true
transcript. Either way the channel is applied afterwards.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from synthcheck.data.datasets import RECORDED_DATASETS, dataset_spec
from synthcheck.errors import BadInputError

#: The source that renders the config's sentences with its TTS engine and voice.
TTS_DATASET = "tts"
#: Every value of an experiment's ``dataset``: TTS rendering, then the recorded sets.
EXPERIMENT_DATASETS = (TTS_DATASET, *RECORDED_DATASETS)
#: Items of a recorded set used when no sentences are given (two-cities-human: the paper's ten clauses).
DEFAULT_RECORDED_ITEMS = 10


@lru_cache(maxsize=len(RECORDED_DATASETS))
def recorded_texts(dataset: str) -> tuple[str, ...]:
    """The texts of a recorded set's utterances, in the set's order (without audio when the set can)."""
    if dataset not in RECORDED_DATASETS:
        raise BadInputError(f"unknown dataset {dataset!r}; choose one of: {', '.join(EXPERIMENT_DATASETS)}")
    texts = dataset_spec(dataset).texts
    return tuple(texts()) if texts is not None else tuple(recorded_audio(dataset))


def select_recorded(dataset: str, sentences: tuple[str, ...]) -> tuple[str, ...]:
    """The utterance texts of ``dataset`` matching ``sentences`` (normalised), or its first ten when empty.

    Raises
    ------
    BadInputError
        A sentence is not the text of any utterance of the set.
    """
    from synthcheck.audio.metrics import normalize_text

    texts = recorded_texts(dataset)
    if not sentences:
        return texts[:DEFAULT_RECORDED_ITEMS]
    by_text = {normalize_text(t): t for t in texts}
    for sentence in sentences:
        if normalize_text(sentence) not in by_text:
            raise BadInputError(f"config: {sentence!r} is not an utterance of dataset {dataset} "
                                f"(its first is {texts[0]!r}); leave sentences empty to use its first ten")
    return tuple(by_text[normalize_text(s)] for s in sentences)


@lru_cache(maxsize=len(RECORDED_DATASETS))
def recorded_audio(dataset: str) -> dict[str, np.ndarray]:
    """Text -> 16 kHz audio of every utterance of a recorded set (loaded once per process)."""
    return {u.text: u.audio for u in dataset_spec(dataset).load()}


__all__ = ["DEFAULT_RECORDED_ITEMS", "EXPERIMENT_DATASETS", "TTS_DATASET", "recorded_audio", "recorded_texts",
           "select_recorded"]
