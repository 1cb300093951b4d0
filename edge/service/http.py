"""`POST /ocr`: the PaddleOCR serving API (same request, same response), served by uvicorn + FastAPI.

A request becomes a journal job like any other and runs on the one worker; the handler waits for its result.
Failures answer `{logId, errorCode, errorMsg}` with errorCode equal to the HTTP status.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Callable

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import Settings
from ..errors import EngineError, InputError
from ..io.images import frame_count
from ..io.pdf import page_count
from . import protocol
from .images import ImageStore
from .jobs import HttpJob, new_log_id
from .journal import Journal
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .metrics import Metrics

log = logging.getLogger(__name__)
SERVING_KEYS = ("logId", "errorCode", "errorMsg", "result")


class Waiter:
    """Hands finished jobs from the worker thread to the HTTP handlers waiting for them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._results: dict[str, dict] = {}

    def expect(self, job_id: str) -> threading.Event:
        with self._lock:
            ev = self._events.setdefault(job_id, threading.Event())
            if job_id in self._results:
                ev.set()
            return ev

    def finish(self, job_id: str, envelope: dict) -> None:
        with self._lock:
            ev = self._events.get(job_id)
            if ev is None:
                return  # not an HTTP job, or nobody waits any more
            self._results[job_id] = envelope
            ev.set()

    def take(self, job_id: str) -> dict | None:
        with self._lock:
            self._events.pop(job_id, None)
            return self._results.pop(job_id, None)


def _pages(payload: bytes, kind: str, page_limit: int) -> int:
    """Pages a request will cost: 1 for an image, the pages read of a PDF or multi-page TIFF."""
    if kind == "pdf":
        return min(page_count(payload, "file"), page_limit)
    return min(frame_count(payload, "file"), page_limit) if kind == "tiff" else 1


def _fail(log_id: str, code: int, message: str) -> JSONResponse:
    return JSONResponse(protocol.failure(log_id, code, message), status_code=code)


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def _fetch(url: str, allowed: list[str], limit: int) -> bytes:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        raise protocol.RequestError(protocol.UNPROCESSABLE, "file: only http and https URLs are accepted")
    if host not in allowed:
        raise protocol.RequestError(403, f"file: host {host!r} is not in http.url_allow_hosts")
    try:
        with urllib.request.build_opener(_NoRedirects).open(url, timeout=20) as r:
            data = r.read(limit + 1)
    except OSError as e:
        raise protocol.RequestError(protocol.UNPROCESSABLE, f"file: cannot fetch {url}: {e}") from None
    if len(data) > limit:
        raise protocol.RequestError(protocol.TOO_LARGE, f"file: {url} is larger than {limit} bytes")
    return data


async def _read_body(request: Request, limit: int) -> bytearray | None:
    """The body, or None once it passes the limit."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return body


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead from an allowed host to any other (SSRF): none is followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise protocol.RequestError(protocol.UNPROCESSABLE, f"file: {req.full_url} redirects ({code}) to {newurl}; "
                                                            "redirects are not followed, send the final URL")


def create_app(settings: Settings, journal: Journal, waiter: Waiter,
               health: Callable[[], tuple[bool, dict]] | None = None, metrics: Metrics | None = None) -> FastAPI:
    cfg = settings.http
    limit = settings.limits.max_payload_bytes
    images = ImageStore(settings.state_dir / "http-images", cfg.url_expires_seconds)
    app = FastAPI(title="edge-ocr", version="1", docs_url=None, redoc_url=None,
                  description="PaddleOCR serving API (OCR pipeline) on an edge device.")
    schema = protocol.OCRRequest.model_json_schema()

    @app.post("/ocr", openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}},
              responses={200: {"description": "`{logId, errorCode: 0, errorMsg: 'Success', result: {ocrResults, dataInfo}}`"},
                         400: {"description": "body is not JSON"}, 403: {"description": "token missing or wrong"},
                         413: {"description": "body or input over a limit"}, 422: {"description": "invalid field or input"},
                         429: {"description": "daily page quota used up"}, 504: {"description": "job not finished in time"}})
    async def ocr(request: Request) -> JSONResponse:
        log_id = new_log_id()
        if cfg.token and not hmac.compare_digest(request.headers.get("authorization", "").encode("utf-8", "replace"),
                                                 f"token {cfg.token.get_secret_value()}".encode()):
            return _fail(log_id, 403, "missing or wrong token (send 'Authorization: token <token>')")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return _fail(log_id, protocol.TOO_LARGE, f"request body of {declared} bytes is over the limit of {limit}")
        try:
            body = await asyncio.wait_for(_read_body(request, limit), cfg.read_timeout_seconds)
        except asyncio.TimeoutError:
            return _fail(log_id, 408, f"the request body did not arrive within {cfg.read_timeout_seconds:g} s")
        if body is None:
            return _fail(log_id, protocol.TOO_LARGE, f"request body is over the limit of {limit} bytes")
        try:
            data = protocol.loads(bytes(body))
            log_id = protocol.request_log_id(data) or log_id  # every answer, an error too, carries the client's
            req = protocol.parse_request(data)
            options = req.options().given()
            if req.file.startswith(("http://", "https://")):
                if not cfg.allow_urls:
                    raise protocol.RequestError(protocol.UNPROCESSABLE, "file: URLs are not accepted on this device "
                                                                        "(http.allow_urls is off); send base64")
                payload = await asyncio.to_thread(_fetch, req.file, cfg.url_allow_hosts, limit)
                kind = protocol.file_kind(payload, req.fileType)
            else:
                payload, kind = protocol.decode_file(req)
        except protocol.RequestError as e:
            return _fail(log_id, e.code, e.message)
        page_limit = cfg.max_pages if kind in ("pdf", "tiff") else None
        reserved, day = 0, _today()
        if cfg.daily_page_quota is not None:
            try:
                reserved = await asyncio.to_thread(_pages, payload, kind, page_limit or settings.limits.max_pdf_pages)
            except InputError as e:
                return _fail(log_id, protocol.input_error_code(e), e.message)
            if not journal.quota_reserve(day, reserved, cfg.daily_page_quota):
                return _fail(log_id, 429, f"the daily quota of {cfg.daily_page_quota} pages would be passed by this "
                                          f"request's {reserved} page(s); try tomorrow (UTC)")
        visualize = cfg.visualize if req.visualize is None else req.visualize
        spec = HttpJob(kind=kind, options=options, visualize=visualize, log_id=log_id, page_limit=page_limit,
                       client=request.client.host if request.client else None)
        job_id, _ = journal.add(f"http:{uuid.uuid4().hex}", spec, payload=payload)
        event = waiter.expect(job_id)
        finished = await asyncio.to_thread(event.wait, cfg.request_timeout_seconds)
        envelope = waiter.take(job_id)
        if not finished or envelope is None:
            return _fail(log_id, 504, f"the job did not finish within {cfg.request_timeout_seconds:.0f} s; it stays queued")
        if reserved:  # give back what was reserved and not used (a failed job, fewer pages than counted)
            used = len(envelope["result"]["ocrResults"]) if envelope["errorCode"] == 0 else 0
            if used < reserved:
                journal.quota_add(day, used - reserved)
        response = {k: envelope[k] for k in SERVING_KEYS if k in envelope}
        if cfg.return_urls and envelope["errorCode"] == 0:
            await asyncio.to_thread(images.to_urls, response["result"]["ocrResults"], str(request.base_url))
        return JSONResponse(response, status_code=200 if envelope["errorCode"] == 0 else envelope["errorCode"])

    if metrics:
        @app.get("/metrics", include_in_schema=False)
        async def prometheus() -> Response:
            return Response(metrics.render(), media_type=METRICS_TYPE)

    if cfg.return_urls:
        @app.get("/files/{key}/{name}", include_in_schema=False)
        async def stored_image(key: str, name: str) -> Response:
            data = await asyncio.to_thread(images.read, key, name)
            if data is None:
                return _fail(new_log_id(), 404, "no such image (it may have expired; see http.url_expires_seconds)")
            return Response(data, media_type="image/jpeg")

    @app.get("/health", responses={503: {"description": "the worker is stuck or paused (the body says why)"}})
    async def health_check() -> JSONResponse:
        """PaddleX's health answer (`{logId, errorCode: 0, errorMsg: "Healthy"}`) with the service's state beside
        it; 503 while the worker is stuck or paused, so it serves as a compose/systemd health check too
        (`curl -fsS http://127.0.0.1:8080/health`)."""
        ok, detail = health() if health else (True, {})
        why = f"the worker is {detail.get('worker', 'not serving')}"
        return JSONResponse({"logId": new_log_id(), "errorCode": 0 if ok else 503,
                             "errorMsg": "Healthy" if ok else f"Unhealthy: {why}",
                             "status": "ok" if ok else "unhealthy", "queue": journal.counts(), **detail},
                            status_code=200 if ok else 503)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Any other path or method gets PaddleX's error shape too (`{logId, errorCode, errorMsg}`)."""
        return _fail(new_log_id(), exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("HTTP handler failed")
        return _fail(new_log_id(), protocol.INTERNAL, "Internal server error")

    return app


def _header_timeout_protocol(seconds: float) -> type:
    """uvicorn's HTTP/1.1 protocol with a deadline for a request's headers: a client that opens a connection and
    sends its headers slowly (or never) is disconnected after `seconds`, so slow clients cannot hold every slot."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._headers_late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            if self.cycle is None and not self.transport.is_closing():  # still no complete request line and headers
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on a kept-alive connection gets the same deadline

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


class HttpServer:
    def __init__(self, settings: Settings, journal: Journal, waiter: Waiter,
                 health: Callable[[], tuple[bool, dict]] | None = None, metrics: Metrics | None = None):
        app = create_app(settings, journal, waiter, health, metrics)
        self.server = uvicorn.Server(uvicorn.Config(
            app, host=settings.http.host, port=settings.http.port, log_level="warning", lifespan="off",
            access_log=False, limit_concurrency=settings.http.max_connections, timeout_keep_alive=5,
            http=_header_timeout_protocol(settings.http.header_timeout_seconds)))
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self, timeout: float = 30) -> None:
        """Returns once the socket listens, so READY=1 means requests are accepted."""
        self.thread.start()
        end = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                raise EngineError(f"HTTP server could not listen on {self.server.config.host}:{self.server.config.port}",
                                  hint="another process may use the port; change http.port")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
