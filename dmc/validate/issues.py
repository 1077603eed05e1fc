"""One issue format for every tool, and the rules for merging duplicates.

Every check reports :class:`Issue` values; the JSON, the table and SARIF are all views of
the same list. Two tools often report the same problem (pylint's eval-used and bandit's
B307; a syntax error from the compiler, tree-sitter and pylint): :func:`deduplicate` keeps
one, with the highest severity, and records which other tools agreed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

#: (tool, rule) pairs that name the same finding, mapped to one shared key.
EQUIVALENT: dict[tuple[str, str], str] = {
    ("pylint", "eval-used"): "eval",
    ("bandit", "B307"): "eval",
    ("pylint", "exec-used"): "exec",
    ("bandit", "B102"): "exec",
    ("pylint", "syntax-error"): "syntax",
    ("syntax", "syntax-error"): "syntax",
    ("syntax", "missing-node"): "syntax",
    ("python", "syntax-error"): "syntax",
    ("mypy", "syntax"): "syntax",
    ("eslint", "fatal"): "syntax",
    ("pylint", "unused-import"): "unused-import",
    ("eslint", "no-unused-vars"): "unused-variable",
    ("pylint", "unused-variable"): "unused-variable",
}


@dataclass
class Issue:
    """A finding: where, how bad, which rule of which tool, what to do about it."""

    path: str
    line: int
    column: int
    severity: str
    rule: str
    tool: str
    message: str
    end_line: int | None = None
    end_column: int | None = None
    fix: str | None = None
    also_reported_by: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form; empty optional fields are left out.

        Built field by field: ``dataclasses.asdict`` deep-copies recursively and cost a
        third of a warm run's time on a few hundred issues.
        """
        data = {f: getattr(self, f) for f in _FIELDS}
        if self.also_reported_by:
            data["also_reported_by"] = list(self.also_reported_by)
        return {k: v for k, v in data.items() if v is not None and v != []}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Issue:
        """Inverse of :meth:`to_dict` (used by the cache)."""
        return cls(**data)


_FIELDS = ("path", "line", "column", "severity", "rule", "tool", "message", "end_line",
           "end_column", "fix")


def at_least(severity: str, threshold: str) -> bool:
    """True when ``severity`` is as bad as ``threshold`` or worse."""
    return _RANK[severity] <= _RANK[threshold]


def _key(issue: Issue) -> tuple[str, int, str]:
    shared = EQUIVALENT.get((issue.tool, issue.rule))
    if shared == "syntax":
        return (issue.path, -1, "syntax")  # one syntax report per file is enough
    return (issue.path, issue.line, shared or f"{issue.tool}:{issue.rule}")


def deduplicate(issues: list[Issue]) -> list[Issue]:
    """Merge findings that two tools report for the same place, keeping the worst."""
    merged: dict[tuple[str, int, str], Issue] = {}
    for issue in issues:
        key = _key(issue)
        kept = merged.get(key)
        if kept is None:
            merged[key] = issue
            continue
        if _RANK[issue.severity] < _RANK[kept.severity] or (
                key[2] == "syntax" and issue.line < kept.line
                and _RANK[issue.severity] == _RANK[kept.severity]):
            issue.also_reported_by = sorted({*kept.also_reported_by, kept.tool})
            merged[key] = issue
        elif issue.tool != kept.tool and issue.tool not in kept.also_reported_by:
            kept.also_reported_by.append(issue.tool)
    return sorted(merged.values(), key=lambda i: (i.path, i.line, i.column, _RANK[i.severity]))


def count(issues: list[Issue]) -> dict[str, int]:
    """Issues per severity (every severity present, zero included)."""
    out = dict.fromkeys(SEVERITIES, 0)
    for issue in issues:
        out[issue.severity] += 1
    return out
