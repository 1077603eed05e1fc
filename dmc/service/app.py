"""The HTTP API of ``dmc serve`` (FastAPI), for the CLI and the web UI.

API (version 1; JSON in, JSON or a stream out):

- ``GET /health``: liveness for anyone; ``GET /v1/status``: what the service holds.
- ``POST /v1/draft`` ``{"text", "session_id"?, "settings"?}``: prepare the request being
  typed (from ``serve.draft_min_chars`` on); answers at once with ``{"draft_id", "state"}``;
  newer text cancels the older draft's work. ``GET /v1/draft/{id}?wait=SECONDS``: its
  state (``pending``, ``ready`` with the intent and context files, ``cancelled``).
- ``POST /v1/runs`` ``{"text", "session_id"?, "stop_after"?, "continue"?, "local"?,
  "remote"?, "refresh"?, "settings"?}``: start a run and stream its events (NDJSON; SSE
  when the request accepts ``text/event-stream``). The first event names the run
  (``run_started`` with ``run_id``), the last is ``done`` (with the document) or
  ``error``. Every event has ``seq``. The run goes on if the client disconnects.
- ``GET /v1/runs/{id}/events?after=N``: the events after N (all by default), then the
  live ones until the run ends; SSE's ``Last-Event-ID`` works the same.
  ``GET /v1/runs/{id}``: the run and its document; ``POST /v1/runs/{id}/cancel``.
- ``GET /v1/sessions``, ``POST /v1/sessions`` ``{"title"?}``, ``GET /v1/sessions/{id}``:
  sessions and their runs (the ``dmc run`` history is the session ``cli``).

Guards, outermost first: the Host header must name this service (DNS rebinding), an
Origin header must be the service's own or one of ``serve.allowed_origins`` and a
browser's cross-site fetch is refused (``Sec-Fetch-Site``), a POST must be JSON (no form
posts from other pages), tokens in the URL are refused, the bearer token when one is set
(constant-time compare; binding beyond loopback needs one), body size (413).
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from dmc import __version__
from dmc.contract import DmcError, Exit
from dmc.httpauth import bearer_matches, token_in_query
from dmc.pipeline import RunOptions
from dmc.service.core import Service

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass
class ServeSettings:
    """How the service guards itself (from serve.* settings and flags)."""

    host: str = "127.0.0.1"
    port: int = 3000
    token: str | None = None
    max_request_bytes: int = 1024 * 1024
    allowed_origins: list[str] = field(default_factory=list)

    def hosts(self) -> set[str]:
        """Host header values that name this service."""
        names = set(_LOOPBACK_NAMES)
        if self.host not in ("0.0.0.0", "::"):  # noqa: S104 - compared, not bound
            names.add(f"[{self.host}]" if ":" in self.host else self.host)
        return {f"{n}:{self.port}" for n in names} | names

    def origins(self) -> set[str]:
        return {f"http://{h}" for h in self.hosts() if ":" in h.rsplit("]", 1)[-1]} | \
            {o.rstrip("/") for o in self.allowed_origins}


class _Problem(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _problem(status: int, code: str, message: str,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token (the agent's rule)."""
    if token:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise DmcError(f"refusing to listen on {host} without a token",
                       hint="give --token-file FILE or set DMC_SERVE_TOKEN, or bind "
                            "127.0.0.1")


_SETTINGS_SCHEMA = {"type": "object", "description": "per-request settings (dmc config "
                    "list); serve.*, server.* and *_file settings are refused",
                    "additionalProperties": True}
_STAGE = {"type": "string", "enum": ["intent", "extract", "retrieve", "optimize", "generate",
                                     "validate"]}
BODIES: dict[str, dict[str, Any]] = {
    "draft": {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string"}, "session_id": {"type": "string"},
        "settings": _SETTINGS_SCHEMA}},
    "run": {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string"}, "session_id": {"type": "string"}, "stop_after": _STAGE,
        "continue": {"type": "boolean"}, "local": {"type": "boolean"},
        "remote": {"type": "boolean"}, "refresh": {"type": "boolean"},
        "settings": _SETTINGS_SCHEMA}},
    "session": {"type": "object", "properties": {"title": {"type": "string"}}},
}


def _body_doc(name: str) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that reads its JSON itself (size-capped)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": BODIES[name]}}}}


def create_app(service: Service, settings: ServeSettings) -> Any:
    """The FastAPI application in front of ``service``."""
    app = FastAPI(title="dmc serve", version=__version__,
                  description="The laptop half of dmc, warm: drafts, runs, sessions.")
    hosts = settings.hosts()
    origins = settings.origins()

    def authorized(request: Request) -> bool:
        return bearer_matches(request.headers.get("authorization", ""), settings.token)

    def refused(request: Request) -> Response | None:
        host = request.headers.get("host", "").lower()
        if host not in hosts:
            return _problem(421, "bad_host", "this service answers only to its own address "
                            "(the Host header names another)")
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() not in origins:
            return _problem(403, "bad_origin", "requests from this web origin are not "
                            "allowed (serve.allowed_origins)")
        if request.headers.get("sec-fetch-site") == "cross-site":
            return _problem(403, "cross_site", "cross-site requests are not allowed")
        if token_in_query(request.query_params):
            return _problem(401, "token_in_query", "tokens are accepted only in the "
                            "Authorization header, never in the URL")
        if request.url.path != "/health" and not authorized(request):
            return _problem(401, "unauthorized", "missing or wrong bearer token",
                            headers={"WWW-Authenticate": 'Bearer realm="dmc"'})
        if request.method == "POST":
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return _problem(415, "not_json", "POST bodies must be application/json")
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit()
                                       or int(length) > settings.max_request_bytes):
                return _problem(413, "too_large",
                                f"request body over {settings.max_request_bytes} bytes")
        return None

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response = refused(request)
        if response is None:
            response = await call_next(request)
        response.headers["x-content-type-options"] = "nosniff"
        return response

    @app.exception_handler(_Problem)
    async def on_problem(request: Request, exc: _Problem) -> JSONResponse:
        return _problem(exc.status, exc.code, exc.message)

    @app.exception_handler(DmcError)
    async def on_error(request: Request, exc: DmcError) -> JSONResponse:
        status = 400 if exc.code == Exit.USAGE else 503
        return _problem(status, "bad_request" if status == 400 else "unavailable",
                        exc.message + (f" ({exc.hint})" if exc.hint else ""))

    async def body(request: Request) -> dict[str, Any]:
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > settings.max_request_bytes:
                raise _Problem(413, "too_large",
                               f"request body over {settings.max_request_bytes} bytes")
        try:
            value = orjson.loads(bytes(data))
        except orjson.JSONDecodeError as exc:
            raise _Problem(400, "bad_json", f"body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise _Problem(400, "bad_request", "the body must be a JSON object")
        return value

    def field_of(data: dict[str, Any], name: str, kind: type,
                 default: Any = None, required: bool = False) -> Any:
        value = data.get(name, default)
        if value is None and not required:
            return default
        ok = isinstance(value, bool) if kind is bool else \
            isinstance(value, kind) and not isinstance(value, bool)
        if not ok:
            raise _Problem(400, "bad_request", f"'{name}' has the wrong type")
        return value

    async def offload(fn: Callable[..., Any], *args: Any) -> Any:
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "service": "dmc serve", "version": __version__}

    @app.get("/v1/status")
    async def status() -> dict[str, Any]:
        return service.status()

    @app.post("/v1/draft", openapi_extra=_body_doc("draft"))
    async def draft(request: Request) -> JSONResponse:
        data = await body(request)
        text = field_of(data, "text", str, required=True)
        session = field_of(data, "session_id", str, "")
        overrides = field_of(data, "settings", dict, {})
        answer = await offload(service.draft, text, session, overrides)
        return JSONResponse(answer, status_code=202 if answer.get("state") == "pending"
                            else 200)

    @app.get("/v1/draft/{draft_id}")
    async def draft_state(draft_id: str, wait: float = 0.0) -> JSONResponse:
        answer = await offload(service.draft_status, draft_id, min(max(wait, 0.0), 30.0))
        if answer is None:
            return _problem(404, "no_draft", f"no draft {draft_id}")
        return JSONResponse(answer)

    def stream(request: Request, events: AsyncIterator[dict[str, Any]]) -> Response:
        sse = "text/event-stream" in request.headers.get("accept", "")

        async def lines() -> AsyncIterator[bytes]:
            async for event in events:
                if sse:
                    yield (f"id: {event.get('seq', '')}\nevent: {event['event']}\n"
                           f"data: ").encode() + orjson.dumps(event) + b"\n\n"
                else:
                    yield orjson.dumps(event) + b"\n"

        return StreamingResponse(lines(), media_type="text/event-stream" if sse
                                 else "application/x-ndjson",
                                 headers={"cache-control": "no-store"})

    @app.post("/v1/runs", openapi_extra=_body_doc("run"),
              responses={200: {"content": {"application/x-ndjson": {},
                                           "text/event-stream": {}}}})
    async def start_run(request: Request) -> Response:
        data = await body(request)
        text = field_of(data, "text", str, required=True)
        options = RunOptions(refresh=field_of(data, "refresh", bool, False),
                             local=field_of(data, "local", bool, False),
                             remote=field_of(data, "remote", bool, False))
        if options.local and options.remote:
            raise _Problem(400, "bad_request", "local and remote contradict each other")
        live = await offload(lambda: service.start_run(
            text, session_id=field_of(data, "session_id", str),
            stop_after=field_of(data, "stop_after", str), options=options,
            follow_up=field_of(data, "continue", bool, False),
            overrides=field_of(data, "settings", dict, {})))
        return stream(request, service.follow(live.id))

    @app.get("/v1/runs/{run_id}")
    async def get_run(run_id: str) -> JSONResponse:
        info = await offload(service.describe_run, run_id)
        if info is None:
            return _problem(404, "no_run", f"no run {run_id}")
        return JSONResponse(info)

    @app.get("/v1/runs/{run_id}/events")
    async def run_events(request: Request, run_id: str, after: int = -1) -> Response:
        last = request.headers.get("last-event-id", "")
        if last.strip().lstrip("-").isdigit():
            after = max(after, int(last))
        if await offload(service.history.run, run_id) is None:
            return _problem(404, "no_run", f"no run {run_id}")
        return stream(request, service.follow(run_id, after))

    @app.post("/v1/runs/{run_id}/cancel")
    async def cancel_run(run_id: str) -> JSONResponse:
        return JSONResponse({"cancelled": service.cancel(run_id)})

    @app.get("/v1/sessions")
    async def sessions() -> JSONResponse:
        return JSONResponse({"sessions": await offload(service.history.sessions)})

    @app.post("/v1/sessions", openapi_extra=_body_doc("session"))
    async def new_session(request: Request) -> JSONResponse:
        data = await body(request)
        title = field_of(data, "title", str, "")
        return JSONResponse({"id": await offload(service.history.new_session, title)},
                            status_code=201)

    @app.get("/v1/sessions/{session_id}")
    async def session(session_id: str) -> JSONResponse:
        if not await offload(service.history.has_session, session_id):
            return _problem(404, "no_session", f"no session {session_id}")
        return JSONResponse({"id": session_id,
                             "runs": await offload(service.history.runs, session_id)})

    return app
