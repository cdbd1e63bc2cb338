"""Whisper as a differentiable recogniser: log-mel front end, short-window encoder, teacher-forced loss,
success mask, and batched KV-cached greedy decoding.

Window. Each item is zero-padded to a fixed window before the log-mel front end, and the encoder's
positional embedding is sliced to the window (frames/2 positions). The window of a batch is
``max(window_seconds, longest item)`` rounded up to a whole second, at most 30 s. Padding matters:
without it Whisper loops and repeats; with it the word error rate stays that of the 30 s window. See
``DEFAULT_WINDOW_SECONDS`` for the measurement behind the default.

Targets. A target text is stripped and tokenised as ``" " + text`` (Whisper's leading space), verbatim:
no case or punctuation normalisation, so ``"It was"`` and ``"it was"`` are different targets. The
decoder sees the start-of-transcript prefix (``<|startoftranscript|>``, for multilingual models
``<|en|><|transcribe|>``, then ``<|notimestamps|>``), the text tokens, then ``<|endoftext|>``.

Suppression. Decoding suppresses what openai-whisper suppresses with ``suppress_tokens="-1"`` and
``suppress_blank=True`` (non-speech symbols, task/special tokens, blank/EOT as the first token) plus
every timestamp token (there are no timestamps in this mode). :meth:`WhisperRecognizer.would_decode_to`
applies the same mask, so it is True exactly when greedy decoding reproduces the target tokens.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.audio import HOP_LENGTH, N_FFT, mel_filters
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer, get_tokenizer

from synthcheck.asr.base import Recognizer
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
#: Greedy decoding stops an item whose tail is one chunk of up to this many tokens repeated ...
_REPEAT_MAX_PERIOD = 16
#: ... this many times in a row (the repeats are cut, one copy is kept).
_REPEAT_COUNT = 4


class WhisperRecognizer(Recognizer):
    """Whisper (tiny.en or base) in PyTorch, differentiable from the waveform to the loss.

    Parameters
    ----------
    model
        A ``whisper.model.Whisper`` (see :func:`load_whisper_model`).
    size
        ``"tiny.en"`` or ``"base"``; sets :attr:`name` to ``"whisper-<size>"``.
    window_seconds
        Minimum input window in seconds (items are zero-padded to it).
    """

    differentiable = True

    def __init__(self, model: Whisper, size: str, *, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> None:
        if not 1.0 <= window_seconds <= MAX_WINDOW_SECONDS:
            raise BadInputError(f"window_seconds must be within 1..{MAX_WINDOW_SECONDS}, got {window_seconds}")
        self.model = model
        self.size = size
        self.name = f"whisper-{size}"
        self.window_seconds = float(window_seconds)
        self.tokenizer: Tokenizer = get_tokenizer(
            multilingual=model.is_multilingual, num_languages=model.num_languages, language="en", task="transcribe"
        )
        self.prefix: list[int] = list(self.tokenizer.sot_sequence_including_notimestamps)
        self.max_target_tokens: int = model.dims.n_text_ctx - len(self.prefix)
        self._suppress = self._suppression_mask()
        self._blank = torch.tensor(self.tokenizer.encode(" ") + [self.tokenizer.eot])
        self._mel_filters = mel_filters("cpu", model.dims.n_mels)
        self._hann = torch.hann_window(N_FFT)

    @classmethod
    def load(cls, size: str, *, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> WhisperRecognizer:
        """Load the packaged weights of ``size`` (one of :data:`WHISPER_SIZES`)."""
        if size not in WHISPER_SIZES:
            raise BadInputError(f"unknown Whisper size {size!r}; choose one of: {', '.join(WHISPER_SIZES)}")
        return cls(load_whisper_model(size), size, window_seconds=window_seconds)

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

    def loss(self, audio: Tensor, targets: Sequence[str], reduction: str = "none") -> Tensor:
        """Teacher-forced cross-entropy of each target, mean over its tokens (EOT included).

        Parameters
        ----------
        audio
            ``[B, T]`` waveform at 16 kHz (gradients flow back to it).
        targets
            One text per item.
        reduction
            ``"none"`` (``[B]``), ``"mean"`` or ``"sum"``.
        """
        return self.loss_and_success(audio, targets, reduction=reduction)[0]

    def would_decode_to(self, audio: Tensor, targets: Sequence[str]) -> np.ndarray:
        """Whether greedy decoding of each item gives exactly its target's tokens (then EOT).

        One teacher-forced forward pass without gradients: True where the suppressed argmax at every
        target position equals the next target token.
        """
        with torch.no_grad():
            return self.loss_and_success(audio, targets)[1]

    def loss_and_success(
        self, audio: Tensor, targets: Sequence[str], reduction: str = "none"
    ) -> tuple[Tensor, np.ndarray]:
        """Loss (as :meth:`loss`) and success mask (as :meth:`would_decode_to`) from ONE forward pass."""
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
        logits = self.model.decoder(tokens[:, :-1], self.encode(audio))
        # position p predicts tokens[:, p + 1]; targets start after the prefix
        start = len(self.prefix) - 1
        logits, labels = logits[:, start:], tokens[:, start + 1 :]
        lengths = torch.tensor([len(seq) - len(self.prefix) for seq in sequences])
        valid = torch.arange(labels.shape[1])[None, :] < lengths[:, None]
        token_loss = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
        per_item = (token_loss * valid).sum(dim=1) / lengths
        with torch.no_grad():
            hits = (self._suppressed(logits.detach(), first_position=0).argmax(-1) == labels) | ~valid
            success = hits.all(dim=1).numpy()
        if reduction == "mean":
            return per_item.mean(), success
        if reduction == "sum":
            return per_item.sum(), success
        return per_item, success

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
    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Greedy transcripts (English, no timestamps) of up to 30 s each, batched by similar length."""
        checked = [validate_audio(a, name=f"audio[{i}]", allow_silent=True) for i, a in enumerate(audios)]
        for i, item in enumerate(checked):
            if item.size > MAX_WINDOW_SECONDS * SAMPLE_RATE:
                raise BadInputError(
                    f"audio[{i}] is {item.size / SAMPLE_RATE:.1f} s long; Whisper transcribes at most "
                    f"{MAX_WINDOW_SECONDS} s at once, split it into windows first"
                )
        order = sorted(range(len(checked)), key=lambda i: checked[i].size)
        texts = [""] * len(checked)
        for start in range(0, len(order), DECODE_BATCH):
            chunk = order[start : start + DECODE_BATCH]
            batch = _stack_padded([checked[i] for i in chunk])
            for i, tokens in zip(chunk, self.decode_tokens(batch), strict=True):
                texts[i] = self.tokenizer.decode(tokens).strip()
        return texts

    @torch.no_grad()
    def decode_tokens(self, audio: Tensor, max_new_tokens: int | None = None) -> list[list[int]]:
        """Batched KV-cached greedy decoding; returns each item's text tokens (no prefix, no EOT).

        The default token cap is ``16 + 10 tokens per second`` of the batch's length (about twice a fast
        speaking rate), at most ``n_text_ctx // 2`` (224). An item also stops when its tail repeats one
        chunk of up to 16 tokens four times; the repeats are cut to one copy.
        """
        audio = _as_batch(audio)
        if max_new_tokens is None:
            seconds = audio.shape[1] / SAMPLE_RATE
            max_new_tokens = min(self.model.dims.n_text_ctx // 2, 16 + int(math.ceil(10 * seconds)))
        features = self.encode(audio)
        batch = features.shape[0]
        outputs: list[list[int]] = [[] for _ in range(batch)]
        active = torch.ones(batch, dtype=torch.bool)
        tokens = torch.tensor([self.prefix] * batch)
        cache, hooks = self.model.install_kv_cache_hooks()
        try:
            for step in range(max_new_tokens):
                logits = self.model.decoder(tokens, features, kv_cache=cache)[:, -1]
                chosen = self._suppressed(logits, first_position=None if step else 0).argmax(-1)
                for i in torch.nonzero(active).flatten().tolist():
                    token = int(chosen[i])
                    if token == self.tokenizer.eot or _cut_repetition(outputs[i], token):
                        active[i] = False
                    else:
                        outputs[i].append(token)
                if not active.any():
                    break
                tokens = chosen[:, None]
        finally:
            for hook in hooks:
                hook.remove()
        return outputs

    # ---------------------------------------------------------------- suppression
    def _suppression_mask(self) -> Tensor:
        tok = self.tokenizer
        suppressed = list(tok.non_speech_tokens) + [tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm]
        if tok.no_speech is not None:
            suppressed.append(tok.no_speech)
        mask = torch.zeros(self.model.dims.n_vocab, dtype=torch.bool)
        mask[suppressed] = True
        mask[tok.timestamp_begin :] = True
        return mask

    def _suppressed(self, logits: Tensor, first_position: int | None) -> Tensor:
        """Logits ``[..., V]`` with suppressed tokens at -inf; blank/EOT too at sequence index ``first_position``."""
        logits = logits.masked_fill(self._suppress, -math.inf)
        if first_position is not None:
            first = logits[:, first_position] if logits.dim() == 3 else logits
            first[..., self._blank] = -math.inf
        return logits


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


def _cut_repetition(tokens: list[int], token: int) -> bool:
    """Whether appending ``token`` would end ``_REPEAT_COUNT`` repeats of one chunk; if so cut the repeats."""
    candidate = tokens + [token]
    for period in range(1, _REPEAT_MAX_PERIOD + 1):
        span = period * _REPEAT_COUNT
        if len(candidate) < span:
            break
        tail = candidate[-span:]
        if tail == tail[:period] * _REPEAT_COUNT:
            del tokens[len(candidate) - span + period :]
            return True
    return False
