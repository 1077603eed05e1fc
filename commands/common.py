"""Pieces every subcommand shares: options, configuration loading, failing cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NoReturn

import typer
from dmc.commands import ui

from dmc.config import Config, load, parse_assignment
from dmc.contract import DmcError

PRETTY = typer.Option(False, "--pretty", help="Indent the JSON output.")
BATCH = typer.Option(False, "--batch",
                     help="NDJSON in and out: one request per input line (JSON or text), "
                          "streamed. Auto-detected when the first line is a whole document.")
REPO = typer.Option(None, "--repo", help="Repository root (default: the git root of the "
                    "current folder).", file_okay=False, dir_okay=True)
#: ``--backend`` values (generation.backend's choices), a Literal so that typer lists them
#: in --help and shell completion; a test checks the two lists agree.
BackendName = Literal["auto", "ollama", "openai", "llamacpp"]
SET = typer.Option(None, "--set", metavar="KEY=VALUE",
                   help="Override a setting for this run (repeatable), e.g. "
                        "--set preprocessing.min_confidence=0.6")


def load_config(stage: str, *, repo: Path | None, sets: list[str] | None,
                flags: dict[str, Any] | None = None) -> Config:
    """Merged configuration; a bad file or value ends the stage with exit 2."""
    try:
        overrides = dict(parse_assignment(s) for s in (sets or []))
        overrides.update({k: v for k, v in (flags or {}).items() if v is not None})
        cfg = load(repo=repo, overrides=overrides)
    except DmcError as exc:
        fail(stage, exc)
    for message in cfg.warnings:
        ui.warn(stage, message)
    return cfg


def fail(stage: str, exc: DmcError) -> NoReturn:
    """Write the error document and the one-line message, then exit with its code."""
    from dmc.commands.pipe import report_error

    raise typer.Exit(report_error(stage, exc))


def agent_client(cfg: Config, **overrides: Any) -> Any:
    """A client for the agents in ``desktop.url``, configured from ``cfg``."""
    from dmc.remote.client import AgentClient, ClientSettings, read_token

    settings = ClientSettings(
        urls=cfg.get("desktop.url") or [], token=read_token(cfg.get("desktop.token_file")),
        timeout=cfg.get("desktop.timeout"), connect_timeout=cfg.get("desktop.connect_timeout"),
        retry_attempts=cfg.get("desktop.retry_attempts"), ca_file=cfg.get("desktop.ca_file"),
        client_cert=cfg.get("desktop.client_cert"), client_key=cfg.get("desktop.client_key"))
    for key, value in overrides.items():
        setattr(settings, key, value)
    return AgentClient(settings)


def named(cfg: Config, key: str) -> bool:
    """Whether the user named this value for this run (a flag, ``--set`` or a ``DMC_*``
    variable), as opposed to a default or a configuration file. A named model or server is
    never swapped for another one behind the user's back."""
    source = cfg.sources.get(key, "default")
    return source == "flag" or source.startswith("env DMC_")


def model_backend(cfg: Config, stage: str) -> Any:
    """The generation backend configured in ``cfg``, saying on stderr which one it is."""
    from dmc.generate.backends import make_backend

    notes: list[str] = []
    kind = cfg.get("generation.backend")
    server = cfg.get("generation.server")
    if server is None and kind == "ollama":  # the Ollama address, as Ollama's tools find it
        server = f"ollama:{cfg.get('models.ollama_url')}"
    backend = make_backend(kind=kind, server=server,
                           model=cfg.get("models.generation"),
                           timeout=cfg.get("generation.timeout"),
                           connect_timeout=cfg.get("desktop.connect_timeout"),
                           context_window=cfg.get("generation.context_window"), notes=notes,
                           repeat_penalty=cfg.get("generation.repeat_penalty"),
                           frequency_penalty=cfg.get("generation.frequency_penalty"),
                           model_named=named(cfg, "models.generation"),
                           server_named=named(cfg, "generation.server"))
    for note in notes:
        ui.note(stage, note)
    return backend
