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
    """Tables and progress only when a person is watching stderr. NO_COLOR does not change
    this: it asks for no colour, not for less information (https://no-color.org)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


#: ``--color``: auto, always or never; set once by the root command before any output.
_COLOR_MODE = "auto"


def set_color(mode: str) -> None:
    """Record the ``--color`` choice (``auto`` defers to NO_COLOR, FORCE_COLOR, the tty)."""
    global _COLOR_MODE
    _COLOR_MODE = mode


def color_enabled() -> bool:
    """Whether stderr gets colour: ``--color`` first, then NO_COLOR (any non-empty value
    turns colour off), then FORCE_COLOR (any non-empty value turns it on even when stderr
    is not a terminal), else colour exactly when stderr is a terminal."""
    if _COLOR_MODE != "auto":
        return _COLOR_MODE == "always"
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", ""):
        return True
    return stderr_is_tty()


def console() -> Any:
    """A rich console on stderr that follows :func:`color_enabled` (rich alone would read
    only the environment, not ``--color``)."""
    from rich.console import Console

    color = color_enabled()
    return Console(stderr=True, no_color=not color, force_terminal=True if color else None)


def _paint(text: str, sgr: str) -> str:
    return f"\x1b[{sgr}m{text}\x1b[0m" if color_enabled() else text


def _emit(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _quiet() -> bool:
    return os.environ.get("DMC_QUIET", "") not in ("", "0")


def is_quiet() -> bool:
    """``-q`` or ``DMC_QUIET``: errors only, so no progress bars or spinners either."""
    return _quiet()


def error(stage: str, message: str, hint: str | None = None) -> None:
    """One line per failure, prefixed like git's: ``dmc intent: error: ...``."""
    where = f"{_PROG} {stage}" if stage else _PROG
    _emit(f"{where}: {_paint('error:', '1;31')} {message}"
          + (f" ({hint})" if hint else ""))


def warn(stage: str, message: str) -> None:
    """A warning: the stage carried on but the user should know."""
    if not _quiet():
        _emit(f"{_PROG} {stage}: {_paint('warning:', '33')} {message}")


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
    from rich.table import Table

    tbl = Table(title=title, title_justify="left")
    for h in headers:
        tbl.add_column(h)
    for row in rows:
        tbl.add_row(*row)
    console().print(tbl)


#: Stages whose human view already went to stdout (``dmc validate --format text``): the
#: terminal view on stderr would repeat it.
_ON_STDOUT: set[str] = set()


def shown_on_stdout(stage: str) -> None:
    """Say that ``stage`` writes its human view on stdout, so :func:`summary` stays quiet."""
    _ON_STDOUT.add(stage)


def summary(stage: str, doc: dict[str, Any]) -> None:
    """Rich view of a stage's own key, when stderr is a terminal."""
    if not stderr_is_tty() or _quiet() or stage in _ON_STDOUT:
        return
    value = doc.get(stage_key(stage))
    if not isinstance(value, dict):
        return
    view = _VIEWS.get(stage)
    if view is not None:
        view(value)
        return
    rows = [(k, _short(v)) for k, v in value.items()]
    table(f"dmc {stage}", rows, ("field", "value"))


#: The document key each stage owns (the pipe contract's STAGE_KEYS, by stage name).
STAGE_KEYS = {"extract": "extraction", "retrieve": "context", "optimize": "payload",
              "generate": "result", "validate": "validation"}


def stage_key(stage: str) -> str:
    """The document key a stage owns."""
    return STAGE_KEYS.get(stage, stage)


def _short(value: Any, width: int = 90) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _issues_view(validation: dict[str, Any]) -> None:
    """validate: the issues grouped by file, as ``dmc validate --format text`` prints them."""
    from dmc.validate.report import text

    colour = color_enabled()
    for line in text(validation, colour=colour).rstrip("\n").split("\n"):
        _emit(line)


def _chunks_view(context: dict[str, Any]) -> None:
    """retrieve: one row per chunk, with where it is and why it matched."""
    rows = []
    for n, c in enumerate(context.get("chunks", []), start=1):
        why = ", ".join(f"{k} #{v.get('rank')}" if isinstance(v, dict) else str(k)
                        for k, v in (c.get("why") or {}).items())
        rows.append((str(n), f"{c.get('path')}:{c.get('start_line')}-{c.get('end_line')}",
                     str(c.get("symbol") or c.get("kind") or ""),
                     f"{c.get('score', 0):.4f}", _short(why, 50)))
    info = context.get("retrieval", {})
    table(f"dmc retrieve: {len(rows)} chunk(s), mode {info.get('mode', '?')}", rows,
          ("#", "where", "symbol", "score", "why"))


def _payload_view(payload: dict[str, Any]) -> None:
    """optimize: what goes to the desktop, how much of the budget, what was left out."""
    m = payload.get("metrics", {})
    sent = m.get("items_sent", {})
    task = payload.get("task", {})
    rows = [("task", _short(str(task.get("description") or task.get("type") or ""), 70)),
            ("context tokens", f"{m.get('context_tokens', '?')} of {m.get('budget_tokens', '?')}"
                               f" ({m.get('token_counter', '?')})"),
            ("chunks", f"{m.get('chunks_in', 0)} in: {sent.get('full', 0)} full, "
                       f"{sent.get('compressed', 0)} compressed, {sent.get('cut', 0)} cut, "
                       f"{len(m.get('dropped', []))} dropped"),
            ("secrets redacted", ", ".join(sorted({r.get("kind", "?") for r in
                                                   m.get("redactions", [])})) or "none"),
            ("payload size", f"{m.get('bytes', '?')} bytes")]
    table("dmc optimize", rows, ("field", "value"))


def _result_view(result: dict[str, Any]) -> None:
    """generate: the files written, and whether validation passed after how many passes."""
    v = result.get("validation", {})
    counts = v.get("counts", {})
    meta = result.get("metadata", {})
    rows = [("validation", f"{'passed' if v.get('passed') else 'failed'} after "
                           f"{v.get('iterations', '?')} pass(es): {counts.get('error', 0)} "
                           f"error(s), {counts.get('warning', 0)} warning(s)"),
            ("model", f"{meta.get('model_used', '?')}, {meta.get('generation_time', '?')} s")]
    rows += [("file", f"{f.get('path')} ({f.get('language')}, "
                      f"{len(str(f.get('code', '')).splitlines())} lines)")
             for f in result.get("files", [])]
    table(f"dmc generate: {result.get('status', '?')}", rows, ("field", "value"))


_VIEWS: dict[str, Any] = {"validate": _issues_view, "retrieve": _chunks_view,
                          "optimize": _payload_view, "generate": _result_view}
