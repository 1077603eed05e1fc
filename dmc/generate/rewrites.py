"""Whole-file answers and bare snippets for files that exist, turned into edit blocks.

Small models asked for SEARCH/REPLACE blocks often answer the way they were trained to:
the whole file again, with the change inside (the packaged 1.5B does so on most change
requests), or only the function they changed, in a block without a path. Writing the first
whole would replace the file with whatever the model remembered of it; refusing both throws
away answers that hold exactly the change asked for. This module keeps the change and
nothing else:

- :func:`blocks_from_rewrite`: the file as the model rewrote it, diffed against the text it
  was shown; each changed stretch becomes a block with enough unchanged lines around it to
  match one place. Stretches that differ only in blank lines or trailing spaces are the
  model's noise and are left as they were. A rewrite that stands for kept code with a
  placeholder ("# ... existing code ..."), or drops definitions the request does not name,
  is refused with the reason: it would delete code the model did not mean to delete.
- :func:`blocks_from_snippet`: Python definitions (functions, classes, methods) given
  without the rest of the file replace the definitions of the same name — a method only in
  the class the snippet names, or in the one class that has it — and new ones are added at
  the end of their class or of the module. Anything ambiguous is refused.

The blocks then go through :func:`dmc.generate.edits.apply_edits` like any the model wrote,
so ``dmc run --apply`` replays them on the file on disk and writes only what they change.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from collections import Counter
from dataclasses import dataclass

from dmc.generate.edits import EditBlock, has_markers, strip_markers

#: a line standing for code the model meant to keep ("# ... existing code ...", "// ...")
_PLACEHOLDER = re.compile(
    r"^\s*(?:#|//|/\*|<!--|--|\*)\s*(?:\.\.\.|…)\s*(?:\*/|-->)?\s*$"
    r"|^\s*(?:#|//|/\*|<!--|--|\*)(?=.*(?:\.\.\.|…))(?=.*\b(?:existing|rest|unchanged|same|"
    r"previous|other|remaining|omitted|original)\b)", re.I)
#: definitions whose disappearance means the rewrite dropped code (Python, JS/TS, Go, Rust…)
_DEFINITION = re.compile(
    r"^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:def|class|function\*?|func|fn|pub\s+fn)"
    r"\s+([A-Za-z_$][\w$]*)"
    r"|^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s*)?"
    r"(?:function|\([^)]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)"
    r"|^\s*(?:router|app|server)\.(get|post|put|patch|delete)\s*\(\s*(['\"`][^'\"`]+['\"`])")
MAX_CONTEXT = 8  # unchanged lines around a stretch before giving up on a unique match
MERGE_GAP = 4  # changed stretches this close (in unchanged lines) become one block


@dataclass(frozen=True)
class Conversion:
    """Blocks made from an answer that was not written as blocks, or why none were made."""

    blocks: tuple[EditBlock, ...]
    refused: str | None = None


def _lines(text: str) -> list[str]:
    """Lines without their endings; a final newline ends the last line, adds none."""
    lines = text.replace("\r\n", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _block(path: str, old: list[str], start: int, end: int, new: list[str],
           note: str) -> EditBlock | None:
    """A block replacing lines ``start``..``end`` (0-based, end exclusive) of ``old`` with
    ``new``, with as many unchanged lines around it as make its SEARCH match one place."""
    for context in range(0, MAX_CONTEXT + 1):
        a, b = max(0, start - context), min(len(old), end + context)
        search = old[a:b]
        if any(s.strip() for s in search) and _occurrences(old, search) == 1:
            replace = old[a:start] + new + old[end:b]
            return EditBlock(path, "".join(ln + "\n" for ln in search),
                             "".join(ln + "\n" for ln in replace), notes=(note,))
    return None


def definitions(lines: list[str]) -> list[str]:
    """What a text defines (function and class names, ``POST /users`` for a route), in
    order, repeats kept."""
    names = []
    for line in lines:
        m = _DEFINITION.match(line)
        if m is None:
            continue
        name, assigned, verb, route = m.groups()
        if verb:
            names.append(f"{verb.upper()} {route.strip(chr(39) + chr(34) + '`')}")
        else:
            names.append(name or assigned)
    return names


def named_in(definition: str, request: str) -> bool:
    """The request names this definition (so removing or renaming it may be the point)."""
    if " /" in definition:
        verb, route = definition.split(" ", 1)
        return re.search(rf"\b{verb}\s+`?{re.escape(route)}(?![\w/:{{<])", request,
                         re.I) is not None
    return re.search(rf"\b{re.escape(definition)}\b", request) is not None


def lost_definitions(before: str, after: str, request: str) -> list[str]:
    """Definitions ``before`` has more of than ``after`` that the request does not name:
    code a change deleted without being asked to."""
    had, kept = Counter(definitions(_lines(before))), Counter(definitions(_lines(after)))
    return [d for d in had if kept[d] < had[d] and not named_in(d, request)]


def _same_but_spacing(old: list[str], new: list[str]) -> bool:
    """The two stretches differ only in blank lines and trailing whitespace."""
    return [ln.rstrip() for ln in old if ln.strip()] == [ln.rstrip() for ln in new if ln.strip()]


def _occurrences(haystack: list[str], needle: list[str]) -> int:
    if not needle:
        return len(haystack) + 1
    n = len(needle)
    return sum(1 for i in range(len(haystack) - n + 1) if haystack[i:i + n] == needle)


def blocks_from_rewrite(path: str, current: str, rewritten: str, *,
                        named: str = "") -> Conversion:
    """Edit blocks that turn ``current`` into ``rewritten``, keeping only real changes.

    ``named`` is the request's text: a definition the rewrite drops may go only when the
    request names it (asked to remove or rename). The result is empty (and not refused)
    when the rewrite changes nothing but spacing.
    """
    rewritten = strip_markers(rewritten) if has_markers(rewritten) else rewritten
    old, new = _lines(current), _lines(rewritten)
    if any(_PLACEHOLDER.match(ln) and ln.strip() not in {o.strip() for o in old}
           for ln in new):
        return Conversion((), "the rewrite stands for kept code with a placeholder comment "
                              "instead of writing it out")
    dropped = lost_definitions(current, rewritten, named)
    if dropped:
        return Conversion((), "the rewrite drops " + ", ".join(dropped[:5]) +
                          (" …" if len(dropped) > 5 else "") + " that the request does not name")
    # the model's spacing noise is put back as it was, stretch by stretch
    cleaned: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal" and _same_but_spacing(old[i1:i2], new[j1:j2]):
            cleaned += old[i1:i2]
        else:
            cleaned += new[j1:j2]
    if cleaned == old:
        return Conversion(())
    blocks: list[EditBlock] = []
    matcher = difflib.SequenceMatcher(None, old, cleaned, autojunk=False)
    changes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    # stretches close together become one block; each grows until its SEARCH is unique
    groups: list[list[tuple[str, int, int, int, int]]] = []
    for op in changes:
        if groups and op[1] - groups[-1][-1][2] <= MERGE_GAP:
            groups[-1].append(op)
        else:
            groups.append([op])
    for group in groups:
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        block = _block(path, old, i1, i2, cleaned[j1:j2], "made from a whole-file answer")
        if block is None:
            return Conversion((), f"changed lines {i1 + 1}-{i2} cannot be placed at one spot "
                                  f"(the file repeats the lines around them)")
        blocks.append(block)
    return Conversion(tuple(blocks))


# ----------------------------------------------------------------------------- snippets


@dataclass(frozen=True)
class _Def:
    name: str
    start: int  # 1-based first line, decorators included
    end: int  # 1-based last line
    indent: str
    node: ast.AST


def _defs(body: list[ast.stmt], lines: list[str]) -> dict[str, list[_Def]]:
    out: dict[str, list[_Def]] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            end = node.end_lineno or node.lineno
            line = lines[start - 1]
            out.setdefault(node.name, []).append(
                _Def(node.name, start, end, line[:len(line) - len(line.lstrip())], node))
    return out


def _reindent(text: str, indent: str) -> list[str]:
    return [indent + ln if ln.strip() else "" for ln in textwrap.dedent(text).split("\n")]


def _segment(lines: list[str], d: _Def) -> list[str]:
    return lines[d.start - 1:d.end]


def blocks_from_snippet(path: str, current: str, snippet: str) -> Conversion:
    """Edit blocks that put the Python definitions of ``snippet`` into ``current``.

    Only for Python, only when both parse, and only for a snippet made of definitions (and
    imports, which go after the file's last import when missing). A method is placed by the
    class the snippet wraps it in, or by the one class of the file that has a method of that
    name; anything else is refused rather than guessed.
    """
    snippet = strip_markers(snippet)
    try:
        tree, mine = ast.parse(current), ast.parse(textwrap.dedent(snippet))
    except SyntaxError:
        return Conversion((), "the snippet or the file is not valid Python")
    old = _lines(current)
    new = _lines(textwrap.dedent(snippet))
    top = _defs(tree.body, old)
    classes = {n: ds[0] for n, ds in top.items() if isinstance(ds[0].node, ast.ClassDef)}
    blocks: list[EditBlock] = []
    imports: list[str] = []
    unplaceable: list[str] = []

    def put(start: int, end: int, text: list[str]) -> bool:
        block = _block(path, old, start, end, text, "made from a snippet")
        if block is None:
            unplaceable.append(f"lines {start + 1}-{end}")
        else:
            blocks.append(block)
        return block is not None

    def replace(target: _Def, text: list[str]) -> None:
        put(target.start - 1, target.end, _reindent("\n".join(text), target.indent))

    def append_after(anchor: _Def, text: list[str], indent: str) -> None:
        put(anchor.end, anchor.end, [""] + _reindent("\n".join(text), indent))

    for node in mine.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            line = ast.get_source_segment(textwrap.dedent(snippet), node) or ""
            if line and line not in current:
                imports.append(line)
            continue
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant):
            continue  # a stray docstring
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return Conversion((), "the snippet holds statements other than definitions")
        start = min([d.lineno for d in node.decorator_list] + [node.lineno])
        text = new[start - 1:node.end_lineno or node.lineno]
        existing = top.get(node.name, [])
        if isinstance(node, ast.ClassDef) and len(existing) == 1 and isinstance(
                existing[0].node, ast.ClassDef):
            # a class the file has: its methods go one by one, the rest of it stays
            target = existing[0]
            methods = _defs(target.node.body, old)  # type: ignore[attr-defined]
            body_indent = None
            for member in node.body:
                if not isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                mstart = min([d.lineno for d in member.decorator_list] + [member.lineno])
                mtext = new[mstart - 1:member.end_lineno or member.lineno]
                have = methods.get(member.name, [])
                if len(have) > 1:
                    return Conversion((), f"{node.name}.{member.name} is defined twice")
                if have:
                    if [ln.strip() for ln in _segment(old, have[0])] != [
                            ln.strip() for ln in _reindent("\n".join(mtext), "")]:
                        replace(have[0], mtext)
                    body_indent = have[0].indent
                else:
                    last = max((ds[-1] for ds in methods.values()), key=lambda d: d.end,
                               default=None)
                    if last is None:
                        return Conversion((), f"class {node.name} has no method to add after")
                    append_after(last, mtext, body_indent or last.indent)
            continue
        if len(existing) > 1:
            return Conversion((), f"{node.name} is defined more than once in {path}")
        if existing:
            replace(existing[0], text)
            continue
        # a function the module lacks: maybe a method of the one class that has that name
        owners = [c for c in classes.values()
                  if node.name in _defs(c.node.body, old)]  # type: ignore[attr-defined]
        is_method = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and bool(
            node.args.args) and node.args.args[0].arg in {"self", "cls"}
        if is_method:
            if len(owners) != 1:
                return Conversion((), f"method {node.name} could belong to "
                                      f"{len(owners) or 'no'} classes of {path}; name the class")
            have = _defs(owners[0].node.body, old)[node.name]  # type: ignore[attr-defined]
            replace(have[0], text)
            continue
        last_top = max((ds[-1] for ds in top.values()), key=lambda d: d.end, default=None)
        if last_top is None:
            return Conversion((), f"{path} has no definition to add after")
        append_after(last_top, [""] + text, "")  # two blank lines before a top-level def
    if imports:
        last_import = max((n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)),
                          key=lambda n: n.end_lineno or n.lineno, default=None)
        end = (last_import.end_lineno or last_import.lineno) if last_import else 0
        put(end, end, imports)
    if unplaceable:
        return Conversion((), "the snippet's place in the file is not unique ("
                              + ", ".join(unplaceable) + ")")
    if not blocks:
        return Conversion((), "the snippet changes nothing in the file")
    return Conversion(tuple(blocks))
