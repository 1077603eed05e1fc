"""ESLint for JavaScript, when it is installed.

Looked for in the repository's node_modules, then beside this Python (``make install`` puts
one in ``.venv/node``), then on PATH. A repository with its own ``eslint.config.*`` is linted
with that config (TypeScript included, if the config handles it); otherwise dmc's built-in
config (the core correctness rules) lints JavaScript, and TypeScript gets the syntax check.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from functools import lru_cache
from pathlib import Path

from dmc.validate.cache import mark_state_parent
from dmc.validate.checks import (
    Check,
    Options,
    Target,
    ToolFailed,
    by_real_path,
    find_target,
    parse_output,
    run_tool,
)
from dmc.validate.issues import Issue

PROJECT_CONFIGS = ("eslint.config.js", "eslint.config.mjs", "eslint.config.cjs",
                   "eslint.config.ts")
_GLOBALS = (
    "require", "module", "exports", "process", "console", "__dirname", "__filename", "Buffer",
    "global", "globalThis", "setTimeout", "clearTimeout", "setInterval", "clearInterval",
    "setImmediate", "clearImmediate", "queueMicrotask", "structuredClone", "fetch", "URL",
    "URLSearchParams", "TextEncoder", "TextDecoder", "AbortController", "Promise", "Symbol",
    "Map", "Set", "WeakMap", "WeakSet", "Proxy", "Reflect", "BigInt", "window", "document",
    "navigator", "localStorage", "sessionStorage", "location", "history", "alert",
    "HTMLElement", "Event", "CustomEvent", "FormData", "Headers", "Request", "Response",
    "WebSocket", "Blob", "File", "FileReader", "performance", "crypto", "atob", "btoa",
    "describe", "it", "test", "expect", "beforeEach", "afterEach", "beforeAll", "afterAll",
    "jest", "vi",
)
_RULES = {
    "no-undef": "error", "no-unused-vars": "warn", "no-unreachable": "error",
    "no-dupe-keys": "error", "no-dupe-args": "error", "no-redeclare": "error",
    "no-const-assign": "error", "no-func-assign": "error", "no-import-assign": "error",
    "no-self-assign": "error", "no-unsafe-finally": "error", "use-isnan": "error",
    "valid-typeof": "error", "no-cond-assign": "error", "no-constant-condition": "warn",
    "no-empty": "warn", "no-eval": "error", "no-implied-eval": "error", "no-new-func": "error",
    "no-dupe-else-if": "error", "no-duplicate-case": "error", "no-fallthrough": "warn",
    "no-sparse-arrays": "warn", "no-unsafe-negation": "error", "eqeqeq": "warn",
    "no-debugger": "error", "no-self-compare": "error", "no-loss-of-precision": "error",
    "require-yield": "error", "no-async-promise-executor": "error",
}


def builtin_config() -> str:
    """dmc's ESLint flat config (JavaScript only, no plug-ins needed)."""
    config = [
        {"files": ["**/*.js", "**/*.mjs", "**/*.jsx"],
         "languageOptions": {"ecmaVersion": "latest", "sourceType": "module",
                             "parserOptions": {"ecmaFeatures": {"jsx": True}},
                             "globals": dict.fromkeys(_GLOBALS, "readonly")},
         "rules": _RULES},
        {"files": ["**/*.cjs"],
         "languageOptions": {"ecmaVersion": "latest", "sourceType": "commonjs",
                             "globals": dict.fromkeys(_GLOBALS, "readonly")},
         "rules": _RULES},
    ]
    return "export default " + json.dumps(config, indent=1) + ";\n"


def find_eslint(repo: Path | None) -> str | None:
    """Path of an eslint executable, or None."""
    candidates = []
    if repo is not None:
        candidates.append(repo / "node_modules" / ".bin" / "eslint")
    candidates.append(Path(sys.prefix) / "node" / "node_modules" / ".bin" / "eslint")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("eslint")


@lru_cache(maxsize=8)
def _version_of(binary: str) -> str | None:
    """ESLint's version from its package.json (no node start-up)."""
    real = Path(os.path.realpath(binary))
    for folder in real.parents:
        pkg = folder / "package.json"
        if pkg.is_file():
            try:
                data = json.loads(pkg.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            if data.get("name") == "eslint":
                return str(data.get("version"))
            return None
    return None


class EslintCheck(Check):
    """ESLint over JavaScript (and TypeScript when the project's own config handles it)."""

    name = "eslint"
    languages = frozenset({"javascript"})
    install_hint = "npm install --save-dev eslint (or make install, which puts one in .venv/node)"

    def __init__(self, repo: Path | None = None) -> None:
        self.repo = repo
        self.binary = find_eslint(repo)
        self.project_config = next((repo / c for c in PROJECT_CONFIGS
                                    if repo is not None and (repo / c).is_file()), None)
        if self.project_config is not None:
            self.languages = frozenset({"javascript", "typescript", "tsx"})

    def enabled(self, opts: Options) -> bool:
        return opts.enable_linting

    def version(self) -> str | None:
        return _version_of(self.binary) if self.binary else None

    def settings(self, opts: Options) -> str:
        if self.project_config is not None:
            try:
                return "project:" + self.project_config.read_text(encoding="utf-8")
            except OSError:
                return "project"
        return "builtin:" + json.dumps(_RULES, sort_keys=True)

    def run(self, targets: list[Target], opts: Options) -> dict[str, list[Issue]]:
        assert self.binary is not None
        args = [self.binary, "--format", "json", "--no-warn-ignored"]
        if self.project_config is None:
            folder = (opts.cache_dir or opts.cwd / ".dmc") / "eslint"
            mark_state_parent(folder)
            folder.mkdir(parents=True, exist_ok=True)
            config = folder / "eslint.config.mjs"
            text = builtin_config()
            if not config.is_file() or config.read_text(encoding="utf-8") != text:
                config.write_text(text, encoding="utf-8")
            args += ["--config", str(config)]
        proc = run_tool([*args, *[t.real for t in targets]], opts.cwd, opts.timeout)
        if proc.returncode not in (0, 1):
            raise ToolFailed(f"eslint failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
        report = parse_output("eslint", proc.stdout, [])
        table = by_real_path(targets)
        out: dict[str, list[Issue]] = {}
        for entry in report:
            target = find_target(table, opts.cwd, entry.get("filePath", ""))
            if target is None:
                continue
            for m in entry.get("messages", []):
                fatal = bool(m.get("fatal"))
                rule = m.get("ruleId") or ("fatal" if fatal else "eslint")
                severity = "error" if fatal or m.get("severity") == 2 else "warning"
                fix = None
                if m.get("fix"):
                    fix = f"eslint --fix can rewrite this: {m['fix'].get('text', '')!r}"
                elif m.get("suggestions"):
                    fix = m["suggestions"][0].get("desc")
                out.setdefault(target.path, []).append(Issue(
                    target.path, int(m.get("line") or 1), max(int(m.get("column") or 1) - 1, 0),
                    severity, rule, "eslint", m.get("message", ""), end_line=m.get("endLine"),
                    end_column=(m["endColumn"] - 1) if m.get("endColumn") else None, fix=fix))
        return out
