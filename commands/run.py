"""``dmc run``: the whole pipeline in one process (porcelain over the stage commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, fail, load_config

from dmc.contract import DmcError, Document, Exit, dumps, new_document

#: dmc.pipeline.STAGES, spelt out so that loading the CLI does not load the pipeline (a test
#: checks the two agree)
Stage = Literal["intent", "extract", "retrieve", "optimize", "generate", "validate"]
STAGES: tuple[str, ...] = get_args(Stage)


def main(
    text: list[str] = typer.Argument(..., help="The request, in plain language."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole document instead of "
                                 "the code."),
    stop_after: Stage = typer.Option(None, "--stop-after", help="Stop after this stage."),
    apply_partial: bool = typer.Option(False, "--apply-partial", help="With --apply, write a "
                                       "result that is not a success too (never a truncated "
                                       "file)."),
    apply: bool = typer.Option(False, "--apply", help="Write the generated files into the "
                               "working tree (a diff is shown first; files with uncommitted "
                               "changes are never overwritten)."),
    cont: bool = typer.Option(False, "--continue", help="Build on the previous request of "
                              "this project (its code becomes context)."),
    local: bool = typer.Option(False, "--local", help="Generate in this process."),
    remote: bool = typer.Option(False, "--remote", help="Generate on the agent "
                                "(desktop.url)."),
    refresh: bool = typer.Option(False, "--refresh", help="Build or refresh the index first."),
    plan: bool = typer.Option(False, "--plan", help="Plan first (models.planning) and generate "
                              "step by step; without it generation.plan decides (auto: when "
                              "the context does not fit, or several files change)."),
    service: bool = typer.Option(False, "--service", help="Run on the laptop service "
                                 "(`dmc serve`, at serve.host:serve.port) when one serves "
                                 "this repository: warm models, cached context; the same "
                                 "output. Without one, runs here as usual."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Run intent, extract, retrieve, optimize, generate and validate in one process.

    The document is the one the piped plumbing would produce. Progress and timings go to
    stderr; the generated code goes to stdout (--json for the whole document). Exits 1 when
    the final validation finds blocking issues.
    """
    if local and remote:
        fail("run", DmcError("--local and --remote contradict each other"))
    cfg = load_config("run", repo=repo, sets=sets)
    doc = new_document(" ".join(text), str(cfg.repo) if cfg.repo else None)
    remembered = False
    try:
        if service and plan:
            ui.note("run", "--plan runs here: the service does not plan (yet)")
        served = _via_service(doc, cfg, stop_after, refresh=refresh, local=local,
                              remote=remote, cont=cont) if service and not plan else None
        if served is not None:
            doc, remembered = served, True  # the service keeps the history
        else:
            if cont:
                doc = _continue(doc, cfg)
            doc = _pipeline(doc, cfg, stop_after, refresh=refresh, local=local,
                            remote=remote, plan=plan)
    except DmcError as exc:
        fail("run", exc)
    except KeyboardInterrupt:
        ui.error("run", "interrupted")
        raise typer.Exit(int(Exit.INTERRUPTED)) from None
    out = typer.get_binary_stream("stdout")
    if "result" in doc and cfg.repo is not None and not remembered:
        _remember(cfg.repo, doc)
    if apply and "result" in doc:
        try:
            status = doc["result"].get("status")
            if status != "success" and not apply_partial:
                raise DmcError(f"not applied: the result is {status} "
                               f"({doc['result'].get('reason') or 'see the result'})",
                               Exit.BLOCKING, hint="--apply-partial writes it anyway")
            doc["run"]["applied"] = _apply(cfg.repo, doc["result"].get("files", []))
        except DmcError as exc:
            fail("run", exc)
    if as_json or "result" not in doc:
        out.write(dumps(doc, pretty=pretty))
    else:
        files = doc["result"].get("files", [])
        for n, f in enumerate(files):
            if len(files) > 1:
                out.write(f"{'' if n == 0 else chr(10)}# File: {f['path']}\n".encode())
            out.write(f["code"].encode())
    passed = doc.get("validation", {}).get("passed", True)
    raise typer.Exit(0 if passed else int(Exit.BLOCKING))


class _Progress:
    """Shows a run's events on stderr the way the stage commands would: each stage's time
    and summary, the notes and warnings, generate's passes, and a spinner naming the
    running stage on a terminal."""

    def __init__(self) -> None:
        self.status: Any = None

    def __call__(self, event: dict[str, Any]) -> None:
        from dmc.wiring import describe_generation_event

        kind = event.get("event")
        if kind == "stage_started" and ui.stderr_is_tty():
            from rich.console import Console

            self.status = Console(stderr=True).status(f"dmc run: {event['stage']}…")
            self.status.start()
        elif kind == "stage_finished":
            self.stop()
            ui.note("run", f"{event['stage']}: {event['seconds']:.2f} s{event['summary']}")
        elif kind == "message":
            say = ui.warn if event["level"] == "warning" else ui.note
            say(event["source"], event["message"])
        elif event.get("stage") == "generate":
            for line in describe_generation_event(event):
                ui.note("generate", line)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def _pipeline(doc: Document, cfg: Any, stop_after: str | None, *, refresh: bool,
              local: bool, remote: bool, plan: bool = False) -> Document:
    """The stages in this process, their progress on stderr."""
    from dmc.pipeline import RunOptions, run

    progress = _Progress()
    try:
        return run(doc, cfg, stop_after=stop_after, on_event=progress,
                   options=RunOptions(refresh=refresh, local=local, remote=remote,
                                      plan=plan))
    finally:
        progress.stop()


def _via_service(doc: Document, cfg: Any, stop_after: str | None, *, refresh: bool,
                 local: bool, remote: bool, cont: bool) -> Document | None:
    """The run on ``dmc serve``, its events shown as the in-process run shows them; None
    (with a note) when no service serves this repository."""
    from dmc.service.client import NoService, run_via_service

    progress = _Progress()
    try:
        return run_via_service(cfg, doc["input"]["text"], stop_after=stop_after,
                               refresh=refresh, local=local, remote=remote, follow_up=cont,
                               on_event=progress)
    except NoService as exc:
        ui.note("run", f"{exc.message}: running here")
        return None
    finally:
        progress.stop()


def _remember(repo: Path, doc: Document) -> None:
    """Record this request and its code in the project's history (what --continue reads)."""
    from dmc.history import History, path_for

    history = History(path_for(repo))
    try:
        history.record(doc["input"]["text"], doc["result"]["status"],
                       doc["result"].get("files", []))
    finally:
        history.close()


def _continue(doc: Document, cfg: Any) -> Document:
    """Put the previous request's code into the context, at the top of the ranking."""
    from dmc.history import History, continue_from, path_for

    if cfg.repo is None:
        ui.warn("run", "--continue: no previous request in this project")
        return doc
    history = History(path_for(cfg.repo))
    try:
        last = history.last_with_code()
    finally:
        history.close()
    if last is None:
        ui.warn("run", "--continue: no previous request in this project")
        return doc
    ui.note("run", f"continuing from: {last['text']}")
    return continue_from(doc, last)


def _apply(repo: Path | None, files: list[dict[str, Any]]) -> list[str]:
    """Write the result into the tree (see :mod:`dmc.apply`), each diff shown first."""
    from dmc.apply import apply_files

    return apply_files(repo, files, show=ui.plain)
