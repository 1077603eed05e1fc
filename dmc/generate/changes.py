"""Changes to files that exist: the answer's edit blocks turned into files, and checked.

When the payload carries the current text of target files (``context.files``, written by
``dmc optimize`` for the files a request names), the model is asked for SEARCH/REPLACE blocks
against that text (:mod:`dmc.generate.edits`) and whole files only for new paths. This module
holds the state of one file across passes — its original text, the blocks applied so far and
the content they give — so a refinement pass can add blocks on top of the best pass, and
``dmc run --apply`` can replay exactly the same blocks on the file on disk.

A block that rewrites most of a definition the request is not about (asked to implement one
method, the model also rewrites its caller) is held back and reported as a failure of its own
(:data:`UNASKED`, :func:`render_unasked`); see :func:`dmc.generate.scope.keep_to_request`.

It also holds "done means done" for a change: the request's named things (a function or class
name in backticks or with parentheses, an HTTP method and route) that the original does not
contain must appear in what the edits add; otherwise the change is not what was asked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dmc.generate.code import CodeFile, extract_files
from dmc.generate.edits import (
    BlockFailure,
    EditBlock,
    Reason,
    apply_edits,
    parse_edits,
    strip_markers,
)
from dmc.generate.rewrites import (
    Conversion,
    blocks_from_rewrite,
    blocks_from_snippet,
    definitions,
    lost_definitions,
)
from dmc.generate.scope import Unasked, keep_to_request

MAX_FILE_CHARS = 60_000
#: the names dmc.generate.code gives code blocks without a path (generated.py, generated_2.js)
_PATHLESS = re.compile(r"generated(?:_\d+)?(?:\.\w+)?")

_ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\s+(/[\w/:{}\-.<>]*)", re.I)
_NAMED = re.compile(r"`([A-Za-z_][\w.]*)`|\b([A-Za-z_]\w*)\(\)?")
#: the reason of a block held back for rewriting code the request is not about
#: (:func:`dmc.generate.scope.keep_to_request`)
UNASKED: Reason = "unasked"
#: the note on a held block that names what it rewrote, for the status
_HELD = "held back: "
_COMMON = {"print", "len", "str", "int", "list", "dict", "set", "range", "open", "get", "post",
           "put", "delete", "patch", "test", "tests", "e.g", "i.e", "use", "add", "make",
           "function", "method", "route", "returns", "return", "and", "or", "the", "a"}


def edit_targets(payload: dict[str, Any]) -> dict[str, str]:
    """The target files whose current text the payload carries: path -> text."""
    files = (payload.get("context") or {}).get("files") or {}
    targets = set((payload.get("task") or {}).get("target_files") or [])
    return {p: t for p, t in files.items() if p in targets and isinstance(t, str)}


@dataclass
class FileState:
    """One existing file across passes: what it was, and the blocks applied to it so far."""

    path: str
    original: str
    blocks: list[EditBlock] = field(default_factory=list)
    content: str = ""

    def __post_init__(self) -> None:
        if not self.content:
            self.content = self.original


@dataclass
class EditPass:
    """The files one answer gives, and the blocks that did not apply."""

    files: list[CodeFile]
    states: dict[str, FileState]
    failures: list[BlockFailure]
    ignored: list[str]  # "where: why" for code that could not be turned into edits
    blocks: int
    converted: list[str] = field(default_factory=list)  # whole files / snippets made edits


def language_of(path: str) -> str | None:
    """The language dmc knows a path by."""
    from dmc.languages import EXTENSIONS

    return EXTENSIONS.get("." + path.rsplit(".", 1)[-1].lower()) if "." in path else None


def from_answer(answer: str, base: dict[str, FileState], *, language: str | None,
                cut_off: str | None, request: str = "") -> EditPass:
    """Apply the answer's blocks on top of ``base`` (the best pass so far), take new files.

    Code for an existing file that is not written as blocks — the whole file again, or only
    the definitions that changed (with or without a path, when one file is being changed) —
    is turned into blocks (:mod:`dmc.generate.rewrites`) or refused with the reason.
    """
    parsed = parse_edits(answer, known_paths=list(base))
    states = {p: FileState(s.path, s.original, list(s.blocks), s.content)
              for p, s in base.items()}
    failures = list(parsed.problems)
    by_path: dict[str, list[EditBlock]] = {}
    for block in parsed.blocks:
        by_path.setdefault(block.path, []).append(kept_beside(block, request))
    files: dict[str, CodeFile] = {}
    for path, blocks in by_path.items():
        state = states.get(path)
        if state is not None and state.original:
            blocks, held = keep_to_request(path, state.original, blocks, request,
                                           earlier=state.blocks)
            failures += [unasked_failure(path, u) for u in held]
        result = apply_edits(state.content if state else None, blocks, path=path)
        failures += result.failures
        applied = [o.block for o in result.outcomes if o.applied]
        if state is None:
            if not applied:
                continue
            state = FileState(path, "", [], "")
            state.original = ""
            states[path] = state
        state.blocks += applied
        state.content = result.content
    for path, state in states.items():
        if state.blocks:
            files[path] = edited_file(state)
    ignored: list[str] = []
    converted: list[str] = []
    existing = [p for p, s in states.items() if s.original]
    for f in extract_files(parsed.rest, language=language, cut_off=cut_off):
        pathless = _PATHLESS.fullmatch(f.path) is not None
        path = existing[0] if pathless and len(existing) == 1 else f.path
        state = states.get(path)
        if state is None or not state.original:
            if pathless:
                # a block with no path, in a change to several files: never a new file
                ignored.append("a code block without a `File: <path>` line: it could be for "
                               "any of " + ", ".join(existing))
                continue
            files.setdefault(f.path, CodeFile(f.path, strip_markers(f.code), f.language,
                                              f.truncated, f.repair))
            continue
        if f.truncated:
            ignored.append(f"{path}: the answer was cut off inside it")
            continue
        if path in by_path:
            # blocks for it in this answer already: a copy of the file beside them is the
            # model showing its result (or contradicting it), never a second change
            ignored.append(f"{path}: a whole copy beside its SEARCH/REPLACE blocks (the "
                           "blocks are applied, the copy is not)")
            continue
        conversion = as_blocks(path, state.content, f.code, request=request)
        if not conversion.blocks:
            where = "a code block without a `File: <path>` line" if pathless else path
            ignored.append(f"{where}: {conversion.refused or 'it changes nothing'}")
            continue
        # dmc's blocks keep to the request as the model's own do: a whole file can rewrite
        # a caller of the definition asked for (the 1.5B on mccabe.py)
        made, held = keep_to_request(path, state.original, conversion.blocks, request,
                                     made=True, earlier=state.blocks)
        failures += [unasked_failure(path, u) for u in held]
        result = apply_edits(state.content, made, path=path)
        applied = [o.block for o in result.outcomes if o.applied]
        failures += result.failures
        if applied:
            state.blocks += applied
            state.content = result.content
            files[path] = edited_file(state)
            converted.append(f"{path}: {conversion.blocks[0].notes[0]}")
    return EditPass(list(files.values()), states, sorted(failures, key=lambda f: f.index),
                    ignored, len(parsed.blocks), converted)


def held_back(failures: Sequence[BlockFailure]) -> tuple[list[BlockFailure],
                                                         list[BlockFailure]]:
    """(held back as :data:`UNASKED`, the others): the first are reported and not asked for
    again, the others did not apply and are."""
    held = [f for f in failures if f.reason == UNASKED]
    return held, [f for f in failures if f.reason != UNASKED]


def unasked_failure(path: str, held: Unasked) -> BlockFailure:
    """A block held back for rewriting code the request is not about, as a failure: it is
    counted and reported with the blocks that did not apply, but the refinement says to
    leave that code alone (:func:`render_unasked`), not to send the block again."""
    block = held.block
    noted = EditBlock(block.path, block.search, block.replace, block.index, block.line,
                      (*block.notes, _HELD + ", ".join(held.names)))
    return BlockFailure(block.index, path, UNASKED, held.detail(), (), noted)


def render_unasked(failures: Sequence[BlockFailure]) -> str:
    """The refinement's words for blocks held back as :data:`UNASKED` ("" when none)."""
    if not failures:
        return ""
    said = []
    for f in failures:
        made = f.block is not None and any(n.startswith("made from") for n in f.block.notes)
        # a block dmc made from a whole file has a number the model never wrote
        said.append(f"{f'Your code for {f.path}' if made else f'Block {f.index} for {f.path}'}"
                    f" {f.detail}.")
    said.append(f"If the asked change really needs {'it' if len(failures) == 1 else 'them'}, "
                "change only the lines the asked change requires.")
    return "\n".join(said)


def failure_reason(failures: Sequence[BlockFailure], *, applied: bool) -> str:
    """The status reason for blocks that did not apply or were held back; ``applied``:
    some block of the change applied."""
    held, others = held_back(failures)
    missed = len(others)
    said = []
    if not applied:
        said.append("no edit block applied" + (f" ({missed} failed)" if missed else ""))
    elif missed:
        said.append(f"{missed} edit block(s) did not apply")
    if held:
        names = dict.fromkeys(n for f in held if f.block is not None for note in f.block.notes
                              if note.startswith(_HELD) for n in note[len(_HELD):].split(", "))
        said.append(f"held back {len(held)} block(s) that rewrite code the request does not "
                    f"ask about: {', '.join(names)}")
    return (": " if not applied and not missed else "; ").join(said)


def kept_beside(block: EditBlock, request: str) -> EditBlock:
    """A block that writes new definitions over a whole neighbour the request does not name,
    as an addition after it: the model was asked to add something and wrote it in place of
    the lines it was to go after (what the packaged 1.5B does with "put in SEARCH the lines
    it goes after"). Only that shape: SEARCH a complete piece of code (it parses, or its
    brackets balance), REPLACE sharing none of its lines, every definition of SEARCH gone;
    a rename, a move or a partial rewrite is left as written (and a deletion is reported)."""
    lost = lost_definitions(block.search, block.replace, request)
    if not lost:
        return block
    # lines that say something: "});" and "}" are shared by any two pieces of code
    search_lines = [ln.strip() for ln in block.search.splitlines() if re.search(r"\w\w", ln)]
    replace_lines = {ln.strip() for ln in block.replace.splitlines() if re.search(r"\w\w", ln)}
    before = definitions(block.search.splitlines())
    new = [d for d in definitions(block.replace.splitlines()) if d not in before]
    if not new or set(search_lines) & replace_lines or set(lost) != set(before) or \
            not _complete(block.search, python=block.path.endswith((".py", ".pyi"))):
        return block
    search = block.search if block.search.endswith("\n") else block.search + "\n"
    return EditBlock(block.path, block.search, search + "\n" + block.replace, block.index,
                     block.line, (*block.notes, "kept " + ", ".join(lost) + " and added "
                              + ", ".join(new) + " after it (the block had replaced it)"))


def _complete(code: str, *, python: bool) -> bool:
    """A whole piece of code: Python that parses, or (other languages) a block in braces
    whose brackets balance."""
    import ast
    import textwrap

    if python:
        try:
            ast.parse(textwrap.dedent(code))
        except SyntaxError:
            return False
        return True
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for ch in code:
        if ch in depth:
            depth[ch] += 1
        elif ch in closing:
            depth[closing[ch]] -= 1
            if depth[closing[ch]] < 0:
                return False
    return all(v == 0 for v in depth.values()) and "{" in code


def as_blocks(path: str, current: str, code: str, *, request: str) -> Conversion:
    """Blocks from code written for an existing file: a rewrite when the code keeps most of
    the file's lines, else (Python) a snippet of definitions to put in place."""
    old = [ln.strip() for ln in current.splitlines() if ln.strip()]
    new = [ln.strip() for ln in code.splitlines() if ln.strip()]
    kept = difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks()
    if old and sum(b.size for b in kept) >= 0.5 * len(old):
        return blocks_from_rewrite(path, current, code, named=request)
    if language_of(path) == "python":
        return blocks_from_snippet(path, current, code)
    return Conversion((), "only part of the file was given, and not as SEARCH/REPLACE blocks")


def edited_file(state: FileState) -> CodeFile:
    """The file as the applied blocks leave it, with the blocks and the diff."""
    diff = "".join(difflib.unified_diff(
        state.original.splitlines(keepends=True), state.content.splitlines(keepends=True),
        f"a/{state.path}", f"b/{state.path}"))
    item = CodeFile(state.path, state.content, language_of(state.path))
    item.edits = [{"search": b.search, "replace": b.replace} for b in state.blocks]
    item.diff = diff
    return item


def initial_states(payload: dict[str, Any]) -> dict[str, FileState]:
    """A state per existing target file, nothing applied yet."""
    return {p: FileState(p, t) for p, t in edit_targets(payload).items()}


#: how a plan step's criteria that are not runnable checks follow its details (one line):
#: what they call (``assert.strictEqual(...)``) is how the step is judged, not what it adds
CRITERIA_PREFIX = "Done when: "


def named_things(description: str, original: str) -> list[str]:
    """What the request names that the file does not have yet: routes, functions, classes."""
    description = re.sub(rf"^{re.escape(CRITERIA_PREFIX)}.*$", "", description, flags=re.M)
    wanted: list[str] = []
    for verb, route in _ROUTE.findall(description):
        if route_present(verb, route, original) or route_present(verb, route.rstrip("/"),
                                                                  original):
            continue  # the route exists: the request changes it, it does not add it
        wanted.append(f"{verb.upper()} {route}")
    for quoted, called in _NAMED.findall(description):
        name = quoted or called
        if not name or name.lower() in _COMMON or len(name) < 3 or "." in name:
            continue
        if re.search(rf"\b{re.escape(name)}\b", original):
            continue  # already there: the request is about changing it, not adding it
        wanted.append(name)
    return list(dict.fromkeys(wanted))


def route_present(verb: str, route: str, text: str) -> bool:
    """A route with this method appears in added code (Express, FastAPI, Flask styles)."""
    path = re.escape(route).replace(r"\:", ":")
    pattern = (rf"\.{verb.lower()}\s*\(\s*['\"`]{path}['\"`]"  # router.delete('/users/:id'
               rf"|@\w+\.{verb.lower()}\s*\(\s*['\"]{_param_agnostic(route)}['\"]"
               rf"|methods\s*=\s*\[[^\]]*['\"]{verb.upper()}['\"]")
    return re.search(pattern, text, re.I) is not None


def _param_agnostic(route: str) -> str:
    """``/users/:id`` also as ``/users/{id}`` or ``/users/<id>``."""
    parts = []
    for seg in route.split("/"):
        if seg.startswith(":") or (seg.startswith("{") and seg.endswith("}")) or \
                (seg.startswith("<") and seg.endswith(">")):
            parts.append(r"[:{<]?\w+[}>]?")
        else:
            parts.append(re.escape(seg))
    return "/".join(parts)


def missing_named(description: str, states: dict[str, FileState],
                  files: list[CodeFile]) -> list[str]:
    """The named things no added line carries ("done means done" for a change)."""
    original = "\n".join(s.original for s in states.values())
    added = []
    for f in files:
        state = states.get(f.path)
        if state is None or not state.original:
            added.append(f.code)
            continue
        for line in difflib.ndiff(state.original.splitlines(), f.code.splitlines()):
            if line.startswith("+ "):
                added.append(line[2:])
    text = "\n".join(added)
    missing = []
    for thing in named_things(description, original):
        if " /" in thing:
            verb, route = thing.split(" ", 1)
            if not route_present(verb, route, text) and not (
                    route_present(verb, route.rstrip("/"), text)):
                missing.append(thing)
        elif not re.search(rf"\b{re.escape(thing)}\b", text):
            missing.append(thing)
    return missing


def cap(text: str) -> str | None:
    """The text if it is small enough to send whole, else None."""
    return text if len(text) <= MAX_FILE_CHARS else None


def deleted_unasked(description: str, states: dict[str, FileState]) -> list[str]:
    """Definitions (functions, classes, routes) the applied edits removed from a file that
    the request does not name: an edit that turns the route next to the new one into the
    new one adds what was asked and deletes what was there."""
    out = []
    for path, state in states.items():
        if state.original and state.blocks:
            out += [f"{d} ({path})" for d in lost_definitions(state.original, state.content,
                                                              description)]
    return out
