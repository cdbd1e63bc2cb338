"""``synthcheck serve`` under load and faults, on loopback, against a real uvicorn server and the real guard.

Concurrent clients, a full queue, the verdict time-out, clients that vanish or crawl mid-upload, uploads over the
limits, the bearer token and the memory of a run of requests. Raw sockets play the misbehaving clients.
"""

from __future__ import annotations

import io
import re
import select
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import soundfile as sf

from synthcheck.audio.io import save_wav
from synthcheck.examples import human_example_audio
from synthcheck.guard.service import ServiceLimits, create_app

from .conftest import post_clip, running_service

GOOD = ("human.wav", "tts.flac", "alsa.wav")
#: The bad uploads, their status, and whether they reach the check queue (the type is refused at the upload).
BAD = {"junk.wav": (422, True), "notes.txt": (415, False), "silent.wav": (422, True)}
BOUNDARY = "synthcheck-test-boundary"


@pytest.fixture(scope="module")
def expected(guard, clips) -> dict[str, dict]:
    """``guard.check_file``'s verdict on each good clip (computed here, never while a server's worker runs)."""
    return {name: guard.check_file(clips[name]).verdict.to_dict() for name in GOOD}


def _same_verdict(body: dict, verdict: dict) -> None:
    assert body["transcript"] == verdict["transcript"]
    assert body["consistent"] == verdict["consistent"]
    assert abs(body["score"] - verdict["score"]) <= 1e-9, (body["score"], verdict["score"])


def _one_line_error(response: httpx.Response | RawAnswer, status: int, fragment: str = "") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"], body
    assert fragment in body["error"], body["error"]
    return body["error"]


def _health(url: str) -> dict:
    answer = httpx.get(f"{url}/health", timeout=10)
    assert answer.status_code == 200
    return answer.json()["queue"]


def _wait_until_idle(url: str, timeout: float = 60) -> dict:
    """The queue state once no check is admitted (a discarded check may still be finishing on the worker)."""
    deadline = time.monotonic() + timeout
    while (queue := _health(url))["admitted"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue["admitted"] == 0, queue
    return queue


# --- raw HTTP clients ---------------------------------------------------------------------------------------------


@dataclass
class RawAnswer:
    """What a raw-socket client got back (status 0: the connection closed without an answer)."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    answered_at: float = 0.0  # monotonic time the answer arrived
    last_sent_at: float = 0.0  # monotonic time the client sent its last byte
    sent_all: bool = False

    def json(self) -> dict:
        import json

        return json.loads(self.text)


def _multipart(name: str, payload: bytes) -> bytes:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + payload + f"\r\n--{BOUNDARY}--\r\n".encode()


def _head(url: str, length: int | None, extra: str = "") -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST /v1/check HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n{extra}\r\n").encode()


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in _pieces(data, size)] + [b"0\r\n\r\n"]


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=60)


def _raw_request(url: str, head: bytes, pieces: Iterable[bytes], pause: float = 0.0) -> RawAnswer:
    """Send ``head`` then each piece (``pause`` s apart; stop early when an answer arrives) and read the answer."""
    sock = _connect(url)
    answer = RawAnswer(0)
    try:
        sock.sendall(head)
        answer.last_sent_at = time.monotonic()
        pending = list(pieces)
        while pending:
            if select.select([sock], [], [], pause)[0]:
                break  # answered (or closed) before the body was complete
            try:
                sock.sendall(pending.pop(0))
            except (BrokenPipeError, ConnectionResetError):
                break
            answer.last_sent_at = time.monotonic()
        answer.sent_all = not pending
        return _read_answer(sock, answer)
    finally:
        sock.close()


def _read_answer(sock: socket.socket, answer: RawAnswer) -> RawAnswer:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                return answer
            data += more
        answer.answered_at = time.monotonic()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        answer.status_code = int(lines[0].split()[1])
        answer.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(answer.headers.get("content-length", "0"))
        while len(body) < length and (more := sock.recv(65536)):
            body += more
    except ConnectionResetError:
        return answer
    answer.text = body.decode()
    return answer


# --- (a) concurrent clients ---------------------------------------------------------------------------------------


def test_six_concurrent_clients_each_get_exactly_their_own_answer(guard, clips, expected) -> None:
    kinds = [*GOOD, *BAD]
    # client i posts two different kinds, each under a name of its own that the answer can be traced by
    plan = {i: [(f"c{i}r{k}-{kinds[(i + k) % 6]}", kinds[(i + k) % 6]) for k in range(2)] for i in range(6)}
    answers: dict[str, list[httpx.Response]] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(6)
    lock = threading.Lock()

    def client(i: int) -> None:
        try:
            with httpx.Client() as session:
                start.wait(timeout=30)
                for tag, kind in plan[i]:
                    response = post_clip(url, clips[kind], tag, client=session)
                    with lock:
                        answers.setdefault(tag, []).append(response)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    with running_service(guard, ServiceLimits(queue_size=6)) as url:
        served_before = _health(url)["served"]
        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=150)
        assert not failures and not any(t.is_alive() for t in threads), failures
        queue = _wait_until_idle(url)

    requests = [request for pair in plan.values() for request in pair]
    assert sorted(answers) == sorted(tag for tag, _ in requests) and all(len(a) == 1 for a in answers.values())
    admitted = 0
    for tag, kind in requests:
        response = answers[tag][0]
        if kind in GOOD:
            assert response.status_code == 200, (tag, response.text)
            _same_verdict(response.json(), expected[kind])
            admitted += 1
        else:
            status, queued = BAD[kind]
            assert tag in _one_line_error(response, status)  # the answer names this request's upload
            admitted += queued
    assert admitted == 10 and queue["served"] - served_before == admitted


# --- (b) a full queue ---------------------------------------------------------------------------------------------


def test_a_full_queue_answers_503_with_retry_after_and_recovers(guard, clips, expected) -> None:
    limits = ServiceLimits(queue_size=0, retry_after_s=7)
    answers: list[httpx.Response] = []
    start = threading.Barrier(4)

    def client() -> None:
        start.wait(timeout=30)
        answers.append(post_clip(url, clips["human.wav"]))

    with running_service(guard, limits) as url:
        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        statuses = sorted(a.status_code for a in answers)
        assert len(answers) == 4 and set(statuses) == {200, 503}, statuses
        for answer in answers:
            if answer.status_code == 503:
                assert answer.headers["retry-after"] == "7"
                _one_line_error(answer, 503, "the service is busy")
            else:
                _same_verdict(answer.json(), expected["human.wav"])
        assert _wait_until_idle(url)["served"] == statuses.count(200)
        after = post_clip(url, clips["alsa.wav"])
        assert after.status_code == 200, after.text
        _same_verdict(after.json(), expected["alsa.wav"])


# --- (c) the verdict time-out -------------------------------------------------------------------------------------


def test_a_check_over_the_timeout_is_504_and_the_service_goes_on(guard, clips, expected, tmp_path) -> None:
    long_clip = tmp_path / "long-speech.wav"
    save_wav(long_clip, np.concatenate([human_example_audio()] * 12))  # ~50 s: several seconds to check
    with running_service(guard, ServiceLimits(timeout_s=3.0)) as url:
        started = time.monotonic()
        answer = post_clip(url, long_clip)
        waited = time.monotonic() - started
        _one_line_error(answer, 504, "no verdict within 3 s")
        assert 3.0 <= waited < 10, waited
        # the discarded check finishes on the worker, which then serves the next request
        queue = _wait_until_idle(url)
        assert queue["served"] == 1
        after = post_clip(url, clips["alsa.wav"])
        assert after.status_code == 200, after.text
        _same_verdict(after.json(), expected["alsa.wav"])
        _one_line_error(post_clip(url, clips["junk.wav"]), 422, "junk.wav")


# --- (d) clients that disconnect ----------------------------------------------------------------------------------


def test_clients_that_disconnect_leave_no_upload_and_do_not_disturb_others(guard, clips, expected) -> None:
    app = create_app(guard, ServiceLimits())
    upload_root: Path = app.state.upload_root
    payload = clips["human.wav"].read_bytes()
    body = _multipart("gone.wav", payload)
    normal: list[httpx.Response] = []

    with running_service(guard, app=app) as url:
        def vanish(sent: bytes, declared: int) -> None:
            sock = _connect(url)
            sock.sendall(_head(url, declared) + sent)
            time.sleep(0.3)
            sock.close()

        def vanish_while_queued() -> None:
            # the whole upload, then gone while its check waits behind the normal one
            sock = _connect(url)
            sock.sendall(_head(url, len(body)) + body)
            time.sleep(0.2)
            sock.close()

        normal_thread = threading.Thread(target=lambda: normal.append(post_clip(url, clips["human.wav"], "normal.wav")))
        normal_thread.start()
        vanishing = [
            threading.Thread(target=vanish, args=(b"", 2_000_000)),  # headers only
            threading.Thread(target=vanish, args=(body[:300], 2_000_000)),  # inside the part's headers
            threading.Thread(target=vanish, args=(body[: len(body) // 2], 2_000_000)),  # mid-file
            threading.Thread(target=vanish, args=(body[:-10], len(body))),  # all but the closing boundary
            threading.Thread(target=vanish_while_queued),
        ]
        for thread in vanishing:
            thread.start()
        for thread in [*vanishing, normal_thread]:
            thread.join(timeout=60)
        assert len(normal) == 1 and normal[0].status_code == 200, normal
        _same_verdict(normal[0].json(), expected["human.wav"])
        queue = _wait_until_idle(url)
        deadline = time.monotonic() + 10
        while any(upload_root.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert upload_root.is_dir() and not any(upload_root.iterdir()), list(upload_root.iterdir())
        assert queue["served"] == 2  # the normal check and the one whose client left while it was queued
        after = post_clip(url, clips["alsa.wav"])
        assert after.status_code == 200 and not any(upload_root.iterdir())
    assert not upload_root.exists()  # the service removes its upload directory when it stops


# --- (e) slow clients ---------------------------------------------------------------------------------------------


def test_a_slow_upload_gets_its_verdict_without_holding_up_others(guard, clips, expected) -> None:
    body = _multipart("slow.wav", clips["alsa.wav"].read_bytes())  # ~137 kB in 20 pieces, 0.2 s apart: ~4 s
    slow: list[RawAnswer] = []
    with running_service(guard, ServiceLimits(upload_timeout_s=20)) as url:
        thread = threading.Thread(target=lambda: slow.append(
            _raw_request(url, _head(url, len(body)), _pieces(body, len(body) // 20 + 1), pause=0.2)))
        thread.start()
        time.sleep(0.5)
        normal = post_clip(url, clips["human.wav"])
        normal_done = time.monotonic()
        thread.join(timeout=60)
        assert normal.status_code == 200
        _same_verdict(normal.json(), expected["human.wav"])
        assert len(slow) == 1 and slow[0].sent_all and slow[0].status_code == 200, slow
        assert normal_done < slow[0].last_sent_at  # answered while the slow client was still sending
        _same_verdict(slow[0].json(), expected["alsa.wav"])


def test_an_upload_slower_than_the_upload_timeout_is_408(guard, clips) -> None:
    body = _multipart("crawl.wav", clips["alsa.wav"].read_bytes())
    with running_service(guard, ServiceLimits(upload_timeout_s=1.0)) as url:
        started = time.monotonic()
        answer = _raw_request(url, _head(url, len(body)), _pieces(body, len(body) // 20 + 1), pause=0.25)
        _one_line_error(answer, 408, "the upload took longer than 1 s")
        assert not answer.sent_all and 1.0 <= answer.answered_at - started < 3.0
        assert _health(url)["served"] == 0
        assert post_clip(url, clips["alsa.wav"]).status_code == 200


# --- (f) over the limits, and the token -----------------------------------------------------------------------------


def test_a_declared_length_over_max_bytes_is_413_before_the_body(guard) -> None:
    limits = ServiceLimits(max_bytes=64 * 1024)
    with running_service(guard, limits) as url:
        started = time.monotonic()
        answer = _raw_request(url, _head(url, limits.max_bytes + 1), [])  # the body is never sent
        assert answer.answered_at - started < 2.0
        _one_line_error(answer, 413, f"the upload is {limits.max_bytes + 1} bytes, over the limit of 65536")


def test_a_chunked_upload_over_max_bytes_is_413(guard, clips, expected) -> None:
    limits = ServiceLimits(max_bytes=64 * 1024)
    body = _multipart("big.wav", clips["human.wav"].read_bytes())
    assert len(body) > 2 * limits.max_bytes
    with running_service(guard, limits) as url:
        answer = _raw_request(url, _head(url, None), _chunked(body, 8192), pause=0.01)
        _one_line_error(answer, 413, "over the limit of 65536 bytes")
        assert _health(url)["served"] == 0
        samples, rate = sf.read(clips["human.wav"], dtype="float32")
        short = io.BytesIO()
        sf.write(short, samples[: rate * 3 // 2], rate, format="WAV", subtype="PCM_16")  # 1.5 s: a whole, valid WAV
        small = _multipart("small.wav", short.getvalue())  # under the limit, chunked
        assert len(small) < limits.max_bytes
        fits = _raw_request(url, _head(url, None), _chunked(small, 8192))
        assert fits.status_code == 200, fits.text


def test_a_recording_over_max_seconds_is_413(service, clips) -> None:
    answer = post_clip(service, clips["long.wav"])
    error = _one_line_error(answer, 413, "long.wav")
    assert re.search(r"\b120\b", error), error
    assert "synthcheck-serve-" not in error


def test_the_bearer_token_on_check_and_health_without(guard, clips, expected) -> None:
    with running_service(guard, ServiceLimits(token="s3cret")) as url:
        _one_line_error(post_clip(url, clips["alsa.wav"]), 401, "bearer token")
        wrong = post_clip(url, clips["alsa.wav"], headers={"Authorization": "Bearer s3cre"})
        _one_line_error(wrong, 401, "bearer token")
        assert wrong.headers["www-authenticate"] == "Bearer"
        _one_line_error(post_clip(url, clips["alsa.wav"], headers={"Authorization": "Basic s3cret"}), 401)
        assert _health(url)["served"] == 0  # refused before any check
        right = post_clip(url, clips["alsa.wav"], headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200, right.text
        _same_verdict(right.json(), expected["alsa.wav"])
        assert httpx.get(f"{url}/health").json()["queue"]["served"] == 1


# --- (g) memory -----------------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def test_twenty_requests_do_not_grow_the_memory(service, clips, expected, record_property) -> None:
    order = ["human.wav", "alsa.wav", "junk.wav", "tts.flac", "silent.wav", "notes.txt", "alsa.wav"]
    with httpx.Client() as session:
        for name in order:  # warm up every path once
            post_clip(service, clips[name], client=session)
        before = _rss_mb()
        for i in range(20):
            name = order[i % len(order)]
            answer = post_clip(service, clips[name], client=session)
            assert answer.status_code == (200 if name in GOOD else BAD[name][0]), answer.text
        after = _rss_mb()
    record_property("rss_before_mb", round(before, 1))
    record_property("rss_after_mb", round(after, 1))
    print(f"RSS before {before:.1f} MB, after 20 requests {after:.1f} MB ({after - before:+.1f} MB)")
    assert after - before < 150, (before, after)

