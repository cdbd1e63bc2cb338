"""`synthcheck serve` under load on loopback: throughput, p50/p95 latency, errors and memory, against the
single-process guard on the same clips, measured in the same run.

Run: ``./run bench serve [--asr whisper-base] [--clients 4] [--rounds 3] [--threads 2]``

Clips: the paper's ten clauses (pico2wave en-US through the paper's 28 dB channel) and the first four LibriVox
clauses, plus three bad uploads (random bytes named ``.wav``, a text file, a silent WAV) mixed in.

- ``in-process``: one :class:`synthcheck.Guard` checking the good clips one after another (``Guard.check_file``,
  models already loaded): the floor a service cannot beat on the same cores.
- ``detect, one call per file``: ``synthcheck detect FILE --json`` as a shell loop would run it (model loading
  every time), on the first three clips only; its per-clip time is what the service saves.
- ``serve``: ``synthcheck serve`` in a subprocess; ``--clients`` threads each post every clip (good and bad,
  in a shifted order) ``--rounds`` times under a unique name. Every answer is matched to its request by that name:
  a request with no answer, two answers, a verdict different from the in-process one, or a status other than
  200 (good) / the expected 4xx (bad) counts as an error. The server's RSS is sampled throughout.

Ratios are service seconds per good check over in-process seconds per check (1.00 = no overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from synthcheck.audio.channel import paper_channel
from synthcheck.audio.io import SAMPLE_RATE, save_wav
from synthcheck.data.datasets import load_dataset
from synthcheck.data.two_cities import PAPER_SENTENCES
from synthcheck.guard import DEFAULT_GUARD_ASR, Guard, GuardSettings
from synthcheck.tts import get_synthesizer

#: Bad uploads and the status the service must answer them with.
BAD = {"junk.wav": 422, "notes.txt": 415, "silent.wav": 422}


@dataclass
class Answer:
    """One request's outcome."""

    tag: str
    clip: str
    status: int
    seconds: float
    body: dict


def make_clips(folder: Path, seed: int) -> list[Path]:
    """Write the good clips then the bad uploads into ``folder``."""
    pico = get_synthesizer("pico2wave", "en-US")
    channel, rng = paper_channel(), np.random.default_rng(seed)
    for i, text in enumerate(PAPER_SENTENCES):
        save_wav(folder / f"tts{i:02d}.wav", channel.apply(pico.synthesize(text), rng))
    for i, clause in enumerate(load_dataset("two-cities-human")[:4]):
        sf.write(folder / f"human{i}.flac", clause.audio, SAMPLE_RATE, format="FLAC")
    (folder / "junk.wav").write_bytes(rng.bytes(4096))
    (folder / "notes.txt").write_text("not audio\n")
    save_wav(folder / "silent.wav", np.zeros(SAMPLE_RATE, dtype=np.float32))
    good = sorted(p for p in folder.iterdir() if p.name not in BAD)
    return good + [folder / name for name in BAD]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def start_server(settings: GuardSettings, queue: int, threads: int) -> tuple[subprocess.Popen, str]:
    """``synthcheck serve --port 0`` in a subprocess; returns it and its base URL once /health answers."""
    command = [str(Path(sys.executable).with_name("synthcheck")), "serve", "--port", "0", "--asr", settings.asr,
               "--queue", str(queue), "--timeout", "600"]
    for name in settings.detectors:
        command += ["--detector", str(name)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    for line in server.stderr:
        if match := re.search(r"serving on (http://\S+?)/", line):
            url = match.group(1)
            threading.Thread(target=server.stderr.read, daemon=True).start()  # keep the pipe drained
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        return server, url
                except httpx.TransportError:
                    time.sleep(0.2)
            break
    server.kill()
    raise SystemExit("bench serve: the server did not start")


def load(url: str, clips: list[Path], clients: int, rounds: int) -> tuple[list[Answer], float]:
    """Each client posts every clip ``rounds`` times (its own shifted order); all answers and the wall time."""
    answers: list[Answer] = []
    lock, start = threading.Lock(), threading.Barrier(clients)

    def client(index: int) -> None:
        order = clips[index % len(clips):] + clips[: index % len(clips)]
        with httpx.Client(timeout=600) as session:
            start.wait()
            for r in range(rounds):
                for clip in order:
                    tag = f"c{index}r{r}-{clip.name}"
                    began = time.perf_counter()
                    with open(clip, "rb") as handle:
                        response = session.post(f"{url}/v1/check", files={"audio": (tag, handle)})
                    with lock:
                        answers.append(Answer(tag, clip.name, response.status_code, time.perf_counter() - began,
                                              response.json()))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - began


def errors(answers: list[Answer], expected: dict[str, dict], clients: int, rounds: int, clips: list[Path]) -> list[str]:
    """Everything wrong with the answers: missing, duplicated, wrong status, a verdict unlike the in-process one."""
    problems = []
    tags = [a.tag for a in answers]
    wanted = {f"c{i}r{r}-{c.name}" for i in range(clients) for r in range(rounds) for c in clips}
    problems += [f"no answer for {t}" for t in sorted(wanted - set(tags))]
    problems += [f"{t} answered {tags.count(t)} times" for t in sorted(set(tags)) if tags.count(t) > 1]
    for a in answers:
        if a.clip in BAD:
            if a.status != BAD[a.clip] or a.tag not in a.body.get("error", ""):
                problems.append(f"{a.tag}: {a.status} {a.body}")
        elif a.status != 200:
            problems.append(f"{a.tag}: {a.status} {a.body}")
        elif (a.body["transcript"], a.body["consistent"]) != (expected[a.clip]["transcript"],
                                                               expected[a.clip]["consistent"]):
            problems.append(f"{a.tag}: verdict differs from the in-process one")
    return problems


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asr", default=DEFAULT_GUARD_ASR, help="recogniser the guard and the service load")
    parser.add_argument("--detector", action="append", help="detector to load (repeat; default likelihood+align)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=2, help="times each client posts every clip")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (both processes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the channel noise and the junk bytes")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    settings = GuardSettings(args.asr, tuple(args.detector or ("likelihood+align",)))
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch:
        clips = make_clips(Path(scratch), args.seed)
        good = [c for c in clips if c.name not in BAD]
        audio_seconds = sum(sf.info(c).duration for c in good)
        print(f"{len(good)} good clips ({audio_seconds:.1f} s of audio) + {len(BAD)} bad uploads; {args.asr}, "
              f"{', '.join(map(str, settings.detectors))}; {args.threads} threads; "
              f"{args.clients} clients x {args.rounds} rounds\n")

        guard = Guard(settings)
        guard.check_file(good[0])  # warm-up, as the service's first request is not timed here either
        began = time.perf_counter()
        expected = {}
        for clip in good:
            result = guard.check_file(clip)
            expected[clip.name] = result.verdict.to_dict()
        in_process = (time.perf_counter() - began) / len(good)
        del guard

        cli = str(Path(sys.executable).with_name("synthcheck"))
        began = time.perf_counter()
        for clip in good[:3]:
            out = subprocess.run([cli, "detect", str(clip), "--json", "--asr", args.asr], capture_output=True,
                                 text=True, check=True).stdout
            assert json.loads(out)["transcript"] == expected[clip.name]["transcript"]
        one_shot = (time.perf_counter() - began) / 3

        server, url = start_server(settings, queue=args.clients * 2, threads=args.threads)
        try:
            rss_idle = rss_mb(server.pid)
            peak, sampling = [rss_idle], [True]

            def sample() -> None:
                while sampling[0]:
                    peak[0] = max(peak[0], rss_mb(server.pid))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            load(url, clips, 1, 1)  # warm-up: every path once, not timed
            rss_warm = rss_mb(server.pid)
            answers, wall = load(url, clips, args.clients, args.rounds)
            rss_end = rss_mb(server.pid)
            sampling[0] = False
            sampler.join()
        finally:
            server.terminate()
            server.wait(timeout=30)

    problems = errors(answers, expected, args.clients, args.rounds, clips)
    latencies = [a.seconds for a in answers if a.clip not in BAD]
    bad_latencies = [a.seconds for a in answers if a.clip in BAD]
    checks = len(latencies)
    per_check = wall / checks
    print(f"{'path':34} {'s per check':>11} {'checks/s':>9} {'p50 s':>7} {'p95 s':>7} {'vs in-process':>14}")
    print("-" * 87)
    print(f"{'in-process Guard.check_file':34} {in_process:11.2f} {1 / in_process:9.2f} {'-':>7} {'-':>7} {1.0:14.2f}")
    print(f"{'detect, one call per file':34} {one_shot:11.2f} {1 / one_shot:9.2f} {'-':>7} {'-':>7} "
          f"{one_shot / in_process:14.2f}")
    print(f"{'serve, ' + str(args.clients) + ' clients':34} {per_check:11.2f} {checks / wall:9.2f} "
          f"{percentile(latencies, 50):7.2f} {percentile(latencies, 95):7.2f} {per_check / in_process:14.2f}")
    print(f"\nserve: {len(answers)} requests ({checks} good, {len(bad_latencies)} bad) in {wall:.1f} s; bad uploads "
          f"answered in p50 {percentile(bad_latencies, 50):.2f} s, p95 {percentile(bad_latencies, 95):.2f} s "
          "(they wait in the same queue when they need decoding)")
    print(f"server RSS: {rss_idle:.0f} MB idle, {rss_warm:.0f} MB after warm-up, {rss_end:.0f} MB after the run "
          f"({rss_end - rss_warm:+.0f} MB), peak {peak[0]:.0f} MB")
    print(f"errors: {len(problems)} (no answer, answered twice, wrong status or verdict unlike in-process)")
    for problem in problems[:10]:
        print(f"  {problem}")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
