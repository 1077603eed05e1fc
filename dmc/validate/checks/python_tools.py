"""Python linters: pylint (with the mccabe extension), bandit, mypy. Each runs once over
all files, with JSON output parsed into the shared issue format."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dmc.validate.checks import (
    Check,
    Options,
    Target,
    ToolFailed,
    by_real_path,
    find_target,
    parse_output,
    run_python,
)
from dmc.validate.issues import Issue

_PYLINT_SEVERITY = {"fatal": "error", "error": "error", "warning": "warning",
                    "refactor": "info", "convention": "info", "info": "info"}
_BANDIT_SEVERITY = {"HIGH": "error", "MEDIUM": "warning", "LOW": "info"}


class PylintCheck(Check):
    """pylint; complexity above ``quality_criteria.max_complexity`` is a warning."""

    name = "pylint"
    languages = frozenset({"python"})
    package = "pylint"
    reads_imports = True  # no-member, no-value-for-parameter, ... look into imported modules
    install_hint = "pip install pylint"

    def enabled(self, opts: Options) -> bool:
        return opts.enable_linting

    def settings(self, opts: Options) -> str:
        return f"max-complexity={opts.max_complexity}"

    def run(self, targets: list[Target], opts: Options) -> dict[str, list[Issue]]:
        # a warm worker runs one process (forked --jobs children would not add to its trees)
        jobs = "2" if len(targets) >= 8 and not opts.warm else "1"
        proc = run_python(self, [
            sys.executable, "-m", "pylint", "--output-format=json", "--score=n", "--reports=n",
            "--load-plugins=pylint.extensions.mccabe", f"--max-complexity={opts.max_complexity}",
            f"--jobs={jobs}",
            # duplicate-code compares files with each other, so its findings cannot be cached
            # per file; it is also pylint's costliest checker
            "--disable=duplicate-code", *[t.real for t in targets]], opts)
        if proc.returncode & 32 or (proc.returncode & 1 and not proc.stdout.strip()):
            raise ToolFailed(f"pylint failed: {proc.stderr.strip()[-300:]}")
        messages = parse_output("pylint", proc.stdout, [])
        table = by_real_path(targets)
        out: dict[str, list[Issue]] = {}
        for m in messages:
            target = find_target(table, opts.cwd, m.get("path", ""))
            if target is None:
                continue
            severity = _PYLINT_SEVERITY.get(m.get("type", ""), "info")
            if m.get("symbol") == "too-complex":
                severity = "warning"
            out.setdefault(target.path, []).append(Issue(
                target.path, int(m.get("line") or 1), int(m.get("column") or 0), severity,
                m.get("symbol") or m.get("message-id", "pylint"), "pylint", m.get("message", ""),
                end_line=m.get("endLine"), end_column=m.get("endColumn"),
                fix=f"pylint {m.get('message-id')}: see `pylint --help-msg={m.get('symbol')}`"))
        return out


class BanditCheck(Check):
    """bandit security scan: HIGH severity is an error, MEDIUM a warning, LOW info."""

    name = "bandit"
    languages = frozenset({"python"})
    package = "bandit"
    install_hint = "pip install bandit"

    def enabled(self, opts: Options) -> bool:
        return opts.enable_security_scan

    def run(self, targets: list[Target], opts: Options) -> dict[str, list[Issue]]:
        proc = run_python(self, [sys.executable, "-m", "bandit", "-f", "json", "-q",
                                 *[t.real for t in targets]], opts)
        if not proc.stdout.strip() and proc.returncode not in (0, 1):
            raise ToolFailed(f"bandit failed: {proc.stderr.strip()[-300:]}")
        report = parse_output("bandit", proc.stdout, {})
        table = by_real_path(targets)
        out: dict[str, list[Issue]] = {}
        for r in report.get("results", []):
            target = find_target(table, opts.cwd, r.get("filename", ""))
            if target is None:
                continue
            severity = _BANDIT_SEVERITY.get(r.get("issue_severity", ""), "info")
            lines = r.get("line_range") or [r.get("line_number", 1)]
            out.setdefault(target.path, []).append(Issue(
                target.path, int(r.get("line_number") or 1), int(r.get("col_offset") or 0),
                severity, r.get("test_id", "bandit"), "bandit",
                f"{r.get('issue_text', '')} (confidence {r.get('issue_confidence', '?')})",
                end_line=int(lines[-1]), end_column=r.get("end_col_offset"),
                fix=r.get("more_info")))
        return out


class MypyCheck(Check):
    """mypy type check, imports outside the checked files treated as Any."""

    name = "mypy"
    languages = frozenset({"python"})
    package = "mypy"
    reads_imports = True
    install_hint = "pip install mypy"

    def enabled(self, opts: Options) -> bool:
        return opts.enable_type_checking

    def run(self, targets: list[Target], opts: Options) -> dict[str, list[Issue]]:
        args = [sys.executable, "-m", "mypy", "-O", "json", "--show-column-numbers",
                "--show-error-end", "--no-error-summary", "--ignore-missing-imports",
                "--follow-imports=silent", "--no-color-output", "--hide-error-context"]
        if opts.cache_dir is not None:
            args += ["--cache-dir", str(opts.cache_dir / "mypy")]
        else:
            args += ["--cache-dir", "/dev/null"]
        # mypy refuses two files with the same module name; check those one group at a time
        groups: list[list[Target]] = []
        for t in targets:
            stem = Path(t.real).name
            for group in groups:
                if all(Path(g.real).name != stem for g in group):
                    group.append(t)
                    break
            else:
                groups.append([t])
        out: dict[str, list[Issue]] = {}
        table = by_real_path(targets)
        for group in groups:
            messages = self._messages([*args, *[t.real for t in group]], opts)
            if opts.cache_dir is not None and any(
                    find_target(table, opts.cwd, m.get("file", "")) is None for m in messages):
                # mypy's incremental cache replays a module's errors under the path it had
                # when cached (same module name and content, another folder: a temporary
                # copy, a staged snapshot). With --follow-imports=silent every error belongs
                # to a file we passed, so a foreign path means replayed errors: check again
                # without the cache rather than lose them.
                no_cache = list(args)
                no_cache[no_cache.index("--cache-dir") + 1] = "/dev/null"
                messages = self._messages([*no_cache, *[t.real for t in group]], opts)
            for m in messages:
                target = find_target(table, opts.cwd, m.get("file", ""))
                if target is None:
                    raise ToolFailed(f"mypy reported a file it was not given: {m.get('file')}")
                severity = "error" if m.get("severity") == "error" else "info"
                column = max(int(m.get("column") or 0), 0)
                out.setdefault(target.path, []).append(Issue(
                    target.path, int(m.get("line") or 1), column, severity,
                    m.get("code") or "mypy", "mypy", m.get("message", ""),
                    end_line=m.get("end_line"), end_column=m.get("end_column"),
                    fix=m.get("hint")))
        return out

    def _messages(self, args: list[str], opts: Options) -> list[dict[str, Any]]:
        proc = run_python(self, args, opts)
        if proc.returncode not in (0, 1):
            raise ToolFailed(f"mypy failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
        messages = []
        for line in proc.stdout.splitlines():
            try:
                m = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(m, dict):
                messages.append(m)
        return messages
