"""The desktop agent: a small FastAPI service in front of a model backend.

API (version 1):

- ``GET /health``: liveness for anyone; backend, model, versions and queue for a caller
  with the token.
- ``POST /v1/generate``: a payload (``dmc/payload.schema.json``) in; an NDJSON stream out:
  progress events, then ``{"event": "result", "response": {...}}`` (the seed's response) or
  ``{"event": "error", "error": {...}}``.
- ``POST /v1/validate``: ``{"files": [{"path", "code", "language"}], "quality_criteria"}``
  in; ``{"validation": {...}}`` out.

Guards, outermost first: body size (413), bearer token (401, constant-time compare; tokens
in the query string are refused), schema (400 with the violations), admission (at most
``max_concurrency`` running and ``queue_size`` waiting, else 503 with Retry-After). A client
that disconnects cancels its generation at the next token. Each request is logged as one
JSON line (never with the token).
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from dmc import __version__
from dmc.contract import DmcError, Exit
from dmc.generate.backends import Backend, Cancelled
from dmc.httpauth import bearer_matches, token_in_query

access_log = logging.getLogger("dmc.agent.access")


@dataclass
class AgentSettings:
    """How the agent runs (from config and ``dmc agent serve`` flags)."""

    token: str | None = None
    max_concurrency: int = 1
    queue_size: int = 8
    max_request_bytes: int = 5 * 1024 * 1024
    generation_timeout: float = 600.0
    retry_after: int = 5


class _Admission:
    """Counts running and waiting generations; refuses beyond capacity."""

    def __init__(self, running_max: int, waiting_max: int) -> None:
        self.running_max = running_max
        self.waiting_max = waiting_max
        self.running = 0
        self.waiting = 0
        self.served = 0
        self._cond = asyncio.Condition()

    def try_enter(self) -> bool:
        if self.running >= self.running_max and self.waiting >= self.waiting_max:
            return False
        self.waiting += 1
        return True

    async def acquire(self) -> None:
        async with self._cond:
            try:
                await self._cond.wait_for(lambda: self.running < self.running_max)
            finally:
                self.waiting -= 1
            self.running += 1

    def abandon(self) -> None:
        """A waiting request left before it got a slot."""
        self.waiting -= 1

    async def release(self) -> None:
        async with self._cond:
            self.running -= 1
            self.served += 1
            self._cond.notify()

    def snapshot(self) -> dict[str, int]:
        return {"running": self.running, "waiting": self.waiting,
                "max_concurrency": self.running_max, "queue_size": self.waiting_max,
                "served": self.served}


def create_app(settings: AgentSettings, backend_factory: Callable[[], Backend]) -> Any:
    """The FastAPI application (the backend is created once, on first use)."""
    from dmc.payload import errors as payload_errors
    from dmc.payload import schema as payload_schema

    app = FastAPI(title="dmc agent", version=__version__,
                  description="The desktop half of dmc: generation and validation.")
    admission = _Admission(settings.max_concurrency, settings.queue_size)
    backend_box: dict[str, Backend] = {}
    backend_lock = threading.Lock()
    health_cache: dict[str, Any] = {"at": 0.0, "value": None}

    def backend() -> Backend:
        with backend_lock:
            if "b" not in backend_box:
                backend_box["b"] = backend_factory()
            return backend_box["b"]

    def problem(status: int, code: str, message: str,
                headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                            headers=headers)

    def authorized(request: Request) -> bool:
        return bearer_matches(request.headers.get("authorization", ""), settings.token)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        start = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request.state.request_id = request_id
        response: Response
        if token_in_query(request.query_params):
            response = problem(401, "token_in_query", "tokens are accepted only in the "
                               "Authorization header, never in the URL")
        elif request.url.path != "/health" and not authorized(request):
            response = problem(401, "unauthorized", "missing or wrong bearer token",
                               headers={"WWW-Authenticate": 'Bearer realm="dmc"'})
        else:
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit()
                                       or int(length) > settings.max_request_bytes):
                response = problem(413, "too_large", f"request body over "
                                   f"{settings.max_request_bytes} bytes")
            else:
                response = await call_next(request)
        response.headers["x-request-id"] = request_id
        access_log.info(json.dumps({
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "request_id": request_id,
            "client": request.client.host if request.client else None,
            "method": request.method, "path": request.url.path, "status": response.status_code,
            "ms": round((time.perf_counter() - start) * 1000, 1)}))
        return response

    async def read_json(request: Request) -> Any:
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > settings.max_request_bytes:
                raise _HTTPProblem(413, "too_large",
                                   f"request body over {settings.max_request_bytes} bytes")
        try:
            return orjson.loads(bytes(body))
        except orjson.JSONDecodeError as exc:
            raise _HTTPProblem(400, "bad_json", f"body is not valid JSON: {exc}") from None

    @app.exception_handler(_HTTPProblem)
    async def on_problem(request: Request, exc: _HTTPProblem) -> JSONResponse:
        return problem(exc.status, exc.code, exc.message)

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        if not authorized(request):
            return {"status": "ok"}
        now = time.monotonic()
        if health_cache["value"] is None or now - health_cache["at"] > 5:
            loop = asyncio.get_running_loop()
            try:
                b = await loop.run_in_executor(None, backend)
                health_cache["value"] = await loop.run_in_executor(None, b.health)
            except DmcError as exc:
                health_cache["value"] = {"ok": False, "detail": exc.message}
            health_cache["at"] = now
        backend_health = health_cache["value"]
        versions = {"dmc": __version__, "python": platform.python_version()}
        try:
            from importlib.metadata import version

            versions["llama_cpp_python"] = version("llama-cpp-python")
        except Exception:  # noqa: BLE001, S110 - optional, absent with a server backend
            pass
        return {"status": "ok" if backend_health.get("ok") else "degraded",
                "backend": backend_health, "queue": admission.snapshot(),
                "versions": versions}

    generate_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": payload_schema()}}}}

    @app.post("/v1/generate", openapi_extra=generate_body,
              responses={200: {"content": {"application/x-ndjson": {}}}})
    async def generate_endpoint(request: Request) -> Response:
        payload = await read_json(request)
        problems = payload_errors(payload)
        if problems:
            return problem(400, "bad_payload", "; ".join(problems[:5]))
        if not admission.try_enter():
            return problem(503, "busy", "the agent is busy; retry later",
                           headers={"Retry-After": str(settings.retry_after)})
        return StreamingResponse(_stream(request, payload), media_type="application/x-ndjson")

    async def _stream(request: Request, payload: dict[str, Any]) -> AsyncIterator[bytes]:
        from dmc.generate import generate

        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        cancel = threading.Event()
        acquired = False
        try:
            yield _line({"event": "queued", "request_id": payload["request_id"],
                         "queue": admission.snapshot()})
            try:
                await admission.acquire()
                acquired = True
            except BaseException:
                admission.abandon()
                raise
            yield _line({"event": "started", "request_id": payload["request_id"]})

            def work() -> None:
                def emit(event: dict[str, Any]) -> None:
                    loop.call_soon_threadsafe(events.put_nowait, event)

                try:
                    response = generate(payload, backend(), on_event=emit,
                                        cancelled=cancel.is_set)
                    emit({"event": "result", "response": response})
                except Cancelled:
                    emit({"event": "error", "error": {"code": int(Exit.INTERRUPTED),
                                                      "message": "cancelled"}})
                except DmcError as exc:
                    emit({"event": "error", "error": {"code": int(exc.code),
                                                      "message": exc.message,
                                                      "hint": exc.hint}})
                except Exception as exc:  # noqa: BLE001 - reported to the client, not lost
                    logging.getLogger("dmc.agent").exception("generation failed")
                    emit({"event": "error", "error": {"code": int(Exit.REMOTE),
                                                      "message": f"{type(exc).__name__}: {exc}"}})
                finally:
                    loop.call_soon_threadsafe(events.put_nowait, None)

            worker = loop.run_in_executor(None, work)
            deadline = time.monotonic() + settings.generation_timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    cancel.set()
                    yield _line({"event": "error", "error": {
                        "code": int(Exit.REMOTE), "message": "generation exceeded "
                        f"{settings.generation_timeout:g} s on the agent"}})
                    break
                try:
                    event = await asyncio.wait_for(events.get(), timeout=min(remaining, 1.0))
                except TimeoutError:
                    if await request.is_disconnected():
                        cancel.set()
                        break
                    continue
                if event is None:
                    break
                yield _line(event)
            cancel.set()
            await asyncio.shield(worker)
        finally:
            cancel.set()
            if acquired:
                await admission.release()

    @app.post("/v1/validate")
    async def validate_endpoint(request: Request) -> Response:
        body = await read_json(request)
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, list) or not files or not all(
                isinstance(f, dict) and isinstance(f.get("path"), str)
                and isinstance(f.get("code"), str) for f in files):
            return problem(400, "bad_request", "expected {\"files\": [{\"path\", \"code\"}]}")
        criteria = body.get("quality_criteria") or {}
        if not isinstance(criteria, dict):
            return problem(400, "bad_request", "quality_criteria must be an object")
        from dmc.generate import validate_files
        from dmc.generate.code import CodeFile

        code_files = [CodeFile(f["path"], f["code"], f.get("language")) for f in files]
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, validate_files, code_files, criteria)
        except DmcError as exc:
            status = 400 if exc.code == Exit.USAGE else 503
            return problem(status, "validate_failed", exc.message)
        return JSONResponse({"validation": result})

    return app


class _HTTPProblem(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _line(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event) + b"\n"


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    import ipaddress

    if token:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise DmcError(f"refusing to listen on {host} without a token",
                       hint="give --token-file FILE or set DMC_AGENT_TOKEN, or bind 127.0.0.1")


def serve(app: Any, *, host: str, port: int, tls_cert: str | None, tls_key: str | None,
          client_ca: str | None) -> None:
    """Run uvicorn (blocking), with TLS and client certificates when configured."""
    import ssl

    import uvicorn

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    kwargs: dict[str, Any] = {}
    if tls_cert or tls_key:
        if not (tls_cert and tls_key):
            raise DmcError("TLS needs both --tls-cert and --tls-key")
        kwargs.update(ssl_certfile=tls_cert, ssl_keyfile=tls_key)
        if client_ca:
            kwargs.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    elif client_ca:
        raise DmcError("--client-ca (mutual TLS) needs --tls-cert and --tls-key")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                limit_concurrency=64, timeout_keep_alive=5, **kwargs)
