"""``dmc optimize``: the request payload the desktop receives, packed to a token budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import BATCH, PRETTY, REPO, SET, load_config
from dmc.commands.pipe import run_stage

from dmc.contract import DmcError, Document


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
    from dmc.tokens import model_counter

    opts = options_from(cfg)
    count, counter_name = model_counter(cfg.get("models.generation"),
                                         cfg.get("optimize.token_counter"))
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
    """Optimize options from configuration; the budget also respects the model's window."""
    from dmc.commands.style import load_profile

    from dmc.optimize import Options
    from dmc.style.profile import preferences

    window = cfg.get("generation.context_window") - cfg.get("generation.max_tokens") - 512
    try:
        profile = load_profile(cfg.repo)
    except DmcError as exc:
        ui.warn("optimize", f"style profile not used: {exc.message}")
        profile = None
    return Options(
        style=preferences(profile) if profile else {},
        max_context_tokens=max(256, min(cfg.get("optimize.max_context_tokens"), window)),
        min_test_coverage=cfg.get("optimize.min_test_coverage"),
        max_complexity=cfg.get("validation.max_complexity"),
        security_scan=cfg.get("validation.enable_security_scan"),
        type_check=cfg.get("validation.enable_type_checking"),
        max_tokens=cfg.get("generation.max_tokens"),
        temperature=cfg.get("generation.temperature"), top_p=cfg.get("generation.top_p"),
        max_iterations=cfg.get("validation.max_iterations"), repo=cfg.repo,
    )


def _prerequisites(doc: Document, cfg: object, noted: set[str]) -> Document:
    """Intent and extraction, computed here when the pipeline skipped them."""
    from dmc.config import Config

    assert isinstance(cfg, Config)
    if "intent" not in doc:
        from dmc.intent import analyze

        if "intent" not in noted:
            ui.note("optimize", "no intent in the input: computing it")
            noted.add("intent")
        doc, _ = analyze(doc, min_confidence=cfg.get("preprocessing.min_confidence"))
    if "extraction" not in doc:
        from dmc.extract import analyze as extract

        if "extraction" not in noted:
            ui.note("optimize", "no extraction in the input: computing it")
            noted.add("extraction")
        doc, _ = extract(doc, repo=cfg.repo)
    return doc
