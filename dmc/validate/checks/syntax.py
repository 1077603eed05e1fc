"""Syntax: tree-sitter error nodes for every language with a grammar, plus Python's own
compiler, which gives the exact message a user would see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmc.languages import GRAMMARS, grammar, grammar_version
from dmc.validate.checks import Check, Options, Target
from dmc.validate.issues import Issue

MAX_REPORTS_PER_FILE = 5


class SyntaxCheck(Check):
    """Parse every file; report ERROR and MISSING nodes with their positions."""

    name = "syntax"
    languages = frozenset(GRAMMARS)

    def version(self) -> str | None:
        from importlib.metadata import version

        try:
            return "tree-sitter " + version("tree-sitter")
        except Exception:  # noqa: BLE001 - no tree-sitter: Python's compiler still works
            return "python-compile"

    def settings(self, opts: Options) -> str:
        return ",".join(f"{lang}={grammar_version(lang)}" for lang in sorted(GRAMMARS))

    def run(self, targets: list[Target], opts: Options) -> dict[str, list[Issue]]:
        out: dict[str, list[Issue]] = {}
        for t in targets:
            data = Path(t.real).read_bytes()
            issues = []
            if t.language == "python":
                issues.extend(_python_compile(t.path, data))
            lang = grammar(t.language)
            if lang is not None:
                issues.extend(_tree_sitter(t.path, data, lang))
            if issues:
                out[t.path] = issues
        return out


def _python_compile(path: str, data: bytes) -> list[Issue]:
    try:
        compile(data, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [Issue(path, exc.lineno or 1, (exc.offset or 1) - 1, "error", "syntax-error",
                      "python", exc.msg, end_line=exc.end_lineno,
                      end_column=(exc.end_offset - 1) if exc.end_offset else None)]
    except ValueError as exc:  # NUL bytes and similar
        return [Issue(path, 1, 0, "error", "syntax-error", "python", str(exc))]
    return []


def _tree_sitter(path: str, data: bytes, lang: Any) -> list[Issue]:
    import tree_sitter

    tree = tree_sitter.Parser(lang).parse(data)
    if not tree.root_node.has_error:
        return []
    issues: list[Issue] = []
    stack = [tree.root_node]
    while stack and len(issues) < MAX_REPORTS_PER_FILE:
        node = stack.pop()
        if node.is_missing:
            issues.append(_node_issue(path, node, "missing-node",
                                      f"missing '{node.type}'"))
            continue
        if node.type == "ERROR":
            snippet = data[node.start_byte:node.end_byte][:40].decode("utf-8", "replace")
            issues.append(_node_issue(path, node, "syntax-error",
                                      f"syntax error near '{snippet.strip()}'"))
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return issues


def _node_issue(path: str, node: Any, rule: str, message: str) -> Issue:
    return Issue(path, node.start_point[0] + 1, node.start_point[1], "error", rule, "syntax",
                 message, end_line=node.end_point[0] + 1, end_column=node.end_point[1])
