"""Pieces every subcommand shares: options, configuration loading, failing cleanly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from dmc.commands import ui

from dmc.config import Config, load, parse_assignment
from dmc.contract import DmcError, dumps

PRETTY = typer.Option(False, "--pretty", help="Indent the JSON output.")
BATCH = typer.Option(False, "--batch",
                     help="NDJSON in and out: one request per input line (JSON or text), "
                          "streamed. Auto-detected when the first line is a whole document.")
REPO = typer.Option(None, "--repo", help="Repository root (default: the git root of the "
                    "current folder).", file_okay=False, dir_okay=True)
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
    ui.error(stage, exc.message, exc.hint)
    try:
        sys.stdout.buffer.write(dumps(exc.to_document(stage)))
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    raise typer.Exit(int(exc.code))


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


def model_backend(cfg: Config, stage: str) -> Any:
    """The generation backend configured in ``cfg``, saying on stderr which one it is."""
    from dmc.generate.backends import make_backend

    notes: list[str] = []
    backend = make_backend(kind=cfg.get("generation.backend"),
                           server=cfg.get("generation.server"),
                           model=cfg.get("models.generation"),
                           timeout=cfg.get("generation.timeout"),
                           connect_timeout=cfg.get("desktop.connect_timeout"),
                           context_window=cfg.get("generation.context_window"), notes=notes)
    for note in notes:
        ui.note(stage, note)
    return backend
