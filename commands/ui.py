"""Human-facing output on stderr.

stdout carries JSON only; everything for people goes through here. Rich is imported only
when stderr is a terminal (and never for plain one-line messages), so pipelines and hooks
do not pay its import time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

_PROG = "dmc"


def stderr_is_tty() -> bool:
    """Rich output only when a person is watching stderr (and NO_COLOR is not set)."""
    try:
        return sys.stderr.isatty() and "NO_COLOR" not in os.environ
    except (AttributeError, ValueError):
        return False


def _emit(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _quiet() -> bool:
    return os.environ.get("DMC_QUIET", "") not in ("", "0")


def error(stage: str, message: str, hint: str | None = None) -> None:
    """One line per failure, prefixed like git's: ``dmc intent: error: ...``."""
    _emit(f"{_PROG} {stage}: error: {message}" + (f" ({hint})" if hint else ""))


def warn(stage: str, message: str) -> None:
    """A warning: the stage carried on but the user should know."""
    if not _quiet():
        _emit(f"{_PROG} {stage}: warning: {message}")


def note(stage: str, message: str) -> None:
    """Informational (what a stage did on its own, which backend it used)."""
    if not _quiet():
        _emit(f"{_PROG} {stage}: {message}")


def plain(line: str) -> None:
    """A line for people, as compilers print diagnostics (not silenced by DMC_QUIET)."""
    _emit(line)


def table(title: str, rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    """A table for people on a terminal; nothing at all when stderr is not one."""
    if not stderr_is_tty() or _quiet():
        return
    from rich.console import Console
    from rich.table import Table

    tbl = Table(title=title, title_justify="left")
    for h in headers:
        tbl.add_column(h)
    for row in rows:
        tbl.add_row(*row)
    Console(stderr=True).print(tbl)


def summary(stage: str, doc: dict[str, Any]) -> None:
    """Rich view of a stage's own key, when stderr is a terminal."""
    if not stderr_is_tty() or _quiet():
        return
    value = doc.get(stage_key(stage))
    if not isinstance(value, dict):
        return
    if stage == "validate":
        _issues_table(value)
        return
    rows = [(k, _short(v)) for k, v in value.items()]
    table(f"dmc {stage}", rows, ("field", "value"))


def stage_key(stage: str) -> str:
    """The document key a stage owns."""
    return {"extract": "extraction"}.get(stage, stage)


def _short(value: Any, width: int = 90) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _issues_table(validation: dict[str, Any]) -> None:
    rows = [(f"{i['path']}:{i['line']}:{i.get('column', 0) + 1}", i["severity"],
             f"{i['tool']}/{i['rule']}", _short(i["message"], 70))
            for i in validation.get("issues", [])]
    counts = validation.get("counts", {})
    verdict = "passed" if validation.get("passed") else "FAILED"
    title = (f"dmc validate: {verdict} — {counts.get('error', 0)} errors, "
             f"{counts.get('warning', 0)} warnings, {counts.get('info', 0)} info "
             f"(fail on {validation.get('fail_on', 'error')})")
    table(title, rows, ("where", "severity", "rule", "message"))
