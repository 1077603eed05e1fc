"""``dmc index``: build or refresh the repository index (incremental, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, SET, fail, load_config

from dmc.contract import DmcError, dumps


def settings_from(cfg: Any, root: Path, chroma_url: str | None = None) -> Any:
    """Index settings from configuration (kept under this name for ``dmc doctor``)."""
    from dmc.wiring import index_settings

    return index_settings(cfg, root, chroma_url)


def main(
    path: Path = typer.Argument(None, help="Repository to index (default: the git root of "
                                "the current folder).", file_okay=False),
    rebuild: bool = typer.Option(False, "--rebuild", help="Throw the index away and build it "
                                 "again from scratch."),
    stats: bool = typer.Option(False, "--stats", help="Describe the index (files, chunks, "
                               "languages, staleness) without changing it."),
    self_check: bool = typer.Option(False, "--self-check", help="Load the embedding model "
                                    "(exporting it to ONNX the first time) and test it."),
    chroma_url: str = typer.Option(None, "--chroma-url", help="Also store the chunks in a "
                                   "Chroma server (`chroma run`), which then answers the "
                                   "dense search [config: rag.chroma_url]."),
    pretty: bool = PRETTY,
    sets: list[str] = SET,
) -> None:
    """Build or refresh the index that dmc retrieve searches.

    Honours .gitignore and .dmcignore; skips binaries, vendored and generated folders and
    files over rag.max_file_bytes. Source files are chunked by definition with tree-sitter,
    docs by section; chunks are embedded with all-MiniLM-L6-v2 (ONNX, from the packaged
    weights) and stored in .dmc/index.sqlite (and in a Chroma server with --chroma-url; a
    local Chroma copy an older dmc kept in .dmc/chroma is removed). Only changed files are
    re-embedded; deleted files are removed; an interrupted run is completed by the next.
    An index written by an older dmc is upgraded in place (the summary's upgraded_chunks:
    only the chunks' short name texts are embedded). Prints a JSON summary; a progress bar
    appears on a terminal.
    """
    cfg = load_config("index", repo=path, sets=sets)
    out = typer.get_binary_stream("stdout")
    if self_check:
        from dmc.rag.embed import self_check as check

        try:
            report = check()
        except DmcError as exc:
            fail("index", exc)
        out.write(dumps({"self_check": report}, pretty=pretty))
        raise typer.Exit(0 if report["ok"] else 3)
    root = cfg.repo or (path.resolve() if path else None)
    if root is None:
        fail("index", DmcError("not inside a git repository", hint="give the folder to index: "
                               "dmc index PATH"))
    assert root is not None
    settings = settings_from(cfg, root, chroma_url)
    if stats:
        from dmc.rag.index import stale
        from dmc.rag.store import Manifest

        try:
            manifest = Manifest(settings.manifest_path, create=False)
            info = {**manifest.stats(), "model": manifest.get_meta("model"),
                    "interrupted": manifest.get_meta("in_progress") == "1"}
            manifest.close()
            info["stale"] = stale(settings)
            info["index_dir"] = str(settings.index_dir)
            info["disk_bytes"] = sum(p.stat().st_size for p in settings.index_dir.rglob("*")
                                     if p.is_file())
        except DmcError as exc:
            fail("index", exc)
        out.write(dumps({"index": info}, pretty=pretty))
        return
    from dmc.rag.index import build

    try:
        with _progress() as progress:
            summary = build(settings, rebuild=rebuild, progress=progress)
    except DmcError as exc:
        fail("index", exc)
    except KeyboardInterrupt:
        ui.error("index", "interrupted; the index is usable and the next run completes it")
        raise typer.Exit(130) from None
    out.write(dumps({"index": summary}, pretty=pretty))


class _progress:  # noqa: N801 - used as a context manager like a function
    """A rich progress bar on a terminal; nothing otherwise."""

    def __enter__(self) -> Any:
        self.bar: Any = None
        if not ui.stderr_is_tty() or ui.is_quiet():
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(),
                            MofNCompleteColumn(), TimeRemainingColumn(), console=ui.console())
        self.bar.start()
        self.task = self.bar.add_task("embedding chunks", total=None)

        def update(stage: str, done: int, total: int) -> None:
            self.bar.update(self.task, completed=done, total=total,
                            description=f"{stage} chunks")

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
