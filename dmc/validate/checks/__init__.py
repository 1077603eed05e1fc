"""Checks are small plug-ins: one tool, the languages it handles, its version, one run.

A check's :meth:`Check.run` gets every file it should look at and runs its tool once
(one process for all files, never one per file); the runner handles caching, parallelism
and the report. Adding a tool means adding one module here and listing it in ``ALL``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from dmc.validate.issues import Issue


@dataclass(frozen=True)
class Target:
    """A file to check: the path reported to users, the file on disk, its language."""

    path: str
    real: str
    language: str
    digest: str


@dataclass
class Options:
    """What the checks need to know beyond the files."""

    cwd: Path
    max_complexity: int = 10
    enable_linting: bool = True
    enable_security_scan: bool = True
    enable_type_checking: bool = True
    rules: list[dict[str, Any]] = field(default_factory=list)
    rules_digest: str = ""
    timeout: float = 120.0
    cache_dir: Path | None = None
    #: run pylint, bandit and mypy in warm worker processes (dmc.validate.worker)
    warm: bool = False
    #: the installed distributions' digest: part of a warm worker's key
    environment: str = ""


class ToolFailed(Exception):
    """A tool ran but its output could not be used (crash, unparsable output)."""


class Check:
    """Base class: subclasses set ``name``/``languages`` and implement ``run``."""

    name: str = ""
    languages: frozenset[str] = frozenset()
    package: str | None = None  # the Python distribution that provides the tool
    install_hint: str = ""
    #: True when the tool reads the modules a file imports (mypy, pylint): its cached result
    #: is then keyed on those modules and the installed packages too, not only on the file
    reads_imports: bool = False

    #: how the tool ran last: "warm" (a worker), "new" (a new process), or "new (why)"
    process: str | None = None

    def enabled(self, opts: Options) -> bool:
        """Whether configuration asks for this check."""
        return True

    def version(self) -> str | None:
        """Tool version, or None when the tool is not installed."""
        if self.package is None:
            return "builtin"
        try:
            return version(self.package)
        except PackageNotFoundError:
            return None

    def settings(self, opts: Options) -> str:
        """Everything besides file content and version that changes the result."""
        return ""

    def run(self, targets: list[Target], opts: Options) -> dict[str, list[Issue]]:
        """Issues per target path; a target with no issues may be absent."""
        raise NotImplementedError


def run_tool(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a tool, turning a hang or a missing program into :class:`ToolFailed`."""
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{Path(args[0]).name} did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise ToolFailed(f"cannot run {args[0]}: {exc}") from None


def run_python(check: Check, args: list[str], opts: Options) -> subprocess.CompletedProcess[str]:
    """``args`` (``python -m TOOL ...``) through a warm worker when ``opts.warm``, else (or
    when no worker can run it) in a new process, as :func:`run_tool` does. Either way the
    tool's own output and exit status come back, so the caller parses one thing."""
    if opts.warm and args[1:2] == ["-m"]:
        from dmc.validate import worker

        try:
            code, out, err = worker.run(args[2], args[3:], opts.cwd, opts.timeout,
                                        opts.environment)
        except worker.TimedOut:
            check.process = "warm"
            # the words run_tool uses, so both ways report a hang alike
            raise ToolFailed(f"{Path(args[0]).name} did not finish within "
                             f"{opts.timeout:g} s") from None
        except worker.Unavailable as exc:
            check.process = f"new ({exc})"
        else:
            check.process = "warm"
            return subprocess.CompletedProcess(args, code, out, err)
    else:
        check.process = "new"
    return run_tool(args, opts.cwd, opts.timeout)


def parse_output(tool: str, text: str, empty: Any) -> Any:
    """A tool's JSON report; unusable output means the tool failed, not that code is clean."""
    import json

    try:
        return json.loads(text) if text.strip() else empty
    except json.JSONDecodeError:
        raise ToolFailed(f"{tool} printed output that is not JSON") from None


def by_real_path(targets: list[Target]) -> dict[str, Target]:
    """Targets keyed by their resolved on-disk path, to map tool output back."""
    out = {}
    for t in targets:
        out[str(Path(t.real).resolve())] = t
        out[t.real] = t
    return out


def find_target(table: dict[str, Target], cwd: Path, path: str) -> Target | None:
    """The target a tool's reported path names (tools print relative or absolute paths)."""
    return table.get(path) or table.get(str((cwd / path).resolve()))
