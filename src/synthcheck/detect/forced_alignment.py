"""Consistency on a different model: PocketSphinx forced alignment against a free phone loop.

The likelihood comparator (:mod:`synthcheck.detect.likelihood`) scores with a second Whisper model, so an attacker
who knows it can differentiate through both. This comparator uses CMU PocketSphinx (an HMM/GMM recogniser, no
gradients) and asks how well the transcript explains the audio compared with the audio's best free
explanation, a goodness-of-pronunciation style log-likelihood ratio per frame:

    llr = (log p(audio | forced alignment of the transcript) − log p(audio | best phone-loop path)) / frames

Both terms are acoustic scores (nats, no language model) of Viterbi paths through the same acoustic model:
the numerator constrains the path to the transcript's words (context-dependent triphones, optional silence
and noise between words); the denominator is an unconstrained context-independent phone loop (PocketSphinx
``allphone`` search). All senones are scored in every frame (``compallsen``) so both searches normalise
their scores by the same per-frame best senone and the difference is a true likelihood ratio. The score is

    score = 1 / (1 + exp(−llr / LLR_SCALE)),    LLR_SCALE = 1 nat per frame,

the per-frame posterior of the transcript against the free loop with equal priors; 0.5 means the transcript
explains the audio as well as the free loop (possible: the triphones of the forced path beat the loop's
context-free phones). Measured on the 18 two-cities clauses: correct transcripts give llr −0.85 … +0.57
on human speech and −1.57 … −0.70 on pico2wave speech at 28 dB SNR; another clause's text −6.6 … −0.9,
or no alignment at all (45 % of pairs); a one-word near-homophone edit lowers llr by 0.5 (human) and 0.4
(pico2wave) nats per frame in the median clause. AUC correct vs other clause 1.00 on both; correct vs
one-word edit 0.88 (human) and 0.86 (pico2wave). The utterance mean is used, not the worst word: single
words (short function words above all) vary too much under the correct transcript, and the worst word's
llr separated one-word edits worse (AUC 0.71 and 0.65). A strictly increasing map is used rather than
``exp(llr)`` clipped at 1 so that the 10 of 18 human clauses with llr > 0 are not tied at the top (that
tie would cost 0.03 AUC). Cost: about 0.12 s per second of audio (a fresh decoder, two searches); a detector
runs them in a second process beside its recogniser (:mod:`synthcheck.detect.align_worker`).

Words missing from the PocketSphinx dictionary (numbers, names) are aligned as spoken noise (``[SPEECH]``)
and listed in ``details["oov"]``. A transcript that cannot be aligned at all (no path survives the search,
e.g. far more words than the audio can hold), audio too short for the phone loop and a transcript with no
dictionary word score 0 with the reason in ``details["reason"]``.

**White-box** (:meth:`AlignmentComparator.torch_penalty`): the same llr recomputed in torch from the wheel's model
files by :mod:`synthcheck.detect.sphinx_torch`, with a subgradient along the two best paths. It is an
approximation (its llr correlates 0.995 with PocketSphinx's and is higher by 0.04 … 0.30 nats per frame on the
12 measured cases), so the torch score is taken :data:`TORCH_LLR_MARGIN` lower: an attacker who passes in torch
has passed PocketSphinx in every measured case. The decision that counts is still PocketSphinx's own
(:meth:`~synthcheck.attacks.adaptive.DetectorPenalty.accepts` asks the real detector).
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthcheck.audio.io import SAMPLE_RATE, int16_from_float
from synthcheck.detect.comparators import Comparison, DifferentiableTranscriptComparator, TranscriptJudgement
from synthcheck.asr.pocketsphinx import decoder_class
from synthcheck.errors import BadInputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Nats per frame of log-likelihood ratio that move the score from 0.5 to 1/(1+e⁻¹) ≈ 0.73.
LLR_SCALE = 1.0
#: Dictionary word standing in for out-of-vocabulary words (PocketSphinx's spoken-noise filler).
OOV_STAND_IN = "[SPEECH]"
#: PocketSphinx frames per second (10 ms hop).
FRAME_RATE = 100
#: Search scores are LogMath logarithms shifted right by 10 bits (PocketSphinx's SENSCR_SHIFT).
_SCORE_SHIFT = 2**10
#: Nats per frame the torch llr is lowered by (the largest excess over PocketSphinx's measured, 0.30).
TORCH_LLR_MARGIN = 0.3
#: Penalty (−log score) of an item the torch judge cannot align at all: a constant, it has no gradient.
_UNALIGNED_PENALTY = 20.0
#: Segments of the forced alignment that are not transcript words.
_FILLERS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", OOV_STAND_IN})


class AlignmentComparator(DifferentiableTranscriptComparator):
    """PocketSphinx goodness-of-pronunciation score: forced alignment vs free phone loop, per frame.

    ``score_range`` is (0, 1): ``1 / (1 + exp(−llr / LLR_SCALE))`` with ``llr`` the per-frame
    log-likelihood ratio in nats (see the module docstring); 0 when the transcript cannot be aligned.
    ``details`` carries ``llr_per_frame``, ``frames``, the per-word ratios (``words``: word, start and end
    in seconds, llr per frame), out-of-vocabulary words (``oov``) and the scoring ``model``.
    """

    name = "align-pocketsphinx"
    score_range = (0.0, 1.0)

    def __init__(self, *, background: bool = True) -> None:
        self._decoder_class = decoder_class()
        #: The scoring model: PocketSphinx version and acoustic model.
        self.model = f"pocketsphinx-{importlib.metadata.version('pocketsphinx')} en-us"
        #: Whether :meth:`begin` runs the searches in the shared second process (:mod:`.align_worker`).
        self.background = background
        if background:  # start it now, so it boots while the caller loads its models
            from synthcheck.detect.align_worker import shared_worker

            shared_worker()

    def score_checked(self, audio: np.ndarray, transcript: str) -> Comparison:
        """Score how well PocketSphinx's forced alignment of ``transcript`` explains ``audio`` (checked input), in
        this process: score in [0, 1] (higher: more consistent), ``lag=None``."""
        return align_transcript(phone_loop(new_decoder(self._decoder_class), int16_from_float(audio).tobytes()),
                                transcript, self.model)

    def begin(self, audio: np.ndarray, *, background: bool = True) -> TranscriptJudgement:
        """Start the transcript-free half (the phone loop) of judging the validated ``audio``; with
        :attr:`background`, in the shared second process, so it runs beside the recogniser (results identical to
        :meth:`score_transcript`'s: the same searches in the same order on a fresh decoder)."""
        if self.background and background:
            from synthcheck.detect.align_worker import shared_worker

            worker = shared_worker()
            if worker is not None:
                return worker.begin(self, audio)
        return super().begin(audio)

    def torch_penalty(
        self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``(−log score, score)`` per row of the torch llr lowered by :data:`TORCH_LLR_MARGIN` (``softplus`` of
        ``−(llr − margin) / LLR_SCALE``); rows the torch judge cannot align score 0 (constant penalty)."""
        import torch

        from synthcheck.detect import sphinx_torch

        model = sphinx_torch.load_model()
        penalties = []
        for i, transcript in enumerate(transcripts):
            row = audio[i, : audio.shape[1] if lengths is None else lengths[i]]
            try:
                llr = sphinx_torch.alignment_llr(model, row, transcript).llr_per_frame
            except BadInputError as exc:
                log.debug("torch align judge: row %d unaligned: %s", i, exc)
                penalties.append(torch.tensor(_UNALIGNED_PENALTY, dtype=torch.float64))
                continue
            penalties.append(torch.nn.functional.softplus(-(llr - TORCH_LLR_MARGIN) / LLR_SCALE))
        penalty = torch.stack(penalties)
        return penalty.float(), torch.exp(-penalty.detach()).numpy()

    def torch_score(self, audio: torch.Tensor, transcripts: list[str], lengths: list[int] | None = None) -> torch.Tensor:
        """The score of :meth:`torch_penalty` per row, differentiable."""
        import torch

        return torch.exp(-self.torch_penalty(audio, transcripts, lengths)[0])


def _words(transcript: str) -> list[str]:
    """Lower-case words of ``transcript``: letters, digits and inner apostrophes; other characters split."""
    tokens = re.sub(r"[^a-z0-9']+", " ", transcript.lower()).split()
    return [word for word in (token.strip("'") for token in tokens) if word]


@dataclass
class PhoneLoop:
    """The transcript-free half of one judgement: a fresh decoder after its free phone-loop search of ``pcm``."""

    decoder: Any
    pcm: bytes
    free: list[Any]
    frames: int


def new_decoder(decoder_type: type) -> Any:
    """A fresh decoder for one utterance (a reused one carries normalisation and search state, see
    asr.pocketsphinx): no language model; all senones scored so both searches share the per-frame normaliser;
    plain Viterbi segments (bestpath lattice segments use another scale and repeat scores)."""
    return decoder_type(samprate=SAMPLE_RATE, lm=None, compallsen=True, bestpath=False, loglevel="FATAL")


def phone_loop(decoder: Any, pcm: bytes) -> PhoneLoop:
    """Run the free phone loop on 16-bit ``pcm`` with ``decoder`` (a fresh one from :func:`new_decoder`)."""
    decoder.add_allphone_file("free")
    decoder.activate_search("free")
    _decode(decoder, pcm)
    return PhoneLoop(decoder, pcm, list(decoder.seg() or []), decoder.n_frames())


def align_transcript(loop: PhoneLoop, transcript: str, model: str) -> Comparison:
    """The judgement's second half: force-align ``transcript`` on the decoder after ``loop`` and compare the two
    searches' acoustic scores (the :class:`AlignmentComparator` score and details)."""
    words = _words(transcript)
    decoder = loop.decoder
    oov = [word for word in words if decoder.lookup_word(word) is None]
    details: dict[str, Any] = {"model": model, "oov": oov}
    if len(oov) == len(words):
        return _unaligned(details, "no word of the transcript is in the pocketsphinx dictionary: nothing to align")
    if not loop.free:
        return _unaligned(details, f"no phone-loop path: the audio ({loop.frames} frames) is too short to judge")
    try:
        decoder.set_align_text(" ".join(OOV_STAND_IN if word in oov else word for word in words))
        _decode(decoder, loop.pcm)
        forced = list(decoder.seg()) if decoder.hyp() is not None else []
    except RuntimeError as exc:  # the search found no path to the end of the transcript
        log.debug("pocketsphinx alignment failed: %s", exc)
        forced = []
    if not forced:
        return _unaligned(details, "no alignment path: pocketsphinx cannot fit the transcript to the audio")
    llr = (sum(_nats(seg) for seg in forced) - sum(_nats(seg) for seg in loop.free)) / loop.frames
    details.update(llr_per_frame=llr, frames=loop.frames, words=_word_ratios(forced, loop.free))
    return Comparison(score=1.0 / (1.0 + math.exp(-llr / LLR_SCALE)), lag=None, details=details)


def _decode(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _nats(segment: Any) -> float:
    """Acoustic score of a search segment in nats (the binding returns ``base ** score``)."""
    return _SCORE_SHIFT * math.log(segment.ascore)


def _unaligned(details: dict[str, Any], reason: str) -> Comparison:
    return Comparison(score=0.0, lag=None, details={**details, "reason": reason})


def _word_ratios(forced: list[Any], free: list[Any]) -> list[dict[str, Any]]:
    """Per-word llr per frame: the word's forced score against the free loop's over the same frames.

    The free loop's cumulative score is interpolated linearly inside its phone segments.
    """
    ends = np.array([0] + [seg.end_frame + 1 for seg in free], dtype=float)
    cumulative = np.concatenate([[0.0], np.cumsum([_nats(seg) for seg in free])])
    ratios = []
    for seg in forced:
        if seg.word in _FILLERS:
            continue
        start, stop = seg.start_frame, seg.end_frame + 1
        free_nats = float(np.interp(stop, ends, cumulative) - np.interp(start, ends, cumulative))
        ratios.append(
            {
                "word": re.sub(r"\(\d+\)$", "", seg.word),
                "start": start / FRAME_RATE,
                "end": stop / FRAME_RATE,
                "llr_per_frame": (_nats(seg) - free_nats) / (stop - start),
            }
        )
    return ratios
