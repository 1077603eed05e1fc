"""``dmc generate``: code from the payload, on the desktop agent or in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import (
    PRETTY,
    REPO,
    SET,
    BackendName,
    agent_client,
    fail,
    load_config,
    model_backend,
    payload_here,
    show_generation_event,
)
from dmc.commands.pipe import run_stage

from dmc.contract import DmcError, Document, Exit


def main(
    text: list[str] = typer.Argument(None, help="Request text (default: read stdin)."),
    local: bool = typer.Option(False, "--local", help="Generate in this process even when "
                               "desktop.url names an agent."),
    remote: bool = typer.Option(False, "--remote", help="Require the agent (desktop.url)."),
    model: str = typer.Option(None, "--model", "-m", help="Model name, packaged model "
                              "(qwen2.5-coder-0.5b, qwen2.5-coder-1.5b) or GGUF path "
                              "[config: models.generation]."),
    backend: BackendName = typer.Option(None, "--backend",
                                        help="Model backend [config: generation.backend]."),
    max_iterations: int = typer.Option(None, "--max-iterations", min=1, max=10,
                                       help="Refinement passes at most "
                                            "[config: validation.max_iterations]."),
    samples: int = typer.Option(None, "--samples", min=1, max=8,
                                help="Answers drawn for the first pass; the one passing "
                                     "most checks is kept [config: generation.samples]."),
    time_budget: float = typer.Option(None, "--time-budget", min=1.0,
                                      help="Seconds the stage may spend; the best answer so "
                                           "far is returned [config: "
                                           "generation.time_budget_s]."),
    plan: bool = typer.Option(False, "--plan", help="Plan first (dmc plan) and generate "
                              "step by step; a `plan` in the input is always followed "
                              "[config: generation.plan]."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Generate code for the document's payload, checked by running it, refined until it works.

    Acceptance checks come from the request (asserts, doctests, `f(3) == 9` examples), the
    target file's doctests and the payload's tests; each pass runs them in the sandbox and
    validates the code, and the failures drive the next pass. With desktop.url set, the
    payload goes to the agent (`dmc agent serve`), progress and check results are streamed
    to stderr; otherwise (or with --local) the same code runs here. Adds the `result` key:
    status (success only when every check passed and validation is clean), reason, code,
    files, checks, validation, metadata {iterations: per pass checks, errors, tokens,
    seconds, finish_reason, kept}. Ctrl-C returns the best pass so far and exits 130.
    """
    cfg = load_config("generate", repo=repo, sets=sets, flags={
        "models.generation": model, "generation.backend": backend,
        "validation.max_iterations": max_iterations, "generation.samples": samples,
        "generation.time_budget_s": time_budget})
    if local and remote:
        fail("generate", DmcError("--local and --remote contradict each other"))
    urls = cfg.get("desktop.url")
    if remote and not urls:
        fail("generate", DmcError("--remote needs desktop.url", hint="e.g. --set "
                                  "desktop.url=http://gpu-box:8765"))
    use_agent = bool(urls) and not local
    state: dict[str, Any] = {}

    def transform(doc: Document) -> Document:
        from dmc.generate import require_payload
        from dmc.wiring import with_generation_settings

        if "payload" not in doc:
            doc = payload_here(doc, cfg)
        payload = with_generation_settings(require_payload(doc), cfg)

        # a plan in the document, asked for or needed: step by step (else None, None)
        followed, response = planned(doc, payload, cfg, state, asked=plan,
                                     use_agent=use_agent)
        if response is None and use_agent:
            response = run_remote(payload, cfg, state)
        elif response is None:
            response = run_local(payload, cfg, state)
        report(response)
        out = dict(doc)
        if followed is not None:
            out["plan"] = followed
        out["result"] = response
        return out

    def verdict(doc: Document) -> Exit:
        meta = (doc.get("result") or {}).get("metadata") or {}
        return Exit.INTERRUPTED if meta.get("interrupted") else Exit.OK

    raise typer.Exit(run_stage("generate", transform, text_args=text, pretty=pretty,
                               verdict=verdict))


def report(response: dict[str, Any]) -> None:
    """The one-line lift on stderr, and why a result is not a success."""
    from dmc.generate import summary_line

    ui.note("generate", summary_line(response))
    if response["status"] != "success":
        ui.warn("generate", f"{response['status']}: {response.get('reason') or 'see result'}")



def run_local(payload: dict[str, Any], cfg: Any, state: dict[str, Any]) -> dict[str, Any]:
    from dmc.generate import generate

    if "backend" not in state:
        state["backend"] = model_backend(cfg, "generate")
    # in-process means the repository is here: its own tests for the target files run too
    return generate(payload, state["backend"], on_event=show_generation_event, repo=cfg.repo)


def run_remote(payload: dict[str, Any], cfg: Any, state: dict[str, Any]) -> dict[str, Any]:
    if "client" not in state:
        state["client"] = agent_client(cfg)
    return dict(state["client"].generate(payload, on_event=show_generation_event))


def planned(doc: Document, payload: dict[str, Any], cfg: Any, state: dict[str, Any], *,
            asked: bool, use_agent: bool) -> tuple[dict[str, Any] | None,
                                                   dict[str, Any] | None]:
    """For `dmc generate` (and `dmc run`): the plan to follow and the result of following
    it, or (None, None) when the request is generated as one (no plan in the document, none
    asked for, none needed, or the planner could not help)."""
    from dmc.plan import describe, plan_to_follow, run_plan

    def backend() -> Any:
        if "backend" not in state:
            state["backend"] = model_backend(cfg, "generate")
        return state["backend"]

    notes: list[str] = []
    plan = plan_to_follow(doc, payload, cfg, asked=asked, use_agent=use_agent,
                          backend=backend, notes=notes)
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

        return generate(sp, backend(), on_event=on_event, repo=cfg.repo)

    return plan, run_plan(payload, plan, on_event=show_generation_event, repo=cfg.repo,
                          generate_step=step)
