"""``dmc validate``: one quality gate for files, generated code, pre-commit and CI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, fail, load_config
from dmc.commands.pipe import run_stage

from dmc.contract import DmcError, Document, Exit, dumps, new_document

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".dmc", "dist", "build",
             ".mypy_cache", ".pytest_cache", ".tox"}


def main(
    files: list[Path] = typer.Argument(None, help="Files or folders to check (default: a "
                                       "document or raw code on stdin)."),
    language: str = typer.Option(None, "--language", "-l",
                                 help="Language of raw code on stdin (python, javascript, "
                                      "typescript, ...)."),
    output_format: str = typer.Option("json", "--format", "-f",
                                      help="json (the document) or sarif (SARIF 2.1.0 for "
                                           "code scanning)."),
    fail_on: str = typer.Option(None, "--fail-on",
                                help="Lowest severity that fails: error, warning or info "
                                     "[config: validation.fail_on]."),
    staged: bool = typer.Option(False, "--staged",
                                help="Check the files staged in git (hook mode)."),
    run_tests: bool = typer.Option(False, "--run-tests",
                                   help="Run the pytest tests among the files in a sandbox "
                                        "(temp dir, no network, time and memory limits), "
                                        "with coverage."),
    min_coverage: float = typer.Option(None, "--min-coverage", min=0, max=100,
                                       help="Coverage (percent) the tests must reach "
                                            "[payload: quality_criteria.min_test_coverage]."),
    rules: Path = typer.Option(None, "--rules", exists=False,
                               help="Custom rules file (default: quality_rules.yaml at the "
                                    "repository root, if present)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore and do not update the "
                                  "result cache."),
    remote: bool = typer.Option(False, "--remote", help="Validate on the desktop agent "
                                "(desktop.url) instead of here."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Check code with syntax, pylint, bandit, mypy, ESLint and custom rules.

    Inputs: file paths (what pre-commit and git diff pass), a document from dmc generate
    (result.code, or result.files for several files), or raw code on stdin with --language.
    Every tool runs once over all files, tools in parallel, and results are cached by file
    content, tool version and settings, so unchanged files cost nothing.

    Writes the document with a `validation` key ({passed, issues, counts, tools}) or, with
    --format sarif, a SARIF 2.1.0 log. Exits 1 when an issue at or above --fail-on exists.
    """
    if output_format not in ("json", "sarif"):
        fail("validate", DmcError(f"--format must be json or sarif, not {output_format!r}"))
    cfg = load_config("validate", repo=repo, sets=sets,
                      flags={"validation.fail_on": fail_on})
    try:
        base = _settings(cfg, rules, no_cache, run_tests, min_coverage)
    except DmcError as exc:
        fail("validate", exc)

    if remote and not cfg.get("desktop.url"):
        fail("validate", DmcError("--remote needs desktop.url"))

    def check(sources: list[Any], settings: Any) -> dict[str, Any]:
        if remote:
            return _remote(sources, settings, cfg)
        from dmc.validate import validate

        return validate(sources, settings)

    def transform(doc: Document) -> Document:
        sources, settings = _from_document(doc, base, language)
        out = dict(doc)
        out["validation"] = check(sources, settings)
        _tell(out["validation"])
        return out

    def verdict(doc: Document) -> Exit:
        return Exit.OK if doc["validation"]["passed"] else Exit.BLOCKING

    render = None
    if output_format == "sarif":
        from dmc.validate.sarif import to_sarif

        def render(doc: Document) -> bytes:
            return dumps(to_sarif(doc["validation"]), pretty=pretty)

    if files or staged:
        try:
            paths = _staged(cfg.repo) if staged else _expand(files)
        except DmcError as exc:
            fail("validate", exc)
        doc = new_document("validate " + " ".join(paths[:20]))
        doc["input"]["files"] = paths

        def file_transform(d: Document) -> Document:
            from dmc.validate import Source

            out = dict(d)
            if not paths:
                out["validation"] = {"passed": True, "issues": [], "counts": {"error": 0,
                                     "warning": 0, "info": 0}, "tools": {}, "files": [],
                                     "notes": ["no files to check"], "fail_on": base.fail_on}
                return out
            out["validation"] = check([Source(p, real=Path(p)) for p in paths], base)
            _tell(out["validation"])
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


def _tell(validation: dict[str, Any]) -> None:
    """Notes, tool warnings, and (off a terminal) the blocking issues, one line each."""
    from dmc.validate.issues import at_least

    for note in validation.get("notes", []):
        ui.note("validate", note)
    for name, tool in validation["tools"].items():
        if tool.get("status") in ("missing", "failed") and tool.get("note"):
            ui.warn("validate", f"{name}: {tool['note']}")
    if validation["passed"] or ui.stderr_is_tty():
        return  # on a terminal the table shows every issue
    blocking = [i for i in validation["issues"]
                if at_least(i["severity"], validation["fail_on"])]
    for i in blocking[:50]:
        ui.plain(f"{i['path']}:{i['line']}:{i.get('column', 0) + 1}: {i['severity']}: "
                 f"{i['message']} [{i['tool']}/{i['rule']}]")
    if len(blocking) > 50:
        ui.plain(f"... and {len(blocking) - 50} more")


def _settings(cfg: Any, rules: Path | None, no_cache: bool, run_tests: bool,
              min_coverage: float | None) -> Any:
    from dmc.validate import Settings, default_cache_path
    from dmc.validate.rules import find_rules_file, load_rules

    rules_file = rules or find_rules_file(cfg.repo)
    if rules is not None and not rules.is_file():
        raise DmcError(f"rules file {rules} does not exist")
    loaded, digest = load_rules(rules_file) if rules_file else ([], "")
    from dmc.commands.style import load_profile

    try:
        profile = load_profile(cfg.repo)
    except DmcError:
        profile = None
    return Settings(
        style_profile=profile,
        fail_on=cfg.get("validation.fail_on"),
        max_complexity=cfg.get("validation.max_complexity"),
        enable_linting=cfg.get("validation.enable_linting"),
        enable_security_scan=cfg.get("validation.enable_security_scan"),
        enable_type_checking=cfg.get("validation.enable_type_checking"),
        rules=loaded, rules_digest=digest,
        cache_path=None if no_cache else default_cache_path(cfg.repo),
        cwd=cfg.repo or Path.cwd(), repo=cfg.repo, run_tests=run_tests,
        min_test_coverage=min_coverage, timeout=cfg.get("validation.tool_timeout"),
        test_timeout=cfg.get("validation.test_timeout"),
    )


def _from_document(doc: Document, base: Any, language: str | None) -> tuple[list[Any], Any]:
    """Sources from result.files / result.code, or raw code given as plain stdin text."""
    from dataclasses import replace

    from dmc.validate import Source
    from dmc.validate.languages import EXTENSIONS, detect, normalise

    settings = base
    criteria = doc.get("payload", {}).get("quality_criteria", {})
    if isinstance(criteria, dict):
        changes: dict[str, Any] = {}
        if isinstance(criteria.get("max_complexity"), int):
            changes["max_complexity"] = criteria["max_complexity"]
        if settings.min_test_coverage is None and isinstance(
                criteria.get("min_test_coverage"), (int, float)):
            changes["min_test_coverage"] = float(criteria["min_test_coverage"])
        settings = replace(settings, **changes)
    result = doc.get("result")
    lang = normalise(language) if language else None
    if isinstance(result, dict):
        files = result.get("files")
        if isinstance(files, list) and files:
            sources = []
            for f in files:
                if not isinstance(f, dict) or not isinstance(f.get("path"), str) or \
                        not isinstance(f.get("code"), str):
                    raise DmcError("result.files entries need string 'path' and 'code'")
                sources.append(Source(f["path"], text=f["code"],
                                      language=f.get("language") or lang))
            return sources, settings
        code = result.get("code")
        if not isinstance(code, str):
            raise DmcError("result has no code to validate (result.code or result.files)")
        lang = lang or result.get("language") or _doc_language(doc)
        if lang is None:
            raise DmcError("cannot tell the language of result.code", hint="pass --language")
        return [Source(_name_for(lang, EXTENSIONS), text=code, language=lang)], settings
    if set(doc) <= {"dmc", "input"} and set(doc.get("input", {})) <= {"text", "repo"}:
        code = doc.get("input", {}).get("text", "")
        lang = lang or detect("stdin", code)
        if lang is None:
            raise DmcError("raw code on stdin needs --language (or a shebang line)")
        return [Source(_name_for(lang, EXTENSIONS), text=code, language=lang)], settings
    raise DmcError("document has no result to validate", hint="run dmc generate first, or "
                   "pass file paths")


def _doc_language(doc: Document) -> str | None:
    from dmc.validate.languages import GRAMMARS, normalise

    for lang in doc.get("extraction", {}).get("languages", []) or []:
        if normalise(lang) in GRAMMARS:
            return normalise(lang)
    return None


def _name_for(language: str, extensions: dict[str, str]) -> str:
    ext = next((e for e, lang in extensions.items() if lang == language), ".txt")
    return f"generated{ext}"


def _expand(files: list[Path]) -> list[str]:
    from dmc.validate.languages import EXTENSIONS

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


def _staged(repo: Path | None) -> list[str]:
    """Files added, copied, modified or renamed in the index, relative to the cwd."""
    import subprocess

    from dmc.validate.languages import EXTENSIONS

    if repo is None:
        raise DmcError("--staged needs a git repository")
    try:
        proc = subprocess.run(["git", "diff", "--cached", "--name-only", "--diff-filter=ACMR",
                               "-z", "--relative"], capture_output=True, timeout=30,
                              check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise DmcError(f"cannot list staged files: {exc}", Exit.UNAVAILABLE) from None
    names = [n for n in proc.stdout.decode("utf-8", "replace").split("\x00") if n]
    return [n for n in names if os.path.splitext(n)[1].lower() in EXTENSIONS
            and os.path.isfile(n)]
