"""``dmc serve``: the laptop service (the pipeline kept warm behind an HTTP API)."""

from __future__ import annotations

from pathlib import Path

import typer
from dmc.commands import ui
from dmc.commands.common import REPO, SET, fail, load_config

from dmc.config import Config
from dmc.contract import DmcError


def main(
    host: str = typer.Option(None, "--host", help="Bind address [config: serve.host]; "
                             "anything but loopback needs a token."),
    port: int = typer.Option(None, "--port", min=1, max=65535,
                             help="Port [config: serve.port]."),
    token_file: Path = typer.Option(None, "--token-file", help="File holding the bearer "
                                    "token clients must send (or set DMC_SERVE_TOKEN)."),
    no_warm: bool = typer.Option(False, "--no-warm", help="Load models on first use, not "
                                 "at start."),
    no_prefill: bool = typer.Option(False, "--no-prefill", help="Do not evaluate a typed "
                                    "request's prompt on the embedded model before it is "
                                    "sent."),
    login_url: bool = typer.Option(False, "--login-url", help="Ask the running service "
                                   "(with the token) for a one-time web UI login URL, "
                                   "print it and exit."),
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Serve the pipeline for this repository: drafts, runs with event streams, sessions.

    Keeps warm what is slow to load (the embedding model, the tokenizer, the intent model,
    the style profile, the in-process generation model), prepares a request while it is
    typed (POST /v1/draft), runs intent, extraction and the first retrieval in parallel,
    caches prepared requests for preprocessing.cache_ttl seconds, and streams each run's
    events (POST /v1/runs, NDJSON or SSE; GET /v1/runs/ID/events to reconnect). Sessions
    and runs are kept in .dmc/history.sqlite. Listens on 127.0.0.1:3000 by default;
    checks Host and Origin, refuses cross-site and non-JSON posts; binding beyond
    loopback needs a token. `dmc run --service` uses it. API: docs/SERVICE.md.

    The web UI is at the service's address (/): compose with live preprocessing,
    streamed runs, history, the dashboard (docs/WEB.md). With a token, the page logs in
    through a one-time URL that this command prints (--login-url prints a new one).
    """
    cfg = load_config("serve", repo=repo, sets=sets, flags={
        "serve.host": host, "serve.port": port,
        "serve.token_file": str(token_file) if token_file else None})
    if login_url:
        _print_login_url(cfg)
        return
    try:
        import uvicorn

        from dmc.service.app import ServeSettings, check_bind, create_app
        from dmc.service.client import read_token
        from dmc.service.core import Service
    except ImportError as exc:
        fail("serve", DmcError(f"dmc serve needs its extra packages ({exc.name})",
                               hint="pip install 'dmc[agent]'"))
    try:
        token = read_token(cfg)
        check_bind(cfg.get("serve.host"), token)
        if cfg.repo is None:
            raise DmcError("not inside a git repository",
                           hint="run it inside the project, or pass --repo")
        from dmc.config import parse_assignment

        service = Service(cfg, dict(parse_assignment(s) for s in (sets or [])),
                          prefill_after=None if no_prefill else 0.4)
    except DmcError as exc:
        fail("serve", exc)
    if not no_warm:
        took = service.warm_up()
        ui.note("serve", "warm: " + ", ".join(f"{k} {v:.2f} s" for k, v in took.items()))
    settings = ServeSettings(host=cfg.get("serve.host"), port=cfg.get("serve.port"),
                             token=token, max_request_bytes=cfg.get("serve.max_request_bytes"),
                             allowed_origins=cfg.get("serve.allowed_origins") or [])
    from dmc.service.webauth import CODE_TTL_S, WebLogins

    logins = WebLogins()
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    if shown in ("0.0.0.0", "[::]"):  # noqa: S104 - an address to show, not to bind
        shown = "127.0.0.1"
    page = f"http://{shown}:{settings.port}/"
    ui.note("serve", f"listening on http://{settings.host}:{settings.port} for {cfg.repo}"
            + (" (token required)" if token else " (no token: loopback only)"))
    if token:
        ui.note("serve", f"web UI: {page}#login={logins.new_code()} (works once, within "
                f"{CODE_TTL_S / 60:.0f} min; `dmc serve --login-url` prints another)")
    else:
        ui.note("serve", f"web UI: {page}")
    service.dashboard.start()
    try:
        uvicorn.run(create_app(service, settings, logins), host=settings.host,
                    port=settings.port, log_level="warning", access_log=False,
                    limit_concurrency=64, timeout_keep_alive=5)
    finally:
        service.close()


def _print_login_url(cfg: Config) -> None:
    """A fresh one-time login URL from the running service (the token proves who asks)."""
    import httpx

    from dmc.service.client import base_url, read_token

    try:
        token = read_token(cfg)
        if not token:
            raise DmcError("this service has no token: open the page directly",
                           hint="no login is needed on loopback without a token")
        url = base_url(cfg)
        try:
            resp = httpx.post(url + "/v1/auth/codes", content=b"{}", timeout=10,
                              headers={"authorization": f"Bearer {token}",
                                       "content-type": "application/json"})
        except httpx.TransportError as exc:
            raise DmcError(f"no service at {url} ({type(exc).__name__})",
                           hint="start it with `dmc serve`") from None
        if resp.status_code != 201:
            raise DmcError(f"the service refused: {resp.status_code} "
                           f"{resp.json().get('error', {}).get('message', '')}")
    except DmcError as exc:
        fail("serve", exc)
    typer.echo(url + resp.json()["path"])
