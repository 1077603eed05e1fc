"""Stage ``validate``: one quality gate over files or generated code.

The runner here decides which checks apply to which files, serves unchanged files from the
cache, runs every tool once over the files that are left (tools in parallel), merges the
findings into one issue list and decides pass/fail. The checks themselves live in
:mod:`dmc.validate.checks`; nothing here prints.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dmc.contract import DmcError, Exit
from dmc.languages import detect, normalise
from dmc.validate import cache as cache_mod
from dmc.validate.checks import Check, Options, Target, ToolFailed
from dmc.validate.checks.custom import CustomRulesCheck
from dmc.validate.checks.eslint import EslintCheck
from dmc.validate.checks.python_tools import BanditCheck, MypyCheck, PylintCheck
from dmc.validate.checks.syntax import SyntaxCheck
from dmc.validate.issues import Issue, at_least, count, deduplicate

MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass
class Source:
    """Something to validate: a file on disk, or code held in memory under a path."""

    path: str
    text: str | None = None
    real: Path | None = None
    language: str | None = None


@dataclass
class Settings:
    """How to validate (from config, flags and the payload's quality criteria)."""

    fail_on: str = "error"
    max_complexity: int = 10
    enable_linting: bool = True
    enable_security_scan: bool = True
    enable_type_checking: bool = True
    rules: list[dict[str, Any]] = field(default_factory=list)
    rules_digest: str = ""
    cache_path: Path | None = None
    cwd: Path | None = None
    repo: Path | None = None
    timeout: float = 120.0
    run_tests: bool = False
    style_profile: dict[str, Any] | None = None
    min_test_coverage: float | None = None
    test_timeout: float = 60.0
    # False runs plain pytest without the coverage wrapper (faster; ``coverage`` is None):
    # callers that only need pass/fail, such as the generation loop, turn it off
    measure_coverage: bool = True
    # pylint, bandit and mypy in warm worker processes kept between runs (same results,
    # faster; see dmc.validate.worker); `dmc validate` turns it on, library callers opt in
    warm: bool = False


def warm_default() -> bool:
    """Warm checkers pay off where dmc runs again soon (a hook, an editor, the agent, a
    refinement loop); a CI job runs once on a fresh machine, where a worker left behind
    would only cost memory: off when the ``CI`` environment variable is set."""
    return not os.environ.get("CI", "")


def safe_relative(path: str) -> str:
    """A path for in-memory code that cannot escape the temporary folder it is written to."""
    parts = [p for p in PurePosixPath(path.replace("\\", "/")).parts
             if p not in ("", ".", "..", "/")]
    if not parts or any("\x00" in p for p in parts):
        raise DmcError(f"unusable file path {path!r} for generated code")
    return "/".join(parts)


def validate(sources: list[Source], settings: Settings) -> dict[str, Any]:
    """The ``validation`` object for these sources."""
    start = time.perf_counter()
    if not sources:
        raise DmcError("nothing to validate")
    in_memory = [s for s in sources if s.text is not None]
    with tempfile.TemporaryDirectory(prefix="dmc-validate-") as tmp:
        if in_memory:
            cwd = Path(tmp)
            for s in in_memory:
                rel = safe_relative(s.path)
                dest = cwd / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(s.text or "", encoding="utf-8")
                s.real = dest
        else:
            cwd = settings.cwd or Path.cwd()
        report = _run(sources, settings, cwd)
        if settings.style_profile:
            report["style"] = _style(sources, settings.style_profile)
        if settings.run_tests:
            from dmc.validate.sandbox import run_tests

            tests = run_tests([s for s in sources if s.real is not None], settings)
            report["tests"] = tests["summary"]
            report["issues"] = report["issues"] + [i.to_dict() for i in tests["issues"]]
            report["counts"] = count([Issue.from_dict(i) for i in report["issues"]])
            report["tools"]["pytest"] = tests["tool"]
    issues = report["issues"]
    report["passed"] = not any(at_least(i["severity"], settings.fail_on) for i in issues)
    report["fail_on"] = settings.fail_on
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report


def _style(sources: list[Source], profile: dict[str, Any]) -> dict[str, Any]:
    """The style consistency score of each file against the learned profile."""
    from dmc.style.observe import observe
    from dmc.style.profile import score

    files = []
    for s in sources:
        language = normalise(s.language) if s.language else detect(s.path)
        if language not in ("python", "javascript", "typescript", "tsx") or s.real is None:
            continue
        try:
            text = s.real.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        files.append({"path": s.path, **score(profile, language, observe(s.path, text,
                                                                          language))})
    scored = [f for f in files if f["score"] is not None]
    total = sum(f["checked"] for f in scored)
    overall = (sum(f["score"] * f["checked"] for f in scored) / total) if total else None
    return {"score": round(overall, 3) if overall is not None else None, "files": files}


def _targets(sources: list[Source]) -> tuple[list[Target], list[dict[str, str]]]:
    targets: list[Target] = []
    skipped: list[dict[str, str]] = []
    for s in sources:
        real = s.real
        assert real is not None
        try:
            if real.stat().st_size > MAX_FILE_BYTES:
                skipped.append({"path": s.path, "reason": f"larger than {MAX_FILE_BYTES} bytes"})
                continue
            data = real.read_bytes()
        except OSError as exc:
            raise DmcError(f"cannot read {s.path}: {exc.strerror or exc}") from None
        if b"\x00" in data[:8192]:
            skipped.append({"path": s.path, "reason": "binary file"})
            continue
        language = normalise(s.language) if s.language else detect(
            s.path, data[:200].decode("utf-8", "replace"))
        if language is None:
            skipped.append({"path": s.path, "reason": "unknown language (no extension, "
                                                      "shebang or --language)"})
            continue
        targets.append(Target(s.path, str(real), language, hashlib.sha256(data).hexdigest()))
    return targets, skipped


def _tool_checks(settings: Settings) -> list[Check]:
    """Every check that runs after syntax (on files that parse)."""
    return [PylintCheck(), BanditCheck(), MypyCheck(), EslintCheck(settings.repo),
            CustomRulesCheck()]


def _run(sources: list[Source], settings: Settings, cwd: Path) -> dict[str, Any]:
    targets, skipped = _targets(sources)
    cache_dir = settings.cache_path.parent if settings.cache_path else None
    opts = Options(cwd=cwd, max_complexity=settings.max_complexity,
                   enable_linting=settings.enable_linting,
                   enable_security_scan=settings.enable_security_scan,
                   enable_type_checking=settings.enable_type_checking, rules=settings.rules,
                   rules_digest=settings.rules_digest, timeout=settings.timeout,
                   cache_dir=cache_dir, warm=settings.warm,
                   environment=_environment_digest() if settings.warm else "")
    store = cache_mod.ResultCache(settings.cache_path)
    tools: dict[str, dict[str, Any]] = {}
    notes: list[str] = [store.warning] if store.warning else []
    context = _config_digest(cwd, settings.repo)
    try:
        syntax = SyntaxCheck()
        issues = _run_check(syntax, targets, opts, store, tools, context, {})
        broken = {i.path for i in issues if i.severity == "error"}
        clean = [t for t in targets if t.path not in broken]
        others = _tool_checks(settings)
        eslint = next(c for c in others if isinstance(c, EslintCheck))
        runnable: list[Check] = []
        for check in others:
            wanted = [t for t in clean if t.language in check.languages]
            if not check.enabled(opts):
                tools[check.name] = {"status": "disabled"}
                continue
            if not wanted:
                continue
            if check.version() is None:
                if isinstance(check, EslintCheck):
                    langs = sorted({t.language for t in wanted})
                    tools[check.name] = {"status": "missing", "note": (
                        f"ESLint is not installed: {', '.join(langs)} got the syntax check "
                        f"only ({check.install_hint})")}
                    continue
                raise DmcError(f"{check.name} is not installed but validation needs it",
                               Exit.UNAVAILABLE, hint=f"install it: {check.install_hint}, or "
                               "turn the check off in config (validation.enable_*)")
            runnable.append(check)
        if broken:
            notes.append("files with syntax errors were not linted: " +
                         ", ".join(sorted(broken)[:5]))
        imports: dict[str, str] = {}
        if any(c.reads_imports for c in runnable):
            imports = _import_digests([t for t in clean if t.language == "python"], cwd, store)
        with ThreadPoolExecutor(max_workers=max(1, min(len(runnable), 4))) as pool:
            futures = [pool.submit(_run_check, c, [t for t in clean if t.language in c.languages],
                                   opts, store, tools, context,
                                   imports if c.reads_imports else {}) for c in runnable]
            for fut in futures:
                issues.extend(fut.result())
        for t in targets:
            if t.language in ("typescript", "tsx") and "eslint" in tools and \
                    "typescript" not in eslint.languages:
                tools["eslint"].setdefault("note", "TypeScript got the syntax check only "
                                           "(ESLint needs a project config with "
                                           "typescript-eslint for it)")
                break
    finally:
        store.close()
    merged = deduplicate(issues)
    return {
        "issues": [i.to_dict() for i in merged],
        "counts": count(merged),
        "tools": tools,
        "files": [{"path": t.path, "language": t.language} for t in targets],
        "skipped": skipped,
        "notes": notes,
    }


#: Files in the working folder (and the repository root) that change what a tool reports:
#: their contents are part of every cache key.
CONFIG_FILES = ("pyproject.toml", "setup.cfg", "tox.ini", "mypy.ini", ".mypy.ini", "pylintrc",
                ".pylintrc", ".bandit", "package.json", "tsconfig.json")


def _config_digest(cwd: Path, repo: Path | None) -> str:
    """One hash over the tool configuration files the checks may read."""
    h = hashlib.sha256()
    # named by role (working folder, repository root), not by absolute path: a staged
    # snapshot or generated code lives in a new temporary folder every run
    for role, folder in (("cwd", cwd), ("repo", repo)):
        if folder is None:
            continue
        for name in CONFIG_FILES:
            try:
                data = (folder / name).read_bytes()
            except OSError:
                continue
            h.update(f"{role}/{name}\x00".encode("utf-8", "surrogatepass"))
            h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def _environment_digest() -> str:
    """The Python version and the installed distributions mypy and pylint can import."""
    import sys

    h = hashlib.sha256(sys.version.encode())
    for entry in sys.path:
        if not entry.endswith(("site-packages", "dist-packages")):
            continue
        try:
            names = sorted(os.listdir(entry))
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info", ".pth")):
                h.update(name.encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()


def _read_or_none(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None


def _import_digests(targets: list[Target], cwd: Path,
                    store: cache_mod.ResultCache) -> dict[str, str]:
    """Per Python target: a hash of every project module it imports, transitively.

    Keyed into mypy's and pylint's cache entries, so changing a callee re-checks its callers.
    """
    from dmc.validate.deps import Graph

    if not targets:
        return {}
    base = os.path.abspath(cwd)
    graph = Graph(os.path.isfile, _read_or_none, extra_roots=[base],
                  known_imports=store.get_imports,
                  label=lambda p: os.path.relpath(p, base))
    env = _environment_digest()
    out = {t.path: hashlib.sha256((env + graph.digest(os.path.abspath(
        os.path.join(base, t.real)))).encode()).hexdigest() for t in targets}
    store.put_imports(graph.new_imports)
    return out


def _run_check(check: Check, targets: list[Target], opts: Options,
               store: cache_mod.ResultCache, tools: dict[str, dict[str, Any]],
               context: str = "", imports: dict[str, str] | None = None) -> list[Issue]:
    """Serve what the cache has, run the tool once over the rest, remember the answers.

    ``context`` (the project's tool configuration) and ``imports`` (per file, what it
    imports) are part of each key, so a hit means the tool would answer the same.
    """
    if not targets:
        return []
    imports = imports or {}
    version = check.version() or "?"
    settings = check.settings(opts) + "\x00" + context
    keys = {t.path: cache_mod.key(check.name, version, settings, t.path,
                                  t.digest + ":" + imports.get(t.path, ""))
            for t in targets}
    cached = store.get_many(list(keys.values()))
    missing = [t for t in targets if keys[t.path] not in cached]
    start = time.perf_counter()
    found: dict[str, list[Issue]] = {}
    status = "cached"
    note = None
    if missing:
        try:
            found = check.run(missing, opts)
            status = "ran"
            store.put_many({keys[t.path]: found.get(t.path, []) for t in missing})
        except ToolFailed as exc:
            status = "failed"
            note = str(exc)
            found = {t.path: [Issue(t.path, 1, 0, "error", "tool-failed", check.name,
                                    f"{check.name} could not check this file: {exc}")]
                     for t in missing}
    entry: dict[str, Any] = {"version": version, "status": status, "files": len(targets),
                             "cached": len(targets) - len(missing),
                             "seconds": round(time.perf_counter() - start, 3)}
    if missing and check.process is not None:
        entry["process"] = check.process
    if note:
        entry["note"] = note
    tools[check.name] = entry
    issues = [i for t in targets if keys[t.path] in cached for i in cached[keys[t.path]]]
    for t in missing:
        issues.extend(found.get(t.path, []))
    return issues


def default_cache_path(repo: Path | None) -> Path:
    """``.dmc/cache/validate.sqlite`` in the repository, else the user cache folder."""
    if repo is not None:
        return repo / ".dmc" / "cache" / "validate.sqlite"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dmc" / "validate.sqlite"
