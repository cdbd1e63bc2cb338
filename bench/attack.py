"""Attack benchmark.

    ./run bench attack [--steps 5] [--rounds 2]
        (a) per model (whisper-tiny.en: three pico2wave clauses; whisper-base: the paper's ten) and precision
            (fp32, bf16): seconds per attack step and per bare forward+backward of the same batch (interleaved
            rounds, fastest of each), the overhead ratio (target <= 1.25), the model FLOPs per step counted from
            the layer shapes, the achieved GFLOP/s against the machine's peak (derivation printed), and the bf16
            speed-up over fp32 (target >= 2.5x on base). A bare matrix product of encoder shape is measured in
            the same run as the reachable ceiling of each precision.
    ./run bench attack --clauses 10 [--asr whisper-base] [--precision fp32,bf16] [--max-steps 1000] [--stop-db-x -45]
        (b) the paper's attack: the ten clauses of A Tale of Two Cities (pico2wave en-US, 28 dB AWGN channel,
            seed 0) attacked in one batch toward "he travels the fastest who travels alone", once per precision;
            per clause the confirmed success, steps to first success, final dB_x and SNR. Targets: 10/10 confirmed,
            median dB_x <= -35 dB, median energy SNR >= 30 dB, <= 10 min per clause; bf16 within 1 dB of fp32.

Timings are wall-clock; run on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from synthcheck.asr import get_recognizer
from synthcheck.asr.precision import PRECISIONS, autocast, cpu_bf16_units
from synthcheck.attacks import Attack, AttackConfig, TargetText
from synthcheck.audio.channel import AwgnChannel
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.cpu import first_processor
from synthcheck.data.two_cities import PAPER_SENTENCES
from synthcheck.tts import get_synthesizer

TARGET = "he travels the fastest who travels alone"
#: (a)'s cases: model and number of paper clauses in the batch.
STEP_CASES = (("whisper-tiny.en", 3), ("whisper-base", 10))


def clauses(n: int, seed: int) -> list[np.ndarray]:
    """The first ``n`` paper clauses, pico2wave en-US, through a 28 dB AWGN channel (one generator, in order)."""
    synth, channel, rng = get_synthesizer("pico2wave", "en-US"), AwgnChannel(snr_db=28.0), np.random.default_rng(seed)
    return [channel.apply(synth.synthesize(text), rng) for text in PAPER_SENTENCES[:n]]


def padded(audios: list[np.ndarray]) -> torch.Tensor:
    x = torch.zeros(len(audios), max(a.size for a in audios))
    for i, a in enumerate(audios):
        x[i, : a.size] = torch.from_numpy(a)
    return x


# ------------------------------------------------------------------------------------------- FLOPs and peak
def step_flops(recognizer, audios: list[np.ndarray], target: str) -> float:
    """Model FLOPs of one attack step (forward + backward to the input), counted from the layer shapes.

    Forward: every matrix product and convolution (2 FLOPs per multiply-add) of the encoder over the padded
    window and of the teacher-forced decoder over prefix + target + EOT, including the vocabulary projection.
    The backward to the input costs one more of each product (the gradient with respect to the activations;
    the weights are frozen, so no weight gradients), hence 2 x forward. Element-wise work, the STFT and
    softmax are not counted (a few per cent).
    """
    dims = recognizer.model.dims
    frames = recognizer.window_samples(max(a.size for a in audios)) // 160  # mel frames (hop 160)
    t, d, dt = frames // 2, dims.n_audio_state, dims.n_text_state
    tokens = len(recognizer.prefix) + len(recognizer.tokenize(target))  # decoder inputs (EOT is only a label)
    conv = 2 * frames * d * dims.n_mels * 3 + 2 * t * d * d * 3
    encoder_block = 2 * (4 * t * d * d + 2 * t * t * d + 8 * t * d * d)  # q,k,v,out; scores, mix; MLP 4d
    self_attn = 4 * tokens * dt * dt + 2 * tokens * tokens * dt
    cross_attn = 2 * tokens * dt * dt + 2 * t * dt * dt + 2 * tokens * t * dt  # q, out; k, v on audio; scores, mix
    decoder_block = 2 * (self_attn + cross_attn + 8 * tokens * dt * dt)
    logits = 2 * tokens * dt * dims.n_vocab
    forward = conv + dims.n_audio_layer * encoder_block + dims.n_text_layer * decoder_block + logits
    return 2.0 * forward * len(audios)


@dataclass(frozen=True)
class Peak:
    """Peak FLOP/s of each precision and how it was derived."""

    fp32: float
    bf16: float
    derivation: str


def machine_peak() -> Peak:
    """From the cores, the clock /proc/cpuinfo reports, and the vector/matrix units' FLOPs per cycle.

    fp32: AVX-512, two FMA units x 16 lanes x 2 FLOPs = 64 FLOP/cycle/core (the two-FMA-port server cores that
    AMX ships on). bf16: AMX-BF16, one TDPBF16PS (16x16 fp32 tile += 16x32 by 32x16 bf16: 8,192 multiply-adds)
    per 16 cycles = 1,024 FLOP/cycle/core; without AMX, AVX512-BF16 (VDPBF16PS, 2 units x 16 lanes x 2 pairs x 2
    FLOPs = 128 FLOP/cycle/core). The reported clock is the nominal one; all-core turbo may be higher.
    """
    cores = len(os.sched_getaffinity(0))
    ghz = float(first_processor().get("cpu MHz", "0")) / 1000
    units = cpu_bf16_units()
    bf16_per_cycle, unit = (1024, "AMX-BF16") if "amx_bf16" in units else (128, "AVX512-BF16")
    fp32, bf16 = cores * ghz * 64e9, cores * ghz * bf16_per_cycle * 1e9
    text = (f"peak = {cores} cores x {ghz:.2f} GHz (cpuinfo) x FLOP/cycle/core: fp32 64 (AVX-512, 2 FMA x 16 lanes "
            f"x 2) = {fp32 / 1e9:.0f} GFLOP/s; bf16 {bf16_per_cycle} ({unit}) = {bf16 / 1e9:.0f} GFLOP/s")
    return Peak(fp32, bf16, text)


def matmul_gflops(precision: str, repeats: int = 20) -> float:
    """Achieved GFLOP/s of a [1500, 512] x [512, 2048] product (Whisper base's MLP shape) in ``precision``."""
    a, b = torch.randn(1500, 512), torch.randn(512, 2048)
    with autocast(precision):
        for _ in range(3):
            a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
    return 2 * 1500 * 512 * 2048 * repeats / (time.perf_counter() - start) / 1e9


# ------------------------------------------------------------------------------------------- (a) step times
def bare_step_seconds(recognizer, audios: list[np.ndarray], steps: int) -> float:
    """Seconds per forward+backward of the recogniser's loss on the padded batch (first step excluded)."""
    x = padded(audios).requires_grad_(True)
    stamps = []
    for _ in range(steps):
        x.grad = None
        recognizer.loss(x, [TARGET] * len(audios)).sum().backward()
        stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[0]) / (steps - 1)


def attack_step_seconds(recognizer, audios: list[np.ndarray], steps: int) -> float:
    """Seconds per attack step (first step excluded)."""
    stamps: list[float] = []
    attack = Attack(recognizer, AttackConfig(max_steps=steps))
    attack.run(audios, TargetText(TARGET), progress=lambda p: stamps.append(time.perf_counter()))
    return (stamps[-1] - stamps[0]) / (steps - 1)


def step_table(args: argparse.Namespace) -> int:
    peak = machine_peak()
    ceilings = {p: matmul_gflops(p) for p in PRECISIONS}
    print(peak.derivation)
    print("matmul ceiling, [1500,512]x[512,2048]: " + ", ".join(
        f"{p} {g:.0f} GFLOP/s ({100 * g / getattr(peak, p) * 1e9:.0f} % of peak)" for p, g in ceilings.items()))
    header = (f"\n{'model':16}{'clauses':>8}{'prec':>6}{'bare s':>8}{'attack s':>9}{'overhead':>9}{'GFLOP':>8}"
              f"{'GFLOP/s':>9}{'% peak':>8}{'vs fp32':>8}")
    print(header)
    print("-" * (len(header) - 1))
    failures = 0
    for model, n in STEP_CASES:
        audios = clauses(n, args.seed)
        flops = step_flops(get_recognizer(model), audios, TARGET)
        times: dict[str, tuple[list[float], list[float]]] = {p: ([], []) for p in PRECISIONS}
        for _ in range(args.rounds):
            for precision in PRECISIONS:
                recognizer = get_recognizer(model).with_precision(precision)
                times[precision][0].append(bare_step_seconds(recognizer, audios, args.steps))
                times[precision][1].append(attack_step_seconds(recognizer, audios, args.steps))
        fp32_step = min(times["fp32"][1])
        for precision in PRECISIONS:
            bare, step = min(times[precision][0]), min(times[precision][1])
            rate = flops / step
            failures += step / bare > 1.25
            print(f"{model:16}{n:8d}{precision:>6}{bare:8.2f}{step:9.2f}{step / bare:9.2f}{flops / 1e9:8.0f}"
                  f"{rate / 1e9:9.0f}{100 * rate / getattr(peak, precision):8.1f}{fp32_step / step:8.2f}")
        speedup = fp32_step / min(times["bf16"][1])
        if model == "whisper-base":
            print(f"bf16 attack step {speedup:.2f}x faster than fp32 on {model} (target >= 2.5): "
                  f"{'PASS' if speedup >= 2.5 else 'FAIL'}")
            failures += speedup < 2.5
    print(f"\n(fastest of {args.rounds} interleaved rounds of {args.steps} steps; the first step of each excluded; "
          "overhead = attack step / bare forward+backward, target <= 1.25)")
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------- (b) the paper's attack
def paper_clauses(args: argparse.Namespace) -> int:
    audios = clauses(args.clauses, args.seed)
    config = AttackConfig(
        max_steps=args.max_steps, learning_rate=args.learning_rate, seed=args.seed, stop_db_x=args.stop_db_x,
        time_budget_s=args.time_budget or 600.0 * len(audios),
    )
    summaries = {}
    for precision in args.precision.split(","):
        recognizer = get_recognizer(args.asr).with_precision(precision)

        def show(p) -> None:
            if p.step % 10 == 0:
                print(f"{precision} step {p.step}: loss {p.loss:.3f} median dB_x {p.db_x:.1f} successes "
                      f"{p.successes}/{p.n_items} ({p.elapsed_s:.0f} s)", file=sys.stderr, flush=True)

        results = Attack(recognizer, config).run(audios, TargetText(TARGET), progress=show)
        print(f"\n{args.asr} {precision}: {len(audios)} clauses -> {TARGET!r}, batch wall time {results[0].seconds:.0f} s "
              f"({results[0].seconds / len(audios) / 60:.1f} min per clause), {results[0].steps} steps")
        print(f"{'clause':44}{'ok':>4}{'first':>7}{'dB_x':>8}{'SNR':>7}{'fitSNR':>8}  transcript")
        for text, r in zip(PAPER_SENTENCES, results):
            print(f"{text:44}{'yes' if r.success else 'no':>4}{str(r.first_success_step):>7}{r.db_x:8.1f}"
                  f"{r.snr_db:7.1f}{r.fitted_snr_db:8.1f}  {r.transcript}")
        summaries[precision] = (sum(r.success for r in results), statistics.median(r.db_x for r in results),
                                statistics.median(r.snr_db for r in results), results[0].seconds)
    print(f"\n{'precision':10}{'confirmed':>10}{'median dB_x':>12}{'median SNR':>11}{'wall s':>8}{'min/clause':>11}")
    checks = {}
    for precision, (wins, med_db, med_snr, seconds) in summaries.items():
        per_clause = seconds / len(audios) / 60
        print(f"{precision:10}{f'{wins}/{len(audios)}':>10}{med_db:12.1f}{med_snr:11.1f}{seconds:8.0f}{per_clause:11.1f}")
        checks.update({
            f"{precision}: confirmed {wins}/{len(audios)}": wins == len(audios),
            f"{precision}: median dB_x {med_db:.1f} <= -35": med_db <= -35,
            f"{precision}: median SNR {med_snr:.1f} >= 30": med_snr >= 30,
            f"{precision}: {per_clause:.1f} min per clause <= 10": per_clause <= 10,
        })
    if {"fp32", "bf16"} <= summaries.keys():
        d_db = summaries["bf16"][1] - summaries["fp32"][1]
        d_snr = summaries["bf16"][2] - summaries["fp32"][2]
        checks[f"bf16 - fp32: median dB_x {d_db:+.2f}, SNR {d_snr:+.2f} (within 1 dB)"] = abs(d_db) <= 1 and abs(d_snr) <= 1
        print(f"bf16 wall time {summaries['fp32'][3] / summaries['bf16'][3]:.2f}x faster than fp32")
    for name, ok in checks.items():
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    return 0 if all(checks.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asr", default="whisper-base", help="(b) recogniser")
    parser.add_argument("--steps", type=int, default=5, help="(a) steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="(a) interleaved measurement rounds")
    parser.add_argument("--clauses", type=int, default=0, help="(b) attack the first N paper clauses")
    parser.add_argument("--precision", default="fp32,bf16", help="(b) comma-separated precisions to run")
    parser.add_argument("--max-steps", type=int, default=1000, help="(b) attack steps at most")
    parser.add_argument("--stop-db-x", type=lambda v: None if v == "none" else float(v), default=-45.0,
                        help="(b) stop once every clause succeeded at or below this dB_x (reproduce's default; "
                        "none: run --max-steps in both precisions, the same-steps comparison)")
    parser.add_argument("--learning-rate", type=float, default=20.0, help="(b) Adam step on the 16-bit scale")
    parser.add_argument("--time-budget", type=float, default=None, help="(b) seconds (default 600 per clause)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return paper_clauses(args) if args.clauses else step_table(args)


if __name__ == "__main__":
    sys.exit(main())
