"""``dmc intent``: classify what a request asks for (task type, complexity, domain)."""

from __future__ import annotations

from pathlib import Path

import typer
from dmc.commands import ui
from dmc.commands.common import BATCH, PRETTY, REPO, SET, fail, load_config
from dmc.commands.pipe import run_stage

from dmc.contract import DmcError, Document


def main(
    text: list[str] = typer.Argument(None, help="Request text (default: read stdin)."),
    model: str = typer.Option(None, "--model", "-m",
                              help="local (default), ollama:NAME, or an OpenAI-compatible "
                                   "URL such as http://127.0.0.1:8080/v1#MODEL."),
    min_confidence: float = typer.Option(None, "--min-confidence", min=0.0, max=1.0,
                                         help="Flag results below this confidence "
                                              "[config: preprocessing.min_confidence]."),
    batch: bool = BATCH,
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Classify a request: task_type, complexity, domain, confidence and signals.

    Adds the `intent` key to the document. The embedded classifier needs no server and no
    download; with --model an LLM answers under a JSON schema, and if it cannot be reached
    the embedded classifier answers and a warning says so.
    """
    cfg = load_config("intent", repo=repo, sets=sets, flags={
        "models.intent": model, "preprocessing.min_confidence": min_confidence})
    spec = None
    if cfg.get("models.intent") != "local":
        from dmc.llm import parse_spec

        try:
            spec = parse_spec(cfg.get("models.intent"), ollama_url=cfg.get("models.ollama_url"))
        except DmcError as exc:
            fail("intent", exc)
    threshold = float(cfg.get("preprocessing.min_confidence"))
    timeout = float(cfg.get("models.timeout"))

    def transform(doc: Document) -> Document:
        from dmc.intent import analyze

        out, notes = analyze(doc, min_confidence=threshold, model=spec, timeout=timeout)
        for message in notes:
            ui.warn("intent", message)
        return out

    raise typer.Exit(run_stage("intent", transform, text_args=text, batch=batch, pretty=pretty))
