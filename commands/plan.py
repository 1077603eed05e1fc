"""``dmc plan``: a plan for the payload, written into the document for generate to follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, load_config
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
        from dmc.commands.generate import _payload

        from dmc.generate import require_payload
        from dmc.plan import (
            describe,
            make_plan,
            planner_for,
            planner_named,
            reasons_to_plan,
        )

        if "payload" not in doc:
            doc = _payload(doc, cfg)
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


def planned(doc: Document, payload: dict[str, Any], cfg: Any, state: dict[str, Any], *,
            asked: bool, use_agent: bool) -> tuple[dict[str, Any] | None,
                                                   dict[str, Any] | None]:
    """For `dmc generate` (and `dmc run`): the plan to follow and the result of following
    it, or (None, None) when the request is generated as one (no plan in the document, none
    asked for, none needed, or the planner could not help)."""
    from dmc.commands.common import model_backend
    from dmc.commands.generate import _progress, run_remote

    from dmc.plan import check_plan, describe, plan_for, run_plan

    # a plan in the document is checked before anything loads: a bad one is exit 2 at once
    given = check_plan(doc["plan"], cfg.repo) if doc.get("plan") is not None else None
    mode = cfg.get("generation.plan")
    # "auto" plans where generation runs here: with an agent, a planner loaded on the laptop
    # would cost more than it saves (ask with --plan, or set generation.plan=always)
    if given is None and not asked and (mode == "never" or (mode == "auto" and use_agent)):
        return None, None
    share = None
    if not use_agent:
        if "backend" not in state:
            state["backend"] = model_backend(cfg, "generate")
        share = state["backend"]
    notes: list[str] = []
    plan = given or plan_for(doc, payload, cfg, asked=asked, share=share, notes=notes)
    for n in notes:
        ui.note("generate", n)
    if plan is None:
        return None, None
    for line in describe(plan):
        ui.note("generate", line)

    def step(sp: dict[str, Any], on_event: Any) -> dict[str, Any]:
        if use_agent:
            return run_remote(sp, cfg, state)
        from dmc.generate import generate

        return generate(sp, state["backend"], on_event=on_event, repo=cfg.repo)

    def progress(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "step":
            ui.note("generate", f"step {event['step']}/{event['of']}: {event['title'][:70]} "
                    f"[{', '.join(event['files'])}]")
        elif kind == "step_done":
            ui.note("generate", f"step {event['step']}: {event['status']}"
                    + (f" ({event['reason']})" if event.get("reason") else ""))
        else:
            _progress(event)

    return plan, run_plan(payload, plan, on_event=progress, repo=cfg.repo,
                          generate_step=step)
