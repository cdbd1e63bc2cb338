"""Evaluate detector configurations on clean and attacked speech: AUC, FPR, detection rate, latency.

Input is a list of :class:`EvalRecord` — (clean audio, true text, recogniser's transcript, adversarial
audio, adversarial transcript) from anywhere: a real attack run, or the *wrong-transcript proxy* built by
:func:`wrong_transcript_records` (the clean audio judged against the transcript of a different utterance;
records say ``proxy=True`` so reports can label them).

Protocol (the numbers of ``docs/human-speech.md``):

* clean negatives: records whose clean audio the recogniser transcribed correctly (normalised WER 0),
  judged against that transcript;
* positives: every record's adversarial audio judged against its adversarial transcript;
* AUC ranks by ``−score`` (low score = flagged); the threshold is calibrated on the clean scores for a
  target FPR (:func:`synthcheck.detect.calibrate_threshold`); ``fpr_loo`` is the honest leave-one-out FPR
  (each clean item judged with a threshold calibrated on the others);
* latency: seconds of re-synthesis + comparison per second of input audio (the recogniser's own time is
  not counted — it runs anyway).

The numbers themselves (:class:`DetectorEvaluation`, :func:`evaluation_from_scores`) live in
:mod:`synthcheck.experiments.metrics`, shared with the ``reproduce`` run report; this module scores clips.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from synthcheck.asr.base import Recognizer
from synthcheck.audio.channel import paper_channel
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.audio.metrics import word_error_rate
from synthcheck.data.datasets import DATASETS
from synthcheck.detect.configs import DETECTOR_CONFIGS, DetectorConfig, resolve_config_name
from synthcheck.detect.detector import Detector
from synthcheck.errors import BadInputError
from synthcheck.experiments.metrics import DetectorEvaluation, evaluation_from_scores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation item: a clean utterance and its attacked (or proxy) counterpart (None: clean only)."""

    key: str
    audio: np.ndarray
    text: str
    transcript: str
    adversarial_audio: np.ndarray | None
    adversarial_transcript: str
    proxy: bool = False

    @property
    def correctly_transcribed(self) -> bool:
        """Whether the recogniser's transcript of the clean audio has zero (normalised) WER."""
        return word_error_rate(self.text, self.transcript) == 0.0


def wrong_transcript_records(
    keys: Sequence[str],
    audios: Sequence[np.ndarray],
    texts: Sequence[str],
    transcripts: Sequence[str],
    rng: np.random.Generator,
) -> list[EvalRecord]:
    """Proxy records: each clean audio paired with the recogniser's transcript of a *different* utterance.

    The other utterance is drawn uniformly by ``rng`` among those whose transcript differs (normalised).
    """
    if not len(keys) == len(audios) == len(texts) == len(transcripts):
        raise BadInputError("keys, audios, texts and transcripts must have the same length")
    records = []
    for i in range(len(keys)):
        others = [j for j in range(len(keys)) if word_error_rate(transcripts[i], transcripts[j]) > 0]
        if not others:
            raise BadInputError("wrong-transcript proxy needs at least two utterances with different transcripts")
        j = others[int(rng.integers(len(others)))]
        records.append(EvalRecord(keys[i], audios[i], texts[i], transcripts[i], audios[i], transcripts[j], proxy=True))
    return records


def standard_configs(recognizer: str = "whisper-base") -> list[DetectorConfig]:
    """The named configurations (:data:`~synthcheck.detect.configs.DETECTOR_CONFIGS`) meaningful for ``recognizer``.

    All of them, except the likelihood judges (plain and smoothed) that are not independent of ``recognizer``.
    """
    independent = {resolve_config_name(alias, recognizer) for alias in ("likelihood", "smoothed-likelihood")}
    return [c for c in DETECTOR_CONFIGS.values()
            if c.name in independent or not c.comparator.removeprefix("smoothed-").startswith("likelihood-")]


def score_items(
    detector: Detector,
    items: Sequence[tuple[np.ndarray, str]],
    progress: Callable[[], None] | None = None,
) -> tuple[list[float], float, float]:
    """Scores of ``(audio, transcript)`` items, with the seconds of re-synthesis + comparison and of audio.

    ``progress`` is called after every check (for a CLI progress bar).
    """
    scores, busy, audio_seconds = [], 0.0, 0.0
    for audio, transcript in items:
        verdict = detector.check_transcript(audio, transcript)
        scores.append(float(verdict.score))
        busy += verdict.timings["tts"] + verdict.timings["compare"]
        audio_seconds += len(audio) / SAMPLE_RATE
        if progress is not None:
            progress()
    return scores, busy, audio_seconds


def evaluate_detector(
    detector: Detector,
    records: Sequence[EvalRecord],
    *,
    config: str,
    source: str,
    target_fpr: float = 0.05,
    progress: Callable[[], None] | None = None,
) -> DetectorEvaluation:
    """Score the clean (correctly transcribed) and adversarial items of ``records`` with ``detector``.

    Records without adversarial audio only add clean items. ``progress`` is called after every check.
    """
    clean_scores, busy_clean, seconds_clean = score_items(
        detector, [(r.audio, r.transcript) for r in records if r.correctly_transcribed], progress
    )
    attacked_scores, busy_attacked, seconds_attacked = score_items(
        detector,
        [(r.adversarial_audio, r.adversarial_transcript) for r in records if r.adversarial_audio is not None],
        progress,
    )
    audio_seconds = seconds_clean + seconds_attacked
    return evaluation_from_scores(
        clean_scores,
        attacked_scores,
        config=config,
        source=source,
        proxy=any(r.proxy for r in records),
        latency_per_second=(busy_clean + busy_attacked) / audio_seconds if audio_seconds else math.nan,
        target_fpr=target_fpr,
    )


def evaluate_configs(
    recognizer: Recognizer,
    configs: Sequence[DetectorConfig],
    records_by_source: dict[str, Sequence[EvalRecord]],
    *,
    target_fpr: float = 0.05,
    progress: Callable[[], None] | None = None,
) -> list[DetectorEvaluation]:
    """Every configuration on every source (one :class:`DetectorEvaluation` per pair)."""
    results = []
    for config in configs:
        detector = config.build(recognizer)
        for source, records in records_by_source.items():
            log.info("evaluating %s on %s (%d records)", config.name, source, len(records))
            results.append(
                evaluate_detector(detector, records, config=config.name, source=source, target_fpr=target_fpr,
                                  progress=progress)
            )
    return results


def dataset_proxy_records(dataset: str, recognizer: Recognizer, rng: np.random.Generator) -> list[EvalRecord]:
    """Wrong-transcript proxy records for a built-in dataset (transcribed once by ``recognizer``).

    The clips are heard as :func:`evaluation_audio` makes them (TTS sets through the channel, noise from ``rng``).
    """
    utterances = DATASETS[dataset].build()
    audios = evaluation_audio(dataset, [u.audio for u in utterances], rng)
    transcripts = recognizer.transcribe_batch(audios)
    return wrong_transcript_records([u.key for u in utterances], audios, [u.text for u in utterances], transcripts, rng)


def evaluation_audio(source: str, audios: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The clean clips of the dataset ``source`` as every evaluation hears them: synthetic sets
    (:attr:`~synthcheck.data.datasets.DatasetSpec.synthetic`, whose clean audio would otherwise be bit-identical to
    the re-synthesis) through the paper's channel (:func:`~synthcheck.audio.channel.paper_channel`: attenuation 0.5,
    AWGN at 28 dB, 16 bits; noise drawn from ``rng``), recorded sets unchanged."""
    if not DATASETS[source].synthetic:
        return list(audios)
    channel = paper_channel()
    return [channel.apply(audio, rng) for audio in audios]


#: Name of the extra row pooling all human sets.
POOLED_HUMAN = "human (pooled)"


def human_speech_evaluation(
    recognizer: str = "whisper-base",
    *,
    seed: int = 0,
    configs: Sequence[str] | None = None,
    sources: Sequence[str] = tuple(DATASETS),
    target_fpr: float = 0.05,
    progress: Callable[[], None] | None = None,
) -> list[DetectorEvaluation]:
    """The measurement of ``docs/human-speech.md``: every configuration on TTS and human speech.

    Adversarial items are the wrong-transcript proxy (:func:`wrong_transcript_records`, drawn with ``seed``)
    until attack runs are plugged in through :func:`evaluate_configs`. ``sources`` are dataset names (default: every
    registered set, :data:`~synthcheck.data.datasets.DATASETS`, in its order); synthetic sets pass the paper's channel
    (:func:`evaluation_audio`); two or more recorded sets are also evaluated pooled (:data:`POOLED_HUMAN`).

    Parameters
    ----------
    recognizer
        Registry name of the protected recogniser (its transcripts are the clean decisions).
    configs
        Names from :func:`standard_configs` to run (default: all); ``"likelihood"`` names the
        independent judge's configuration.
    """
    from synthcheck.asr.registry import get_recognizer

    chosen = standard_configs(recognizer)
    if configs:
        chosen = [DETECTOR_CONFIGS[resolve_config_name(name, recognizer)] for name in configs]
    asr = get_recognizer(recognizer)
    rng = np.random.default_rng(seed)
    records = {source: dataset_proxy_records(source, asr, rng) for source in sources}
    recorded = [source for source in sources if not DATASETS[source].synthetic]
    if len(set(recorded)) > 1:
        records[POOLED_HUMAN] = [r for source in recorded for r in records[source]]
    return evaluate_configs(asr, chosen, records, target_fpr=target_fpr, progress=progress)
