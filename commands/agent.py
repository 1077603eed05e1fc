"""``dmc agent serve``: the desktop agent (generation and validation over HTTP)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, BackendName, fail, load_config

from dmc.contract import DmcError, Exit, dumps

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
    backend: BackendName = typer.Option(None, "--backend",
                                        help="Model backend [config: generation.backend]."),
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


token_app = typer.Typer(help="Bearer tokens for the agent.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def default_token_path() -> Path:
    """``$XDG_CONFIG_HOME/dmc/agent.token``, else ``~/.config/dmc/agent.token``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dmc" / "agent.token"


@token_app.command("create")
def token_create(
    path: Path = typer.Argument(None, help="Where to write the token (default: "
                                "$XDG_CONFIG_HOME/dmc/agent.token, or "
                                "~/.config/dmc/agent.token).", dir_okay=False),
    force: bool = typer.Option(False, "--force", help="Replace a token file that exists."),
    pretty: bool = PRETTY,
) -> None:
    """Write a new random token to a file only you can read (mode 0600) and print where.

    The folders are created as needed (mode 0700). The token is never printed: the agent
    reads the file (dmc agent serve --token-file PATH) and so does the laptop (copy it there
    and set desktop.token_file, or export DMC_AGENT_TOKEN). An existing file is kept unless
    --force is given (clients holding the old token then get 401).
    """
    import secrets

    target = (path or default_token_path()).expanduser()
    try:
        written = write_token(target, secrets.token_urlsafe(32), force=force)
    except DmcError as exc:
        fail("agent token", exc)
    typer.get_binary_stream("stdout").write(dumps({"token_file": str(written)}, pretty=pretty))
    ui.note("agent token", f"wrote a new token to {written} (mode 0600); start the agent with: "
            f"dmc agent serve --token-file {written}")


def write_token(target: Path, token: str, *, force: bool) -> Path:
    """Create ``target`` holding ``token``, readable by its owner only from the first byte
    (created 0600, never chmod-ed afterwards); replaced atomically with ``force``."""
    import tempfile

    if target.exists() and not force:
        raise DmcError(f"{target} exists", hint="pass --force to replace it")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if force:  # a new file beside it (mkstemp: mode 0600), renamed over the old one
            fd, tmp = tempfile.mkstemp(prefix=".agent-token-", dir=target.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(token + "\n")
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
        else:  # O_EXCL: a file that appeared meanwhile is never clobbered
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(token + "\n")
    except FileExistsError:
        raise DmcError(f"{target} exists", hint="pass --force to replace it") from None
    except OSError as exc:
        raise DmcError(f"cannot write {target}: {exc.strerror or exc}", Exit.UNAVAILABLE) \
            from None
    return target.resolve()


def _warn_on_loose_permissions(token_file: str | None) -> None:
    if not token_file or os.environ.get("DMC_AGENT_TOKEN"):
        return
    try:
        mode = Path(token_file).expanduser().stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        ui.warn("agent", f"{token_file} is readable by others; chmod 600 it")
