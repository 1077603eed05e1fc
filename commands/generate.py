"""``dmc generate``: code from the payload, on the desktop agent or in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, agent_client, fail, load_config, model_backend
from dmc.commands.pipe import run_stage

from dmc.contract import DmcError, Document


def main(
    text: list[str] = typer.Argument(None, help="Request text (default: read stdin)."),
    local: bool = typer.Option(False, "--local", help="Generate in this process even when "
                               "desktop.url names an agent."),
    remote: bool = typer.Option(False, "--remote", help="Require the agent (desktop.url)."),
    model: str = typer.Option(None, "--model", "-m", help="Model name, packaged model "
                              "(qwen2.5-coder-0.5b, qwen2.5-coder-1.5b) or GGUF path "
                              "[config: models.generation]."),
    backend: str = typer.Option(None, "--backend", help="auto, llamacpp, ollama or openai "
                                "[config: generation.backend]."),
    max_iterations: int = typer.Option(None, "--max-iterations", min=1, max=10,
                                       help="Refinement passes at most "
                                            "[config: validation.max_iterations]."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Generate code for the document's payload and refine it against validate.

    With desktop.url set, the payload goes to the agent (`dmc agent serve`), progress is
    streamed to stderr, and connection failures and "busy" answers are retried with backoff;
    otherwise (or with --local) the same code runs here. Adds the `result` key: status,
    code, files, validation {passed, issues, iterations}, metadata {generation_time,
    model_used, tokens_generated}. Computes the payload first when the document has none.
    """
    cfg = load_config("generate", repo=repo, sets=sets, flags={
        "models.generation": model, "generation.backend": backend,
        "validation.max_iterations": max_iterations})
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

        if "payload" not in doc:
            doc = _payload(doc, cfg)
        payload = dict(require_payload(doc))
        payload.setdefault("generation", {})
        payload["generation"] = {**payload["generation"],
                                 "max_iterations": cfg.get("validation.max_iterations")}
        if use_agent:
            response = _remote(payload, cfg, state)
        else:
            response = _local(payload, cfg, state)
        if response["status"] != "success":
            counts = response["validation"].get("counts", {})
            ui.warn("generate", f"{response['status']}: {counts.get('error', 0)} error(s) left "
                    f"after {response['validation']['iterations']} pass(es)")
        out = dict(doc)
        out["result"] = response
        return out

    raise typer.Exit(run_stage("generate", transform, text_args=text, pretty=pretty))


def _progress(event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "iteration":
        ui.note("generate", f"pass {event['iteration']}: {event['errors']} error(s), "
                f"{event['warnings']} warning(s), {event['tokens']} tokens in "
                f"{event['seconds']} s ({event['tokens_per_second']} tok/s)")
    elif kind == "queued" and (event.get("queue") or {}).get("running"):
        ui.note("generate", "waiting for the agent (another generation is running)")
    elif kind == "stopped":
        ui.note("generate", f"stopped: {event.get('reason')}")


def _local(payload: dict[str, Any], cfg: Any, state: dict[str, Any]) -> dict[str, Any]:
    from dmc.generate import generate

    if "backend" not in state:
        state["backend"] = model_backend(cfg, "generate")
    return generate(payload, state["backend"], on_event=_progress)


def _remote(payload: dict[str, Any], cfg: Any, state: dict[str, Any]) -> dict[str, Any]:
    if "client" not in state:
        state["client"] = agent_client(cfg)
    return dict(state["client"].generate(payload, on_event=_progress))


def _payload(doc: Document, cfg: Any) -> Document:
    """Run optimize (and what it needs) in-process when the pipeline skipped it."""
    from dmc.commands.optimize import _prerequisites, options_from

    from dmc.optimize import optimize
    from dmc.tokens import model_counter

    ui.note("generate", "no payload in the input: computing it (dmc optimize)")
    doc = _prerequisites(doc, cfg, set())
    count, name = model_counter(cfg.get("models.generation"),
                                         cfg.get("optimize.token_counter"))
    out, notes = optimize(doc, options_from(cfg), count, name)
    for n in notes:
        ui.warn("generate", n)
    return out
