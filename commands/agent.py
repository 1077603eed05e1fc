"""``dmc agent serve``: the desktop agent (generation and validation over HTTP)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import typer
from dmc.commands import ui
from dmc.commands.common import REPO, SET, fail, load_config

from dmc.contract import DmcError

app = typer.Typer(help="The desktop agent: generation and validation over HTTP.",
                  no_args_is_help=True)


@app.command("serve")
def serve(
    host: str = typer.Option(None, "--host", help="Bind address [config: server.host]; "
                             "anything but loopback needs a token."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port [config: "
                             "server.port]."),
    token_file: Path = typer.Option(None, "--token-file", help="File holding the bearer "
                                    "token clients must send (or set DMC_AGENT_TOKEN)."),
    tls_cert: Path = typer.Option(None, "--tls-cert", help="TLS certificate (PEM)."),
    tls_key: Path = typer.Option(None, "--tls-key", help="TLS private key (PEM)."),
    client_ca: Path = typer.Option(None, "--client-ca", help="Require client certificates "
                                   "signed by this CA (mutual TLS)."),
    model: str = typer.Option(None, "--model", "-m", help="Model name or GGUF path "
                              "[config: models.generation]."),
    backend: str = typer.Option(None, "--backend", help="auto, llamacpp, ollama or openai "
                                "[config: generation.backend]."),
    max_concurrency: int = typer.Option(None, "--max-concurrency", min=1,
                                        help="Generations at once [config: "
                                             "server.max_concurrency]."),
    queue_size: int = typer.Option(None, "--queue-size", min=0, help="Requests that may wait "
                                   "before 'busy' [config: server.queue_size]."),
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Serve GET /health, POST /v1/generate (NDJSON stream) and POST /v1/validate.

    Bearer-token auth (constant-time compare; the token comes from --token-file or
    DMC_AGENT_TOKEN, never from the command line), TLS and mutual TLS, request size limits,
    bounded concurrency with a queue and 503 "busy" with Retry-After, cancellation when a
    client disconnects, one JSON access-log line per request on stderr.
    """
    cfg = load_config("agent", repo=repo, sets=sets, flags={
        "server.host": host, "server.port": port, "models.generation": model,
        "generation.backend": backend, "server.max_concurrency": max_concurrency,
        "server.queue_size": queue_size,
        "server.token_file": str(token_file) if token_file else None,
        "server.tls_cert": str(tls_cert) if tls_cert else None,
        "server.tls_key": str(tls_key) if tls_key else None,
        "server.client_ca": str(client_ca) if client_ca else None})
    try:
        from dmc.remote.client import read_token
        from dmc.remote.server import AgentSettings, check_bind, create_app
        from dmc.remote.server import serve as run_server
    except ImportError as exc:
        fail("agent", DmcError(f"the agent needs its extra packages ({exc.name})",
                               hint="pip install 'dmc[agent]'"))
    try:
        token = read_token(cfg.get("server.token_file"))
        _warn_on_loose_permissions(cfg.get("server.token_file"))
        check_bind(cfg.get("server.host"), token)
    except DmcError as exc:
        fail("agent", exc)

    from dmc.commands.common import model_backend

    from dmc.generate.backends import Backend

    def backend_factory() -> Backend:
        return model_backend(cfg, "agent")  # type: ignore[no-any-return]

    app_ = create_app(AgentSettings(
        token=token, max_concurrency=cfg.get("server.max_concurrency"),
        queue_size=cfg.get("server.queue_size"),
        max_request_bytes=cfg.get("server.max_request_bytes"),
        generation_timeout=cfg.get("generation.timeout")), backend_factory)
    scheme = "https" if cfg.get("server.tls_cert") else "http"
    ui.note("agent", f"listening on {scheme}://{cfg.get('server.host')}:{cfg.get('server.port')}"
            + (" (token required)" if token else " (no token: loopback only)"))
    try:
        run_server(app_, host=cfg.get("server.host"), port=cfg.get("server.port"),
                   tls_cert=cfg.get("server.tls_cert"), tls_key=cfg.get("server.tls_key"),
                   client_ca=cfg.get("server.client_ca"))
    except DmcError as exc:
        fail("agent", exc)


def _warn_on_loose_permissions(token_file: str | None) -> None:
    if not token_file or os.environ.get("DMC_AGENT_TOKEN"):
        return
    try:
        mode = Path(token_file).expanduser().stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        ui.warn("agent", f"{token_file} is readable by others; chmod 600 it")
