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
  model's noise and are left as they were. What the request does not touch stays: a
  definition the rewrite wrote over (or left out) is put back after the new code, and lines
  it changed inside or between the definitions the request does not name are left as they
  were (see :func:`_revert_outside` for what may change there). A rewrite that
  stands for kept code with a placeholder ("# ... existing code ...") is refused with the
  reason: it would delete code the model did not mean to delete.
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
    # def / class / function / Go func (with a receiver) / Rust fn (pub, pub(crate))
    r"^\s*(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function\*?|func(?:\s*\([^)]*\))?|fn)\s+(?P<name>[A-Za-z_$][\w$]*)"
    # const f = function / (a: T): R => / a =>
    r"|^\s*(?:export\s+)?(?:const|let|var)\s+(?P<assigned>[A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*"
    r"(?:async\s*)?(?:function|\([^)]*\)\s*(?::\s*[^=]+?)?\s*=>|[A-Za-z_$][\w$]*\s*=>)"
    # a method in a JS/TS class body: name(args) { (never if/for/while/switch/catch)
    r"|^\s+(?:(?:public|private|protected|static|async|get|set|override)\s+)*"
    r"(?!(?:if|for|while|switch|catch|function|return|else)\b)(?P<method>[A-Za-z_$][\w$]*)"
    r"\s*\([^)]*\)\s*(?::\s*[^{]+)?\{\s*$"
    # an Express-style route
    r"|^\s*(?:router|app|server)\.(?P<verb>get|post|put|patch|delete)\s*\(\s*"
    r"(?P<route>['\"`][^'\"`]+['\"`])")
_ELIDED = re.compile(r"⟦dmc:[^⟧]*\belided\b|^[ \t]*(?://|#)[ \t]*\.\.\. \d+ lines? elided", re.M)
_ASKS_TO_REMOVE = re.compile(r"\b(?:remove|delete|drop|get rid of|strip|clean(?:s|ed)? up|"
                             r"unused|dead code|deprecat\w*|replace|rewrite|simplif\w*)\b", re.I)
MAX_CONTEXT = 8  # unchanged lines around a stretch before giving up on a unique match
MERGE_GAP = 4  # changed stretches this close (in unchanged lines) become one block


@dataclass(frozen=True)
class Conversion:
    """Blocks made from an answer that was not written as blocks, or why none were made."""

    blocks: tuple[EditBlock, ...]
    refused: str | None = None


def text_lines(text: str) -> list[str]:
    """Lines without their endings; a final newline ends the last line, adds none."""
    lines = text.replace("\r\n", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _block(path: str, old: list[str], start: int, end: int, new: list[str],
           note: str, index: int = 1) -> EditBlock | None:
    """A block replacing lines ``start``..``end`` (0-based, end exclusive) of ``old`` with
    ``new``, with as many unchanged lines around it as make its SEARCH match one place."""
    for context in range(0, MAX_CONTEXT + 1):
        a, b = max(0, start - context), min(len(old), end + context)
        search = old[a:b]
        if any(s.strip() for s in search) and occurrences(old, search) == 1:
            replace = old[a:start] + new + old[end:b]
            return EditBlock(path, "".join(ln + "\n" for ln in search),
                             "".join(ln + "\n" for ln in replace), index=index, notes=(note,))
    return None


def _definition_name(line: str) -> str | None:
    """The name a line defines (``POST /users`` for a route), or None."""
    m = _DEFINITION.match(line)
    if m is None:
        return None
    verb, route = m.group("verb"), m.group("route")
    if verb:
        return f"{verb.upper()} {route.strip(chr(39) + chr(34) + '`')}"
    return str(m.group("name") or m.group("assigned") or m.group("method"))


def definitions(lines: list[str]) -> list[str]:
    """What a text defines (function and class names, ``POST /users`` for a route), in
    order, repeats kept."""
    return [n for n in map(_definition_name, lines) if n is not None]


def definition_spans(lines: list[str], *, python: bool) -> list[tuple[str, int, int]]:
    """Each definition with the lines it covers: (name, start, end), 0-based, end
    exclusive, in order. Python from its syntax tree (decorators included, methods too);
    otherwise, or when the Python does not parse, from the definition's line to where its
    brackets close (an indented block for Python)."""
    if python:
        try:
            tree = ast.parse("\n".join(lines) + "\n")
        except SyntaxError:
            tree = None
        if tree is not None:
            spans = []
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                    spans.append((node.name, start - 1, node.end_lineno or node.lineno))
            return sorted(spans, key=lambda s: s[1])
    out = []
    for i, line in enumerate(lines):
        name = _definition_name(line)
        if name is not None:
            out.append((name, i, _indented_end(lines, i) if python else _bracket_end(lines, i)))
    return out


def _bracket_end(lines: list[str], start: int) -> int:
    """One past the line where the definition starting at ``start`` ends: where the
    brackets opened from it close again (text in quotes and ``//`` comments skipped), or,
    for a body that opens no block (``const f = (x) =>`` then an expression), the line
    ending the statement with ``;``."""
    depth, braced, quote = 0, False, ""
    for k in range(start, len(lines)):
        line, i = lines[k], 0
        while i < len(line):
            ch = line[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"`":
                quote = ch
            elif line.startswith("//", i):
                break
            elif ch in "([{":
                depth += 1
                braced = braced or ch == "{"
            elif ch in ")]}":
                depth -= 1
            i += 1
        if quote in ("'", '"'):
            quote = ""  # an unclosed quote does not run past its line
        if depth <= 0 and (braced or line.rstrip().endswith(";")):
            return k + 1
    return len(lines) if braced else start + 1


def _indented_end(lines: list[str], start: int) -> int:
    """One past the last line indented deeper than line ``start``."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    for k in range(start + 1, len(lines)):
        if not lines[k].strip():
            continue
        if len(lines[k]) - len(lines[k].lstrip()) <= indent:
            break
        end = k + 1
    return end


def named_in(definition: str, request: str) -> bool:
    """The request names this definition (so removing or renaming it may be the point)."""
    if " /" in definition:
        verb, route = definition.split(" ", 1)
        return re.search(rf"\b{verb}\s+`?{re.escape(route)}(?![\w/:{{<])", request,
                         re.I) is not None
    name = re.escape(definition)
    if re.search(rf"`{name}`|(?<![\w$]){name}\s*\(", request):
        return True  # written as code: `parse`, parse()
    if re.search(rf"\b(?:remove|delete|drop|rename|replace|move|merge|inline)\w*\W+"
                 rf"(?:\w+\W+){{0,3}}{name}\b", request, re.I):
        return True  # the object of a verb that takes code away
    # an identifier no one writes as prose (snake_case, camelCase, digits) named plainly;
    # a plain word ("add", "list") in a request is usually just the word
    return not re.fullmatch(r"[a-z]+", definition) and \
        re.search(rf"(?<![\w$]){name}(?![\w$])", request) is not None


def lost_definitions(before: str, after: str, request: str) -> list[str]:
    """Definitions ``before`` has more of than ``after`` that the request does not name:
    code a change deleted without being asked to."""
    had, kept = Counter(definitions(text_lines(before))), Counter(definitions(text_lines(after)))
    return [d for d in had if kept[d] < had[d] and not named_in(d, request)]


def _same_but_spacing(old: list[str], new: list[str]) -> bool:
    """The two stretches differ only in blank lines and trailing whitespace."""
    return [ln.rstrip() for ln in old if ln.strip()] == [ln.rstrip() for ln in new if ln.strip()]


def occurrences(haystack: list[str], needle: list[str]) -> int:
    """How many times ``needle`` occurs in ``haystack`` as consecutive lines (a SEARCH must
    match once)."""
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
    if _ELIDED.search(rewritten):
        return Conversion((), "the rewrite holds a note that lines were left out (an elision "
                              "marker): what it stands for would be deleted")
    rewritten = strip_markers(rewritten) if has_markers(rewritten) else rewritten
    old, new = text_lines(current), text_lines(rewritten)
    known = {o.strip() for o in old}
    if any(_PLACEHOLDER.match(ln) and ln.strip() not in known for ln in new):
        return Conversion((), "the rewrite stands for kept code with a placeholder comment "
                              "instead of writing it out")
    python = path.endswith((".py", ".pyi"))
    new, restored = _restore_lost(old, new, named, python=python)
    dropped = lost_definitions(current, "\n".join(new) + "\n", named)
    if dropped:
        return Conversion((), "the rewrite drops " + ", ".join(dropped[:5]) +
                          (" …" if len(dropped) > 5 else "") + " that the request does not name")
    removing = _ASKS_TO_REMOVE.search(named) is not None
    moved_to = {ln.strip() for ln in new if ln.strip()}
    # the model's spacing noise is put back as it was; lines it left out without putting
    # anything in their place are kept, unless the request asks to remove something or they
    # reappear elsewhere (moved): an answer that forgot the imports does not delete them
    cleaned: list[str] = []
    kept_lines = 0
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        gone = [ln for ln in old[i1:i2] if ln.strip()]
        if tag != "equal" and _same_but_spacing(old[i1:i2], new[j1:j2]):
            cleaned += old[i1:i2]
        elif tag == "delete" and gone and not removing and \
                not all(ln.strip() in moved_to for ln in gone):
            cleaned += old[i1:i2]
            kept_lines += len(gone)
        else:
            cleaned += new[j1:j2]
    cleaned, reverted = _revert_outside(old, cleaned, named, python=python)
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
        block = _block(path, old, i1, i2, cleaned[j1:j2], "made from a whole-file answer",
                       index=len(blocks) + 1)
        if block is None:
            return Conversion((), f"changed lines {i1 + 1}-{i2} cannot be placed at one spot "
                                  f"(the file repeats the lines around them)")
        blocks.append(block)
    said = [f"{kept_lines} line(s) it left out were kept"] if kept_lines else []
    if restored:
        said.append("kept " + ", ".join(restored) + ", which the answer wrote over or left out")
    if reverted:
        said.append(f"{reverted} line(s) it changed outside what the request names were "
                    "left as they were")
    if said:
        note = "made from a whole-file answer; " + "; ".join(said)
        blocks = [EditBlock(b.path, b.search, b.replace, b.index, b.line, (note,))
                  for b in blocks]
    return Conversion(tuple(blocks))


def _restore_lost(old: list[str], new: list[str], request: str, *,
                  python: bool) -> tuple[list[str], list[str]]:
    """``new`` with each definition it lost (and the request does not name) put back whole
    after what the model wrote in its place: asked to add a route, the packaged 1.5B rewrites
    the file with the new route *instead of* its neighbour. (After, not before: a route put
    back ahead of the new one, such as ``/users/:id`` before ``/users/me``, would catch its
    requests.) Returns the lines and the names put back.

    Left alone, so that the rewrite is refused with the reason instead: a request that asks
    to remove or replace something; a definition whose first line ``new`` still has in place
    (changed, not lost); one whose body lines ``new`` mostly still has (renamed or moved).
    """
    if _ASKS_TO_REMOVE.search(request):
        return new, []
    lost = set(lost_definitions("\n".join(old), "\n".join(new), request))
    if not lost:
        return new, []
    opcodes = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    equal = {i for tag, i1, i2, _, _ in opcodes if tag == "equal" for i in range(i1, i2)}
    present = Counter(ln.strip() for ln in new if re.search(r"\w\w", ln))
    had = set(definitions(old))
    new_spans = definition_spans(new, python=python)
    added_bodies = [[ln.strip() for ln in new[a + 1:b] if re.search(r"\w\w", ln)]
                    for n, a, b in new_spans if n not in had]
    chosen: list[tuple[str, int, int]] = []
    for name, a, b in definition_spans(old, python=python):
        if name not in lost or any(a >= s and b <= e for _, s, e in chosen):
            continue
        head = next((k for k in range(a, b) if _definition_name(old[k]) == name), a)
        if head in equal:
            continue
        body = [ln.strip() for ln in old[head + 1:b] if re.search(r"\w\w", ln)]
        if body and sum(present[ln] > 0 for ln in body) > len(body) / 2 and len(body) > 2:
            continue  # moved: what it was is still there
        if " /" not in name and any(_similar(body, nb) for nb in added_bodies):
            continue  # renamed: a new definition has its body
        chosen.append((name, a, b))
    inserts: dict[int, list[str]] = {}
    for _, a, b in chosen:
        # where the span's last line is (or what stands in its place) in the new text
        tag, i1, _, j1, j2 = next(op for op in opcodes if op[1] <= b - 1 < op[2])
        at = j1 + (b - i1) if tag == "equal" else j2
        # never inside a definition of the new text: after the one it falls in
        at = max([at] + [e for _, s, e in new_spans if s < at < e])
        blank = [""] * min(2, next((k for k in range(a) if old[a - 1 - k].strip()), a))
        piece = inserts.setdefault(at, [])
        piece += (blank or [""] if (piece or (at and new[at - 1].strip())) else []) + old[a:b]
    out = list(new)
    for at in sorted(inserts, reverse=True):
        if at < len(new) and new[at].strip():
            inserts[at].append("")
        out[at:at] = inserts[at]
    return out, [name for name, _, _ in chosen]


def _similar(a: list[str], b: list[str]) -> bool:
    """Two bodies (lines that say something) mostly the same."""
    return bool(a) and bool(b) and difflib.SequenceMatcher(
        None, "\n".join(a), "\n".join(b), autojunk=False).ratio() >= 0.75


_IMPORT = re.compile(r"^\s*(?:import\s|from\s+\S+\s+import\s|(?:const|let|var)\s+.*=\s*"
                     r"require\(|export\s+\{|module\.exports\b|$)")


def _revert_outside(old: list[str], cleaned: list[str], request: str, *,
                    python: bool) -> tuple[list[str], int]:
    """``cleaned`` with lines the model changed inside definitions the request does not
    name, or around them, put back as they were: asked to implement ``f``, a rewrite also
    "tidies" a docstring or another function, and those edits are not the user's.

    Only when the request names definitions the file has (otherwise nothing says where the
    change belongs). Kept as the model wrote them: imports and export lists; lines that
    mention a named definition whose signature changed, or a definition renamed or added
    (a call updated for a new signature or a new name); a stretch that adds a definition;
    new lines between definitions (a helper constant). For Python, an assignment the request names
    (``SHIFT = 16``) counts as named, and a parenthesised import is an import throughout.
    """
    every = definition_spans(old, python=python)
    spans = [(n, a, b) for n, a, b in every if named_in(n, request)]
    imports: set[int] = set()
    if python:
        extra, imports = _python_names_and_imports(old, request)
        spans = _only_the_named_class(spans, old, request) + extra
    if not spans:
        return cleaned, 0
    inside = {k for _, a, b in spans for k in range(a, b)}
    others = [(a, b) for _, a, b in every]
    matcher = difflib.SequenceMatcher(None, old, cleaned, autojunk=False)
    opcodes = matcher.get_opcodes()
    # calls elsewhere change with a definition whose signature changed, or one renamed or
    # added; a call of a definition whose first line stayed is not the change (mccabe's
    # `graph.complexity()` callers, "tidied" while complexity was implemented)
    kept = {ln.strip() for ln in cleaned}
    touched = {n for n, a, b in spans
               if next((old[k].strip() for k in range(a, b) if _definition_name(old[k]) == n),
                       old[a].strip()) not in kept}
    touched |= set(definitions(cleaned)) ^ set(definitions(old))
    mentions = re.compile("|".join(rf"(?<![\w$]){re.escape(n)}(?![\w$])" for n in touched
                                   if " /" not in n) or r"(?!x)x")
    out: list[str] = []
    reverted = 0
    for tag, i1, i2, j1, j2 in opcodes:
        before, after = old[i1:i2], cleaned[j1:j2]
        if tag == "replace":
            outside = not inside.intersection(range(i1, i2))
        elif tag in ("insert", "delete"):  # only strictly inside a definition not named
            outside = not inside.intersection(range(i1, max(i2, i1 + 1))) and \
                any(a < i1 and max(i2, i1 + 1) <= b for a, b in others)
        else:
            outside = False
        if before:  # an import changed, a parenthesised one included
            imported = all(_IMPORT.match(ln) or k in imports
                           for k, ln in zip(range(i1, i2), before, strict=True)) and \
                all(_IMPORT.match(ln) or ln.startswith((" ", "\t", ")")) for ln in after)
        else:  # an import added
            imported = all(_IMPORT.match(ln) and ln.strip() for ln in after)
        keep = (not outside or imported
                or set(definitions(after)) - set(definitions(before))
                or any(mentions.search(ln) for ln in before + after))
        if keep:
            out += after
        else:
            out += before
            reverted += sum(1 for ln in before + after if ln.strip())
    return out, reverted


def _only_the_named_class(spans: list[tuple[str, int, int]], lines: list[str],
                          request: str) -> list[tuple[str, int, int]]:
    """For a request that writes ``Class.method``, only that class's method of the name
    (a file where three classes have ``resolve``), and not the whole class."""
    qualified = re.findall(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)", request)
    if not qualified:
        return spans
    try:
        tree = ast.parse("\n".join(lines) + "\n")
    except SyntaxError:
        return spans
    owner: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    start = min([d.lineno for d in item.decorator_list] + [item.lineno])
                    owner[start - 1] = node.name
    methods = {m for _, m in qualified}
    classes = {c for c, _ in qualified}
    out = []
    for name, a, b in spans:
        if name in methods and a in owner and (owner[a], name) not in qualified:
            continue
        if name in classes and lines[a].lstrip().startswith(("class ", "@")):
            continue  # the class named as the method's place, not as what changes
        out.append((name, a, b))
    return out


def _python_names_and_imports(lines: list[str], request: str
                              ) -> tuple[list[tuple[str, int, int]], set[int]]:
    """Top-level assignments the request names, as spans, and the lines of every import."""
    try:
        tree = ast.parse("\n".join(lines) + "\n")
    except SyntaxError:
        return [], set()
    spans: list[tuple[str, int, int]] = []
    imports: set[int] = set()
    for node in tree.body:
        end = node.end_lineno or node.lineno
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.update(range(node.lineno - 1, end))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and named_in(t.id, request):
                    spans.append((t.id, node.lineno - 1, end))
    return spans, imports


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
    name; anything else is refused rather than guessed. The definitions are spliced into the
    file by their line numbers (the last first, so earlier positions hold), and the blocks
    come from one diff of the result: blocks never depend on each other's anchors.
    """
    if _ELIDED.search(snippet) or any(_PLACEHOLDER.match(ln) for ln in snippet.splitlines()):
        return Conversion((), "the snippet stands for code with a placeholder")
    snippet = textwrap.dedent(strip_markers(snippet))
    try:
        tree, mine = ast.parse(current), ast.parse(snippet)
    except SyntaxError:
        return Conversion((), "the snippet or the file is not valid Python")
    old = text_lines(current)
    new = text_lines(snippet)
    top = _defs(tree.body, old)
    classes = [ds[0] for ds in top.values() if isinstance(ds[0].node, ast.ClassDef)]
    have_imports = {ast.dump(n) for n in ast.walk(tree)
                    if isinstance(n, ast.Import | ast.ImportFrom)}
    splices: list[tuple[int, int, list[str]]] = []  # 0-based [start, end) of old -> lines
    imports: list[str] = []

    def text_of(node: ast.stmt) -> list[str]:
        first = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
        return new[first - 1:node.end_lineno or node.lineno]

    def replace(target: _Def, text: list[str]) -> None:
        splices.append((target.start - 1, target.end, _reindent("\n".join(text),
                                                                target.indent)))

    def append_after(anchor: _Def, text: list[str], indent: str, gap: int) -> None:
        splices.append((anchor.end, anchor.end, [""] * gap + _reindent("\n".join(text),
                                                                        indent)))

    def is_method(node: ast.stmt) -> bool:
        return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and bool(
            node.args.args) and node.args.args[0].arg in {"self", "cls"}

    for node in mine.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if ast.dump(node) not in have_imports:
                imports += text_of(node)
            continue
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant):
            continue  # a stray docstring
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return Conversion((), "the snippet holds statements other than definitions")
        existing = top.get(node.name, [])
        if isinstance(node, ast.ClassDef):
            if len(existing) != 1 or not isinstance(existing[0].node, ast.ClassDef):
                if existing:
                    return Conversion((), f"{node.name} is defined more than once in {path}")
                last = max((ds[-1] for ds in top.values()), key=lambda d: d.end, default=None)
                if last is None:
                    return Conversion((), f"{path} has no definition to add after")
                append_after(last, text_of(node), "", 2)
                continue
            # a class the file has: its methods go one by one, the rest of it must not differ
            target = existing[0]
            body_text = "\n".join(ln.strip() for ln in _segment(old, target))
            methods = _defs(target.node.body, old)  # type: ignore[attr-defined]
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if isinstance(member, ast.Pass) or (isinstance(member, ast.Expr) and
                                                    isinstance(member.value, ast.Constant)):
                    continue
                if any(ln.strip() not in body_text for ln in text_of(member) if ln.strip()):
                    return Conversion((), f"the snippet changes {node.name}'s members other "
                                          "than methods (attributes, nested classes): give "
                                          "them as SEARCH/REPLACE blocks")
            last_method = max((ds[-1] for ds in methods.values()), key=lambda d: d.end,
                              default=None)
            for member in node.body:
                if not isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                have = methods.get(member.name, [])
                if len(have) > 1:
                    return Conversion((), f"{node.name}.{member.name} is defined twice")
                if have:
                    replace(have[0], text_of(member))
                elif last_method is None:
                    return Conversion((), f"class {node.name} has no method to add after")
                else:
                    append_after(last_method, text_of(member), last_method.indent, 1)
            continue
        if is_method(node):
            owners = [c for c in classes
                      if node.name in _defs(c.node.body, old)]  # type: ignore[attr-defined]
            if len(owners) != 1:
                return Conversion((), f"method {node.name} could belong to "
                                      f"{len(owners) or 'no'} classes of {path}; name the class")
            have = _defs(owners[0].node.body, old)[node.name]  # type: ignore[attr-defined]
            if len(have) > 1:
                return Conversion((), f"{owners[0].name}.{node.name} is defined twice")
            replace(have[0], text_of(node))
            continue
        if len(existing) > 1:
            return Conversion((), f"{node.name} is defined more than once in {path}")
        if existing:
            replace(existing[0], text_of(node))
            continue
        last = max((ds[-1] for ds in top.values()), key=lambda d: d.end, default=None)
        if last is None:
            return Conversion((), f"{path} has no definition to add after")
        append_after(last, text_of(node), "", 2)  # two blank lines before a top-level def
    if imports:
        last_import = max((n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)),
                          key=lambda n: n.end_lineno or n.lineno, default=None)
        at = (last_import.end_lineno or last_import.lineno) if last_import else 0
        splices.append((at, at, imports))
    if not splices:
        return Conversion((), "the snippet changes nothing in the file")
    spans = sorted((a, b) for a, b, _ in splices)
    if any(b1 > a2 or (a1 == a2 and b1 == b2 and a1 != b1)
           for (a1, b1), (a2, b2) in zip(spans, spans[1:], strict=False)):
        return Conversion((), "the snippet gives the same definition twice")
    result = list(old)
    # the last first; of insertions at one point the snippet's last goes in first, so they
    # end up in the snippet's order
    for _, (a, b, text) in sorted(enumerate(splices), key=lambda x: (x[1][0], x[1][1], x[0]),
                                  reverse=True):
        result[a:b] = text
    conv = blocks_from_rewrite(path, current, "\n".join(result) + "\n")
    if conv.refused:
        return conv
    if not conv.blocks:
        return Conversion((), "the snippet changes nothing in the file")
    return Conversion(tuple(EditBlock(b.path, b.search, b.replace, b.index, b.line,
                                      ("made from a snippet",)) for b in conv.blocks))
