"""Edit blocks keep to the request: a block that rewrites code the request is not about is
held back (issue #17: no applied change rewrites code outside what the request is about).

The case measured: asked to implement the stub ``PathGraph.complexity``, the packaged 1.5B
also wrote ``main()``'s printing code over the loop of its caller ``McCabeChecker.run``.
That block is held back; the rule is kept narrow on purpose, because a false hold (a needed
edit thrown away, or half of a coherent change applied) does more harm than a missed one,
which the checks and the refinement still see. :func:`keep_to_request` holds back a block
only when all of these hold for a definition D (a function, a method, a class's own lines)
the block changes:

- the request names a definition of the file (else nothing says what it is about);
- D existed before the answer, and is not in the request's *closure* (:class:`_Scope`): the
  named definitions, the classes around and definitions inside them, and, to a fixed point,
  every definition that closure code uses (``helper()``, ``self.lexer.tokenize``,
  ``super().save``, a default argument, middleware on a route's line), and every definition
  whose changed lines tie it to the change: they use a definition whose contract may have
  changed (its signature or its body changed, and it was not a stub being implemented),
  start using one, or use state (an attribute, a module-level name, a changed import) that
  the change's own lines use;
- the block removes at least :data:`MOST` of D's body lines (what it writes in their place
  was not tied to the change, or D would be in the closure).

Everything else is applied as the model wrote it: new definitions; lines outside every
definition (imports, constants, ``if __name__ == "__main__":``, ``app.use(...)`` — never
judged, so a rewrite there is not caught); a smaller change to a definition; a change of
comments or strings only; any block for a file the rule cannot split into definitions (only
Python and JS/TS are split). Words in comments, strings and docstrings call nothing (an
f-string's or a template literal's fields are code); a member of an imported module
(``os.path``) is not the file's ``path``.

A model's block is kept or held whole, so what is kept replays on the file the way
``dmc run --apply`` replays it. A block dmc made from a whole-file answer spans whatever
the merging of nearby changes put together; it is cut where it passes from one definition to
the next (:func:`_split`) before it is judged, so the asked part of it still applies.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from dmc.generate.edits import EditBlock, LineRange, apply_edits
from dmc.generate.rewrites import (
    MAX_CONTEXT,
    definition_spans,
    named_in,
    occurrences,
    text_lines,
)

#: a block is held back only when it removes at least this share of a definition's body
#: lines: "rewrote most of it". The measured case removes 4 of the 8 lines of
#: ``McCabeChecker.run`` (its whole loop; the guard and the visitor set-up stay) and writes
#: 10 lines of main()'s code instead; a fix or a call updated inside a longer body takes a
#: line or two and stays under it. A caller updated for a changed contract can take most of
#: a short body (``host, port = load_config(p)`` and the line using them): the closure keeps
#: those, not this share.
MOST = 0.5
#: ...and at least this many lines: in a body of one or two lines, a needed one-line follow-up
#: (``fromtimestamp`` -> ``fromisoformat`` beside a changed ``to_dict``; ``cfg.values["db"]``
#: -> ``.get("db", …)`` for a named class) is "most of it" while nothing in its words ties it
#: to the change; the measured rewrite removes 4
MIN_REMOVED = 3
#: files the rule can split into definitions: Python by its syntax tree (by indentation when
#: it does not parse), JS/TS by brackets
_SCOPED = (".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")
_PYTHON = (".py", ".pyi")
_CLASS_LINE = re.compile(r"^\s*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s")
#: a dotted name in a request: `PathGraph.complexity`, os.path.join, this.cache, store.py
_DOTTED = re.compile(r"(?<![\w$.])[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
#: a string on one line; one with an f prefix holds code, as a JS template literal does
_STRING = re.compile(r'(?P<prefix>\b[rRbBuUfF]{1,2})?'
                     r'(?:"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')')
_OWNER = re.compile(r"([A-Za-z_$][\w$]*)\s*\.\s*$")
#: a body that only stands for code to come: implementing it changes no caller's contract
_STUB = re.compile(r"\s*(?:pass|\.\.\.|return(?:\s+None)?|raise\s+NotImplementedError\b.*|"
                   r"throw\s+new\s+Error\(.*\))\s*;?\s*")
#: state a file keeps: an attribute it sets (self.nodes = …), a name it binds at module or
#: class level (users = [], max_complexity = -1)
_STORE = re.compile(r"\.\s*([A-Za-z_$][\w$]*)\s*(?:\*\*|//|<<|>>|[-+*/%|&^@])?=(?![=>])")
_ASSIGN = re.compile(r"^\s*(?:export\s+)?(?:(?:const|let|var)\s+)?([A-Za-z_$][\w$]*)\s*"
                     r"(?::[^=]*)?=(?![=>])")
_IMPORT = re.compile(r"^\s*(?:import\s|from\s+\S+\s+import\s|(?:const|let|var)\s.*\brequire\s*\()")
_DEFS = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef

Qualname = tuple[str, ...]


@dataclass(frozen=True)
class Unasked:
    """A block held back: it rewrote most of the definitions ``names`` (``Class.method``,
    ``POST /users``) or, with ``deleted``, took them away. ``asked``: the definitions of the
    request it changes too, which are not applied either."""

    block: EditBlock
    names: tuple[str, ...]
    deleted: bool = False
    asked: tuple[str, ...] = ()

    def detail(self) -> str:
        """Why, in words the model can act on (the refinement quotes it)."""
        shown = " and ".join(f"`{n}`" for n in self.names)
        said = (f"{'deleted' if self.deleted else 'rewrote most of'} {shown}, which the "
                "request does not ask to change; it was not applied")
        if self.asked:
            said += (", so neither was its change to " + " and ".join(f"`{n}`" for n in
                                                                      self.asked)
                     + ": send that again in a block of its own")
        return said


@dataclass(frozen=True)
class Region:
    """A definition and its lines (0-based, end exclusive); ``start`` up to ``body`` is its
    head (decorators, signature), ``line`` the line that names it. ``qualname`` is its name
    after those of the definitions around it: ``("McCabeChecker", "run")``."""

    qualname: Qualname
    start: int
    body: int
    end: int
    is_class: bool
    line: int


@dataclass(frozen=True)
class Layout:
    """A text split into definitions. ``code`` is each line as code: strings, comments and
    docstrings blanked, since a word there calls nothing. ``units`` are the definitions a
    change is judged by: top-level functions, methods, classes (for their own lines); a
    function nested in another is part of it."""

    lines: tuple[str, ...]
    code: tuple[str, ...]
    regions: tuple[Region, ...]  # outer before inner
    units: dict[Qualname, Region]


@dataclass
class _Part:
    """What one block did to one unit (None: lines outside every definition): the lines it
    took away (in the text before the block) and wrote (in the text after it)."""

    unit: Qualname | None
    region: Region | None  # the unit before the block; None when new or top level
    removed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)


@dataclass
class _Step:
    """One block that changed the file, and what it did to each unit."""

    block: EditBlock
    was: Layout
    now: Layout
    parts: dict[Qualname | None, _Part]

    def removed(self, part: _Part) -> list[str]:
        return [self.was.code[k] for k in part.removed]

    def added(self, part: _Part) -> list[str]:
        return [self.now.code[k] for k in part.added]


# ------------------------------------------------------------------------------ layout


@lru_cache(maxsize=64)
def layout(text: str, python: bool) -> Layout:
    """``text`` split into definitions. Python from its syntax tree; Python that does not
    parse (a slip in one block) by indentation, so the rule still sees the definitions."""
    lines = tuple(text_lines(text))
    docs: set[int] = set()
    regions: list[Region] | None = None
    if python:
        try:
            regions, docs = _from_tree(ast.parse("\n".join(lines) + "\n"))
        except SyntaxError:
            regions = None
    if regions is None:
        regions = _from_spans(list(lines), python=python)
    regions.sort(key=lambda r: (r.start, -r.end))
    code = tuple("" if k in docs else _as_code(ln, python) for k, ln in enumerate(lines))
    return Layout(lines, code, tuple(regions), _units(regions))


def _from_tree(tree: ast.Module) -> tuple[list[Region], set[int]]:
    """The definitions of a syntax tree, and the lines of its docstrings."""
    regions: list[Region] = []
    docs: set[int] = set()

    def walk(node: ast.AST, outer: Qualname) -> None:
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | _DEFS) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docs.update(range(body[0].lineno - 1, body[0].end_lineno or body[0].lineno))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _DEFS):
                start = min([d.lineno for d in child.decorator_list] + [child.lineno]) - 1
                end = child.end_lineno or child.lineno
                first = child.body[0].lineno - 1
                # a one-line definition is all head: there is no body to rewrite most of
                regions.append(Region((*outer, child.name), start,
                                      first if first >= child.lineno else end, end,
                                      isinstance(child, ast.ClassDef), child.lineno - 1))
                walk(child, (*outer, child.name))
            elif not isinstance(child, ast.expr):  # definitions sit in statements only
                walk(child, outer)

    walk(tree, ())
    return regions, docs


def _from_spans(lines: list[str], *, python: bool) -> list[Region]:
    """The definitions by :func:`definition_spans` (brackets, or indentation), nested by
    where they lie; the head is the definition's first line."""
    out: list[Region] = []
    around: list[Region] = []
    for name, a, b in definition_spans(lines, python=python):
        while around and around[-1].end <= a:
            around.pop()
        region = Region((*(around[-1].qualname if around else ()), name), a, a + 1, b,
                        _CLASS_LINE.match(lines[a]) is not None, a)
        out.append(region)
        around.append(region)
    return out


def _as_code(line: str, python: bool) -> str:
    """A line without its strings and comment."""
    text = _STRING.sub(lambda m: m.group(0) if "f" in (m.group("prefix") or "").lower()
                       else '""', line)
    cut = text.find("#" if python else "//")
    return text[:cut] if cut >= 0 else text


def _units(regions: list[Region]) -> dict[Qualname, Region]:
    """The regions no function is around (the first of a repeated name wins)."""
    units: dict[Qualname, Region] = {}
    around: list[Region] = []
    for r in regions:
        while around and around[-1].end <= r.start:
            around.pop()
        if not any(not a.is_class for a in around):
            units.setdefault(r.qualname, r)
        around.append(r)
    return units


def _unit(lay: Layout, line: int) -> Region | None:
    """The unit a line belongs to: the outermost function around it, else the innermost
    class, else None (top level)."""
    around = [r for r in lay.regions if r.start <= line < r.end]
    return next((r for r in around if not r.is_class), around[-1] if around else None)


def _own(lay: Layout, region: Region) -> list[int]:
    """A unit's lines: a function's all; a class's without those of what it defines."""
    if not region.is_class:
        return list(range(region.start, region.end))
    inner = {k for r in lay.regions if r != region and region.start <= r.start
             and r.end <= region.end for k in range(r.start, r.end)}
    return [k for k in range(region.start, region.end) if k not in inner]


def _unit_code(lay: Layout, region: Region) -> list[str]:
    """A unit's own lines as code, less its name where it is defined: defining ``total``
    uses no other ``total``."""
    own = _own(lay, region)
    code = [lay.code[k] for k in own]
    if region.line in own:
        at = own.index(region.line)
        code[at] = re.sub(rf"(?<![\w$]){re.escape(region.qualname[-1])}(?![\w$])", " ",
                          code[at], count=1)
    return code


def _body(lay: Layout, region: Region) -> list[int]:
    """A unit's body lines that hold code (no docstring, comment, blank or lone bracket)."""
    return [k for k in _own(lay, region) if k >= region.body and re.search(r"\w", lay.code[k])]


def _stub(lay: Layout, region: Region) -> bool:
    """The body only stands for code to come (``raise NotImplementedError``, ``pass``)."""
    return all(_STUB.fullmatch(lay.code[k]) for k in _body(lay, region))


# ------------------------------------------------------------------------------- words


def _words(code: Iterable[str]) -> set[str]:
    return {w for line in code for w in _IDENT.findall(line)}


def _uses(code: Iterable[str], imported: set[str]) -> set[str]:
    """The names code uses, members included (``self.lexer.tokenize``, ``super().save``,
    ``Lexer().tokenize``), but not a member of an imported module: ``os.path`` uses no
    ``path`` of the file."""
    out: set[str] = set()
    for line in code:
        for m in _IDENT.finditer(line):
            owner = _OWNER.search(line, 0, m.start())
            if owner is None or owner.group(1) not in imported:
                out.add(m.group())
    return out


def _imported(lay: Layout) -> set[str]:
    """The names the import lines of a text bind (and the modules they name)."""
    return _words(c for c in lay.code if _IMPORT.match(c))


def _state(lay: Layout) -> set[str]:
    """The names a text keeps state under: attributes it sets, names bound at module or
    class level (imports apart: two changes that both use ``os`` share nothing)."""
    names = {m.group(1) for c in lay.code for m in _STORE.finditer(c)}
    inside = {k for r in lay.regions if not r.is_class for k in range(r.start, r.end)}
    for k, c in enumerate(lay.code):
        m = _ASSIGN.match(c)
        if m and k not in inside and not _IMPORT.match(c):
            names.add(m.group(1))
    return names


# ------------------------------------------------------------------------------ the rule


def _named(lay: Layout, request: str) -> set[Qualname]:
    """The definitions the request names. A dotted name names a method only through a class
    of this file (`PathGraph.complexity`); ``os.path``, ``this.cache`` or ``store.py`` name
    nothing, and the class before the dot is the method's place, not what changes."""
    classes = {r.qualname[-1] for r in lay.regions if r.is_class}
    pairs: set[tuple[str, str]] = set()
    for dotted in _DOTTED.findall(request):
        parts = dotted.split(".")
        pairs.update((a, b) for a, b in zip(parts, parts[1:], strict=False) if a in classes)
    plain = _DOTTED.sub(" ", request)
    named: set[Qualname] = set()
    for r in lay.regions:
        name = r.qualname[-1]
        if " /" in name:
            hit = named_in(name, request)
        else:
            hit = named_in(name, plain) or (len(r.qualname) > 1 and
                                            (r.qualname[-2], name) in pairs)
        if hit:
            named.add(r.qualname)
    return named


def _parts(was: Layout, now: Layout, old: LineRange, new: LineRange) -> dict[Qualname | None,
                                                                           _Part]:
    """What a block that replaced lines ``old`` of ``was`` with lines ``new`` of ``now`` did
    to each unit. Lines compare with their indentation: code re-indented into a new
    structure is rewritten; a stretch whose code stays (a comment, a string, blank lines
    changed) is not."""
    a, b = old.start - 1, max(old.end, old.start - 1)
    c, d = new.start - 1, max(new.end, new.start - 1)
    parts: dict[Qualname | None, _Part] = {}
    matcher = difflib.SequenceMatcher(None, [ln.rstrip() for ln in was.lines[a:b]],
                                      [ln.rstrip() for ln in now.lines[c:d]], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or _same_code(was.code[a + i1:a + i2], now.code[c + j1:c + j2]):
            continue
        for k in (k for k in range(a + i1, a + i2) if was.lines[k].strip()):
            region = _unit(was, k)
            key = region.qualname if region else None
            part = parts.setdefault(key, _Part(key, region))
            part.region = part.region or region
            part.removed.append(k)
        for k in (k for k in range(c + j1, c + j2) if now.lines[k].strip()):
            region = _unit(now, k)
            key = region.qualname if region else None
            parts.setdefault(key, _Part(key, was.units.get(key) if key else None)).added.append(k)
    return parts


def _same_code(old: Sequence[str], new: Sequence[str]) -> bool:
    """Two stretches say the same as code (spacing, comments, strings apart)."""
    return [c.strip() for c in old if c.strip()] == [c.strip() for c in new if c.strip()]


def _steps(path: str, before: str, blocks: Sequence[EditBlock], python: bool
           ) -> list[_Step | None]:
    """Each block applied after the ones before it, with what it did (None: it did not
    apply, which apply_edits reports, or changed nothing)."""
    steps: list[_Step | None] = []
    content = before
    for block in blocks:
        result = apply_edits(content, [block], path=path)
        o = result.outcomes[0]
        if not o.applied or not o.changed or o.original_lines is None or o.new_lines is None:
            steps.append(None)
            continue
        was, now = layout(content, python), layout(result.content, python)
        steps.append(_Step(block, was, now, _parts(was, now, o.original_lines, o.new_lines)))
        content = result.content
    return steps


@dataclass
class _Scope:
    """The closure of a request over one answer's blocks for one file (``before``, the text
    they change; ``final``, the text they all give; ``steps``, what each did), and the blocks
    it holds back. ``asked``: the named definitions, the classes around them and what they
    hold; ``closure`` grows from them to a fixed point."""

    before: Layout
    final: Layout
    steps: list[_Step]
    named: set[Qualname]
    by_name: dict[str, set[Qualname]] = field(init=False, default_factory=dict)
    imported: set[str] = field(init=False, default_factory=set)
    state: set[str] = field(init=False, default_factory=set)
    asked: set[Qualname] = field(init=False, default_factory=set)
    closure: set[Qualname] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        known = set(self.before.units) | set(self.final.units) | {
            p.unit for _, p in self._parts() if p.unit is not None}
        for q in known:
            self.by_name.setdefault(q[-1], set()).add(q)
        self.imported = _imported(self.before) | _imported(self.final)
        self.state = _state(self.before) | _state(self.final)
        self.asked = {q for q in known for n in self.named if q[:len(n)] == n or n[:len(q)] == q}
        self.closure = set(self.asked)
        while True:
            grown = self._grow()
            if not grown:
                break
            self.closure |= grown

    def _parts(self) -> Iterable[tuple[_Step, _Part]]:
        return ((s, p) for s in self.steps for p in s.parts.values())

    def _live(self) -> list[tuple[_Step, _Part]]:
        """The parts that are the change: in the closure, or outside every definition."""
        return [(s, p) for s, p in self._parts() if p.unit is None or p.unit in self.closure]

    def _code(self, q: Qualname) -> list[str]:
        """A unit's code before the answer and after it."""
        return [c for lay in (self.before, self.final) if q in lay.units
                for c in _unit_code(lay, lay.units[q])]

    def _grow(self) -> set[Qualname]:
        """One round: what the closure uses, and the changes tied to it."""
        live = self._live()
        used = _uses([c for q in self.closure for c in self._code(q)]
                     + [c for s, p in live for c in s.added(p)], self.imported)
        grown = {q for n in used for q in self.by_name.get(n, ())} - self.closure
        changed = _words(c for s, p in live for c in s.removed(p) + s.added(p))
        state = (self.state | _words(c for s, p in live if p.unit is None
                                     for c in s.removed(p) + s.added(p) if _IMPORT.match(c))
                 ) & changed
        for s, p in self._parts():
            if p.unit is not None and p.unit not in self.closure | grown \
                    and self._tied(s, p, p.unit, state):
                grown.add(p.unit)
        return grown

    def _tied(self, step: _Step, part: _Part, unit: Qualname, state: set[str]) -> bool:
        """A change to ``unit`` tied to the closure: its lines use state the change's own
        lines use, or a definition of the closure whose contract may have changed, or start
        using one (a call of the new code)."""
        changed = _words(step.removed(part) + step.added(part))
        if changed & state:
            return True
        if any(self._reshaped(q) for n in changed for q in self._in_closure(n) if q != unit):
            return True
        region = self.before.units.get(unit)
        had = _words(_unit_code(self.before, region)) if region else set()
        return any(self._in_closure(n) for n in _words(step.added(part)) - had)

    def _in_closure(self, name: str) -> set[Qualname]:
        return {q for q in self.by_name.get(name, ()) if q in self.closure}

    def _reshaped(self, q: Qualname) -> bool:
        """Callers of ``q`` may have to change with it: it is new, its head changed, or its
        body did and was more than a stub (callers of a stub were written for what it
        promises). A named one no block changes may be about its callers."""
        if q not in self.before.units:
            return True
        mine = [(s, p) for s, p in self._parts() if p.unit == q]
        if any(_in_head(p.region, p.removed) or _in_head(s.now.units.get(q), p.added)
               for s, p in mine):
            return True
        if _stub(self.before, self.before.units[q]):
            return False
        return bool(mine) or q in self.asked

    def held(self) -> list[tuple[_Step, list[_Part]]]:
        """The steps that rewrite most of a unit outside the closure, with those parts."""
        out = []
        for s in self.steps:
            bad = [p for p in s.parts.values() if self._rewrites(s, p)]
            if bad:
                out.append((s, bad))
        return out

    def _rewrites(self, step: _Step, part: _Part) -> bool:
        """The part takes away at least MOST of the body of a unit that was there before
        and is outside the closure."""
        if part.unit is None or part.unit in self.closure or part.region is None \
                or part.unit not in self.before.units:
            return False
        body = _body(step.was, part.region)
        removed = len(set(part.removed) & set(body))
        return bool(body) and removed >= MIN_REMOVED and removed >= MOST * len(body)

    def unasked(self, step: _Step, parts: list[_Part]) -> Unasked:
        """A held step as the failure it is reported as."""
        deleted = all(not p.added and p.region is not None
                      and set(_body(step.was, p.region)) <= set(p.removed) for p in parts)
        asked = [p.unit for p in step.parts.values()
                 if p.unit is not None and p.unit in self.closure]
        return Unasked(step.block, tuple(".".join(p.unit or ()) for p in parts), deleted,
                       tuple(".".join(q) for q in asked))


def _in_head(region: Region | None, lines: list[int]) -> bool:
    """Some of the lines are the definition's head (decorators, signature)."""
    return region is not None and any(region.start <= k < region.body for k in lines)


# ------------------------------------------------------------- dmc's blocks, cut apart


def _split(path: str, content: str, block: EditBlock, python: bool) -> list[EditBlock]:
    """A block dmc made, cut where its changes pass from one unit to the next, so that each
    piece is judged alone: merging nearby changes can put the asked one and one beside it in
    one block. Each piece's SEARCH keeps to the unchanged lines between the changes; the
    block stays whole unless the pieces, applied in turn, give exactly what it gives."""
    result = apply_edits(content, [block], path=path)
    o = result.outcomes[0]
    if not o.applied or not o.changed or o.original_lines is None or o.new_lines is None:
        return [block]
    was, now = layout(content, python), layout(result.content, python)
    groups = _groups(was, now, o.original_lines, o.new_lines)
    if len(groups) < 2:
        return [block]
    pieces: list[EditBlock] = []
    for n, group in enumerate(groups):
        lo = groups[n - 1][1] if n else 0
        hi = groups[n + 1][0] if n + 1 < len(groups) else len(was.lines)
        piece = _piece(block, list(was.lines), list(now.lines), group, lo, hi)
        if piece is None:
            return [block]
        pieces.append(piece)
    check = apply_edits(content, pieces, path=path)
    return pieces if not check.failures and check.content == result.content else [block]


def _groups(was: Layout, now: Layout, old: LineRange, new: LineRange
            ) -> list[tuple[int, int, int, int]]:
    """The changed stretches of a block (old lines i1..i2 to new lines j1..j2), those in the
    same units run together; blank-line changes go with the stretch before them."""
    a, b = old.start - 1, max(old.end, old.start - 1)
    c, d = new.start - 1, max(new.end, new.start - 1)
    matcher = difflib.SequenceMatcher(None, list(was.lines[a:b]), list(now.lines[c:d]),
                                      autojunk=False)
    groups: list[tuple[int, int, int, int]] = []
    keys: list[frozenset[Qualname | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        key = frozenset({_key(was, k) for k in range(a + i1, a + i2) if was.lines[k].strip()}
                        | {_key(now, k) for k in range(c + j1, c + j2) if now.lines[k].strip()})
        if groups and (not key or key == keys[-1]):
            groups[-1] = (groups[-1][0], a + i2, groups[-1][2], c + j2)
        else:
            groups.append((a + i1, a + i2, c + j1, c + j2))
            keys.append(key)
    return groups


def _key(lay: Layout, line: int) -> Qualname | None:
    region = _unit(lay, line)
    return region.qualname if region else None


def _piece(block: EditBlock, old: list[str], new: list[str], group: tuple[int, int, int, int],
           lo: int, hi: int) -> EditBlock | None:
    """One stretch as a block whose SEARCH matches one place, its context taken only from
    lines ``lo``..``hi`` (which no other piece changes)."""
    i1, i2, j1, j2 = group
    for context in range(MAX_CONTEXT + 1):
        left, right = max(lo, i1 - context), min(hi, i2 + context)
        search = old[left:right]
        if any(s.strip() for s in search) and occurrences(old, search) == 1:
            replace = old[left:i1] + new[j1:j2] + old[i2:right]
            return EditBlock(block.path, "".join(ln + "\n" for ln in search),
                             "".join(ln + "\n" for ln in replace), block.index, block.line,
                             block.notes)
    return None


# ------------------------------------------------------------------------------- entry


def keep_to_request(path: str, before: str, blocks: Sequence[EditBlock], request: str, *,
                    made: bool = False, earlier: Sequence[EditBlock] = ()
                    ) -> tuple[list[EditBlock], list[Unasked]]:
    """The blocks to apply after ``earlier``, and those held back (see the module's text).

    ``before``: the file as it was before the change; ``earlier``: the blocks earlier passes
    applied to it (a refinement builds on them). The whole change is judged — what pass 1
    changed ties pass 2's follow-up to it (a caller fixed for the parameter pass 1 added) —
    but only ``blocks`` can be held: what earlier passes applied stays.
    ``made``: dmc made the blocks from a whole-file answer or a snippet, so they may be cut
    at definitions (:func:`_split`); a block with a held piece gives its other pieces, and
    one without stays whole. The model's own blocks are kept or held whole.
    """
    python = path.endswith(_PYTHON)
    if not request.strip() or not path.lower().endswith(_SCOPED):
        return list(blocks), []
    start = layout(before, python)
    named = _named(start, request)
    if not named:
        return list(blocks), []
    current = apply_edits(before, list(earlier), path=path).content if earlier else before
    pieces = _pieces(path, current, blocks, python) if made else [[b] for b in blocks]
    flat = [p for group in pieces for p in group]
    steps = _steps(path, before, [*earlier, *flat], python)
    done = [s for s in steps if s is not None]
    final = done[-1].now if done else start
    scope = _Scope(start, final, done, named)
    new = {id(p) for p in flat}
    held = {id(s.block): scope.unasked(s, parts) for s, parts in scope.held()
            if id(s.block) in new}
    kept: list[EditBlock] = []
    for block, group in zip(blocks, pieces, strict=True):
        if not any(id(p) in held for p in group):
            kept.append(block)
        else:
            kept += [p for p in group if id(p) not in held]
    return kept, sorted(held.values(), key=lambda u: u.block.index)


def _pieces(path: str, before: str, blocks: Sequence[EditBlock], python: bool
            ) -> list[list[EditBlock]]:
    """Each of dmc's blocks cut at definitions, on the text the blocks before it leave."""
    out: list[list[EditBlock]] = []
    content = before
    for block in blocks:
        out.append(_split(path, content, block, python))
        result = apply_edits(content, [block], path=path)
        content = result.content
    return out
