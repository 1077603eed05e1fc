"""``dmc plan``: a plan for the payload, written into the document for generate to follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, load_config, payload_here
from dmc.commands.pipe import run_stage

from dmc.contract import Document


def main(
    text: list[str] = typer.Argument(None, help="Request text (default: read stdin)."),
    if_needed: bool = typer.Option(False, "--if-needed",
                                   help="Plan only when the prompt does not fit the coder's "
                                        "window, the task is complex or several files change; "
                                        "otherwise pass the document on unchanged."),
    model: str = typer.Option(None, "--model", "-m",
                              help="Planning model: a packaged name (qwen2.5-coder-1.5b), a "
                                   "GGUF path, ollama:NAME or http://HOST:PORT/v1#MODEL "
                                   "[config: models.planning]."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Write a plan for the document's payload: files to change, ordered steps, and the
    checks that show each step is done (the `plan` key).

    Edit it and give it to `dmc generate`, which then works one step at a time with only
    that step's files and context, each step's edits on top of the previous ones:
    `dmc plan > plan.json`, edit, `dmc generate < plan.json`. A planner answer that cannot
    be used becomes a one-step plan with a note. Format: dmc/plan.schema.json.
    """
    cfg = load_config("plan", repo=repo, sets=sets, flags={"models.planning": model})

    def transform(doc: Document) -> Document:
        from dmc.generate import require_payload
        from dmc.plan import (
            describe,
            make_plan,
            planner_for,
            planner_named,
            reasons_to_plan,
        )

        if "payload" not in doc:
            doc = payload_here(doc, cfg)
        payload = require_payload(doc)
        reasons = reasons_to_plan(payload,
                                  context_window=cfg.get("generation.context_window"),
                                  asked=not if_needed)
        if not reasons:
            ui.note("plan", "no plan needed: the prompt fits, one file, not complex")
            return doc
        planner = planner_for(cfg)
        ui.note("plan", f"planning with {planner.label}: " + "; ".join(reasons))
        plan = make_plan(payload, planner, repo=cfg.repo, reasons=reasons,
                         planner_named=planner_named(cfg))
        for line in describe(plan):
            ui.note("plan", line)
        out: dict[str, Any] = dict(doc)
        out["plan"] = plan
        return out

    raise typer.Exit(run_stage("plan", transform, text_args=text, pretty=pretty))

