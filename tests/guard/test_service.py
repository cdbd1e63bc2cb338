"""``synthcheck serve``'s endpoints against a real uvicorn server and the real guard: answers, errors, description."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from synthcheck.cli import main
from synthcheck.guard.service import ServiceLimits

from .conftest import post_clip, running_service


def _without_timings(verdict: dict) -> dict:
    return {k: v for k, v in verdict.items() if k != "timings"}


def test_check_answers_what_detect_json_prints(service, clips, capsys) -> None:
    answer = post_clip(service, clips["human.wav"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert main(["detect", str(clips["human.wav"]), "--json", "--asr", "whisper-tiny.en"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert _without_timings(answer.json()) == _without_timings(printed)
    assert answer.json()["consistent"] and set(answer.json()["details"]["members"]) == {"likelihood-base", "align"}


def test_a_named_detector_and_the_resynthesis_as_wav(service, clips, guard) -> None:
    body = post_clip(service, clips["tts.flac"], detector="paper", include_audio="1").json()
    assert body["detector"] == "paper" and body["synthesizer"] == "pico2wave:en-US"
    audio, rate = sf.read(io.BytesIO(base64.b64decode(body["resynthesized_wav"])), dtype="float32")
    expected = guard.check_file(clips["tts.flac"], "paper").verdict.resynthesized
    assert rate == 16_000 and audio.shape == expected.shape and np.max(np.abs(audio - expected)) <= 1 / 32768
    assert "resynthesized_wav" not in post_clip(service, clips["tts.flac"], detector="paper").json()


@pytest.mark.parametrize("fmt, suffix", [("OGG", ".ogg"), ("MP3", ".mp3"), ("FLAC", ".flac")])
def test_every_supported_type_is_checked_like_the_same_file_on_disk(service, clips, guard, tmp_path, fmt,
                                                                     suffix) -> None:
    samples, rate = sf.read(clips["human.wav"], dtype="float32")
    path = tmp_path / f"speech{suffix}"
    sf.write(path, samples, rate, format=fmt)
    answer = post_clip(service, path)
    assert answer.status_code == 200, answer.text
    expected = guard.check_file(path).verdict.to_dict()
    assert _without_timings(answer.json()) == _without_timings(expected)
    assert answer.json()["transcript"]


def test_detectors_and_health_describe_what_is_loaded(service) -> None:
    listing = httpx.get(f"{service}/v1/detectors").json()
    assert listing["recognizer"] == "whisper-tiny.en" and listing["default"] == "likelihood+align"
    assert [d["name"] for d in listing["detectors"]] == ["likelihood+align", "paper"]
    assert listing["detectors"][0]["members"] == {"likelihood-base": 0.551, "align": 0.166}
    health = httpx.get(f"{service}/health").json()
    assert health["status"] == "ok" and health["queue"]["capacity"] == ServiceLimits().queue_size + 1


@pytest.mark.parametrize(
    ("clip", "name", "status", "fragment"),
    [
        ("notes.txt", None, 415, "'notes.txt' (text/plain) is not a supported audio type"),
        ("junk.wav", None, 422, "could not decode junk.wav as audio"),
        ("silent.wav", None, 422, "silent.wav: audio is silent"),
        ("human.wav", "evil\n<b>name</b>.wav", 200, ""),
        ("junk.wav", "evil\n<b>.wav", 422, "could not decode evil"),
    ],
)
def test_bad_uploads_are_one_line_4xx_naming_the_upload_not_the_temp_file(service, clips, clip, name, status,
                                                                          fragment) -> None:
    answer = post_clip(service, clips[clip], name)
    assert answer.status_code == status
    if status != 200:
        error = answer.json()["error"]
        assert fragment in error and "\n" not in error and "synthcheck-serve-" not in error
        assert set(answer.json()) == {"error"}


def test_requests_that_are_not_an_upload(service, clips) -> None:
    cases = [
        (httpx.post(f"{service}/v1/check", files={"sound": ("a.wav", b"RIFF")}), 422, "no file in form field 'audio'"),
        (httpx.post(f"{service}/v1/check", data={"audio": "text"}), 415, "got application/x-www-form-urlencoded"),
        (httpx.post(f"{service}/v1/check", content=b"raw", headers={"content-type": "audio/wav"}), 415, "multipart"),
        (httpx.get(f"{service}/v1/check"), 405, "GET is not allowed"),
        (httpx.get(f"{service}/v2/nothing"), 404, "no such endpoint /v2/nothing"),
        (post_clip(service, clips["human.wav"], detector="dtw"), 422, "not loaded here"),
        (httpx.post(f"{service}/v1/check", content=b"--x\r\nbroken", headers={
            "content-type": "multipart/form-data; boundary=x"}), 422, "no file in form field 'audio'"),
        (httpx.post(f"{service}/v1/check", content=b"x", headers={
            "content-type": "multipart/form-data"}), 422, "malformed multipart form"),
    ]
    for answer, status, fragment in cases:
        assert answer.status_code == status, answer.text
        assert fragment in answer.json()["error"], answer.text


def test_openapi_describes_the_upload_and_the_errors(service) -> None:
    spec = httpx.get(f"{service}/openapi.json").json()
    check = spec["paths"]["/v1/check"]["post"]
    schema = check["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["audio"] and schema["properties"]["audio"]["format"] == "binary"
    assert {"413", "415", "422", "503"} <= set(check["responses"])
    assert {"/health", "/v1/detectors", "/v1/check"} <= set(spec["paths"])
    assert httpx.get(f"{service}/docs").status_code == 404  # the Swagger page would load a CDN


def test_the_page_and_its_files_load_nothing_from_elsewhere(service) -> None:
    page = httpx.get(f"{service}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    static = Path(__file__).parents[2] / "src" / "synthcheck" / "guard" / "static"
    for path in static.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name
        assert httpx.get(f"{service}/static/{path.name}").status_code == 200


def test_a_bearer_token_guards_the_api_but_not_health(guard, clips) -> None:
    with running_service(guard, ServiceLimits(token="s3cret")) as url:
        refused = httpx.get(f"{url}/v1/detectors")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{url}/v1/detectors", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/v1/detectors", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200


def test_serve_usage_errors_are_one_line_exit_2(capsys, monkeypatch) -> None:
    monkeypatch.delenv("SYNTHCHECK_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "set a bearer token in $SYNTHCHECK_TOKEN" in capsys.readouterr().err
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "choose another --port" in err[0]
    finally:
        taken.close()
    assert main(["serve", "--detector", "nonsense"]) == 2
    assert "unknown detector" in capsys.readouterr().err


def test_the_serve_command_starts_answers_and_stops(clips) -> None:
    command = [str(Path(sys.executable).with_name("synthcheck")), "serve", "--port", "0", "--asr", "pocketsphinx",
               "--detector", "paper"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "serving on" not in line:
            assert server.poll() is None and time.monotonic() < deadline, line
            line = server.stderr.readline()
        url = line.split("serving on ")[1].split("/;")[0]
        body = post_clip(url, clips["tts.flac"]).json()
        assert body["recognizer"] == "pocketsphinx" and body["detector"] == "paper"
    finally:
        server.terminate()
        assert server.wait(timeout=30) is not None
