"""Whisper as a differentiable recogniser: log-mel front end, short-window encoder, teacher-forced loss and
success mask; transcription by the search of :mod:`synthcheck.asr.whisper.decoding` (greedy by default, or beam).

Window. Each item is zero-padded to a fixed window before the log-mel front end, and the encoder's
positional embedding is sliced to the window (frames/2 positions). The window of a batch is
``max(window_seconds, longest item)`` rounded up to a whole second, at most 30 s. Padding matters:
without it Whisper loops and repeats; with it the word error rate stays that of the 30 s window. See
``DEFAULT_WINDOW_SECONDS`` for the measurement behind the default.

Targets. A target text is stripped and tokenised as ``" " + text`` (Whisper's leading space), verbatim:
no case or punctuation normalisation, so ``"It was"`` and ``"it was"`` are different targets. The
decoder sees the start-of-transcript prefix (``<|startoftranscript|>``, for multilingual models
``<|en|><|transcribe|>``, then ``<|notimestamps|>``), the text tokens, then ``<|endoftext|>``.

Success. :meth:`WhisperRecognizer.would_decode_to` applies decoding's token suppression
(:class:`~synthcheck.asr.whisper.decoding.TokenSuppression`) to the teacher-forced logits, so it is True
exactly when greedy decoding reproduces the target tokens.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.audio import HOP_LENGTH, N_FFT, mel_filters
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer, get_tokenizer

from synthcheck.asr.base import DifferentiableRecognizer
from synthcheck.asr.precision import autocast, checked_precision
from synthcheck.asr.whisper.decoding import TokenSuppression, checked_beam_size, decode
from synthcheck.asr.whisper.model import WHISPER_SIZES, load_whisper_model
from synthcheck.audio.io import SAMPLE_RATE, validate_audio
from synthcheck.errors import BadInputError

log = logging.getLogger(__name__)

#: Longest window the encoder supports (its 1500 positions = 30 s).
MAX_WINDOW_SECONDS = 30
#: Default window, measured here (tiny.en, greedy, the ten paper clauses spoken by pico2wave; WER):
#: en-US 30 s 20.0 %, 10 s 23.3 %, 8 s 20.0 %, 6 s 26.7 % (one repeated sentence); en-GB 3.3 % at every
#: window. base at 6 s: en-US 18.3 % vs 16.7 % at 30 s. 8 s keeps the 30 s accuracy; forward+backward on
#: 3 clauses costs about a third of the 30 s window (bench/asr.py). Unpadded input makes Whisper repeat itself.
DEFAULT_WINDOW_SECONDS = 8.0
#: Items per forward pass in :meth:`WhisperRecognizer.transcribe_batch`.
DECODE_BATCH = 8


class WhisperRecognizer(DifferentiableRecognizer):
    """Whisper (tiny.en or base) in PyTorch, differentiable from the waveform to the loss.

    Parameters
    ----------
    model
        A ``whisper.model.Whisper`` (see :func:`load_whisper_model`).
    size
        ``"tiny.en"`` or ``"base"``; sets :attr:`name` to ``"whisper-<size>"``.
    window_seconds
        Minimum input window in seconds (items are zero-padded to it).
    beam_size
        Hypotheses kept per item by :meth:`transcribe_batch`; 1 (default) is greedy decoding.
    precision
        ``"fp32"`` (default) or ``"bf16"``: the precision of :meth:`loss_and_success` (see
        :mod:`synthcheck.asr.precision`). Decoding is always float32.

    The model's parameters are frozen: every gradient the toolkit takes is with respect to the input, and a
    backward pass that also accumulated weight gradients made a step 1.36x slower (Whisper base, the paper's ten
    clauses, float32: 2.78 s against 2.04 s on 2 cores).
    """

    def __init__(
        self, model: Whisper, size: str, *, window_seconds: float = DEFAULT_WINDOW_SECONDS, beam_size: int = 1,
        precision: str = "fp32",
    ) -> None:
        if not 1.0 <= window_seconds <= MAX_WINDOW_SECONDS:
            raise BadInputError(f"window_seconds must be within 1..{MAX_WINDOW_SECONDS}, got {window_seconds}")
        self.model = model.requires_grad_(False)
        self.size = size
        self.name = f"whisper-{size}"
        self.window_seconds = float(window_seconds)
        self.beam_size: int = checked_beam_size(beam_size)
        self.precision: str = checked_precision(precision)
        self.tokenizer: Tokenizer = get_tokenizer(
            multilingual=model.is_multilingual, num_languages=model.num_languages, language="en", task="transcribe"
        )
        self.prefix: list[int] = list(self.tokenizer.sot_sequence_including_notimestamps)
        self.max_target_tokens: int = model.dims.n_text_ctx - len(self.prefix)
        self.suppression = TokenSuppression(self.tokenizer, model.dims.n_vocab)
        self._mel_filters = mel_filters("cpu", model.dims.n_mels)
        self._hann = torch.hann_window(N_FFT)

    @classmethod
    def load(
        cls, size: str, *, window_seconds: float = DEFAULT_WINDOW_SECONDS, beam_size: int = 1
    ) -> WhisperRecognizer:
        """Load the packaged weights of ``size`` (one of :data:`WHISPER_SIZES`)."""
        if size not in WHISPER_SIZES:
            raise BadInputError(f"unknown Whisper size {size!r}; choose one of: {', '.join(WHISPER_SIZES)}")
        return cls(load_whisper_model(size), size, window_seconds=window_seconds, beam_size=beam_size)

    # ---------------------------------------------------------------- front end and encoder
    def window_samples(self, n_samples: int) -> int:
        """Samples of the window used for items of ``n_samples``: ``max(window, length)`` in whole seconds.

        Raises
        ------
        BadInputError
            Longer than 30 s.
        """
        if n_samples > MAX_WINDOW_SECONDS * SAMPLE_RATE:
            raise BadInputError(
                f"audio of {n_samples / SAMPLE_RATE:.1f} s is longer than Whisper's {MAX_WINDOW_SECONDS} s window; "
                "split it into windows first"
            )
        seconds = max(self.window_seconds, n_samples / SAMPLE_RATE)
        return int(math.ceil(seconds)) * SAMPLE_RATE

    def log_mel(self, audio: Tensor) -> Tensor:
        """Log-mel spectrogram of a batch, zero-padded to the window: ``[B, T] -> [B, n_mels, frames]``.

        Same computation as ``whisper.audio.log_mel_spectrogram`` (including the dynamic-range clamp
        to ``max - 8``, taken per item here), differentiable with respect to ``audio``.
        """
        audio = _as_batch(audio)
        audio = F.pad(audio, (0, self.window_samples(audio.shape[1]) - audio.shape[1]))
        stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=self._hann, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        log_spec = torch.clamp(self._mel_filters @ power, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0

    def encode_mel(self, mel: Tensor) -> Tensor:
        """Run the encoder on a log-mel batch of any whole-second window up to 30 s."""
        encoder = self.model.encoder
        x = F.gelu(encoder.conv1(mel))
        x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
        x = x + encoder.positional_embedding[: x.shape[1]]
        for block in encoder.blocks:
            x = block(x)
        return encoder.ln_post(x)

    def encode(self, audio: Tensor) -> Tensor:
        """Audio features ``[B, frames/2, d]`` of a waveform batch ``[B, T]`` (differentiable)."""
        return self.encode_mel(self.log_mel(audio))

    # ---------------------------------------------------------------- targets, loss, success
    def tokenize(self, text: str) -> list[int]:
        """Text tokens of a target: ``" " + text.strip()`` encoded verbatim (no prefix, no EOT)."""
        return self.tokenizer.encode(" " + text.strip())

    def loss_and_success(
        self, audio: Tensor, targets: Sequence[str], reduction: str = "none"
    ) -> tuple[Tensor, np.ndarray]:
        """Teacher-forced cross-entropy of each target (mean over its tokens, EOT included) and whether greedy
        decoding gives exactly its tokens then EOT, from ONE forward pass.

        The success mask is True where the suppressed argmax at every target position equals the next target
        token. Under :attr:`precision` ``bf16`` the pass runs in bfloat16 autocast and the items it marks
        successful are checked again by a float32 forward pass (no backward); only those float32 confirms stay
        True. Arguments as :meth:`~synthcheck.asr.base.DifferentiableRecognizer.loss_and_success`.
        """
        if reduction not in ("none", "mean", "sum"):
            raise BadInputError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        audio = _as_batch(audio)
        if len(targets) != audio.shape[0]:
            raise BadInputError(f"got {audio.shape[0]} audio items but {len(targets)} targets")
        sequences = [self.prefix + self._checked_tokens(t) + [self.tokenizer.eot] for t in targets]
        length = max(map(len, sequences))
        tokens = torch.full((len(sequences), length), self.tokenizer.eot, dtype=torch.long)
        for i, seq in enumerate(sequences):
            tokens[i, : len(seq)] = torch.tensor(seq)
        lengths = torch.tensor([len(seq) - len(self.prefix) for seq in sequences])
        mel = self.log_mel(audio)  # float32 in every precision
        with autocast(self.precision):
            logits = self._target_logits(mel, tokens)
        logits = logits.float()
        labels = tokens[:, len(self.prefix) :]
        valid = torch.arange(labels.shape[1])[None, :] < lengths[:, None]
        token_loss = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
        per_item = (token_loss * valid).sum(dim=1) / lengths
        with torch.no_grad():
            success = self._greedy_hits(logits.detach(), labels, valid)
            if self.precision != "fp32" and success.any():
                rows = torch.from_numpy(np.flatnonzero(success))
                confirmed = self._greedy_hits(self._target_logits(mel.detach()[rows], tokens[rows]), labels[rows],
                                              valid[rows])
                if not confirmed.all():
                    log.debug("float32 rejects %d of %d %s successes", int((~confirmed).sum()), len(rows),
                              self.precision)
                success[rows.numpy()] = confirmed
        if reduction == "mean":
            return per_item.mean(), success
        if reduction == "sum":
            return per_item.sum(), success
        return per_item, success

    def _target_logits(self, mel: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced logits at the target positions: position ``p`` predicts ``tokens[:, len(prefix) + p]``."""
        logits = self.model.decoder(tokens[:, :-1], self.encode_mel(mel))
        return logits[:, len(self.prefix) - 1 :]

    def _greedy_hits(self, logits: Tensor, labels: Tensor, valid: Tensor) -> np.ndarray:
        """Per item, whether the suppressed argmax equals the label at every valid position."""
        hits = (self.suppression.apply(logits, first_position=0).argmax(-1) == labels) | ~valid
        return hits.all(dim=1).numpy()

    def _checked_tokens(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise BadInputError(f"a target must be a string, got {type(text).__name__}")
        tokens = self.tokenize(text)
        if len(tokens) > self.max_target_tokens:
            raise BadInputError(
                f"target of {len(tokens)} tokens is longer than Whisper's limit of {self.max_target_tokens}; "
                "shorten it"
            )
        return tokens

    # ---------------------------------------------------------------- decoding
    def with_beam_size(self, beam_size: int) -> WhisperRecognizer:
        """A recogniser sharing this model and settings that decodes with ``beam_size`` (1 = greedy)."""
        other = copy.copy(self)
        other.beam_size = checked_beam_size(beam_size)
        return other

    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Transcripts (English, no timestamps) of up to 30 s each, batched by window (see :meth:`transcribe_each`).

        Decodes greedily, or by beam search when :attr:`beam_size` is above 1.
        """
        texts = [""] * len(audios)
        for i, text in self.transcribe_each(audios):
            texts[i] = text
        return texts

    def transcribe_each(self, audios: Sequence[np.ndarray]) -> Iterator[tuple[int, str]]:
        """``(index, transcript)`` of every item, yielded as each decoding batch finishes (all items are checked
        before the first decode).

        Items padded to the same window (:meth:`window_samples`: every item up to 8 s shares one) are decoded
        together, up to :data:`DECODE_BATCH` at a time, shortest windows first, so batching never changes the input
        an item's encoder sees (measured: the same transcripts as one by one on 28 clauses; ten 2 s clauses
        batched cost 0.65 of decoding them one by one).
        """
        checked = [validate_audio(a, name=f"audio[{i}]", allow_silent=True) for i, a in enumerate(audios)]
        for i, item in enumerate(checked):
            if item.size > MAX_WINDOW_SECONDS * SAMPLE_RATE:
                raise BadInputError(
                    f"audio[{i}] is {item.size / SAMPLE_RATE:.1f} s long; Whisper transcribes at most "
                    f"{MAX_WINDOW_SECONDS} s at once, split it into windows first"
                )
        by_window: dict[int, list[int]] = {}
        for i in sorted(range(len(checked)), key=lambda i: checked[i].size):
            by_window.setdefault(self.window_samples(checked[i].size), []).append(i)
        for group in by_window.values():
            for start in range(0, len(group), DECODE_BATCH):
                chunk = group[start : start + DECODE_BATCH]
                batch = _stack_padded([checked[i] for i in chunk])
                for i, tokens in zip(chunk, self.decode_tokens(batch), strict=True):
                    yield i, self.tokenizer.decode(tokens).strip()

    @torch.no_grad()
    def decode_tokens(
        self, audio: Tensor, max_new_tokens: int | None = None, beam_size: int | None = None
    ) -> list[list[int]]:
        """Batched KV-cached decoding; returns each item's text tokens (no prefix, no EOT).

        Parameters
        ----------
        audio
            ``[B, T]`` (or ``[T]``) waveform at 16 kHz.
        max_new_tokens
            Token cap. Default ``16 + 10 tokens per second`` of the batch's length (about twice a fast
            speaking rate), at most ``n_text_ctx // 2`` (224).
        beam_size
            1 is greedy decoding; above 1 beam search as openai-whisper's ``BeamSearchDecoder`` (patience 1)
            ranked by ``sum logprob / length`` (its ``length_penalty=None``). Default :attr:`beam_size`.

        The search is :func:`synthcheck.asr.whisper.decoding.decode` on this model's encoding of ``audio``.
        """
        audio = _as_batch(audio)
        beams = checked_beam_size(self.beam_size if beam_size is None else beam_size)
        if max_new_tokens is None:
            seconds = audio.shape[1] / SAMPLE_RATE
            max_new_tokens = min(self.model.dims.n_text_ctx // 2, 16 + int(math.ceil(10 * seconds)))
        return decode(self.model, self.encode(audio), self.prefix, self.suppression, self.tokenizer.eot,
                      max_new_tokens, beams)


def _as_batch(audio: Tensor | np.ndarray) -> Tensor:
    """A float32 ``[B, T]`` tensor (1-D input becomes a batch of one); rejects empty/non-finite input."""
    audio = torch.as_tensor(audio)
    if audio.dim() == 1:
        audio = audio[None]
    if audio.dim() != 2 or audio.shape[0] == 0 or audio.shape[1] == 0:
        raise BadInputError(f"expected a [batch, samples] audio tensor, got shape {tuple(audio.shape)}")
    if audio.dtype != torch.float32:
        audio = audio.float()
    if not bool(torch.isfinite(audio.detach()).all()):
        raise BadInputError("audio contains NaN or infinite samples")
    return audio


def _stack_padded(items: Sequence[np.ndarray]) -> Tensor:
    """Zero-pad 1-D arrays to the longest and stack them as ``[B, T]``."""
    batch = np.zeros((len(items), max(item.size for item in items)), dtype=np.float32)
    for row, item in zip(batch, items, strict=True):
        row[: item.size] = item
    return torch.from_numpy(batch)
