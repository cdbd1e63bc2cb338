"""Theorem 2 on Whisper tiny.en's encoder at real synthetic speech (pico2wave), a few iterations only."""

from __future__ import annotations

import torch

from synthcheck.theory.applied import fragility_target
from synthcheck.theory.fragility import fragility
from synthcheck.tts.registry import get_synthesizer


def test_whisper_encoder_is_fragile_beyond_the_bound():
    audio = get_synthesizer("pico2wave").synthesize("It was the best of times.")
    target = fragility_target("whisper-tiny.en", audio=audio)
    report = fragility(target.h, target.x, generator=torch.Generator().manual_seed(0), iters=2, rel_tol=0.0,
                       samples=4, batch=4, fd_steps=(1e-5,), fd_samples=2)
    assert (report.n, report.m) == (audio.size, 384)
    assert report.sigma_history[1] > report.sigma_history[0] > 0
    assert (report.n_jvp, report.n_vjp) == (2 + 4, 2)
    # Even a 2-iteration lower bound on σ_max beats sqrt(N/M) by a wide margin (measured ~100 vs ~10).
    assert report.ratio - 3 * report.ratio_stderr > 2 * report.sqrt_n_over_m
    assert report.fd_check[0].fd_ratio > report.sqrt_n_over_m
