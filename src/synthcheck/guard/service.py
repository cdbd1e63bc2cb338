"""``synthcheck serve``: the guard as a long-running HTTP service (FastAPI on uvicorn).

Endpoints
---------
``POST /v1/check``
    multipart upload (field ``audio``; WAV/FLAC/OGG/MP3; optional fields ``detector`` and ``include_audio``)
    → the verdict JSON ``synthcheck detect --json`` prints (with ``include_audio`` also the re-synthesis as a
    base64 WAV under ``resynthesized_wav``, when the detector renders one).
``GET /v1/detectors``
    the loaded detectors, their thresholds and their members' thresholds.
``GET /health``
    liveness and the queue's state.
``GET /``
    a small page to try it (``synthcheck/guard/static``; no external resources).
``GET /openapi.json``
    the OpenAPI description.

The models are loaded once, before the port opens. Checks run one at a time on one worker thread (the models
are not thread-safe, and on a small machine a second concurrent check only slows the first); up to
``queue_size`` more wait, and a request beyond that gets 503 with ``Retry-After``. A request waiting longer than
``timeout_s`` gets 504 (a check already running on the worker is not interrupted, it finishes and is discarded).
Bad input is a 4xx with ``{"error": "one line"}``: 401 bad token, 408 upload too slow, 413 too many bytes or too
many seconds, 415 not an audio type, 422 unreadable, silent or malformed audio or form. Uploads are written to a
temporary directory of the service's own and deleted when their request ends.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import logging
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import soundfile as sf
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from synthcheck.audio.io import SAMPLE_RATE, int16_from_float
from synthcheck.errors import BadInputError, one_line
from synthcheck.guard.batch import AUDIO_EXTENSIONS
from synthcheck.guard.core import FileCheck, Guard

log = logging.getLogger(__name__)

#: Upload content types accepted, with the file ending the decoder is given.
AUDIO_TYPES = {
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
    "audio/flac": ".flac", "audio/x-flac": ".flac", "audio/ogg": ".ogg", "application/ogg": ".ogg",
    "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
}


@dataclass(frozen=True)
class ServiceLimits:
    """The service's limits.

    Attributes
    ----------
    max_bytes
        Largest upload (the whole request body), bytes.
    max_seconds
        Longest recording, seconds.
    queue_size
        Requests that may wait while one check runs; more get 503.
    timeout_s
        Longest a request waits for its verdict (queue + check) before 504.
    upload_timeout_s
        Longest a client may take to send its upload before 408.
    retry_after_s
        The ``Retry-After`` of a 503.
    token
        Bearer token required on ``/v1/*`` (``None``: open; bind to loopback then).
    """

    max_bytes: int = 20 * 1024 * 1024
    max_seconds: float = 120.0
    queue_size: int = 8
    timeout_s: float = 120.0
    upload_timeout_s: float = 30.0
    retry_after_s: int = 5
    token: str | None = None

    def __post_init__(self) -> None:
        if self.max_bytes < 1024:
            raise BadInputError(f"the upload limit must be at least 1024 bytes, got {self.max_bytes}")
        if self.queue_size < 0:
            raise BadInputError(f"the queue size must be >= 0, got {self.queue_size}")
        if not (self.timeout_s > 0 and self.upload_timeout_s > 0 and self.max_seconds > 0):
            raise BadInputError("time-outs and the duration limit must be positive numbers of seconds")


class ApiError(Exception):
    """A request the service refuses: HTTP status and the one-line message of the JSON body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = one_line(message)
        self.headers = headers or {}


class CheckQueue:
    """One worker thread running checks in arrival order, with at most ``capacity`` checks admitted at once."""

    @classmethod
    def for_limits(cls, limits: ServiceLimits) -> CheckQueue:
        """The queue ``limits`` ask for: the running check plus ``limits.queue_size`` waiting."""
        return cls(capacity=limits.queue_size + 1)

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthcheck-check")
        self._lock = threading.Lock()
        self._admitted = 0
        self.served = 0

    @property
    def admitted(self) -> int:
        """Checks running or waiting."""
        return self._admitted

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        """Admit ``fn(*args)``, or raise :class:`ApiError` 503 when the queue is full."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise ApiError(503, f"the service is busy ({self._admitted} checks admitted); retry later")
            self._admitted += 1
        future = self._pool.submit(fn, *args)
        future.add_done_callback(self._release)
        return future

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the worker thread outside the queue's admission and wait for its result.

        ``synthcheck serve`` builds its :class:`Guard` this way: a check on a thread other than the one that
        first ran torch is about 17 % slower (0.56 s against 0.48 s per 1.4 s clip on Whisper base, measured on a
        2-core machine: the idle OpenMP team of the first thread competes for the cores), so the models are loaded
        on the thread that will run every check.
        """
        return self._pool.submit(fn, *args).result()

    def _release(self, future: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1
            self.served += int(not future.cancelled())

    def close(self) -> None:
        """Stop the worker after the running check (waiting ones are cancelled)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def create_app(guard: Guard, limits: ServiceLimits | None = None, queue: CheckQueue | None = None) -> FastAPI:
    """The ASGI application serving ``guard`` (already loaded) under ``limits``, its checks on ``queue``'s worker
    (default: :meth:`CheckQueue.for_limits`)."""
    limits = limits or ServiceLimits()
    if queue is None:
        queue = CheckQueue.for_limits(limits)
    upload_root = Path(tempfile.mkdtemp(prefix="synthcheck-serve-"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            queue.close()
            shutil.rmtree(upload_root, ignore_errors=True)

    app = FastAPI(
        title="synthcheck guard",
        version=_version(),
        description="Checks whether a recording is consistent with what the recogniser heard in it.",
        docs_url=None, redoc_url=None, lifespan=lifespan,  # the Swagger/ReDoc pages load scripts from a CDN
    )
    app.state.guard, app.state.queue, app.state.limits, app.state.upload_root = guard, queue, limits, upload_root
    _install_error_handlers(app)
    static = resources.files("synthcheck.guard") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    @app.get("/health", summary="Liveness and queue state")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "recognizer": guard.recognizer.name, "detectors": list(guard.detector_names),
                "queue": {"admitted": queue.admitted, "capacity": queue.capacity, "served": queue.served}}

    @app.get("/v1/detectors", summary="The loaded detectors and their thresholds")
    async def detectors(request: Request) -> dict[str, Any]:
        _authorise(request, limits)
        return {"recognizer": guard.recognizer.name, "default": guard.default_detector,
                "detectors": [info.to_dict() for info in guard.describe()]}

    @app.post("/v1/check", summary="Check one uploaded recording", openapi_extra=_CHECK_OPENAPI)
    async def check(request: Request) -> JSONResponse:
        _authorise(request, limits)
        _check_declared_length(request, limits)
        with tempfile.TemporaryDirectory(dir=upload_root) as folder:
            upload, detector, include_audio = await _receive_upload(request, limits, Path(folder))
            future = queue.submit(_check_upload, guard, upload, detector, limits.max_seconds)
            try:
                result: FileCheck = await asyncio.wait_for(asyncio.wrap_future(future), timeout=limits.timeout_s)
            except asyncio.TimeoutError:
                future.cancel()
                raise ApiError(504, f"no verdict within {limits.timeout_s:g} s; retry later or with a shorter "
                               "recording") from None
        return JSONResponse(_verdict_body(result, include_audio))

    return app


@dataclass(frozen=True)
class Upload:
    """An upload on disk: where it is and the name the client gave it (used in messages instead of the path)."""

    path: Path
    name: str


def _check_upload(guard: Guard, upload: Upload, detector: str | None, max_seconds: float) -> FileCheck:
    """Runs on the worker thread: check the file, turn a bad one into the matching 413/422."""
    result = guard.check_file(upload.path, detector, max_seconds=max_seconds)
    if not result.ok:
        message = result.error.replace(str(upload.path), upload.name)
        raise ApiError(413 if result.too_long else 422, message)
    return result


def _verdict_body(result: FileCheck, include_audio: bool) -> dict[str, Any]:
    assert result.verdict is not None  # _check_upload raised otherwise
    body = result.verdict.to_dict()
    if include_audio and result.verdict.resynthesized is not None:
        buffer = io.BytesIO()
        sf.write(buffer, int16_from_float(result.verdict.resynthesized), SAMPLE_RATE, format="WAV", subtype="PCM_16")
        body["resynthesized_wav"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    return body


def _authorise(request: Request, limits: ServiceLimits) -> None:
    if limits.token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), limits.token.encode()):
        raise ApiError(401, "missing or wrong bearer token; send 'Authorization: Bearer <token>'",
                       {"WWW-Authenticate": "Bearer"})


def _check_declared_length(request: Request, limits: ServiceLimits) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise ApiError(413, f"the upload is {int(declared)} bytes, over the limit of {limits.max_bytes}; "
                       "send a shorter or compressed recording")


async def _limited_stream(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The request body, refusing more than ``max_bytes`` in total (chunked uploads declare no length)."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise ApiError(413, f"the upload is over the limit of {max_bytes} bytes; send a shorter or compressed "
                           "recording")
        yield chunk


async def _receive_upload(request: Request, limits: ServiceLimits, folder: Path) -> tuple[Upload, str | None, bool]:
    """Parse the multipart form into ``folder``: the audio file, the detector asked for, whether to return audio."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise ApiError(415, f"expected a multipart/form-data upload with the recording in field 'audio', got "
                       f"{media_type or 'no content type'}")
    parser = MultiPartParser(request.headers, _limited_stream(request, limits.max_bytes), max_files=1, max_fields=4)
    try:
        form = await asyncio.wait_for(parser.parse(), timeout=limits.upload_timeout_s)
    except asyncio.TimeoutError:
        raise ApiError(408, f"the upload took longer than {limits.upload_timeout_s:g} s; send it faster") from None
    except MultiPartException as exc:
        raise ApiError(422, f"malformed multipart form: {exc.message}") from None
    try:
        audio = form.get("audio")
        if not isinstance(audio, UploadFile):
            raise ApiError(422, "no file in form field 'audio'; upload the recording as audio=@FILE")
        name = Path(audio.filename or "upload").name
        suffix = _audio_suffix(name, (audio.content_type or "").lower())
        path = folder / f"upload{suffix}"
        with open(path, "wb") as out:
            shutil.copyfileobj(audio.file, out)
    finally:
        await form.close()
    detector = form.get("detector")
    include_audio = str(form.get("include_audio", "")).lower() in ("1", "true", "yes", "on")
    return Upload(path, name), (str(detector) if detector else None), include_audio


def _audio_suffix(name: str, content_type: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in AUDIO_EXTENSIONS:
        return suffix
    if content_type in AUDIO_TYPES:
        return AUDIO_TYPES[content_type]
    raise ApiError(415, f"{name!r} ({content_type or 'no type'}) is not a supported audio type; send WAV, FLAC, OGG "
                   "or MP3")


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is ``{"error": "one line"}``; bad input never becomes a 500."""

    def body(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = dict(exc.headers)
        if exc.status == 503:
            headers["Retry-After"] = str(app.state.limits.retry_after_s)
        return body(exc.status, exc.message, headers)

    @app.exception_handler(BadInputError)
    async def bad_input(_: Request, exc: BadInputError) -> JSONResponse:
        return body(422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: f"no such endpoint {request.url.path}; see /openapi.json",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return body(exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return body(422, "; ".join(str(e.get("msg", e)) for e in exc.errors()) or "invalid request")

    @app.exception_handler(ClientDisconnect)
    async def disconnected(_: Request, __: ClientDisconnect) -> JSONResponse:
        log.info("a client disconnected before its upload was complete")
        return body(400, "the client disconnected during the upload")

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error while serving a request")
        return body(500, f"internal error ({type(exc).__name__}); see the service log")


def _version() -> str:
    from synthcheck import __version__

    return __version__


#: The OpenAPI description of ``POST /v1/check``'s body and answers (the form is parsed by hand, under limits).
_CHECK_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["audio"],
            "properties": {
                "audio": {"type": "string", "format": "binary", "description": "WAV, FLAC, OGG or MP3"},
                "detector": {"type": "string", "description": "one of GET /v1/detectors (default: the first)"},
                "include_audio": {"type": "boolean", "description": "also return the re-synthesis as base64 WAV"},
            },
        }}},
    },
    "responses": {
        "200": {"description": "the verdict (as `synthcheck detect --json`)"},
        **{str(code): {"description": text, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"error": {"type": "string"}}}}}}
           for code, text in [(401, "missing or wrong bearer token"), (408, "upload too slow"),
                              (413, "too many bytes or seconds"), (415, "not a supported audio type"),
                              (422, "unreadable, silent or malformed input"), (503, "queue full; see Retry-After"),
                              (504, "no verdict within the time-out")]},
    },
}
