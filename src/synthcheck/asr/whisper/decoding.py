"""Whisper's search, kept apart from the model (as openai-whisper's ``decoding.py``): token suppression and
batched KV-cached decoding, greedy or by beam search.

Suppression. Decoding suppresses what openai-whisper suppresses with ``suppress_tokens="-1"`` and
``suppress_blank=True`` (non-speech symbols, task/special tokens, blank/EOT as the first token) plus
every timestamp token (there are no timestamps in this mode). The recogniser's success mask
(:meth:`~synthcheck.asr.whisper.WhisperRecognizer.would_decode_to`) applies the same
:class:`TokenSuppression`, so it is True exactly when greedy decoding reproduces the target tokens.

Beam search. ``beams > 1`` decodes as openai-whisper's ``BeamSearchDecoder`` (patience 1) with the same
suppression, token cap and repetition stop, ranking finished hypotheses by ``sum logprob / length``; one beam
is greedy decoding. It helps little here (WER on the ten paper clauses, greedy -> beam 5): pico2wave en-US at
8 s tiny.en 20.0 % -> 16.7 %, base 20.0 % -> 20.0 %; at 30 s tiny.en 20.0 % -> 16.7 %, base 16.7 % -> 18.3 %;
en-GB at 8 s tiny.en 3.3 % -> 1.7 %, base 0.0 % -> 1.7 %. The en-US errors ("It was" -> "It wears") are the
model's best hypotheses, not search errors: CTranslate2's beam 5 gives the same text. Beam 5 costs about 1.6x
greedy (10 clauses, 8 s window, one thread: tiny.en 3.5 -> 5.4 s, base 6.8 -> 11.6 s).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer

from synthcheck.errors import BadInputError

#: Decoding stops a hypothesis whose tail is one chunk of up to this many tokens repeated ...
_REPEAT_MAX_PERIOD = 16
#: ... this many times in a row (the repeats are cut, one copy is kept).
_REPEAT_COUNT = 4


class TokenSuppression:
    """The tokens decoding never emits: non-speech, task/special and timestamp tokens; blank/EOT first.

    Parameters
    ----------
    tokenizer
        The model's tokenizer.
    n_vocab
        Size of the model's vocabulary (the logits' last dimension).
    """

    def __init__(self, tokenizer: Tokenizer, n_vocab: int) -> None:
        tok = tokenizer
        suppressed = list(tok.non_speech_tokens) + [tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm]
        if tok.no_speech is not None:
            suppressed.append(tok.no_speech)
        self.mask = torch.zeros(n_vocab, dtype=torch.bool)
        self.mask[suppressed] = True
        self.mask[tok.timestamp_begin :] = True
        self.blank = torch.tensor(tok.encode(" ") + [tok.eot])

    def apply(self, logits: Tensor, first_position: int | None) -> Tensor:
        """Logits ``[..., V]`` with suppressed tokens at -inf; blank/EOT too at sequence index ``first_position``."""
        logits = logits.masked_fill(self.mask, -math.inf)
        if first_position is not None:
            first = logits[:, first_position] if logits.dim() == 3 else logits
            first[..., self.blank] = -math.inf
        return logits


@torch.no_grad()
def decode(
    model: Whisper,
    features: Tensor,
    prefix: list[int],
    suppression: TokenSuppression,
    eot: int,
    max_new_tokens: int,
    beams: int = 1,
) -> list[list[int]]:
    """Batched KV-cached decoding of encoded audio; returns each item's text tokens (no prefix, no EOT).

    Parameters
    ----------
    model
        The Whisper model whose decoder runs.
    features
        Encoder output ``[B, frames, d]``.
    prefix
        Start-of-transcript tokens every hypothesis begins with.
    suppression
        Tokens never emitted (:class:`TokenSuppression`).
    eot
        The end-of-text token.
    max_new_tokens
        Token cap per hypothesis.
    beams
        1 is greedy decoding; above 1 beam search (:class:`BeamSearch`).

    Notes
    -----
    All items' beams run as one decoder batch; a finished item leaves the batch. A hypothesis also ends
    when its tail repeats one chunk of up to 16 tokens four times: the repeats are cut to one copy and it
    is scored by the log-probabilities of the tokens it keeps.
    """
    search = BeamSearch(features.shape[0], beams, eot)
    xa = features.repeat_interleave(beams, dim=0)
    tokens = torch.tensor([prefix] * xa.shape[0])
    cache, hooks = model.install_kv_cache_hooks()
    cross = {m for block in model.decoder.blocks for m in (block.cross_attn.key, block.cross_attn.value)}
    try:
        for step in range(max_new_tokens):
            logits = model.decoder(tokens, xa, kv_cache=cache)[:, -1]
            logprobs = F.log_softmax(suppression.apply(logits, first_position=None if step else 0), dim=-1)
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


class BeamSearch:
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


def checked_beam_size(beam_size: int) -> int:
    """``beam_size`` as an int; :class:`BadInputError` unless it is a whole number of at least 1."""
    if isinstance(beam_size, bool) or not isinstance(beam_size, int | np.integer) or beam_size < 1:
        raise BadInputError(f"beam_size must be a whole number of at least 1, got {beam_size!r}")
    return int(beam_size)
