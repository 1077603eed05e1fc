"""``dmc run``: the whole pipeline in one process (porcelain over the stage commands)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, fail, load_config

from dmc.contract import DmcError, Document, Exit, dumps, new_document

STAGES = ("intent", "extract", "retrieve", "optimize", "generate", "validate")
HISTORY = "history.jsonl"


def main(
    text: list[str] = typer.Argument(..., help="The request, in plain language."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole document instead of "
                                 "the code."),
    stop_after: str = typer.Option(None, "--stop-after", help="Stop after this stage: "
                                   + ", ".join(STAGES) + "."),
    apply: bool = typer.Option(False, "--apply", help="Write the generated files into the "
                               "working tree (a diff is shown first; files with uncommitted "
                               "changes are never overwritten)."),
    cont: bool = typer.Option(False, "--continue", help="Build on the previous request of "
                              "this project (its code becomes context)."),
    local: bool = typer.Option(False, "--local", help="Generate in this process."),
    remote: bool = typer.Option(False, "--remote", help="Generate on the agent "
                                "(desktop.url)."),
    refresh: bool = typer.Option(False, "--refresh", help="Build or refresh the index first."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Run intent, extract, retrieve, optimize, generate and validate in one process.

    The document is the one the piped plumbing would produce. Progress and timings go to
    stderr; the generated code goes to stdout (--json for the whole document). Exits 1 when
    the final validation finds blocking issues.
    """
    if stop_after is not None and stop_after not in STAGES:
        fail("run", DmcError(f"--stop-after must be one of {', '.join(STAGES)}"))
    if local and remote:
        fail("run", DmcError("--local and --remote contradict each other"))
    cfg = load_config("run", repo=repo, sets=sets)
    doc = new_document(" ".join(text), str(cfg.repo) if cfg.repo else None)
    timings: dict[str, float] = {}
    try:
        if cont:
            doc = _continue(doc, cfg)
        for stage in STAGES:
            started = time.perf_counter()
            with _live(stage):
                doc = _STEPS[stage](doc, cfg, {"refresh": refresh, "local": local,
                                               "remote": remote})
            timings[stage] = round(time.perf_counter() - started, 3)
            ui.note("run", f"{stage}: {timings[stage]:.2f} s{_summary(stage, doc)}")
            if stage == stop_after:
                break
    except DmcError as exc:
        fail("run", exc)
    except KeyboardInterrupt:
        ui.error("run", "interrupted")
        raise typer.Exit(int(Exit.INTERRUPTED)) from None
    doc["run"] = {"timings": timings, "total_seconds": round(sum(timings.values()), 3)}
    out = typer.get_binary_stream("stdout")
    if "result" in doc and cfg.repo is not None:
        _remember(cfg.repo, doc)
    if apply and "result" in doc:
        try:
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


class _live:  # noqa: N801 - a context manager used like a function
    """A live spinner naming the running stage, on a terminal only."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.status: Any = None

    def __enter__(self) -> None:
        if ui.stderr_is_tty():
            from rich.console import Console

            self.status = Console(stderr=True).status(f"dmc run: {self.stage}…")
            self.status.start()

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()


def _summary(stage: str, doc: Document) -> str:
    if stage == "intent":
        i = doc["intent"]
        return f" — {i['task_type']}, {i['complexity']}, {i['domain']} ({i['confidence']:.2f})"
    if stage == "retrieve":
        chunks = doc.get("context", {}).get("chunks", [])
        files = list(dict.fromkeys(c["path"] for c in chunks))[:4]
        return f" — {len(chunks)} chunks" + (f" from {', '.join(files)}" if files else "")
    if stage == "generate":
        from dmc.generate import summary_line

        r = doc["result"]
        return (f" — {summary_line(r)}, {r['metadata']['tokens_generated']} tokens, "
                f"{r['metadata']['model_used']}")
    if stage == "validate":
        c = doc["validation"]["counts"]
        return f" — {c['error']} errors, {c['warning']} warnings"
    return ""


def _intent(doc: Document, cfg: Any, _: dict[str, Any]) -> Document:
    from dmc.intent import analyze

    out, notes = analyze(doc, min_confidence=cfg.get("preprocessing.min_confidence"))
    for n in notes:
        ui.warn("run", n)
    return out


def _extract(doc: Document, cfg: Any, _: dict[str, Any]) -> Document:
    from dmc.extract import analyze

    out, _notes = analyze(doc, repo=cfg.repo)
    return out


def _retrieve(doc: Document, cfg: Any, opts: dict[str, Any]) -> Document:
    if cfg.repo is None:
        ui.note("run", "retrieve skipped: not inside a repository")
        return doc
    from dmc.commands.index import settings_from
    from dmc.commands.retrieve import _open

    from dmc.rag.embed import load
    from dmc.rag.retrieve import query_from, search

    settings = settings_from(cfg, cfg.repo)
    if not settings.manifest_path.is_file() and not opts["refresh"]:
        ui.note("run", "retrieve skipped: no index (run `dmc index`, or pass --refresh)")
        return doc
    state: dict[str, Any] = {}
    manifest, chroma = _open(cfg, state, opts["refresh"], True)
    text = doc["input"]["text"]
    query = query_from(doc, text, k=cfg.get("rag.top_k"),
                       threshold=cfg.get("rag.similarity_threshold"))
    chunks = search(manifest, query, load(for_query=True).embed([text])[0], chroma)
    manifest.close()
    out = dict(doc)
    out["context"] = {**(doc.get("context") or {}), "chunks":
                      (doc.get("context") or {}).get("chunks", []) + chunks}
    return out


def _optimize(doc: Document, cfg: Any, _: dict[str, Any]) -> Document:
    from dmc.commands.optimize import options_from

    from dmc.optimize import optimize
    from dmc.tokens import model_counter

    count, name = model_counter(cfg.get("models.generation"), cfg.get("optimize.token_counter"))
    out, notes = optimize(doc, options_from(cfg), count, name)
    for n in notes:
        ui.warn("run", n)
    return out


def _generate(doc: Document, cfg: Any, opts: dict[str, Any]) -> Document:
    from dmc.commands.generate import run_local, run_remote, with_generation_settings

    from dmc.generate import require_payload

    payload = with_generation_settings(require_payload(doc), cfg)
    urls = cfg.get("desktop.url")
    if opts["remote"] and not urls:
        raise DmcError("--remote needs desktop.url")
    state: dict[str, Any] = {}
    use_agent = bool(urls) and not opts["local"]
    result = run_remote(payload, cfg, state) if use_agent else run_local(payload, cfg, state)
    out = dict(doc)
    out["result"] = result
    return out


def _validate(doc: Document, cfg: Any, _: dict[str, Any]) -> Document:
    from dmc.commands.validate import _from_document, _settings

    sources, settings = _from_document(doc, _settings(cfg, None, True, False, None), None)
    from dmc.validate import validate

    out = dict(doc)
    out["validation"] = validate(sources, settings)
    return out


_STEPS = {"intent": _intent, "extract": _extract, "retrieve": _retrieve,
          "optimize": _optimize, "generate": _generate, "validate": _validate}


def _history_path(repo: Path, cfg_dir: str = ".dmc") -> Path:
    return repo / cfg_dir / HISTORY


def _remember(repo: Path, doc: Document) -> None:
    """Append this request and its code to the project's conversation history."""
    path = _history_path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "text": doc["input"]["text"], "status": doc["result"]["status"],
             "files": doc["result"].get("files", [])}
    with path.open("ab") as fh:
        fh.write(orjson.dumps(entry) + b"\n")


def _continue(doc: Document, cfg: Any) -> Document:
    """Put the previous request's code into the context, at the top of the ranking."""
    if cfg.repo is None or not _history_path(cfg.repo).is_file():
        ui.warn("run", "--continue: no previous request in this project")
        return doc
    lines = _history_path(cfg.repo).read_bytes().splitlines()
    try:
        last = orjson.loads(lines[-1])
    except (IndexError, orjson.JSONDecodeError):
        ui.warn("run", "--continue: the history file is unreadable; starting fresh")
        return doc
    chunks = [{"path": f["path"], "start_line": 1, "end_line": f["code"].count("\n") + 1,
               "text": f["code"], "score": 3.0, "language": f.get("language") or "",
               "symbol": "previous answer"} for f in last.get("files", [])]
    out = dict(doc)
    out["input"] = {**doc["input"], "text": f"{doc['input']['text']} (following up on: "
                    f"{last['text']})", "previous": last["text"]}
    out["context"] = {"chunks": chunks}
    ui.note("run", f"continuing from: {last['text']}")
    return out


def _apply(repo: Path | None, files: list[dict[str, Any]]) -> list[str]:
    """Write the result into the tree after showing the diff; refuse to clobber local edits.

    A change to an existing file is applied as its edit blocks, replayed on the file as it
    is on disk: only the lines the edits touch change, and a redaction made for the payload
    is never written back. An existing file is never replaced whole. Every file is checked
    before any is written, so a refusal leaves the tree as it was.
    """
    import difflib
    import subprocess

    from dmc.repo import resolve_inside

    if repo is None:
        raise DmcError("--apply needs a git repository")
    planned: list[tuple[Path, str, str, str]] = []
    for f in files:
        target = resolve_inside(repo, f["path"])
        if target is None:
            raise DmcError(f"refusing to write {f['path']}: outside the repository")
        rel = target.relative_to(repo.resolve()).as_posix()
        old = target.read_text(encoding="utf-8") if target.is_file() else ""
        if target.is_file():
            status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--",
                                     rel], capture_output=True, text=True, timeout=30)
            if status.stdout.strip():
                raise DmcError(f"refusing to overwrite {rel}: it has uncommitted changes",
                               hint="commit or stash them first")
        new = _new_content(rel, target, old, f)
        planned.append((target, rel, old, new))
    written = []
    for target, rel, old, new in planned:
        diff = difflib.unified_diff(old.splitlines(keepends=True),
                                    new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}")
        for line in diff:
            ui.plain(line.rstrip("\n"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(new, encoding="utf-8")
        written.append(rel)
    return written


def _new_content(rel: str, target: Path, old: str, f: dict[str, Any]) -> str:
    """What the file becomes: its edits replayed on disk, or the whole text of a new file."""
    from dmc.generate.edits import EditBlock, apply_edits, strip_markers

    edits = f.get("edits")
    if edits is None:
        if target.is_file():
            raise DmcError(f"refusing to replace {rel} whole: dmc changes existing files only "
                           "through edit blocks", hint="ask again; the answer had no edits "
                           "for it")
        return strip_markers(str(f["code"]))
    blocks = [EditBlock(rel, str(e["search"]), str(e["replace"]), i + 1)
              for i, e in enumerate(edits)]
    result = apply_edits(old if target.is_file() else None, blocks, path=rel)
    if not result.ok:
        detail = "; ".join(x.describe() for x in result.failures)
        raise DmcError(f"refusing to write {rel}: the edits no longer apply to the file on "
                       f"disk ({detail})", hint="it changed since the request; ask again")
    return result.content
