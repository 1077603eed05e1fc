"""``dmc retrieve``: the repository chunks most relevant to a request."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import typer
from dmc.commands import ui
from dmc.commands.common import BATCH, PRETTY, REPO, SET, load_config
from dmc.commands.pipe import run_stage

from dmc.contract import Document, request_text

Mode = Literal["hybrid", "dense", "lexical"]


def main(
    text: list[str] = typer.Argument(None, help="Request text (default: read stdin)."),
    k: int = typer.Option(None, "-k", "--top-k", min=1, max=200,
                          help="Chunks to return [config: rag.top_k]."),
    threshold: float = typer.Option(None, "--threshold", min=-1.0, max=1.0,
                                    help="Minimum dense similarity for a chunk only the dense "
                                         "search found [config: rag.similarity_threshold]."),
    refresh: bool = typer.Option(False, "--refresh", help="Build or refresh the index first "
                                 "when it is missing or stale."),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Use a stale index as it "
                                     "is (with a warning) instead of exiting 3."),
    mode: Mode = typer.Option("hybrid", "--mode",
                             help="hybrid: the three rankings fused; dense or lexical: one "
                                  "kind alone, to see what each finds."),
    chroma_url: str = typer.Option(None, "--chroma-url", help="Query a Chroma server "
                                   "[config: rag.chroma_url]."),
    batch: bool = BATCH,
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Add `context.chunks`: the most relevant chunks of the indexed repository.

    Three rankings are fused by reciprocal rank: dense similarity (all-MiniLM-L6-v2) to each
    chunk, to each chunk's name (path, symbol, signature), and BM25 with stemming. Chunks in
    files the request names, or defining symbols it names, are boosted; overlapping chunks
    are deduplicated, and further chunks of a file already chosen count for less (at most
    three a file), so the answer spans files. Each chunk has path, start/end line, symbol,
    language, score, text and why it matched (dense, name, lexical, boost). A missing or
    stale index is an error (exit 3) unless --refresh updates it first; so is an index
    written by an older dmc, which `dmc index` upgrades in place.
    Computes `extraction` first when the document lacks it.
    """
    cfg = load_config("retrieve", repo=repo, sets=sets, flags={
        "rag.top_k": k, "rag.similarity_threshold": threshold, "rag.chroma_url": chroma_url})
    state: dict[str, Any] = {}

    def transform(doc: Document) -> Document:
        text = request_text(doc)
        if "extraction" not in doc:
            from dmc.extract import analyze

            if "noted" not in state:
                ui.note("retrieve", "no extraction in the input: computing it")
                state["noted"] = True
            doc, _ = analyze(doc, repo=cfg.repo)
        manifest, chroma = _open(cfg, state, refresh, allow_stale)
        from dmc.rag.embed import load
        from dmc.rag.retrieve import query_from, search

        query = query_from(doc, text, k=cfg.get("rag.top_k"),
                           threshold=cfg.get("rag.similarity_threshold"))
        vector = load(for_query=True).embed([text])[0] if mode != "lexical" else None
        chunks = search(manifest, query, vector, chroma, mode)
        out = dict(doc)
        out["context"] = {**(doc.get("context") or {}), "chunks": chunks,
                          "retrieval": {"mode": mode, "k": query.k,
                                        "index": str(state["settings"].index_dir)}}
        return out

    raise typer.Exit(run_stage("retrieve", transform, text_args=text, batch=batch,
                               pretty=pretty))


def _open(cfg: Any, state: dict[str, Any], refresh: bool, allow_stale: bool) -> Any:
    """The manifest (and Chroma in server mode), opened once per process."""
    if "manifest" in state:
        return state["manifest"], state["chroma"]
    from dmc.wiring import open_index

    notes: list[tuple[str, str]] = []
    try:
        state["settings"], state["manifest"], state["chroma"] = open_index(
            cfg, refresh=refresh, allow_stale=allow_stale, notes=notes)
    finally:
        for level, message in notes:
            (ui.warn if level == "warning" else ui.note)("retrieve", message)
    return state["manifest"], state["chroma"]
