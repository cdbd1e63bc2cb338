"""Shared pieces of the guard tests: one real guard per session, real clips, a real uvicorn server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from synthcheck.audio.io import SAMPLE_RATE, save_wav
from synthcheck.guard import Guard, GuardSettings
from synthcheck.guard.service import ServiceLimits, create_app

#: The guard the service tests load: Whisper tiny.en protected by the default detector (its likelihood judge is
#: then Whisper base) and by the paper's check (which renders a re-synthesis).
SERVICE_SETTINGS = GuardSettings(asr="whisper-tiny.en", detectors=("likelihood+align", "paper"))
#: A recording by a person shipped with alsa-utils.
ALSA_CLIP = Path("/usr/share/sounds/alsa/Front_Center.wav")


def post_clip(url: str, path: Path, name: str | None = None, *, client: httpx.Client | None = None,
              headers: dict[str, str] | None = None, timeout: float = 120, **fields: str) -> httpx.Response:
    """POST ``path`` to ``url``'s ``/v1/check`` as field ``audio`` (under ``name``), with form ``fields``."""
    with open(path, "rb") as handle:
        files = {"audio": (name or path.name, handle)}
        send = client.post if client is not None else httpx.post
        return send(f"{url}/v1/check", files=files, data=fields, headers=headers, timeout=timeout)


@pytest.fixture(scope="session")
def guard() -> Guard:
    """The real guard of :data:`SERVICE_SETTINGS`, loaded once."""
    return Guard(SERVICE_SETTINGS)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real recordings and bad files: ``human.wav`` (LibriVox, 4.8 s), ``tts.flac`` (pico2wave through the paper's
    28 dB channel), ``alsa.wav``, ``silent.wav``, ``junk.wav`` (random bytes), ``notes.txt``, ``long.wav``
    (200 s of quiet noise)."""
    from synthcheck.examples import example_audio, human_example_audio

    folder = tmp_path_factory.mktemp("clips")
    save_wav(folder / "human.wav", human_example_audio())
    sf.write(folder / "tts.flac", example_audio(0), SAMPLE_RATE, format="FLAC")
    (folder / "alsa.wav").write_bytes(ALSA_CLIP.read_bytes())
    save_wav(folder / "silent.wav", np.zeros(SAMPLE_RATE, dtype=np.float32))
    (folder / "junk.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "notes.txt").write_text("not audio\n")
    save_wav(folder / "long.wav", 0.01 * np.random.default_rng(1).standard_normal(200 * SAMPLE_RATE).astype(np.float32))
    return {p.name: p for p in folder.iterdir()}


@contextmanager
def running_service(guard: Guard, limits: ServiceLimits | None = None, app: object = None) -> Iterator[str]:
    """A real uvicorn server for ``guard`` (or for ``app``, from ``create_app``) on a free loopback port, in a thread;
    yields its base URL."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    app = create_app(guard, limits) if app is None else app
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()


@pytest.fixture(scope="module")
def service(guard: Guard) -> Iterator[str]:
    """Base URL of a service with the default limits."""
    with running_service(guard) as url:
        yield url
