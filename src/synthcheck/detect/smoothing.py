"""A judge that listens through noise: any transcript comparator averaged over Gaussian noise added to the input.

The paper's theory says a classifier tolerates random noise far larger than the adversarial perturbations that
fool it (Theorem 1: about ``sqrt(N/M)`` larger). A judge scored on ``y + n`` with ``n`` white Gaussian noise at a
fixed SNR relative to the input therefore keeps its verdict on clean speech, while an adversarial perturbation much
smaller than the noise has to survive every draw to pass (randomised smoothing; Cohen et al. 2019 give the
certified version for classifiers). The attacker who knows this averages the judge over draws (expectation over
transformation, Athalye et al. 2018): :meth:`SmoothedComparator.torch_penalty` draws fresh noise on every call, so
the adaptive attack kinds that target a smoothed detector are EOT attacks without further code.

Decisions are reproducible: :meth:`SmoothedComparator.score_transcript` draws its noise from a generator seeded by
the comparator's seed and a hash of the input's samples and the transcript, so the same input always gets the same
verdict, while any change of the input gives draws the attacker could not have optimised against.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

from synthcheck.detect.comparators import Comparison, DifferentiableTranscriptComparator
from synthcheck.errors import BadInputError

if TYPE_CHECKING:
    import torch

#: Default noise level of the smoothed judges, dB below the input's RMS.
SMOOTHING_SNR_DB = 20.0
#: Default noise draws per judgement.
SMOOTHING_DRAWS = 4


class SmoothedComparator(DifferentiableTranscriptComparator):
    """The comparator ``inner`` scored on noisy copies of the input, averaged over ``draws`` draws.

    Parameters
    ----------
    inner
        A :func:`~synthcheck.detect.registry.get_comparator` name of a differentiable transcript comparator
        (``likelihood-tiny.en``, ``likelihood-base``, ``align-pocketsphinx``).
    snr_db
        Noise level: white Gaussian noise whose RMS is the input's RMS times ``10 ** (-snr_db / 20)``.
    draws
        Noisy copies per judgement; the score is the mean of the inner scores (the torch penalty the mean of the
        inner penalties: the expectation an EOT attacker minimises).
    seed
        Seed of the check-time draws (with the input's hash) and of the torch draws.

    Raises
    ------
    BadInputError
        ``inner`` is not a differentiable transcript comparator, ``draws`` < 1, or ``snr_db`` is not finite.
    """

    def __init__(self, inner: str, snr_db: float = SMOOTHING_SNR_DB, draws: int = SMOOTHING_DRAWS, seed: int = 0) -> None:
        from synthcheck.detect.registry import get_comparator

        comparator = get_comparator(inner)
        if not isinstance(comparator, DifferentiableTranscriptComparator):
            raise BadInputError(f"smoothing needs a differentiable transcript comparator, not {inner}")
        if draws < 1:
            raise BadInputError(f"smoothing needs at least one noise draw, got {draws}")
        if not np.isfinite(snr_db):
            raise BadInputError(f"smoothing SNR must be a finite number of dB, got {snr_db}")
        self.inner = comparator
        self.snr_db = float(snr_db)
        self.draws = int(draws)
        self.seed = int(seed)
        self.name = f"smoothed-{comparator.name}"
        self.score_range = comparator.score_range
        self._torch_generator: torch.Generator | None = None

    def noise_scale(self, audio: np.ndarray) -> float:
        """The noise standard deviation for ``audio``: its RMS times ``10 ** (-snr_db / 20)``."""
        return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) * 10.0 ** (-self.snr_db / 20.0)

    def check_noise(self, audio: np.ndarray, transcript: str) -> np.ndarray:
        """The ``[draws, T]`` float32 noise of a check of ``audio`` as ``transcript`` (reproducible)."""
        digest = hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes() + transcript.encode()).digest()
        rng = np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])
        return (rng.standard_normal((self.draws, len(audio))) * self.noise_scale(audio)).astype(np.float32)

    def score_checked(self, audio: np.ndarray, transcript: str) -> Comparison:
        """The mean inner score of ``audio`` plus each check-time noise draw, against ``transcript`` (checked input)."""
        scores = [self.inner.score_checked(audio + n, transcript).score for n in self.check_noise(audio, transcript)]
        return Comparison(score=float(np.mean(scores)), lag=None,
                          details={"judge": self.inner.name, "snr_db": self.snr_db, "draw_scores": scores})

    def _draw(self, audio: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """``[draws, B, T]`` noise for a zero-padded batch (nothing on the padding), from the torch generator."""
        import torch

        if self._torch_generator is None:
            self._torch_generator = torch.Generator().manual_seed(self.seed)
        rows = audio.detach().double()
        mask = torch.arange(audio.shape[1])[None, :] < torch.tensor(lengths)[:, None]
        rms = torch.sqrt((rows.square() * mask).sum(1) / torch.tensor(lengths, dtype=torch.float64))
        scale = (rms * 10.0 ** (-self.snr_db / 20.0)).to(audio.dtype)  # a constant for the gradient
        noise = torch.randn((self.draws, *audio.shape), generator=self._torch_generator, dtype=audio.dtype)
        return noise * scale[None, :, None] * mask[None]

    def _noisy(self, audio: torch.Tensor, lengths: list[int] | None) -> tuple[torch.Tensor, list[int]]:
        """The batch with each of ``draws`` noise draws added, ``[draws * B, T]`` (draw-major), and its lengths."""
        batch, samples = audio.shape
        lengths = [samples] * batch if lengths is None else list(lengths)
        noisy = (audio[None] + self._draw(audio, lengths)).reshape(self.draws * batch, samples)
        return noisy, lengths * self.draws

    def torch_penalty(
        self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The inner penalty and score averaged over ``draws`` fresh noise draws (one batched inner pass)."""
        batch = audio.shape[0]
        noisy, lengths = self._noisy(audio, lengths)
        penalty, score = self.inner.torch_penalty(noisy, list(transcripts) * self.draws, lengths)
        return penalty.reshape(self.draws, batch).mean(0), np.asarray(score).reshape(self.draws, batch).mean(0)

    def torch_score(self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """The inner torch score averaged over fresh noise draws, ``[B]``."""
        noisy, lengths = self._noisy(audio, lengths)
        return self.inner.torch_score(noisy, list(transcripts) * self.draws, lengths).reshape(
            self.draws, audio.shape[0]).mean(0)
