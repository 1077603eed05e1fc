"""Changes to existing files as search/replace blocks: parse them, apply them exactly.

Why edits and not whole files: the model often sees an existing file compressed (signatures
and the lines that matter) or in pieces, so a whole-file answer deletes everything it did not
see. A search/replace block quotes the lines it changes, so nothing else in the file is at the
model's mercy, and a block that quotes wrongly can be caught before anything is written.

The answer format (aider's, which code models have seen a lot of)::

    File: routes/api.js
    ```javascript
    <<<<<<< SEARCH
    router.get('/users', listUsers);
    =======
    router.get('/users', listUsers);
    router.delete('/users/:id', deleteUser);
    >>>>>>> REPLACE
    ```

Several blocks may follow one ``File:`` line, inside one fence or in several; the fence is
optional. An empty SEARCH creates a file that does not exist yet. :func:`parse_edits` is lenient
about where the path is (a ``File:`` line, a heading, a bare path line, a backticked path in a
sentence ending with ``:``, the fence's info string, a comment on the fence's first line, or the
marker line itself) because models put it anywhere.

:func:`apply_edits` applies blocks in order, each to the result of the ones before. A block is
placed by the first of these that finds exactly one place: the exact lines; the lines ignoring
trailing whitespace; the lines ignoring a uniform indentation difference (the replacement is
re-indented by the same amount); the lines with each ``<redacted:KIND>`` that
``dmc optimize`` put in place of a secret matching the hidden text (which REPLACE then gets
back, so no placeholder is ever written); a same-length window at least 90% similar (``difflib``
ratio, indentation ignored; only for two or more lines, since one line that is nearly another
is usually a different statement). A comparison that finds several places stops the search:
a looser one would only find more. Lines the model kept unchanged from SEARCH to REPLACE are
written as the file has them, so a misquoted line is not overwritten with the misquote.
A block found in several places, or nowhere, or quoting across an elision marker, or whose
REPLACE stands for kept code with a placeholder (``// ... existing code ...``), is never
applied: its :class:`BlockFailure` says which block, why, and the closest lines with their
line numbers, and :func:`render_failures` turns failures into the refinement message.
:func:`changes_outside` checks afterwards that nothing outside the edited regions changed.

:func:`strip_markers` removes the context markers ``dmc optimize`` puts around existing code
(see :mod:`dmc.optimize.pack`) and their older comment form, in case a model echoes them.
"""

from __future__ import annotations

import difflib
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dmc.optimize.pack import MARKER_CLOSE, MARKER_OPEN

Method = Literal["exact", "trailing_whitespace", "indentation", "redacted", "fuzzy", "create"]
Reason = Literal["no_match", "ambiguous", "empty_search", "missing_file", "malformed",
                 "no_path", "elided", "placeholder", "redacted",
                 # held back by dmc.generate.scope: it rewrites code the request is not about
                 "unasked"]

FUZZY_THRESHOLD = 0.9
# The shape of one block, for prompts and for the refinement message.
BLOCK_SHAPE = ("<<<<<<< SEARCH\nlines copied exactly from the current file\n=======\n"
               "the lines that replace them\n>>>>>>> REPLACE")
_FUZZY_MAX_LINES = 20_000  # above this many lines a fuzzy scan costs seconds: skip it
_SHOW_LINES = 8  # lines of a candidate quoted back to the model
_WORD = re.compile(r"\w+")
_WORD_PREFILTER = 0.5  # word overlap a window needs before its characters are compared
_MAX_COMPARED = 40  # more look-alike windows than this: too repetitive to pick one loosely
_NEAREST_COMPARED = 8  # windows compared closely when looking for the nearest lines

_START = re.compile(r"^[ \t]*<{5,9}[ \t]*(?:(?:SEARCH|ORIGINAL|FIND)\b[ \t:]*(?P<rest>.*?))?"
                    r"[ \t]*$", re.I)
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*$")
_END = re.compile(r"^[ \t]*>{5,9}[ \t]*(?:(?:REPLACE|UPDATED?)\b.*)?$", re.I)
_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")

# A token that names a file: a directory part, then a name with a letter in its extension
# (so "1.5" and "e.g." are not files), or a dotfile, or one of the usual extensionless names.
_PATHLIKE = re.compile(
    r"(?:[\w.@+-]+/)*(?:[\w@+-][\w.@+-]*\.(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9_]{1,10}"
    r"|\.[\w-]+|Makefile|Dockerfile|Procfile|Gemfile|Rakefile|Vagrantfile|Jenkinsfile|LICENSE)")
_LEAD = re.compile(r"^(?:#{1,6}|//+|--|;+|/\*+|<!--|>|[-*+](?=\s)|\d+\.(?=\s))\s*")
_TRAIL = re.compile(r"\s*(?:\*/|-->)$")
_LABEL = re.compile(r"^(?:file(?:name)?|path)\s*:\s*", re.I)
_QUOTED = re.compile(r"`([^`\s]+)`|\*\*([^*\s]+)\*\*")

# The marker lines dmc optimize writes (and their comment-leader variants a model may add),
# anywhere in a line, plus an ASCII lookalike a model may "correct" them into.
_MARKER = re.compile(r"(?:(?:#|//|--|/\*|<!--)[ \t]*)?(?:" + re.escape(MARKER_OPEN) +
                     r"|\[\[dmc)\b[^\n" + re.escape(MARKER_CLOSE) + r"\]]*(?:" +
                     re.escape(MARKER_CLOSE) + r"|\]\])(?:[ \t]*(?:\*/|-->))?")
# The comment markers dmc wrote before, e.g. "// lines 1-19 <module>", "# ... 12 lines elided"
_OLD_HEADER = re.compile(r"^[ \t]*(?://|#)[ \t]*lines \d+-\d+(?: \S+)?"
                         r"(?: \((?:compressed|cut)\))?[ \t]*$")
_OLD_ELISION = re.compile(r"^[ \t]*(?://|#)[ \t]*\.\.\. \d+ lines? elided[ \t]*$")
_ELISION = re.compile(re.escape(MARKER_OPEN) + r":\s*\d+ lines? elided")
# what dmc.optimize.secrets puts where it removed a secret from the context
_REDACTED = re.compile(r"<redacted:[\w-]+>")
# "// ... existing code ...": a comment standing for code the model meant to keep
_LAZY = re.compile(r"^\s*(?:#|//|/\*|<!--|--|\*)(?=.*(?:\.\.\.|…))(?=.*\b(?:existing|rest|"
                   r"unchanged|same|previous|other|remaining|omitted|original|code)\b)", re.I)


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LineRange:
    """Lines ``start``..``end`` of a text, 1-based and inclusive.

    An empty range (``end == start - 1``) is a position: just before line ``start``. That is
    what a deletion leaves in the new text and what an insertion occupies in the old one.
    """

    start: int
    end: int

    @property
    def empty(self) -> bool:
        """True for a position between lines rather than a run of lines."""
        return self.end < self.start

    def __str__(self) -> str:
        if self.empty:
            return f"before line {self.start}"
        return f"line {self.start}" if self.start == self.end else \
            f"lines {self.start}-{self.end}"


@dataclass(frozen=True)
class EditBlock:
    """One SEARCH/REPLACE block as the model wrote it.

    ``search`` and ``replace`` are the lines between the markers, each ending with ``\\n``
    (so one blank line, ``"\\n"``, differs from none, ``""``; a last line without its
    newline is read the same); ``index`` is the block's 1-based position in the answer and ``line``
    the answer line of its ``<<<<<<< SEARCH``, so a failure can name the block the model wrote.
    """

    path: str
    search: str
    replace: str
    index: int = 1
    line: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A place in the file a SEARCH matched, or came closest to matching."""

    lines: LineRange
    score: float
    text: tuple[str, ...]


@dataclass(frozen=True)
class BlockFailure:
    """Why a block was not applied; precise enough to send back to the model."""

    index: int
    path: str
    reason: Reason
    detail: str
    candidates: tuple[Candidate, ...] = ()
    block: EditBlock | None = None

    def describe(self) -> str:
        """One line for a log or a status message."""
        where = f" ({self.path})" if self.path else ""
        return f"block {self.index}{where}: {self.detail}"


@dataclass(frozen=True)
class BlockOutcome:
    """What happened to one block: how it was placed and which lines it replaced and wrote.

    ``original_lines`` are lines of the file before any block was applied; ``new_lines`` are
    lines of the final content. ``changed`` is False for a block whose REPLACE equals what it
    replaced (placed, but a no-op).
    """

    block: EditBlock
    method: Method | None
    score: float = 0.0
    original_lines: LineRange | None = None
    new_lines: LineRange | None = None
    changed: bool = False
    failure: BlockFailure | None = None
    notes: tuple[str, ...] = ()

    @property
    def applied(self) -> bool:
        """True when the block was placed and written."""
        return self.failure is None


@dataclass
class EditResult:
    """The blocks for one file applied to its content.

    ``content`` holds every block that applied (the ones that failed are left out and listed
    in ``failures``); ``changed_original``/``changed_new`` are the line ranges the diff
    between the old and the new text actually touches.
    """

    path: str
    original: str | None
    content: str
    outcomes: list[BlockOutcome]
    diff: str
    changed_original: list[LineRange] = field(default_factory=list)
    changed_new: list[LineRange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every block applied."""
        return all(o.applied for o in self.outcomes)

    @property
    def failures(self) -> list[BlockFailure]:
        """The blocks that did not apply, in answer order."""
        return [o.failure for o in self.outcomes if o.failure is not None]

    @property
    def changed(self) -> bool:
        """The content differs from the original (a created file always does)."""
        return self.original is None or self.content != self.original

    @property
    def edited_regions(self) -> list[LineRange]:
        """Lines of the original the applied blocks replaced: all a change may touch."""
        return [o.original_lines for o in self.outcomes
                if o.applied and o.original_lines is not None]


@dataclass
class ParsedAnswer:
    """The edit blocks in an answer, the blocks that could not be read, and the rest.

    ``rest`` is the answer without the blocks (and without the fences that held them), so
    whole files for new paths can still be taken from it by ``dmc.generate.code``.
    """

    blocks: list[EditBlock]
    problems: list[BlockFailure]
    rest: str


# ----------------------------------------------------------------------------- markers


def strip_markers(code: str) -> str:
    """``code`` without dmc's context markers: ``⟦dmc: …⟧`` anywhere (a line that held only
    a marker goes entirely), and the old comment form (``// lines 1-19 <module>``,
    ``# ... 12 lines elided``) as whole lines. Line endings are kept as they were."""
    out: list[str] = []
    for piece in code.split("\n"):  # a dropped line takes its "\n" with it
        cr = piece.endswith("\r")
        body = piece[:-1] if cr else piece
        if _OLD_HEADER.match(body) or _OLD_ELISION.match(body):
            continue
        if MARKER_OPEN in body or "[[dmc" in body:
            cleaned = _MARKER.sub("", body)
            if cleaned != body:
                if not cleaned.strip():
                    continue
                body = cleaned.rstrip()
        out.append(body + ("\r" if cr else ""))
    return "\n".join(out)


def has_markers(code: str) -> bool:
    """True when ``code`` still holds a dmc context marker (what a benchmark greps for)."""
    return strip_markers(code) != code


# ----------------------------------------------------------------------------- parsing


@dataclass
class _Fence:
    marker: str
    start: int  # answer line index of the opening fence
    path: str | None
    has_blocks: bool = False
    seen_content: bool = False


def _norm_path(path: str) -> str:
    path = path.strip().strip("`'\"").replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _resolve(path: str, known: Sequence[str]) -> str:
    """The known path ``path`` means (``api.js`` for ``routes/api.js`` when that is the only
    one ending so), else ``path`` itself: a new file."""
    path = _norm_path(path)
    if path in known or not known:
        return path
    matches = [k for k in known if k.endswith("/" + path) or path.endswith("/" + k)]
    return matches[0] if len(matches) == 1 else path


def _is_path(token: str, known: Sequence[str]) -> bool:
    token = _norm_path(token)
    return bool(token) and (token in known or bool(_PATHLIKE.fullmatch(token)))


def _path_in_line(line: str, known: Sequence[str]) -> str | None:
    """The file a line of prose (or a fence's first line) names, if it clearly names one.

    Clearly: the whole line is a path (after a heading, bullet or comment leader, a
    ``File:`` label, bold or backticks), or the line ends with ``:`` and holds exactly one
    backticked or bold path (``Changes to `routes/api.js`:``)."""
    s = line.strip()
    if not s or len(s) > 300:
        return None
    s = _TRAIL.sub("", _LEAD.sub("", s)).replace("**", "").strip()
    labelled = _LABEL.match(s)
    s = _LABEL.sub("", s).strip()
    if labelled and s:  # "File: routes/api.js (updated)": the label says what the path is
        s = s.split()[0]
    s = s.rstrip(":").strip().strip("`'\"()[]").strip()
    if s and " " not in s and _is_path(s, known):
        return _resolve(s, known)
    if line.rstrip().endswith(":"):
        found = {_norm_path(a or b) for a, b in _QUOTED.findall(line)}
        found = {f for f in found if _is_path(f, known)}
        if not found and known:
            words = {_norm_path(w.strip(".,;:()`'\"*")) for w in line.split()}
            found = {w for w in words if w in known}
        if len(found) == 1:
            return _resolve(found.pop(), known)
    return None


def _path_in_info(info: str, known: Sequence[str]) -> str | None:
    """The path in a fence's info string: ```js routes/api.js```, ```routes/api.js```,
    ```js title="routes/api.js"```, ```js:routes/api.js```."""
    for key in ("title=", "path=", "file=", "filename="):
        if key in info:
            value = info.split(key, 1)[1].strip().split()[0] if info.split(key, 1)[1].strip() \
                else ""
            value = value.strip("\"'")
            return _resolve(value, known) if value else None
    for word in re.split(r"[\s:]+", info):
        word = word.strip("\"'{}")
        if ("." in word or "/" in word or word in known) and _is_path(word, known):
            return _resolve(word, known)
    return None


def _closes(line: str, fence: _Fence) -> bool:
    m = _FENCE.match(line)
    if m is None or m.group("info"):
        return False
    return m.group("fence")[0] == fence.marker[0] and len(m.group("fence")) >= len(fence.marker)


_PROSE_FILES = (".md", ".markdown", ".rst", ".txt", ".adoc")


def _unwrap(lines: list[str], path: str) -> list[str]:
    """A section a model wrapped in its own fence (```python … ```) loses that fence. In a
    code file a fence line at either edge alone goes too (a model that opened a fence after
    ``<<<<<<< SEARCH`` closes it before ``>>>>>>> REPLACE``); in a prose file, whose text
    may hold fences of its own, only a matched pair is taken off."""
    if len(lines) >= 2:
        first, last = _FENCE.match(lines[0]), _FENCE.match(lines[-1])
        if first and last and not last.group("info"):
            return lines[1:-1]
    if path.lower().endswith(_PROSE_FILES):
        return lines
    if lines and _FENCE.match(lines[0]):
        lines = lines[1:]
    if lines and _FENCE.match(lines[-1]):
        lines = lines[:-1]
    return lines


def parse_edits(answer: str, *, known_paths: Iterable[str] = (),
                default_path: str | None = None) -> ParsedAnswer:
    """The SEARCH/REPLACE blocks in a model's answer, in order.

    ``known_paths`` (the files the model was shown) let a short or odd path (``api.js``,
    ``./routes\\api.js``) resolve to the file meant; ``default_path`` is used for a block
    whose path the answer never gives (else the only known path, if there is one). A block
    that is cut off or has no ``=======`` is reported in ``problems`` and never returned as
    an edit: applying half a block would write half a change.
    """
    known = [_norm_path(p) for p in known_paths]
    fallback = default_path or (known[0] if len(set(known)) == 1 else None)
    lines = answer.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[EditBlock] = []
    problems: list[BlockFailure] = []
    rest: list[str] = []
    fence: _Fence | None = None
    fence_lines: list[str] = []  # the open fence's lines, until it is known to hold no block
    last_path: str | None = None
    count = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        start = _START.match(line)
        if start is not None:
            count += 1
            path = (_path_in_line(start.group("rest") or "", known)
                    or (fence.path if fence else None) or last_path or fallback or "")
            block, problem, i, closed = _read_block(lines, i, count, path, fence, known)
            if fence is not None:
                fence.has_blocks = True
                fence_lines = []
                if closed:
                    fence = None
            if block is not None:
                blocks.append(block)
            if problem is not None:
                problems.append(problem)
            continue
        fm = _FENCE.match(line)
        if fm is not None and (fence is None or _closes(line, fence)
                               or (fm.group("info") and fence.has_blocks)):
            if fence is not None:  # a close (or a new fence after blocks: implicit close)
                if not fence.has_blocks:
                    rest += fence_lines + [line]
                fence, fence_lines = None, []
                if not fm.group("info"):
                    i += 1
                    continue
            info_path = _path_in_info(fm.group("info"), known)
            fence = _Fence(fm.group("fence"), i, info_path)
            fence_lines = [line]
            if info_path:
                last_path = info_path
            i += 1
            continue
        if fence is not None:
            # a comment or label naming a file: on the first line, it names the fence's file;
            # between blocks, the file of the blocks after it
            if (not fence.seen_content or fence.has_blocks) and line.strip():
                named = _path_in_line(line, known) if _first_line_names(line) else None
                if named and (fence.has_blocks or fence.path is None):
                    fence.path = named
                    last_path = named
                fence.seen_content = True
            if not fence.has_blocks:
                fence_lines.append(line)
            i += 1
            continue
        named = _path_in_line(line, known)
        if named:
            last_path = named
        rest.append(line)
        i += 1
    if fence is not None and not fence.has_blocks:
        rest += fence_lines
    return ParsedAnswer(blocks, problems, "\n".join(rest))


def _first_line_names(line: str) -> bool:
    """A fence's first line names the file only as a comment or a label, not as code."""
    s = line.strip()
    return bool(re.match(r"(?:#|//|--|;|/\*|<!--)", s)) or bool(_LABEL.match(s)) \
        or bool(_PATHLIKE.fullmatch(s))


def _read_block(lines: list[str], at: int, index: int, path: str, fence: _Fence | None,
                known: Sequence[str]) -> tuple[EditBlock | None, BlockFailure | None, int, bool]:
    """Read the block whose ``<<<<<<< SEARCH`` is at ``lines[at]``.

    Returns the block or the problem, the index of the next line to read, and whether the
    enclosing fence was closed inside (a model that forgot ``>>>>>>> REPLACE`` but closed the
    fence finished its block there)."""
    search: list[str] = []
    replace: list[str] = []
    section = search
    notes: list[str] = []

    def problem(detail: str) -> BlockFailure:
        return BlockFailure(index, path, "malformed", detail,
                            block=EditBlock(path, _join(search), _join(replace),
                                            index, at + 1))

    k = at + 1
    while k < len(lines):
        line = lines[k]
        named = _path_in_line(line, known) if not search and section is search \
            and _LABEL.match(_LEAD.sub("", line.strip())) else None
        if named:  # "File: x" as the first line of SEARCH: the path, not text to find
            path = named
        elif _DIVIDER.match(line) and section is search:
            section = replace
        elif _END.match(line):
            if section is search:
                return None, problem("has no ======= line between the lines to find and the "
                                     "new lines"), k + 1, False
            return _block(path, search, replace, index, at, notes), None, k + 1, False
        elif _START.match(line):
            return None, problem("is not finished (no >>>>>>> REPLACE) before the next "
                                 "<<<<<<< SEARCH"), k, False
        elif fence is not None and _closes(line, fence):
            if section is search:
                return None, problem("has no ======= and no >>>>>>> REPLACE line (its code "
                                     "block ends first)"), k + 1, True
            nxt = k + 1
            while nxt < len(lines) and not lines[nxt].strip():
                nxt += 1
            if nxt < len(lines) and _END.match(lines[nxt]):
                return _block(path, search, replace, index, at, notes), None, nxt + 1, True
            notes.append("no >>>>>>> REPLACE line; the block ended where its fence closed")
            return _block(path, search, replace, index, at, notes), None, k + 1, True
        else:
            section.append(line)
        k += 1
    if section is search:
        return None, problem("has no ======= line (the answer ends inside SEARCH)"), k, False
    return None, problem("has no >>>>>>> REPLACE line (the answer was cut off?)"), k, False


def _block(path: str, search: list[str], replace: list[str], index: int, at: int,
           notes: list[str]) -> EditBlock:
    return EditBlock(path, _join(_unwrap(search, path)), _join(_unwrap(replace, path)), index,
                     at + 1, tuple(notes))


# ----------------------------------------------------------------------------- applying


@dataclass(frozen=True)
class _Place:
    start: int  # 0-based, half-open window [start, end) of the current lines
    end: int
    method: Method
    score: float
    file_indent: str = ""
    search_indent: str = ""
    secrets: tuple[tuple[str, str], ...] = ()  # placeholder → the text it stands for here


@dataclass(frozen=True)
class _Miss:
    reason: Reason
    detail: str
    candidates: tuple[Candidate, ...]


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip(" \t"))]


def _common_indent(lines: Sequence[str]) -> str:
    indents = [_indent(ln) for ln in lines if ln.strip()]
    return os.path.commonprefix(indents) if indents else ""


def _dedented(lines: Sequence[str]) -> list[str]:
    cut = len(_common_indent(lines))
    return [ln[cut:].rstrip() if ln.strip() else "" for ln in lines]


def _width(indent: str) -> int:
    return len(indent.expandtabs(4))


def _reindent(lines: Sequence[str], old: str, new: str) -> list[str]:
    """Shift ``lines`` (written at indentation ``old``) to ``new``, keeping their relative
    indentation; lines indented less than ``old`` move by the same number of columns."""
    if old == new:
        return list(lines)
    unit = "\t" if "\t" in new and " " not in new else " "
    delta = _width(new) - _width(old)
    out = []
    for ln in lines:
        if not ln.strip():
            out.append("")
        elif ln.startswith(old):
            out.append(new + ln[len(old):])
        else:
            width = max(_width(_indent(ln)) + delta, 0)
            lead = "\t" * (width // 4) + " " * (width % 4) if unit == "\t" else " " * width
            out.append(lead + ln.lstrip(" \t"))
    return out


def _windows(hay: Sequence[str], needle: Sequence[str]) -> list[int]:
    n = len(needle)
    return [s for s in range(len(hay) - n + 1) if hay[s:s + n] == list(needle)]


def _overlaps(a: int, b: int, size: int) -> bool:
    return abs(a - b) < size


def _quote(lines: Sequence[str], start: int, size: int) -> tuple[str, ...]:
    return tuple(lines[start:start + min(size, _SHOW_LINES)])


def _ambiguous(found: list[int], size: int, method: str) -> _Miss:
    ranges = [LineRange(s + 1, s + size) for s in sorted(found)]
    shown = ", ".join(str(r).removeprefix("lines ").removeprefix("line ") for r in ranges[:6])
    more = f" and {len(ranges) - 6} more" if len(ranges) > 6 else ""
    how = "" if method == "exact" else f" (comparing {method.replace('_', ' ')})"
    return _Miss("ambiguous", f"the SEARCH text matches {len(found)} places{how}: lines "
                 f"{shown}{more}; include more surrounding lines so it matches exactly one",
                 tuple(Candidate(r, 1.0, ()) for r in ranges))


def _token_dice(lines: Sequence[str], search: Sequence[str]) -> list[float]:
    """For each window start, how much the window's words overlap the SEARCH's (Dice
    coefficient over word multisets), in one pass: a cheap first cut before comparing
    characters, since a window 90% similar character by character shares most words."""
    size = len(search)
    want = Counter(t for s in search for t in _WORD.findall(s))
    total_s = sum(want.values())
    words = [_WORD.findall(ln) for ln in lines]
    have: Counter[str] = Counter()
    inter = total_w = 0
    out: list[float] = []
    for k, toks in enumerate(words):
        for t in toks:
            inter += have[t] < want[t]
            have[t] += 1
        total_w += len(toks)
        if k >= size:
            for t in words[k - size]:
                have[t] -= 1
                inter -= have[t] < want[t]
            total_w -= len(words[k - size])
        if k >= size - 1:
            denom = total_s + total_w
            out.append(2 * inter / denom if denom else 1.0)
    return out


def _similar(lines: Sequence[str], search: Sequence[str], threshold: float,
             ) -> tuple[list[tuple[float, int]], bool]:
    """(similarity, start) of the same-length windows at least ``threshold`` similar
    (``difflib`` ratio of the stripped lines), best first; and True when there were too many
    look-alike windows to compare them all (the caller must then not pick one)."""
    size = len(search)
    dice = _token_dice(lines, search)
    order = sorted(((d, s) for s, d in enumerate(dice) if d >= _WORD_PREFILTER), reverse=True)
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("\n".join(s.strip() for s in search))
    found: list[tuple[float, int]] = []
    compared = 0
    for _, s in order:
        matcher.set_seq1("\n".join(ln.strip() for ln in lines[s:s + size]))
        if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
            continue
        if compared == _MAX_COMPARED:
            return sorted(found, key=lambda x: (-x[0], x[1])), True
        compared += 1
        score = matcher.ratio()
        if score >= threshold:
            found.append((score, s))
    return sorted(found, key=lambda x: (-x[0], x[1])), False


def _nearest(lines: Sequence[str], search: Sequence[str], count: int = 2,
             ) -> list[tuple[float, int]]:
    """The windows most like ``search`` (best first, not overlapping), for a report: the few
    with the most words in common, compared character by character."""
    size = len(search)
    dice = _token_dice(lines, search)
    order = sorted(range(len(dice)), key=lambda s: -dice[s])[:_NEAREST_COMPARED]
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("\n".join(s.strip() for s in search))
    scored = []
    for s in order:
        matcher.set_seq1("\n".join(ln.strip() for ln in lines[s:s + size]))
        scored.append((matcher.ratio(), s))
    picked: list[tuple[float, int]] = []
    for score, s in sorted(scored, key=lambda x: (-x[0], x[1])):  # ties: the first
        if all(not _overlaps(s, t, size) for _, t in picked):
            picked.append((score, s))
        if len(picked) == count:
            break
    return picked


def _locate(lines: list[str], search: list[str], threshold: float) -> _Place | _Miss:
    """Where ``search`` goes in ``lines``: the first comparison that finds one place wins;
    one that finds several stops the search (a looser one would only find more)."""
    size = len(search)
    found = _windows(lines, search)
    if len(found) == 1:
        return _Place(found[0], found[0] + size, "exact", 1.0)
    if found:
        return _ambiguous(found, size, "exact")
    rstripped = [ln.rstrip() for ln in lines]
    found = _windows(rstripped, [s.rstrip() for s in search])
    if len(found) == 1:
        return _Place(found[0], found[0] + size, "trailing_whitespace", 1.0)
    if found:
        return _ambiguous(found, size, "trailing_whitespace")
    target = _dedented(search)
    found = [s for s in range(len(lines) - size + 1)
             if [ln.strip() for ln in lines[s:s + size]] == [t.strip() for t in target]
             and _dedented(lines[s:s + size]) == target]
    if len(found) == 1:
        s = found[0]
        return _Place(s, s + size, "indentation", 1.0, _common_indent(lines[s:s + size]),
                      _common_indent(search))
    if found:
        return _ambiguous(found, size, "indentation")
    if any(_REDACTED.search(s) for s in search):
        placed = _locate_redacted(lines, search)
        if placed is not None:
            return placed
    if len(lines) > _FUZZY_MAX_LINES:
        return _Miss("no_match", "the SEARCH text matches no lines of the file (too long "
                     "to compare loosely)", ())
    # one line that is nearly another is too often a different statement (import a/import
    # b, x = 1/x = 2): loose matching needs at least two lines of evidence
    if sum(1 for s in search if s.strip()) >= 2:
        scored, crowded = _similar(lines, search, threshold)
        if scored:
            best_score, best = scored[0]
            places = [best]  # one window per place: shifted copies of a place are not rivals
            for _, s in scored[1:]:
                if all(not _overlaps(s, t, size) for t in places):
                    places.append(s)
            if len(places) > 1:
                return _ambiguous(places, size, "fuzzy")
            if crowded:
                return _Miss("ambiguous", "the SEARCH text is like too many places of the file "
                             "to pick one; quote it exactly, with more surrounding lines", ())
            return _Place(best, best + size, "fuzzy", best_score,
                          _common_indent(lines[best:best + size]), _common_indent(search))
    return _no_match(lines, search)


def _locate_redacted(lines: list[str], search: list[str]) -> _Place | _Miss | None:
    """Place a SEARCH quoting lines whose secrets dmc redacted: each ``<redacted:KIND>``
    matches any text, the rest must be equal (indentation aside). The texts the placeholders
    matched are kept so REPLACE can get them back. None when no place matches."""
    size = len(search)
    pats = []
    for s in search:
        parts = _REDACTED.split(s.strip())
        pats.append(re.compile("(.+?)".join(re.escape(p) for p in parts)))
    found = [start for start in range(len(lines) - size + 1)
             if all(p.fullmatch(ln.strip()) for p, ln in zip(pats, lines[start:start + size],
                                                                strict=True))]
    if len(found) > 1:
        return _ambiguous(found, size, "redacted")
    if not found:
        return None
    start = found[0]
    seen: dict[str, set[str]] = {}
    for s, p, ln in zip(search, pats, lines[start:start + size], strict=True):
        m = p.fullmatch(ln.strip())
        if m is not None:
            for name, value in zip(_REDACTED.findall(s.strip()), m.groups(), strict=True):
                seen.setdefault(name, set()).add(value)
    secrets = tuple((name, next(iter(v))) for name, v in seen.items() if len(v) == 1)
    return _Place(start, start + size, "redacted", 1.0, _common_indent(lines[start:start + size]),
                  _common_indent(search), secrets)


def _no_match(lines: list[str], search: list[str]) -> _Miss:
    size = len(search)
    candidates: list[Candidate] = []
    near = _nearest(lines, search)
    for n, (score, s) in enumerate(near):
        # a second place only when it is about as close as the first: worth a look
        if n == 0 or (score >= 0.5 and near[0][0] - score < 0.1):
            candidates.append(Candidate(LineRange(s + 1, s + size), round(score, 3),
                                        _quote(lines, s, size)))
    detail = "the SEARCH text matches no lines of the file"
    if candidates:
        c = candidates[0]
        detail += f"; the closest are {c.lines} ({c.score:.0%} similar)"
    else:
        detail += f" (the file has {len(lines)} lines, fewer than the SEARCH)"
    return _Miss("no_match", detail, tuple(candidates))


def _elides(search: list[str]) -> bool:
    """True when an elision marker stands between quoted lines: without the lines it stands
    for the SEARCH is not contiguous text, and a loose match could land anywhere."""
    marks = [k for k, ln in enumerate(search) if _ELISION.search(ln) or _OLD_ELISION.match(ln)]
    real = [k for k, ln in enumerate(search) if ln.strip() and k not in marks]
    return any(real[0] < k < real[-1] for k in marks) if real else False


def _placeholder(search: list[str], replace: list[str]) -> bool:
    """True when REPLACE stands for kept code with a comment or an elision marker that SEARCH
    does not have: the lines it stands for would be replaced by nothing."""
    quoted = {s.strip() for s in search}
    return any(ln.strip() not in quoted
               and (bool(_ELISION.search(ln)) or bool(_OLD_ELISION.match(ln))
                    or bool(_LAZY.match(ln)))
               for ln in replace)


def _split(text: str) -> list[str]:
    """Lines of a text; a final newline ends the last line rather than starting another, so
    ``""`` is no lines and ``"\\n"`` is one blank line."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _join(lines: Sequence[str]) -> str:
    """The inverse of :func:`_split`: every line ends with a newline."""
    return "".join(ln + "\n" for ln in lines)


def _trim_blank_edges(search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """SEARCH without the blank lines a model added at its edges, and REPLACE without as many
    blank lines at the same edges (they were context, not content)."""
    lead = next((k for k, ln in enumerate(search) if ln.strip()), len(search))
    trail = next((k for k, ln in enumerate(reversed(search)) if ln.strip()), 0)
    core = search[lead:len(search) - trail]
    r_lead = 0
    while r_lead < lead and r_lead < len(replace) and not replace[r_lead].strip():
        r_lead += 1
    r_trail = 0
    while r_trail < trail and r_trail < len(replace) - r_lead and \
            not replace[len(replace) - 1 - r_trail].strip():
        r_trail += 1
    return core, replace[r_lead:len(replace) - r_trail]


@dataclass(frozen=True)
class _Pending:
    """A block's outcome before the final line numbers of what it wrote are known."""

    block: EditBlock
    method: Method | None
    score: float
    was: LineRange | None
    changed: bool
    failure: BlockFailure | None
    notes: tuple[str, ...]


def apply_edits(original: str | None, blocks: Sequence[EditBlock], *, path: str | None = None,
                threshold: float = FUZZY_THRESHOLD) -> EditResult:
    """Apply ``blocks`` (all for one file) to ``original`` (None: the file does not exist).

    Blocks apply in order, each to the text the ones before left. A block that cannot be
    placed at exactly one place is skipped and reported; the others still apply. Markers dmc
    put around context are dropped from SEARCH and REPLACE first, so an echoed marker can
    neither spoil a match nor be written into the file. The result keeps the original's
    line endings (``\\r\\n`` stays ``\\r\\n``) and its final newline.
    """
    path = path if path is not None else (blocks[0].path if blocks else "")
    source = original or ""
    raw = source.split("\n")  # "\r" stays at the end of a CRLF line: its ending, kept per line
    endings = ["\r\n" if ln.endswith("\r") else "\n" for ln in raw[:-1]]
    dominant = "\r\n" if endings.count("\r\n") > len(endings) / 2 else "\n"
    text = source.replace("\r\n", "\n")
    final_newline = text.endswith("\n") or text == ""
    lines = _split(text)
    endings += [dominant] * (len(lines) - len(endings))
    base = list(lines)
    origin: list[int | None] = list(range(len(lines)))
    spans: list[tuple[int, int] | None] = []  # each outcome's written lines, current coords
    pending: list[_Pending] = []

    def failed(block: EditBlock, reason: Reason, detail: str, notes: list[str],
               candidates: tuple[Candidate, ...] = ()) -> None:
        failure = BlockFailure(block.index, path, reason, detail, candidates, block)
        pending.append(_Pending(block, None, 0.0, None, False, failure, tuple(notes)))
        spans.append(None)

    for block in blocks:
        notes = list(block.notes)
        search = _split(block.search.replace("\r\n", "\n"))
        replace = _split(block.replace.replace("\r\n", "\n"))
        if _elides(search):
            failed(block, "elided", "the SEARCH quotes an elision marker (⟦dmc: N lines "
                   "elided⟧): the file has lines there you were not shown; quote only lines "
                   "you saw, as separate blocks", notes)
            continue
        if _placeholder(search, replace):
            failed(block, "placeholder", "the REPLACE has a placeholder for code to keep "
                   "(like `// ... existing code ...` or an elision marker); applying it would "
                   "delete that code: write out every line REPLACE keeps", notes)
            continue
        cleaned_s = _split(strip_markers(_join(search)))
        cleaned_r = _split(strip_markers(_join(replace)))
        if cleaned_s != search or cleaned_r != replace:
            notes.append("dropped dmc context markers from the block")
            search, replace = cleaned_s, cleaned_r
        if not any(s.strip() for s in search):
            if any(ln.strip() for ln in lines):
                failed(block, "empty_search", "the SEARCH is empty but the file already has "
                       "content; quote the lines the change goes next to", notes)
                continue
            leaked = _leaks(replace, source)
            if leaked:
                failed(block, "redacted", _leak_detail(leaked), notes)
                continue
            was = _was(origin, 0, len(lines))
            _shift(spans, 0, len(lines), len(replace))
            lines, origin = list(replace), [None] * len(replace)
            pending.append(_Pending(block, "create", 1.0, was, bool(replace), None,
                                    tuple(notes)))
            spans.append((0, len(replace)))
            continue
        if original is None and not lines:
            failed(block, "missing_file", "the file does not exist; to create it, leave "
                   "SEARCH empty", notes)
            continue
        place = _locate(lines, search, threshold)
        if isinstance(place, _Miss):
            core, core_replace = _trim_blank_edges(search, replace)
            if place.reason == "no_match" and core != search and core:
                retry = _locate(lines, core, threshold)
                if isinstance(retry, _Place):
                    notes.append("ignored blank lines at the edges of SEARCH")
                    place, search, replace = retry, core, core_replace
        if isinstance(place, _Miss):
            failed(block, place.reason, place.detail, notes, place.candidates)
            continue
        old_lines = lines[place.start:place.end]
        new, written = _merge(old_lines, search, replace, place)
        leaked = _leaks([new[k] for k in written], source)
        if leaked:
            failed(block, "redacted", _leak_detail(leaked), notes)
            continue
        was = _was(origin, place.start, place.end)
        _shift(spans, place.start, place.end, len(new))
        lines[place.start:place.end] = new
        origin[place.start:place.end] = [None] * len(new)
        pending.append(_Pending(block, place.method, round(place.score, 3), was,
                                new != old_lines, None, tuple(notes)))
        spans.append((place.start, place.start + len(new)))
    outcomes = [BlockOutcome(pd.block, pd.method, pd.score, pd.was,
                             LineRange(sp[0] + 1, sp[1]) if sp else None, pd.changed,
                             pd.failure, pd.notes)
                for pd, sp in zip(pending, spans, strict=True)]
    ends = [endings[o] if o is not None else dominant for o in origin]
    content = "".join(ln + end for ln, end in zip(lines, ends, strict=True))
    # no final newline stays so, unless the edit removed the last line: the line now last
    # had its newline in the original, and keeps it
    if lines and not final_newline and origin[-1] in (None, len(base) - 1):
        content = content[:-len(ends[-1])]
    body = content.replace("\r\n", "\n")
    if original is not None and body == text:
        content = original  # nothing changed: not even line endings
    changed_old, changed_new = _changed(base, lines)
    return EditResult(path, original, content, outcomes, _diff(path, original, text, body),
                      changed_old, changed_new)


def _merge(window: list[str], search: list[str], replace: list[str],
           place: _Place) -> tuple[list[str], list[int]]:
    """What the block writes over ``window``, and which of those lines come from REPLACE.

    REPLACE, except that lines the model kept from SEARCH unchanged come from the file as it
    is. So a line the model quoted slightly wrong (fuzzy), with other indentation or trailing
    spaces, or with a redacted secret, but did not mean to change, stays exactly as it was
    instead of being overwritten by the model's version. In the lines REPLACE does write, a
    redaction placeholder becomes again the text it matched in the file."""
    if place.method == "exact":
        return list(replace), list(range(len(replace)))
    shifted = _reindent(replace, place.search_indent, place.file_indent) \
        if place.method in ("indentation", "fuzzy", "redacted") else list(replace)
    for name, value in place.secrets:
        shifted = [ln.replace(name, value) for ln in shifted]
    out: list[str] = []
    written: list[int] = []
    ops = difflib.SequenceMatcher(None, [s.rstrip() for s in search],
                                  [r.rstrip() for r in replace], autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            out += window[i1:i2]
        else:
            written += range(len(out), len(out) + j2 - j1)
            out += shifted[j1:j2]
    return out, written


def _leaks(lines: Sequence[str], original: str) -> list[str]:
    """Redaction placeholders ``lines`` would write that the file does not already hold:
    each stands for a secret the model never saw, so writing it would break the code."""
    return sorted({name for ln in lines for name in _REDACTED.findall(ln) if name not in original})


def _leak_detail(names: Sequence[str]) -> str:
    return (f"the REPLACE writes {', '.join(names)}, which stands for a secret dmc hid from "
            "you; keep the lines holding it unchanged, or read the value from the environment")


def _was(origin: Sequence[int | None], start: int, end: int) -> LineRange:
    """The original lines behind current lines [start, end); when they are all new (written
    by an earlier block), the empty range at the place they stand in the original."""
    old = [o for o in origin[start:end] if o is not None]
    if old:
        return LineRange(min(old) + 1, max(old) + 1)
    before = [o for o in origin[:start] if o is not None]
    at = before[-1] + 2 if before else 1
    return LineRange(at, at - 1)


def _shift(spans: list[tuple[int, int] | None], start: int, end: int, size: int) -> None:
    """Keep earlier blocks' written spans true after lines [start, end) become ``size``
    lines: spans after it move, a span the new edit overlaps grows to cover both."""
    delta = size - (end - start)
    for n, sp in enumerate(spans):
        if sp is None:
            continue
        a, b = sp
        if b <= start:
            continue
        if a >= end:
            spans[n] = (a + delta, b + delta)
        else:
            spans[n] = (min(a, start), max(b + delta, start + size))


def _changed(old: list[str], new: list[str]) -> tuple[list[LineRange], list[LineRange]]:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    was, now = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            was.append(LineRange(i1 + 1, i2))
            now.append(LineRange(j1 + 1, j2))
    return was, now


def _diff(path: str, original: str | None, old: str, new: str) -> str:
    before = "/dev/null" if original is None else f"a/{path}"
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True), before, f"b/{path}"))


def apply_to_files(files: Mapping[str, str | None], blocks: Sequence[EditBlock], *,
                   threshold: float = FUZZY_THRESHOLD) -> dict[str, EditResult]:
    """Apply blocks for several files: ``files`` maps each path to its current content (a path
    absent or mapped to None does not exist). Blocks keep their answer order within a file.
    Blocks with no path come back under ``""``, every one failed with reason ``no_path``."""
    by_path: dict[str, list[EditBlock]] = {}
    for b in blocks:
        by_path.setdefault(b.path, []).append(b)
    out: dict[str, EditResult] = {}
    for p, group in by_path.items():
        if not p:
            outcomes = [BlockOutcome(b, None, failure=BlockFailure(
                b.index, "", "no_path", "the block does not say which file it changes; put "
                "`File: <path>` on the line before it", (), b)) for b in group]
            out[""] = EditResult("", None, "", outcomes, "")
            continue
        out[p] = apply_edits(files.get(p), group, path=p, threshold=threshold)
    return out


def changes_outside(original: str, new: str, allowed: Sequence[LineRange]) -> list[LineRange]:
    """The stretches of ``original`` outside ``allowed`` that ``new`` does not keep intact.

    ``new`` passes when it is the original with each allowed range replaced by something
    (anything): the untouched stretches must appear, whole and in order, with the first at the
    start and the last at the end. Each stretch is looked for at its earliest place after the
    one before, which finds a split whenever one exists. Empty list: nothing outside changed.
    """
    old = original.replace("\r\n", "\n").splitlines()
    now = new.replace("\r\n", "\n").splitlines()
    cuts = sorted((r.start - 1, max(r.end, r.start - 1)) for r in allowed)
    gaps: list[tuple[int, int]] = []
    pos = 0
    for a, b in cuts:
        gaps.append((pos, max(a, pos)))
        pos = max(pos, b)
    gaps.append((pos, len(old)))
    bad: list[LineRange] = []
    at = 0
    for n, (a, b) in enumerate(gaps):
        piece = old[a:b]
        if n == 0:
            hit: int | None = 0 if now[:len(piece)] == piece else None
        elif n == len(gaps) - 1:
            tail = len(now) - len(piece)
            hit = tail if tail >= at and now[tail:] == piece else None
        else:
            hit = next((s for s in range(at, len(now) - len(piece) + 1)
                        if now[s:s + len(piece)] == piece), None)
        if hit is None:
            if piece:
                bad.append(LineRange(a + 1, b))
            continue
        at = hit + len(piece)
    return bad


@dataclass
class AppliedAnswer:
    """A model's answer parsed and applied: what the generation loop needs from one pass."""

    parsed: ParsedAnswer
    results: dict[str, EditResult]

    @property
    def failures(self) -> list[BlockFailure]:
        """Blocks that could not be read or placed, in answer order."""
        return failures_of(self.results, self.parsed.problems)

    @property
    def changed(self) -> dict[str, str]:
        """Path → new content, for the files whose content the applied blocks changed."""
        return {p: r.content for p, r in self.results.items() if p and r.changed}

    def refinement(self, max_chars: int = 6000) -> str:
        """The message asking for the failed blocks again ("" when none failed), with the
        current content of the files they were for."""
        return render_failures(self.failures, max_chars=max_chars,
                               files={p: r.content for p, r in self.results.items() if p})


def apply_answer(answer: str, files: Mapping[str, str | None], *,
                 known_paths: Iterable[str] | None = None,
                 threshold: float = FUZZY_THRESHOLD) -> AppliedAnswer:
    """Parse ``answer`` and apply its blocks to ``files`` (path → current content, None or
    absent for a file that does not exist). ``known_paths`` (default: the keys of ``files``)
    resolve the short or odd paths models write."""
    known = list(files) if known_paths is None else list(known_paths)
    parsed = parse_edits(answer, known_paths=known)
    return AppliedAnswer(parsed, apply_to_files(files, parsed.blocks, threshold=threshold))


# ----------------------------------------------------------------------------- feedback


def failures_of(results: Mapping[str, EditResult] | Iterable[EditResult],
                problems: Iterable[BlockFailure] = ()) -> list[BlockFailure]:
    """Every failure, the parse problems' and each file's, in the answer's block order."""
    values = results.values() if isinstance(results, Mapping) else results
    found = list(problems) + [f for r in values for f in r.failures]
    return sorted(found, key=lambda f: f.index)


def render_failures(failures: Sequence[BlockFailure], *,
                    files: Mapping[str, str] | None = None, max_chars: int = 6000) -> str:
    """The refinement message for blocks that did not apply: which, why, the closest lines
    (quoted in a fence, with their numbers in the heading so the model does not copy
    numbers into SEARCH), then what to answer. ``files`` (path → current content, i.e. with
    the blocks that did apply) are shown after, so new SEARCH text can be copied from them.
    Empty string when there is nothing to report."""
    if not failures:
        return ""
    parts = ["These edit blocks did not apply, so their changes are not in the files:"]
    for f in failures:
        where = f" for {f.path}" if f.path else ""
        item = f"- Block {f.index}{where}: {f.detail}."
        if f.reason == "no_match" and f.candidates:
            c = f.candidates[0]
            quoted = "\n".join(c.text)
            more = "" if c.lines.end - c.lines.start + 1 <= len(c.text) else "\n…"
            fence = _fence_for(quoted)
            item += f"\n  Closest, {c.lines}:\n{fence}\n{quoted}{more}\n{fence}"
        parts.append(item)
    if any(f.reason == "malformed" for f in failures):
        parts.append("Every block has all five parts, in this order:\n" + BLOCK_SHAPE)
    parts.append("Any other blocks were applied. Answer with new SEARCH/REPLACE blocks for the "
                 "failed changes only. Copy each SEARCH exactly from the current file: whole "
                 "lines, same indentation, no line numbers, no ⟦dmc⟧ markers, and enough lines "
                 "to match one place.")
    message = "\n\n".join(parts)
    for p, content in (files or {}).items():
        if not any(f.path == p for f in failures):
            continue
        shown = strip_markers(content)
        room = max_chars - len(message)
        if room < 200:
            break
        if len(shown) > room:
            shown = shown[:room].rsplit("\n", 1)[0] + "\n…"
        fence = _fence_for(shown)
        message += f"\n\nCurrent {p}:\n{fence}\n{shown.rstrip()}\n{fence}"
    return message


def _fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text`` (a Markdown file's own
    fences must not close the quote early)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
