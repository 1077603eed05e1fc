"""``dmc extract``: frameworks, libraries, requirements, constraints and files a request names."""

from __future__ import annotations

from pathlib import Path

import typer
from dmc.commands import ui
from dmc.commands.common import BATCH, PRETTY, REPO, SET, load_config
from dmc.commands.pipe import run_stage

from dmc.contract import Document


def main(
    text: list[str] = typer.Argument(None, help="Request text (default: read stdin)."),
    batch: bool = BATCH,
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Extract what a request names, checked against the repository.

    Adds the `extraction` key: frameworks, libraries, services, tools, languages,
    requirements, constraints, mentioned files (resolved inside the repository: exists or
    not, never outside it), mentioned symbols, and the dependency files found with the
    frameworks they declare. Computes `intent` first when the document has none.
    """
    cfg = load_config("extract", repo=repo, sets=sets)
    root = cfg.repo
    noted: list[bool] = []

    def transform(doc: Document) -> Document:
        from dmc.extract import analyze

        if "intent" not in doc:
            from dmc.intent import analyze as analyze_intent

            if not noted:  # once per run, not once per batch line
                ui.note("extract", "no intent in the input: computing it with the embedded "
                        "classifier")
                noted.append(True)
            doc, _ = analyze_intent(doc, min_confidence=cfg.get("preprocessing.min_confidence"))
        doc_repo = doc.get("input", {}).get("repo")
        here = Path(doc_repo) if doc_repo and repo is None and Path(doc_repo).is_dir() else root
        out, notes = analyze(doc, repo=here)
        for message in notes:
            ui.warn("extract", message)
        return out

    raise typer.Exit(run_stage("extract", transform, text_args=text, batch=batch, pretty=pretty))
