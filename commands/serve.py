"""``dmc serve``: the laptop service (the pipeline kept warm behind an HTTP API)."""

from __future__ import annotations

from pathlib import Path

import typer
from dmc.commands import ui
from dmc.commands.common import REPO, SET, fail, load_config

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
    """
    cfg = load_config("serve", repo=repo, sets=sets, flags={
        "serve.host": host, "serve.port": port,
        "serve.token_file": str(token_file) if token_file else None})
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

        service = Service(cfg, dict(parse_assignment(s) for s in (sets or [])))
    except DmcError as exc:
        fail("serve", exc)
    if not no_warm:
        took = service.warm_up()
        ui.note("serve", "warm: " + ", ".join(f"{k} {v:.2f} s" for k, v in took.items()))
    settings = ServeSettings(host=cfg.get("serve.host"), port=cfg.get("serve.port"),
                             token=token, max_request_bytes=cfg.get("serve.max_request_bytes"),
                             allowed_origins=cfg.get("serve.allowed_origins") or [])
    ui.note("serve", f"listening on http://{settings.host}:{settings.port} for {cfg.repo}"
            + (" (token required)" if token else " (no token: loopback only)"))
    try:
        uvicorn.run(create_app(service, settings), host=settings.host, port=settings.port,
                    log_level="warning", access_log=False, limit_concurrency=64,
                    timeout_keep_alive=5)
    finally:
        service.close()
