"""Fit context into a token budget: most relevant first, compressed before dropped.

Items (retrieved chunks, files the request names) are merged per file so no line is sent
twice, ranked by relevance, and added whole while they fit; an item that does not fit is
reduced to its signatures and the lines that mention the request's terms; one that still
does not fit is dropped. The most relevant item is always kept, cut to the budget if need be.

Context markers (the header over each piece, the note where compression left lines out) are
lines like ``⟦dmc: lines 1-19 of routes/api.js⟧`` and ``⟦dmc: 12 lines elided⟧``. They used to
be comments (``// lines 1-19 <module>``), which a model copied into the user's file as if they
were code, and which then passed every check because a comment is valid everywhere. The
bracketed form is not a comment or valid syntax in any language, so a model is less inclined
to keep it as code, and an echo that slips through fails the syntax check instead of landing
silently; it is one line, the same in every language, and ``⟦dmc`` never occurs in real code,
so ``dmc.generate.edits.strip_markers`` can remove it exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

_DEFINITION = re.compile(
    r"^\s*(?:@|(?:async\s+)?def\s|class\s|(?:export\s+)?(?:default\s+)?(?:async\s+)?function\b|"
    r"(?:export\s+)?(?:const|let|var)\s+\w+\s*=\s*(?:async\s*)?\(|(?:public|private|protected|"
    r"static)\s|interface\s|type\s+\w+\s*=|fn\s|func\s|impl\s|struct\s|module\.exports|"
    r"router\.\w+\(|app\.\w+\()"
)
MARKER_OPEN = "\u27e6dmc"  # ⟦dmc
MARKER_CLOSE = "\u27e7"  # ⟧


def context_marker(path: str, start: int, end: int, symbol: str = "", how: str = "full") -> str:
    """The line put above a piece of existing code: where it comes from, and whether it is
    whole (``how``: "full", "compressed" or "cut"), so the model knows what it has not seen."""
    notes = [n for n in (symbol if symbol and not symbol.startswith("<") else "",
                         how if how != "full" else "") if n]
    extra = f" ({'; '.join(notes)})" if notes else ""
    return f"{MARKER_OPEN}: lines {start}-{end} of {path}{extra}{MARKER_CLOSE}"


def elision_marker(count: int) -> str:
    """The line standing for ``count`` lines that compression left out."""
    return f"{MARKER_OPEN}: {count} lines elided{MARKER_CLOSE}"


@dataclass
class Item:
    """A piece of context: lines ``start``-``end`` of ``path``."""

    path: str
    start: int
    end: int
    text: str
    score: float
    language: str = ""
    symbol: str = ""
    kind: str = "code"  # code | doc
    reasons: list[str] = field(default_factory=list)


@dataclass
class Packed:
    """What made it into the budget, and what did not."""

    items: list[tuple[Item, str, str]]  # (item, text sent, "full" | "compressed" | "cut")
    dropped: list[Item]
    tokens: int


def merge_overlaps(items: list[Item]) -> list[Item]:
    """One item per overlapping or adjacent line range of a file (no line sent twice)."""
    by_path: dict[str, list[Item]] = {}
    for it in items:
        by_path.setdefault(it.path, []).append(it)
    out: list[Item] = []
    for group in by_path.values():
        group.sort(key=lambda i: (i.start, -i.end))
        current = group[0]
        for nxt in group[1:]:
            if nxt.start <= current.end + 1:
                current = _join(current, nxt)
            else:
                out.append(current)
                current = nxt
        out.append(current)
    return out


def _join(a: Item, b: Item) -> Item:
    if b.end <= a.end:
        text = a.text
    else:
        a_lines = a.text.split("\n")
        b_lines = b.text.split("\n")
        skip = a.end - b.start + 1
        text = "\n".join(a_lines + b_lines[max(skip, 0):])
    return Item(a.path, a.start, max(a.end, b.end), text, max(a.score, b.score),
                a.language or b.language, a.symbol or b.symbol, a.kind,
                sorted(set(a.reasons) | set(b.reasons)))


def compress(text: str, terms: set[str], language: str = "") -> str:
    """Signatures, decorators and lines naming a request term; elisions marked.

    ``language`` no longer changes anything (the elision marker is the same in every
    language); it stays so callers need not change."""
    lines = text.split("\n")
    keep = [bool(_DEFINITION.match(line)) or any(t in line.lower() for t in terms)
            for line in lines]
    if lines:
        keep[0] = True
    out: list[str] = []
    skipped = 0
    for line, kept in zip(lines, keep, strict=True):
        if kept:
            if skipped:
                indent = re.match(r"\s*", line).group(0) if line.strip() else ""  # type: ignore[union-attr]
                out.append(f"{indent}{elision_marker(skipped)}")
                skipped = 0
            out.append(line)
        else:
            skipped += 1
    if skipped:
        out.append(elision_marker(skipped))
    return "\n".join(out)


def cut(text: str, budget: int, count: Callable[[str], int]) -> str:
    """The longest prefix of whole lines that fits ``budget`` tokens."""
    lines = text.split("\n")
    lo, hi = 0, len(lines)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count("\n".join(lines[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return "\n".join(lines[:lo])


def pack(items: list[Item], budget: int, count: Callable[[str], int],
         terms: set[str]) -> Packed:
    """Choose and shape items so their token total stays within ``budget``."""
    ranked = sorted(merge_overlaps(items), key=lambda i: -i.score)
    chosen: list[tuple[Item, str, str]] = []
    dropped: list[Item] = []
    used = 0
    for n, item in enumerate(ranked):
        remaining = budget - used
        full = count(item.text)
        if full <= remaining:
            chosen.append((item, item.text, "full"))
            used += full
            continue
        small = compress(item.text, terms, item.language)
        small_tokens = count(small)
        if small_tokens <= remaining and small_tokens < full:
            chosen.append((item, small, "compressed"))
            used += small_tokens
            continue
        if n == 0 and remaining > 0:
            # never send nothing: the best item, cut to what fits
            trimmed = cut(small, remaining, count)
            if trimmed.strip():
                chosen.append((item, trimmed, "cut"))
                used += count(trimmed)
                continue
        dropped.append(item)
    return Packed(chosen, dropped, used)
