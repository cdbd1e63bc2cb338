"""Whisper in PyTorch: speed and memory per model and window, against the bare CTranslate2 runtime.

Run: ``.venv/bin/python bench/asr.py [--clauses 3] [--threads 2]``

For each model (tiny.en, base) and input window (30 s as stock Whisper, and the default short window):
- transcribe RTF: greedy transcription wall time / seconds of audio (batched, all clauses at once)
- fwd+bwd s/s: wall time of one teacher-forced loss + backward to the waveform / seconds of audio
- peak RSS MB: peak resident memory during the fwd+bwd step minus RSS before it (sampled every 5 ms
  from /proc/self/statm; torch CPU allocations are invisible to tracemalloc)
- vs CT2: transcription time / CTranslate2's (float32, greedy, 30 s mel, same threads) on the same files.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from synthcheck.asr.whisper import DEFAULT_WINDOW_SECONDS, WHISPER_SIZES, WhisperRecognizer, ct2
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.data.two_cities import PAPER_SENTENCES
from synthcheck.tts import get_synthesizer

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


@contextmanager
def peak_rss(result: dict) -> None:
    """Store in ``result["mb"]`` the peak RSS above the starting RSS while the block runs."""
    start, peak, running = rss_bytes(), [0], [True]

    def sample() -> None:
        while running[0]:
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        running[0] = False
        thread.join()
        result["mb"] = max(0, max(peak[0], rss_bytes()) - start) / 2**20


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def stack(items: list[np.ndarray]) -> torch.Tensor:
    batch = torch.zeros(len(items), max(item.size for item in items))
    for row, item in zip(batch, items, strict=True):
        row[: item.size] = torch.from_numpy(item)
    return batch


def ct2_seconds(size: str, recognizer: WhisperRecognizer, batch: torch.Tensor, threads: int) -> float:
    import ctranslate2

    with tempfile.TemporaryDirectory(prefix="bench-ct2-") as scratch:
        model_dir = ct2.ctranslate2_model_dir(ct2.locate_package(size), Path(scratch))
        model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32",
                                           intra_threads=threads)
    window = recognizer.window_seconds
    recognizer.window_seconds = 30.0
    mel = ctranslate2.StorageView.from_array(np.ascontiguousarray(recognizer.log_mel(batch).numpy()))
    recognizer.window_seconds = window
    return timed(lambda: model.generate(mel, [recognizer.prefix] * batch.shape[0], beam_size=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clauses", type=int, default=3, help="pico2wave clauses to use (1..10)")
    parser.add_argument("--threads", type=int, default=2, help="torch and CT2 threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pico = get_synthesizer("pico2wave", "en-US")
    clauses = [pico.synthesize(text) for text in PAPER_SENTENCES[: args.clauses]]
    batch = stack(clauses)
    seconds = sum(c.size for c in clauses) / SAMPLE_RATE
    print(f"{len(clauses)} pico2wave en-US clauses, {seconds:.1f} s of audio, {args.threads} threads\n")
    header = f"{'model':8} {'window':>8} {'transcribe RTF':>15} {'fwd+bwd s/s':>12} {'peak RSS MB':>12} {'vs CT2':>7}"
    print(header)
    print("-" * len(header))
    for size in WHISPER_SIZES:
        recognizer = WhisperRecognizer.load(size)
        baseline = ct2_seconds(size, recognizer, batch, args.threads)
        print(f"{size:8} {'CT2 30 s':>8} {baseline / seconds:15.3f} {'-':>12} {'-':>12} {1.0:7.2f}")
        for window in (30.0, DEFAULT_WINDOW_SECONDS):
            recognizer.window_seconds = window
            decode = timed(lambda: recognizer.transcribe_batch(clauses))
            memory: dict = {}
            audio = batch.clone().requires_grad_(True)
            with peak_rss(memory):
                step = timed(lambda: recognizer.loss(audio, list(PAPER_SENTENCES[: len(clauses)]), "sum").backward())
            print(f"{size:8} {window:7.0f}s {decode / seconds:15.3f} {step / seconds:12.3f} "
                  f"{memory['mb']:12.0f} {decode / baseline:7.2f}")


if __name__ == "__main__":
    main()
