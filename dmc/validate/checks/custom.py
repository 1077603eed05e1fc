"""Custom rules from quality_rules.yaml: forbidden calls and imports (found by parsing, not
by searching text), required headers, maximum file length."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from dmc.languages import GRAMMARS, grammar
from dmc.validate.checks import Check, Options, Target
from dmc.validate.issues import Issue

HEADER_LINES = 5


class CustomRulesCheck(Check):
    """Runs in-process; only when a rules file exists."""

    name = "rules"
    languages = frozenset(GRAMMARS)

    def enabled(self, opts: Options) -> bool:
        return bool(opts.rules)

    def settings(self, opts: Options) -> str:
        return opts.rules_digest

    def run(self, targets: list[Target], opts: Options) -> dict[str, list[Issue]]:
        out: dict[str, list[Issue]] = {}
        for t in targets:
            text = Path(t.real).read_text(encoding="utf-8", errors="replace")
            found: list[Issue] = []
            calls: list[tuple[str, int, int]] | None = None
            imports: list[tuple[str, int, int]] | None = None
            for rule in opts.rules:
                langs = rule.get("languages")
                if langs and t.language not in langs:
                    continue
                if "forbid_calls" in rule or "forbid_imports" in rule:
                    if calls is None or imports is None:
                        calls, imports = _uses(t.language, text)
                    found += _forbidden(t, rule, "forbid_calls", calls, "call")
                    found += _forbidden(t, rule, "forbid_imports", imports, "import")
                if "require_header" in rule:
                    head = "\n".join(text.splitlines()[:HEADER_LINES])
                    if rule["require_header"] not in head:
                        found.append(_issue(t, rule, 1, 0, f"missing required header "
                                            f"'{rule['require_header']}' in the first "
                                            f"{HEADER_LINES} lines"))
                if "max_lines" in rule:
                    n = len(text.splitlines())
                    if n > rule["max_lines"]:
                        found.append(_issue(t, rule, rule["max_lines"] + 1, 0,
                                            f"file has {n} lines, more than {rule['max_lines']}"))
            if found:
                out[t.path] = found
        return out


def _issue(t: Target, rule: dict[str, Any], line: int, col: int, detail: str) -> Issue:
    message = rule.get("message")
    return Issue(t.path, line, col, rule["severity"], rule["id"], "rules",
                 f"{message}: {detail}" if message else detail)


def _forbidden(t: Target, rule: dict[str, Any], key: str, uses: list[tuple[str, int, int]],
               what: str) -> list[Issue]:
    banned = rule.get(key) or []
    out = []
    for name, line, col in uses:
        for b in banned:
            if name == b or name.startswith(b + "."):
                out.append(_issue(t, rule, line, col, f"forbidden {what} '{name}'"))
                break
    return out


def _uses(language: str, text: str) -> tuple[list[tuple[str, int, int]],
                                             list[tuple[str, int, int]]]:
    if language == "python":
        return _python_uses(text)
    return _tree_sitter_uses(language, text)


def _python_uses(text: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return [], []
    aliases: dict[str, str] = {}
    imports: list[tuple[str, int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else \
                    a.name.split(".")[0]
                imports.append((a.name, node.lineno, node.col_offset))
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.append((node.module, node.lineno, node.col_offset))
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    calls: list[tuple[str, int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name:
                head, _, rest = name.partition(".")
                full = aliases.get(head, head) + (f".{rest}" if rest else "")
                calls.append((full, node.lineno, node.col_offset))
    return calls, imports


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _tree_sitter_uses(language: str, text: str) -> tuple[list[tuple[str, int, int]],
                                                         list[tuple[str, int, int]]]:
    lang = grammar(language)
    if lang is None:
        return [], []
    import tree_sitter

    data = text.encode("utf-8")
    root = tree_sitter.Parser(lang).parse(data).root_node
    calls: list[tuple[str, int, int]] = []
    imports: list[tuple[str, int, int]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type == "call_expression":
            fn = node.child_by_field_name("function")
            if fn is None:
                continue
            name = data[fn.start_byte:fn.end_byte].decode("utf-8", "replace")
            row, col = node.start_point
            calls.append((name, row + 1, col))
            if name == "require":
                args = node.child_by_field_name("arguments")
                source = _first_string(args, data) if args is not None else None
                if source:
                    imports.append((source, row + 1, col))
        elif node.type == "import_statement":
            src = node.child_by_field_name("source")
            if src is not None:
                value = data[src.start_byte:src.end_byte].decode("utf-8", "replace").strip("'\"`")
                imports.append((value, node.start_point[0] + 1, node.start_point[1]))
    return calls, imports


def _first_string(node: Any, data: bytes) -> str | None:
    for child in node.children:
        if child.type == "string":
            return data[child.start_byte:child.end_byte].decode("utf-8", "replace").strip("'\"`")
    return None
