"""The random-noise search's cost per clause, against one greedy decode of the same clause (same run).

Run: ``./run bench noise [--clauses 3] [--recognizer whisper-tiny.en] [--threads 2]``

For the paper's first ``--clauses`` clauses (pico2wave en-US, rounded to 16 bits) it times one batched greedy
decode of all clauses (the baseline) and one :class:`~synthcheck.attacks.noise.RandomNoiseSearch` over all of
them (the original code's grid, then the refined level with 4 draws), and prints the search's seconds per clause,
its recogniser calls, and the ratio search / decode. Every noise level is one batched recogniser call, so the
ratio is about the number of levels tried plus the refined draws.
"""

from __future__ import annotations

import argparse
import time

import torch

from synthcheck.asr import get_recognizer
from synthcheck.attacks import AttackConfig, WordErrorAbove
from synthcheck.attacks.noise import RandomNoiseSearch
from synthcheck.audio.io import quantize_16bit
from synthcheck.data.two_cities import PAPER_SENTENCES
from synthcheck.tts import get_synthesizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clauses", type=int, default=3)
    parser.add_argument("--recognizer", default="whisper-tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tts = get_synthesizer("pico2wave", "en-US")
    clips = [quantize_16bit(tts.synthesize(s)) for s in PAPER_SENTENCES[: args.clauses]]
    asr = get_recognizer(args.recognizer)
    asr.transcribe_batch(clips)  # warm up
    start = time.perf_counter()
    asr.transcribe_batch(clips)
    decode = time.perf_counter() - start
    start = time.perf_counter()
    results = RandomNoiseSearch(asr, AttackConfig(seed=0)).run(clips, WordErrorAbove(None, threshold=0.0))
    search = time.perf_counter() - start
    print(f"recogniser {args.recognizer}, {len(clips)} clauses, {args.threads} threads")
    print("| | seconds | per clause | recogniser calls | ratio to one decode |")
    print("|---|---|---|---|---|")
    print(f"| one greedy decode (baseline) | {decode:.2f} | {decode / len(clips):.2f} | 1 | 1.0 |")
    print(f"| random-noise search | {search:.2f} | {search / len(clips):.2f} | {results[0].steps} "
          f"| {search / decode:.1f} |")


if __name__ == "__main__":
    main()
