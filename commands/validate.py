"""``dmc validate``: one quality gate for files, generated code, pre-commit and CI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, fail, load_config
from dmc.commands.pipe import run_stage

from dmc.contract import DmcError, Document, Exit, dumps, new_document

#: ``--format`` values; Typer turns the Literal into a Click choice, so a wrong value is the
#: usual one-line usage error (exit 2) naming these
Format = Literal["text", "json", "sarif", "github"]
FORMATS: tuple[str, ...] = get_args(Format)
#: ``--fail-on`` values: validation.fail_on's choices (dmc.config), one list in two views
Severity = Literal["error", "warning", "info"]

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".dmc", "dist", "build",
             ".mypy_cache", ".pytest_cache", ".tox"}


def main(
    files: list[Path] = typer.Argument(None, help="Files or folders to check (default: a "
                                       "document or raw code on stdin)."),
    language: str = typer.Option(None, "--language", "-l",
                                 help="Language of raw code on stdin (python, javascript, "
                                      "typescript, ...)."),
    output_format: Format = typer.Option(None, "--format", "-f",
                                      help="text (issues grouped by file, for people), json "
                                           "(the document), sarif (SARIF 2.1.0 for code "
                                           "scanning) or github (GitHub Actions annotations)."
                                           " Default: text when stdout is a terminal, else "
                                           "json."),
    fail_on: Severity = typer.Option(None, "--fail-on",
                                help="Lowest severity that fails: error, warning or info "
                                     "[config: validation.fail_on]."),
    staged: bool = typer.Option(False, "--staged",
                                help="Check what the next commit will contain: the staged "
                                     "content of added, modified and renamed files under "
                                     "the current folder, read from the git index (hook "
                                     "mode)."),
    run_tests: bool = typer.Option(False, "--run-tests",
                                   help="Run the pytest tests among the files in a sandbox "
                                        "(a scratch folder; bubblewrap: no network, file "
                                        "system read-only outside it; else unshare -rn: no "
                                        "network; time and memory limits), with coverage. "
                                        "tests.isolation in the result names what was in "
                                        "force."),
    min_coverage: float = typer.Option(None, "--min-coverage", min=0, max=100,
                                       help="Coverage (percent) the tests must reach "
                                            "[payload: quality_criteria.min_test_coverage]."),
    rules: Path = typer.Option(None, "--rules", exists=False,
                               help="Custom rules file (default: quality_rules.yaml at the "
                                    "repository root, if present)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore and do not update the "
                                  "result cache."),
    warm: bool = typer.Option(None, "--warm/--no-warm",
                              help="Run pylint, bandit and mypy in warm checker processes "
                                   "kept between runs (the same results, faster; see WARM "
                                   "CHECKERS below). Default: on, except where the CI "
                                   "environment variable is set."),
    remote: bool = typer.Option(False, "--remote", help="Validate on the desktop agent "
                                "(desktop.url) instead of here."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Check code with syntax, pylint, bandit, mypy, ESLint and custom rules.

    Inputs: file paths (what pre-commit and git diff pass), --staged (the git index, for
    hooks), a document from dmc generate (result.code, or result.files for several files),
    or raw code on stdin with --language. Every tool runs once over all files, tools in
    parallel.

    With --staged the staged content is checked, not the working tree: each staged file is
    read from the git index (GIT_INDEX_FILE is honoured) into a private folder, together
    with the index versions of the project modules it imports, its package __init__ files
    and the tool configuration files, and checked there. Issues name the paths as git
    shows them relative to the current folder (a renamed file under its new name). Deleted
    files are not checked, but unchanged Python files that import a changed, added or deleted
    module (directly or not) are checked too, from the index, since the commit can break
    them (staged.dependents in the result). Custom rules (quality_rules.yaml), the style
    profile and ESLint's project config are read from the working tree.

    Cache: .dmc/cache/validate.sqlite in the repository (else ~/.cache/dmc), one entry per
    tool and file. An entry is reused only when all of these are unchanged: the tool and
    its version; dmc's settings for it (--fail-on does not matter, complexity limit and
    custom rules do); the file's path and content (SHA-256); the tool configuration files
    in the working folder and the repository root (pyproject.toml, setup.cfg, tox.ini,
    mypy.ini, .mypy.ini, pylintrc, .pylintrc, .bandit, package.json, tsconfig.json; ESLint's
    own config file); and, for mypy and pylint, which read the modules a file imports:
    the content of every project module the file imports, directly or through other project
    modules (found as the checkers find them: a .py/.pyi file or package __init__ under the
    file's package root or the working folder), the names of imports that are not project
    files (so a module created later invalidates the entry), the Python version and the
    installed distributions. Files with syntax errors are cached for the syntax check only.
    The same file also remembers, per file content and package, the names of the modules
    the file imports (so a run with nothing changed parses no file); it is only used to
    find the modules above.
    mypy also keeps its own incremental cache in .dmc/cache/mypy, keyed by mypy on module
    content; when it replays a module's errors under the path of an earlier run (the same
    module in another folder), dmc checks that group again without it. --no-cache ignores
    both; deleting .dmc/cache never changes a result, only the time it takes. The .dmc
    folder gets a .gitignore holding "*" (one you wrote is left alone), so git never sees
    it.

    Warm checkers (--warm, the default unless the CI environment variable is set): the
    files the cache cannot answer for go to pylint, bandit and mypy kept running between
    runs, one process per tool, started by the first run that needs them and ending after
    10 minutes without a request (at most 6 run at once per user; beyond that, new
    processes). Each runs the tool through its own command-line entry
    point with the same arguments, working folder, environment and module search path a
    new `python -m TOOL` process gets, and hands back its output and exit status, which
    are read as before: the issues are the same, only start-up and the re-reading of
    unchanged library code are saved. What a checker keeps between runs: the tool's
    imported code and, for pylint, astroid's parsed trees of standard-library and
    installed-package modules, never of a project file. After every run pylint's checker
    drops every tree of a file outside the standard library and site-packages, every
    library module whose top-level name a project folder provides (the working folder,
    the checked files' package roots), and the attribute assignments project files
    recorded on library classes (obj.attr = ... in a project file is noted on obj's
    class), and every library module that noted attributes on another library module (a
    new process has those notes only when it reads that module); astroid's and pylint's
    inference and look-up caches are cleared. A checker is tied to the Python executable,
    the tool's version, dmc's checker code, the installed
    distributions and the environment variables read when Python or a tool starts
    (PYTHONPATH, PYTHONHOME, PYTHONUSERBASE, PYLINTHOME, HOME, XDG_CACHE_HOME, ...): a
    change to any of them starts a new one; every run gets the caller's whole environment.
    pylint runs with --jobs=1 in a checker (forked job processes would not add to its
    trees); without checkers, with --jobs=2 from 8 files on. Checkers listen on Unix
    sockets in $XDG_RUNTIME_DIR/dmc, else /tmp/dmc-UID, a folder that must belong to you
    and be closed to others; each lock file there holds its checker's process id. When no
    checker can answer (a folder others can enter, a checker that does not start or
    fails), the tool runs in a new process, with the same result; tools.NAME.process in
    the result says "warm" or "new" (with the reason). A checker that exceeds the time
    limit reports the same failure a new process would and exits. --no-warm always starts
    new processes.

    Writes the document with a `validation` key ({passed, issues, counts, tools}), or a
    view of it chosen by --format. Exits 1 when an issue at or above --fail-on exists.
    """
    if output_format is None:
        output_format = "text" if _stdout_is_tty() else "json"
    cfg = load_config("validate", repo=repo, sets=sets,
                      flags={"validation.fail_on": fail_on})
    try:
        base = _settings(cfg, rules, no_cache, run_tests, min_coverage)
    except DmcError as exc:
        fail("validate", exc)
    from dataclasses import replace

    from dmc.validate import warm_default

    base = replace(base, warm=warm_default() if warm is None else warm)

    if remote and not cfg.get("desktop.url"):
        fail("validate", DmcError("--remote needs desktop.url"))

    def check(sources: list[Any], settings: Any) -> dict[str, Any]:
        if remote:
            return _remote(sources, settings, cfg)
        from dmc.validate import validate

        return validate(sources, settings)

    listed_on_stdout = output_format in ("text", "github")

    def transform(doc: Document) -> Document:
        sources, settings = _from_document(doc, base, language)
        out = dict(doc)
        out["validation"] = check(sources, settings)
        _tell(out["validation"], listed_on_stdout)
        return out

    def verdict(doc: Document) -> Exit:
        return Exit.OK if doc["validation"]["passed"] else Exit.BLOCKING

    render = _renderer(output_format, pretty)
    if listed_on_stdout:
        ui.shown_on_stdout("validate")

    if staged and files:
        fail("validate", DmcError("--staged checks the git index: give it no file names"))
    if files or staged:
        try:
            paths = [] if staged else _expand(files)
        except DmcError as exc:
            fail("validate", exc)
        doc = new_document("validate --staged" if staged else
                           "validate " + " ".join(paths[:20]))
        doc["input"]["files"] = paths

        def file_transform(d: Document) -> Document:
            from dmc.validate import Source

            out = dict(d)
            if staged:
                out["validation"] = _check_staged(base, check)
                out["input"] = {**out["input"],
                                "files": [f["path"] for f in out["validation"]["files"]]}
            elif not paths:
                out["validation"] = _nothing(base.fail_on)
            else:
                out["validation"] = check([Source(p, real=Path(os.path.abspath(p)))
                                           for p in paths], base)
            _tell(out["validation"], listed_on_stdout)
            return out

        import io

        code = run_stage("validate", file_transform, stdin=io.BytesIO(dumps(doc)),
                         pretty=pretty, verdict=verdict, render=render)
        raise typer.Exit(code)
    raise typer.Exit(run_stage("validate", transform, pretty=pretty, verdict=verdict,
                               render=render))


def _remote(sources: list[Any], settings: Any, cfg: Any) -> dict[str, Any]:
    """Send the sources to the agent's /v1/validate (the same client as generate)."""
    from dmc.commands.common import agent_client

    files = []
    for s in sources:
        try:
            code = s.text if s.text is not None else Path(s.real).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DmcError(f"cannot read {s.path}: {exc}") from None
        files.append({"path": s.path, "code": code, "language": s.language})
    criteria = {"max_complexity": settings.max_complexity, "fail_on": settings.fail_on,
                "security_scan": settings.enable_security_scan,
                "type_check": settings.enable_type_checking}
    client = agent_client(cfg)
    try:
        return client.validate(files, criteria)
    finally:
        client.close()


def _stdout_is_tty() -> bool:
    import sys

    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _colour(stream: Any) -> bool:
    """Colour on stdout, by the rules stderr follows (ui.color_enabled): --color first, then
    NO_COLOR, then FORCE_COLOR, else whether stdout is a terminal."""
    mode = getattr(ui, "_COLOR_MODE", "auto")
    if mode != "auto":
        return bool(mode == "always")
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", ""):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _renderer(output_format: str, pretty: bool) -> Any:
    """What replaces the JSON document on stdout (None: the document itself)."""
    if output_format == "sarif":
        from dmc.validate.sarif import to_sarif

        return lambda doc: dumps(to_sarif(doc["validation"]), pretty=pretty)
    if output_format == "text":
        import sys

        from dmc.validate import report

        colour = _colour(sys.stdout)
        return lambda doc: report.text(doc["validation"], colour=colour).encode()
    if output_format == "github":
        from dmc.validate import report

        return lambda doc: report.github(doc["validation"]).encode()
    return None


def _nothing(fail_on: str, note: str = "no files to check") -> dict[str, Any]:
    return {"passed": True, "issues": [], "counts": {"error": 0, "warning": 0, "info": 0},
            "tools": {}, "files": [], "skipped": [], "notes": [note], "fail_on": fail_on}


def _check_staged(base: Any, check: Any) -> dict[str, Any]:
    """Validate the index content of the staged files (see the command's help)."""
    from dataclasses import replace

    from dmc.languages import EXTENSIONS
    from dmc.validate import Source
    from dmc.validate.staged import StagedSnapshot

    with StagedSnapshot(Path.cwd()) as snap:
        chosen = [f for f in snap.files
                  if os.path.splitext(f.repo_path)[1].lower() in EXTENSIONS]
        if not chosen and not snap.dependents:
            return _nothing(base.fail_on, "no staged files to check")
        sources = [Source(f.path, real=snap.real(f)) for f in chosen + snap.dependents]
        result: dict[str, Any] = check(sources, replace(base, cwd=snap.cwd))
    result["staged"] = {"source": "git index", "files": len(chosen),
                        "renamed": {f.path: f.renamed_from for f in chosen if f.renamed_from},
                        "dependents": [f.path for f in snap.dependents],
                        "context_files_written": snap.written - len(chosen)
                        - len(snap.dependents)}
    if snap.dependents:
        ui.note("validate", f"also checked {len(snap.dependents)} unchanged file(s) that "
                "import what the commit changes: " + ", ".join(
                    f.path for f in snap.dependents[:5]))
    return result


def _tell(validation: dict[str, Any], listed_on_stdout: bool = False) -> None:
    """Notes, tool warnings, and (off a terminal) the blocking issues, one line each."""
    from dmc.validate.issues import at_least

    for note in validation.get("notes", []):
        ui.note("validate", note)
    for name, tool in validation["tools"].items():
        if tool.get("status") in ("missing", "failed") and tool.get("note"):
            ui.warn("validate", f"{name}: {tool['note']}")
    if validation["passed"] or listed_on_stdout or ui.stderr_is_tty():
        return  # the text view, the annotations or the terminal view list every issue
    blocking = [i for i in validation["issues"]
                if at_least(i["severity"], validation["fail_on"])]
    for i in blocking[:50]:
        ui.plain(f"{i['path']}:{i['line']}:{i.get('column', 0) + 1}: {i['severity']}: "
                 f"{i['message']} [{i['tool']}/{i['rule']}]")
    if len(blocking) > 50:
        ui.plain(f"... and {len(blocking) - 50} more")


def _settings(cfg: Any, rules: Path | None, no_cache: bool, run_tests: bool,
              min_coverage: float | None) -> Any:
    from dmc.wiring import validate_settings

    return validate_settings(cfg, rules, no_cache, run_tests, min_coverage)


def _from_document(doc: Document, base: Any, language: str | None) -> tuple[list[Any], Any]:
    """Sources from result.files / result.code, or raw code given as plain stdin text."""
    from dmc.wiring import validate_sources

    return validate_sources(doc, base, language)


def _expand(files: list[Path]) -> list[str]:
    from dmc.languages import EXTENSIONS

    out: list[str] = []
    for f in files:
        if f.is_dir():
            for folder, dirs, names in os.walk(f):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for name in sorted(names):
                    if os.path.splitext(name)[1].lower() in EXTENSIONS:
                        out.append(os.path.join(folder, name))
        elif f.is_file():
            out.append(str(f))
        else:
            raise DmcError(f"no such file: {f}")
    return list(dict.fromkeys(out))
