"""``dmc optimize``: the request payload the desktop receives, packed to a token budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import BATCH, PRETTY, REPO, SET, load_config
from dmc.commands.pipe import run_stage

from dmc.contract import Document


def main(
    text: list[str] = typer.Argument(None, help="Request text (default: read stdin)."),
    max_context_tokens: int = typer.Option(None, "--max-context-tokens", min=256,
                                           help="Token budget for the context "
                                                "[config: optimize.max_context_tokens]."),
    batch: bool = BATCH,
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Build the request payload: task, context, requirements, style, quality criteria.

    Adds the `payload` key (the seed's laptop-to-desktop message; schema in
    dmc/payload.schema.json). Context (retrieved chunks and the files the request names)
    is ranked, merged per file, compressed to signatures and relevant lines when needed and
    packed into the token budget; recognised secrets are redacted and reported. Computes
    `intent` and `extraction` first when the document lacks them.
    """
    cfg = load_config("optimize", repo=repo, sets=sets,
                      flags={"optimize.max_context_tokens": max_context_tokens})
    from dmc.wiring import token_counter

    opts = options_from(cfg)
    count, counter_name = token_counter(cfg)
    noted: set[str] = set()

    def transform(doc: Document) -> Document:
        from dmc.optimize import optimize

        doc = _prerequisites(doc, cfg, noted)
        out, notes = optimize(doc, opts, count, counter_name)
        for message in notes:
            ui.warn("optimize", message)
        return out

    raise typer.Exit(run_stage("optimize", transform, text_args=text, batch=batch,
                               pretty=pretty))


def options_from(cfg: Any) -> Any:
    """Optimize options from configuration (``dmc.wiring.optimize_options``), the notes
    about them on stderr."""
    from dmc.wiring import optimize_options

    notes: list[str] = []
    opts = optimize_options(cfg, notes)
    for message in notes:
        ui.warn("optimize", message)
    return opts


def _prerequisites(doc: Document, cfg: Any, noted: set[str]) -> Document:
    """Intent and extraction, computed here when the pipeline skipped them."""
    from dmc.wiring import prerequisites

    doc, computed = prerequisites(doc, cfg)
    for key in computed:
        if key not in noted:
            ui.note("optimize", f"no {key} in the input: computing it")
            noted.add(key)
    return doc
