"""The HTTP API of ``dmc serve`` (FastAPI), for the CLI and the web UI.

API (version 1; JSON in, JSON or a stream out):

- ``GET /health``: liveness for anyone; ``GET /v1/status``: what the service holds.
- ``POST /v1/draft`` ``{"text", "session_id"?, "prefill"?, "settings"?}``: prepare the
  request being typed (from ``serve.draft_min_chars`` on; ``prefill``: evaluate its prompt
  on the embedded model too); answers at once with ``{"draft_id", "state"}``;
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
- ``GET /v1/runs?q=&limit=&before=``: the history, newest first, searchable.
  ``GET /v1/runs/{id}/changes``: the result per file as a diff against the working tree
  (or why applying it would be refused); ``POST /v1/runs/{id}/apply`` ``{"partial"?}``
  writes it (``dmc run --apply``'s rules, through dmc.apply); ``POST
  /v1/runs/{id}/discard``.
- ``GET /v1/metrics/{latency,throughput,quality,index,queue,memory}?hours=H``: the
  figures behind each chart of the dashboard (dmc.service.metrics).
- The web UI: ``GET /`` and ``/ui/*`` (static files shipped in dmc/service/web);
  ``POST /v1/auth/login`` ``{"code"}`` turns a one-time code into a browser session
  cookie, ``POST /v1/auth/codes`` (bearer) makes a code (dmc.service.webauth).

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
from dmc.service.webauth import COOKIE, WebLogins

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
        "prefill": {"type": "boolean"}, "settings": _SETTINGS_SCHEMA}},
    "run": {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string"}, "session_id": {"type": "string"}, "stop_after": _STAGE,
        "continue": {"type": "boolean"}, "local": {"type": "boolean"},
        "remote": {"type": "boolean"}, "refresh": {"type": "boolean"},
        "settings": _SETTINGS_SCHEMA}},
    "session": {"type": "object", "properties": {"title": {"type": "string"}}},
    "apply": {"type": "object", "properties": {"partial": {"type": "boolean"}}},
    "empty": {"type": "object"},
    "login": {"type": "object", "required": ["code"], "properties": {
        "code": {"type": "string"}}},
}

#: what a browser may fetch without being logged in: the page itself (no data in it), the
#: login, and liveness
_OPEN_PATHS = ("/health", "/", "/favicon.ico", "/v1/auth", "/v1/auth/login")
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
METRIC_KINDS = ("latency", "throughput", "quality", "index", "queue", "memory")


def web_files() -> dict[str, bytes]:
    """The web UI's files, read once from the package (dmc/service/web)."""
    from importlib.resources import files

    root = files("dmc.service") / "web"
    return {f.name: f.read_bytes() for f in root.iterdir()
            if f.is_file() and f.name.rsplit(".", 1)[-1] in ("html", "js", "css", "svg")}


def _body_doc(name: str) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that reads its JSON itself (size-capped)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": BODIES[name]}}}}


def create_app(service: Service, settings: ServeSettings,
               logins: WebLogins | None = None) -> Any:
    """The FastAPI application in front of ``service``; ``logins``: the one-time codes
    ``dmc serve`` prints for the browser (made here when not given)."""
    app = FastAPI(title="dmc serve", version=__version__,
                  description="The laptop half of dmc, warm: drafts, runs, sessions.")
    hosts = settings.hosts()
    origins = settings.origins()
    logins = logins or WebLogins()
    web = web_files()

    def authorized(request: Request) -> bool:
        if settings.token is not None and logins.valid(request.cookies.get(COOKIE)):
            return True
        return bearer_matches(request.headers.get("authorization", ""), settings.token)

    def open_path(path: str) -> bool:
        return path in _OPEN_PATHS or path.startswith("/ui/")

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
        if not open_path(request.url.path) and not authorized(request):
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

    # --- the web UI and its login ----------------------------------------------------------

    def static(name: str) -> Response:
        data = web.get(name)
        if data is None:
            return _problem(404, "not_found", f"no file {name}")
        kind = _TYPES.get("." + name.rsplit(".", 1)[-1], "application/octet-stream")
        return Response(data, media_type=kind, headers={
            "content-security-policy": _CSP, "x-frame-options": "DENY",
            "referrer-policy": "no-referrer", "cache-control": "no-cache"})

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return static("index.html")

    @app.get("/ui/{name}", include_in_schema=False)
    async def ui_file(name: str) -> Response:
        return static(name)

    @app.get("/v1/auth")
    async def auth_state(request: Request) -> JSONResponse:
        """Whether this client is let in (the page asks before anything else)."""
        return JSONResponse({"token_required": settings.token is not None,
                             "browser_session": logins.valid(request.cookies.get(COOKIE))})

    @app.post("/v1/auth/login", openapi_extra=_body_doc("login"))
    async def login(request: Request) -> JSONResponse:
        data = await body(request)
        code = field_of(data, "code", str, required=True)
        session = logins.redeem(code) if settings.token is not None else None
        if session is None:
            return _problem(401, "bad_code", "this login code is unknown, used or expired "
                            "(run `dmc serve --login-url` for a new one)")
        response = JSONResponse({"logged_in": True})
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/",
                            max_age=12 * 3600)
        return response

    @app.post("/v1/auth/logout", openapi_extra=_body_doc("empty"))
    async def logout(request: Request) -> JSONResponse:
        logins.end(request.cookies.get(COOKIE))
        response = JSONResponse({"logged_in": False})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.post("/v1/auth/codes", openapi_extra=_body_doc("empty"))
    async def new_code(request: Request) -> JSONResponse:
        """A one-time login code for a browser; only for a bearer-token holder (a browser
        session cannot mint more)."""
        if settings.token is None:
            return _problem(400, "no_token", "this service has no token: the page needs "
                            "no login")
        if not bearer_matches(request.headers.get("authorization", ""), settings.token):
            return _problem(403, "bearer_only", "login codes are made for the token's "
                            "holder only")
        code = logins.new_code()
        return JSONResponse({"code": code, "path": f"/#login={code}"}, status_code=201)

    @app.get("/v1/status")
    async def status() -> dict[str, Any]:
        return service.status()

    @app.post("/v1/draft", openapi_extra=_body_doc("draft"))
    async def draft(request: Request) -> JSONResponse:
        data = await body(request)
        text = field_of(data, "text", str, required=True)
        session = field_of(data, "session_id", str, "")
        overrides = field_of(data, "settings", dict, {})
        prefill = field_of(data, "prefill", bool, False)
        answer = await offload(service.draft, text, session, overrides, prefill)
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

    @app.get("/v1/runs")
    async def list_runs(q: str = "", limit: int = 50,
                        before: float | None = None) -> JSONResponse:
        runs = await offload(service.history.search_runs, q[:500], limit, before)
        return JSONResponse({"runs": runs, "query": q})

    async def result_call(fn: Callable[..., Any], run_id: str, *args: Any) -> JSONResponse:
        try:
            return JSONResponse(await offload(fn, run_id, *args))
        except LookupError:
            return _problem(404, "no_run", f"no run {run_id}")
        except DmcError as exc:
            return _problem(409, "refused", exc.message + (f" ({exc.hint})" if exc.hint
                                                           else ""))

    @app.get("/v1/runs/{run_id}/changes")
    async def run_changes(run_id: str) -> JSONResponse:
        return await result_call(service.changes, run_id)

    @app.post("/v1/runs/{run_id}/apply", openapi_extra=_body_doc("apply"))
    async def apply_run(request: Request, run_id: str) -> JSONResponse:
        data = await body(request)
        return await result_call(service.apply, run_id, field_of(data, "partial", bool,
                                                                 False))

    @app.post("/v1/runs/{run_id}/discard", openapi_extra=_body_doc("empty"))
    async def discard_run(request: Request, run_id: str) -> JSONResponse:
        await body(request)
        return await result_call(service.discard, run_id)

    @app.get("/v1/metrics")
    async def metric_index() -> JSONResponse:
        return JSONResponse({"charts": {k: f"/v1/metrics/{k}" for k in METRIC_KINDS}})

    @app.get("/v1/metrics/{kind}")
    async def metric(kind: str, hours: float = 24.0) -> JSONResponse:
        if kind not in METRIC_KINDS:
            return _problem(404, "no_metric", f"no chart {kind} (one of "
                            f"{', '.join(METRIC_KINDS)})")
        if not 0.01 <= hours <= 24 * 366:
            return _problem(400, "bad_request", "hours must be between 0.01 and 8784")
        return JSONResponse(await offload(service.dashboard.metrics, kind, hours))

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
