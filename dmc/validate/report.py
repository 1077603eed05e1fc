"""Views of a ``validation`` object for people and for CI (the JSON stays the source).

- :func:`text`: what a person reads in a terminal, grouped by file, one issue a line as
  compilers print them (``path:line:col``, so terminals and editors can jump there), with
  severity, rule, tool and message; colour is the caller's decision (``NO_COLOR``, a tty).
- :func:`github`: GitHub Actions workflow commands (``::error file=...::message``), which
  Actions turns into annotations on the pull request's diff.

Both are pure functions returning strings: nothing here prints or looks at the terminal.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dmc.validate.issues import SEVERITIES, at_least

_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[33m", "info": "\x1b[36m",
            "path": "\x1b[1m", "dim": "\x1b[2m", "ok": "\x1b[1;32m", "bad": "\x1b[1;31m"}
_RESET = "\x1b[0m"


def _paint(text: str, style: str, colour: bool) -> str:
    return f"{_COLOURS[style]}{text}{_RESET}" if colour else text


def _where(issue: dict[str, Any]) -> str:
    return f"{issue['path']}:{issue['line']}:{int(issue.get('column', 0)) + 1}"


def shown_threshold(validation: dict[str, Any]) -> str:
    """The lowest severity the text view lists: warnings, or lower when it blocks."""
    fail_on = validation.get("fail_on", "error")
    return fail_on if not at_least(fail_on, "warning") else "warning"


def text(validation: dict[str, Any], colour: bool = False, show: str | None = None) -> str:
    """Issues grouped by file, then a one-line verdict and what each tool did.

    Info-level findings (pylint's conventions, mostly) are counted but not listed unless
    they block (``--fail-on info``) or ``show`` asks for them: the view is for reading.
    """
    show = show or shown_threshold(validation)
    issues = validation.get("issues", [])
    listed = [i for i in issues if at_least(i["severity"], show)]
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for issue in listed:
        by_file[issue["path"]].append(issue)
    lines: list[str] = []
    for path in sorted(by_file):
        group = sorted(by_file[path], key=lambda i: (i["line"], i.get("column", 0)))
        lines.append(_paint(path, "path", colour))
        width = max(len(_where(i)) for i in group)
        sev_width = max(len(i["severity"]) for i in group)
        for i in group:
            rule = f"{i['rule']} ({i['tool']})"
            also = i.get("also_reported_by")
            if also:
                rule = f"{i['rule']} ({i['tool']}, also {', '.join(also)})"
            lines.append(f"  {_where(i).ljust(width)}  "
                         f"{_paint(i['severity'].ljust(sev_width), i['severity'], colour)}  "
                         f"{i['message']}  {_paint(rule, 'dim', colour)}")
        lines.append("")
    counts = validation.get("counts") or {s: sum(1 for i in issues if i["severity"] == s)
                                          for s in SEVERITIES}
    files = validation.get("files", [])
    verdict = (_paint("passed", "ok", colour) if validation.get("passed")
               else _paint("FAILED", "bad", colour))
    summary = (f"dmc validate: {verdict}: {counts.get('error', 0)} error(s), "
               f"{counts.get('warning', 0)} warning(s), {counts.get('info', 0)} info in "
               f"{len(files)} file(s) (fails on {validation.get('fail_on', 'error')})")
    hidden = len(issues) - len(listed)
    if hidden:
        summary += f"; {hidden} below {show} not listed (--format json has them)"
    lines.append(summary)
    tools = validation.get("tools", {})
    if tools:
        parts = []
        for name, tool in tools.items():
            status = tool.get("status", "?")
            if status == "disabled":
                continue
            if tool.get("cached") and status == "ran":
                status = f"ran ({tool['cached']}/{tool.get('files', 0)} cached)"
            parts.append(f"{name} {status}")
        lines.append(_paint("tools: " + "; ".join(parts) +
                            f"; {validation.get('seconds', 0):.2f} s", "dim", colour))
    tests = validation.get("tests")
    if isinstance(tests, dict) and tests.get("ran"):
        cov = tests.get("coverage")
        lines.append(f"tests: {tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed"
                     + (f", coverage {cov:.1f}%" if isinstance(cov, (int, float)) else "")
                     + f" (isolation: {tests.get('isolation', '?')})")
    return "\n".join(lines) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def github(validation: dict[str, Any]) -> str:
    """One workflow command per issue, then a plain summary line for the log."""
    out = []
    for i in validation.get("issues", []):
        props = [f"file={_escape_property(i['path'])}", f"line={int(i['line'])}",
                 f"col={int(i.get('column', 0)) + 1}"]
        if i.get("end_line"):
            props.append(f"endLine={int(i['end_line'])}")
        if i.get("end_column") and (not i.get("end_line") or i["end_line"] == i["line"]):
            props.append(f"endColumn={int(i['end_column']) + 1}")
        props.append(f"title={_escape_property(i['tool'] + ' ' + i['rule'])}")
        out.append(f"::{_GITHUB_LEVEL[i['severity']]} {','.join(props)}::"
                   f"{_escape_data(i['message'])}")
    counts = validation.get("counts", {})
    out.append(f"dmc validate: {'passed' if validation.get('passed') else 'FAILED'}: "
               f"{counts.get('error', 0)} error(s), {counts.get('warning', 0)} warning(s), "
               f"{counts.get('info', 0)} info (fails on {validation.get('fail_on', 'error')})")
    return "\n".join(out) + "\n"
