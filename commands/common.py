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
    from dmc.wiring import agent_client as client

    return client(cfg, **overrides)


def named(cfg: Config, key: str) -> bool:
    """Whether the user named this value for this run (see ``dmc.wiring.named``)."""
    from dmc.wiring import named as was_named

    return was_named(cfg, key)


def model_backend(cfg: Config, stage: str) -> Any:
    """The generation backend configured in ``cfg``, saying on stderr which one it is."""
    from dmc.wiring import generation_backend

    notes: list[str] = []
    backend = generation_backend(cfg, notes)
    for note in notes:
        ui.note(stage, note)
    return backend
