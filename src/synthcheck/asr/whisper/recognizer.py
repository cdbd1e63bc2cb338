"""Whisper as a differentiable recogniser: log-mel front end, short-window encoder, teacher-forced loss,
success mask, and batched KV-cached decoding: greedy (the default) or beam search.

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

Beam search. ``beam_size > 1`` decodes as openai-whisper's ``BeamSearchDecoder`` (patience 1) with the same
suppression, token cap and repetition stop, ranking finished hypotheses by ``sum logprob / length``. It
helps little here (WER on the ten paper clauses, greedy -> beam 5): pico2wave en-US at 8 s tiny.en 20.0 % ->
16.7 %, base 20.0 % -> 20.0 %; at 30 s tiny.en 20.0 % -> 16.7 %, base 16.7 % -> 18.3 %; en-GB at 8 s
tiny.en 3.3 % -> 1.7 %, base 0.0 % -> 1.7 %. The en-US errors ("It was" -> "It wears") are the model's
best hypotheses, not search errors: CTranslate2's beam 5 gives the same text. Beam 5 costs about 1.6x
greedy (10 clauses, 8 s window, one thread: tiny.en 3.5 -> 5.4 s, base 6.8 -> 11.6 s).
"""

from __future__ import annotations

import copy
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
#: Decoding stops a hypothesis whose tail is one chunk of up to this many tokens repeated ...
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
    beam_size
        Hypotheses kept per item by :meth:`transcribe_batch`; 1 (default) is greedy decoding.
    """

    differentiable = True

    def __init__(
        self, model: Whisper, size: str, *, window_seconds: float = DEFAULT_WINDOW_SECONDS, beam_size: int = 1
    ) -> None:
        if not 1.0 <= window_seconds <= MAX_WINDOW_SECONDS:
            raise BadInputError(f"window_seconds must be within 1..{MAX_WINDOW_SECONDS}, got {window_seconds}")
        self.model = model
        self.size = size
        self.name = f"whisper-{size}"
        self.window_seconds = float(window_seconds)
        self.beam_size: int = _checked_beam_size(beam_size)
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
    def with_beam_size(self, beam_size: int) -> WhisperRecognizer:
        """A recogniser sharing this model and settings that decodes with ``beam_size`` (1 = greedy)."""
        other = copy.copy(self)
        other.beam_size = _checked_beam_size(beam_size)
        return other

    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Transcripts (English, no timestamps) of up to 30 s each, batched by similar length.

        Decodes greedily, or by beam search when :attr:`beam_size` is above 1.
        """
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

        Notes
        -----
        All items' beams run as one decoder batch; a finished item leaves the batch. A hypothesis also ends
        when its tail repeats one chunk of up to 16 tokens four times: the repeats are cut to one copy and it
        is scored by the log-probabilities of the tokens it keeps.
        """
        audio = _as_batch(audio)
        beams = _checked_beam_size(self.beam_size if beam_size is None else beam_size)
        if max_new_tokens is None:
            seconds = audio.shape[1] / SAMPLE_RATE
            max_new_tokens = min(self.model.dims.n_text_ctx // 2, 16 + int(math.ceil(10 * seconds)))
        features = self.encode(audio)
        search = _BeamSearch(features.shape[0], beams, self.tokenizer.eot)
        xa = features.repeat_interleave(beams, dim=0)
        tokens = torch.tensor([self.prefix] * xa.shape[0])
        cache, hooks = self.model.install_kv_cache_hooks()
        cross = {m for block in self.model.decoder.blocks for m in (block.cross_attn.key, block.cross_attn.value)}
        try:
            for step in range(max_new_tokens):
                logits = self.model.decoder(tokens, xa, kv_cache=cache)[:, -1]
                logprobs = F.log_softmax(self._suppressed(logits, first_position=None if step else 0), dim=-1)
                rows, shrunk = search.step(logprobs)
                if rows.numel() == 0:
                    break
                for module, value in cache.items():
                    if shrunk or module not in cross:  # beams only move within their item's rows
                        cache[module] = value[rows]
                if shrunk:
                    xa = xa[rows]
                tokens = search.history[:, -1:]
        finally:
            for hook in hooks:
                hook.remove()
        return search.best()

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


class _BeamSearch:
    """Hypotheses of a batch: each live item's ``beams`` hypotheses are consecutive rows of one decoder batch.

    Follows openai-whisper's ``BeamSearchDecoder`` with patience 1: every row proposes its ``beams + 1``
    best next tokens; per item the best ``beams`` that do not end go on, and those ending (EOT) before
    them are finished, up to ``beams`` finished per item, after which the item leaves the batch. With one
    beam this is greedy decoding.
    """

    def __init__(self, n_items: int, beams: int, eot: int) -> None:
        self.beams, self.eot = beams, eot
        self.items = torch.arange(n_items)
        scores = torch.full((n_items, beams), -math.inf)
        scores[:, 0] = 0.0  # the beams start identical: expand only the first
        self.scores = scores.flatten()
        self.history = torch.zeros(n_items * beams, 0, dtype=torch.long)
        self.token_logprobs = torch.zeros(n_items * beams, 0)
        self.finished: list[dict[tuple[int, ...], float]] = [{} for _ in range(n_items)]

    def step(self, logprobs: Tensor) -> tuple[Tensor, bool]:
        """Extend every hypothesis by one token, given the next-token log-probabilities of each row.

        Returns the previous row each new row continues (to reorder the KV cache) and whether items
        left the batch.
        """
        n, width = self.items.numel(), self.beams * (self.beams + 1)
        top_scores, top_tokens = (self.scores[:, None] + logprobs).topk(self.beams + 1, dim=-1)
        top_scores, order = top_scores.view(n, width).sort(dim=1, descending=True, stable=True)
        top_tokens = top_tokens.view(n, width).gather(1, order)
        sources = order // (self.beams + 1) + torch.arange(n)[:, None] * self.beams
        ends = top_tokens == self.eot
        open_so_far = (~ends).cumsum(dim=1)
        for group, k in torch.nonzero(ends & (open_so_far < self.beams)).tolist():
            self._finish(group, self.history[sources[group, k]], float(top_scores[group, k]))
        kept = ~ends & (open_so_far <= self.beams)  # exactly `beams` per item, best first
        rows, tokens = sources[kept], top_tokens[kept]
        self.token_logprobs = torch.cat([self.token_logprobs[rows], logprobs[rows, tokens][:, None]], dim=1)
        self.history = torch.cat([self.history[rows], tokens[:, None]], dim=1)
        self.scores = top_scores[kept]
        self._stop_repetitions()
        alive = torch.isfinite(self.scores).view(n, self.beams).any(dim=1)
        alive &= torch.tensor([len(self.finished[item]) < self.beams for item in self.items.tolist()])
        if bool(alive.all()):
            return rows, False
        alive_rows = alive.repeat_interleave(self.beams)
        self.items = self.items[alive]
        self.scores, self.history = self.scores[alive_rows], self.history[alive_rows]
        self.token_logprobs = self.token_logprobs[alive_rows]
        return rows[alive_rows], True

    def best(self) -> list[list[int]]:
        """Each item's hypothesis of highest ``sum logprob / length``; at the token cap live beams count too."""
        for group in range(self.items.numel()):
            rows = range(group * self.beams, (group + 1) * self.beams)
            for row in sorted(rows, key=lambda r: float(self.scores[r]), reverse=True):
                if math.isfinite(self.scores[row]):
                    self._finish(group, self.history[row], float(self.scores[row]))
        return [list(max(done, key=lambda seq: done[seq] / max(len(seq), 1))) for done in self.finished]

    def _stop_repetitions(self) -> None:
        periods = _repeat_periods(self.history)
        for row in torch.nonzero((periods > 0) & torch.isfinite(self.scores)).flatten().tolist():
            keep = self.history.shape[1] - (_REPEAT_COUNT - 1) * int(periods[row])
            self._finish(row // self.beams, self.history[row, :keep], float(self.token_logprobs[row, :keep].sum()))
            self.scores[row] = -math.inf

    def _finish(self, group: int, tokens: Tensor, score: float) -> None:
        done = self.finished[int(self.items[group])]
        if len(done) < self.beams:
            key = tuple(tokens.tolist())
            done[key] = max(score, done.get(key, -math.inf))


def _repeat_periods(tokens: Tensor) -> Tensor:
    """Per row of ``[R, t]``, the shortest period whose chunk ends the row ``_REPEAT_COUNT`` times (0: none)."""
    periods = torch.zeros(tokens.shape[0], dtype=torch.long)
    for period in range(_REPEAT_MAX_PERIOD, 0, -1):  # descending, so the shortest match is written last
        span = period * _REPEAT_COUNT
        if span <= tokens.shape[1]:
            tail = tokens[:, -span:].reshape(-1, _REPEAT_COUNT, period)
            periods[(tail == tail[:, :1]).all(dim=2).all(dim=1)] = period
    return periods


def _checked_beam_size(beam_size: int) -> int:
    if isinstance(beam_size, bool) or not isinstance(beam_size, int | np.integer) or beam_size < 1:
        raise BadInputError(f"beam_size must be a whole number of at least 1, got {beam_size!r}")
    return int(beam_size)
