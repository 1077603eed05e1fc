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


def show_generation_event(event: dict[str, Any]) -> None:
    """One generation event as progress lines on stderr (generate, plan and run share it)."""
    from dmc.wiring import describe_generation_event

    for line in describe_generation_event(event):
        ui.note("generate", line)


def payload_here(doc: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """Run optimize (and what it needs) in-process when the pipeline skipped it, so that
    `dmc generate` and `dmc plan` accept a bare request as well as a piped payload."""
    from dmc.optimize import optimize
    from dmc.wiring import optimize_options, prerequisites, token_counter

    ui.note("generate", "no payload in the input: computing it (dmc optimize)")
    doc, computed = prerequisites(doc, cfg)
    for key in computed:
        ui.note("optimize", f"no {key} in the input: computing it")
    count, name = token_counter(cfg)
    notes: list[str] = []
    opts = optimize_options(cfg, notes)
    for n in notes:
        ui.warn("optimize", n)
    out, notes = optimize(doc, opts, count, name)
    for n in notes:
        ui.warn("generate", n)
    return out
