"""Split files into chunks by definition (code) or by section (docs).

Code is parsed with tree-sitter: every function, method and class becomes a chunk with its
decorators, and methods carry their class as context. A class that fits the size cap stays
whole; a bigger one becomes a header chunk plus one chunk per method. Statements between
definitions (imports, constants) are grouped into module chunks. Anything longer than the
cap is split into windows that repeat the signature as context. Markdown and reST are cut
at headings, plain text at blank lines. The text that gets embedded adds the path, the
symbol with its context and the identifiers split into words, which is what a plain-language
query matches best. Each chunk also gets a second, short text (its name in words and its
first line) for a second vector: a request often names what a function *is* more than what
its body does, and in the long text the name is drowned by the code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from dmc.languages import grammar

_DEF_TYPES = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "javascript": {"function_declaration": "function", "generator_function_declaration":
                   "function", "class_declaration": "class", "method_definition": "method"},
}
_DEF_TYPES["typescript"] = {**_DEF_TYPES["javascript"], "interface_declaration": "interface",
                            "type_alias_declaration": "type", "enum_declaration": "enum",
                            "abstract_class_declaration": "class"}
_DEF_TYPES["tsx"] = _DEF_TYPES["typescript"]
_WRAPPERS = {"decorated_definition", "export_statement"}
_IDENT = re.compile(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])|\d+")
# the names' words: an acronym stays one word ("HTTPRequest" -> http, request), which
# _IDENT (kept as it is: the stored vectors were computed from its words) cuts into letters
_NAME_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_MD_HEADING = re.compile(r"^#{1,6}\s")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


@dataclass
class Chunk:
    """A piece of a file, with what retrieval needs to show and rank it."""

    path: str
    start_line: int
    end_line: int
    text: str
    symbol: str
    kind: str
    language: str
    context: str = ""

    @property
    def id(self) -> str:
        """Stable id: the same content at the same place gets the same id."""
        raw = f"{self.path}\x00{self.start_line}\x00{self.end_line}\x00{self.text}"
        return hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()  # noqa: S324

    def embed_text(self) -> str:
        """What the embedding model and the lexical index see."""
        words = " ".join(w.lower() for w in _IDENT.findall(f"{self.context} {self.symbol}"))
        head = f"{self.path} {self.context} {self.symbol}".strip()
        path_words = " ".join(w.lower() for w in _IDENT.findall(self.path))
        return f"{head}\n{words} {path_words}\n{self.text}"

    def name_text(self) -> str:
        """The words of the symbol and its enclosing class, for the names' BM25: a short
        field, so a request's word that names the function is not outweighed by the
        identifiers of a long body (``parse_header`` -> "parse header")."""
        return " ".join(w.lower() for w in _NAME_WORD.findall(f"{self.context} {self.symbol}"))

    def head_text(self) -> str:
        """The short text for the second vector: path, context and symbol as words, then
        the first line that is not a decorator (the signature, or a section's heading)."""
        words = " ".join(w.lower() for w in
                         _IDENT.findall(f"{self.path} {self.context} {self.symbol}"))
        first = next((s for s in (line.strip() for line in self.text.split("\n"))
                      if s and not s.startswith("@")), "")
        return f"{words}\n{first[:200]}"


def chunk_file(path: str, text: str, language: str | None, max_lines: int) -> list[Chunk]:
    """Chunks for one file."""
    lines = text.split("\n")
    if language in _DEF_TYPES and grammar(language) is not None:
        return _code_chunks(path, text, lines, language, max_lines)
    lower = path.lower()
    if lower.endswith((".md", ".markdown")):
        return _sections(path, lines, "markdown", max_lines, _md_starts(lines))
    if lower.endswith(".rst"):
        return _sections(path, lines, "rst", max_lines, _rst_starts(lines))
    if lower.endswith(".txt"):
        return _sections(path, lines, "text", max_lines, _paragraph_starts(lines, max_lines))
    return _windows(path, lines, 1, len(lines), language or "text", "", "block", max_lines)


def _windows(path: str, lines: list[str], start: int, end: int, language: str, symbol: str,
             kind: str, max_lines: int, context: str = "", signature: str = "") -> list[Chunk]:
    """Lines ``start``..``end`` (1-based, inclusive) in pieces of at most ``max_lines``."""
    out = []
    step = max(max_lines - 5, 1)
    first = start
    while first <= end:
        last = min(first + max_lines - 1, end)
        body = "\n".join(lines[first - 1:last])
        ctx = context
        if signature and first != start:
            ctx = f"{context} {signature.strip()}".strip()
        if body.strip():
            out.append(Chunk(path, first, last, body, symbol, kind, language, ctx))
        if last == end:
            break
        first += step
    return out


def _code_chunks(path: str, text: str, lines: list[str], language: str,
                 max_lines: int) -> list[Chunk]:
    import tree_sitter

    data = text.encode("utf-8", "surrogatepass")
    tree = tree_sitter.Parser(grammar(language)).parse(data)
    types = _DEF_TYPES[language]
    chunks: list[Chunk] = []
    loose: list[int] = []  # line numbers of top-level statements that are not definitions

    def name_of(node: Any) -> str:
        n = node.child_by_field_name("name")
        return data[n.start_byte:n.end_byte].decode("utf-8", "replace") if n else ""

    def definition(node: Any) -> tuple[Any, Any] | None:
        """(outer node with decorators/export, the definition itself)."""
        inner = node
        while inner.type in _WRAPPERS:
            found = next((c for c in inner.children if c.type in types or c.type in _WRAPPERS
                          or c.type in ("lexical_declaration", "variable_declaration")), None)
            if found is None:
                return None
            inner = found
        if inner.type in types:
            return node, inner
        if inner.type in ("lexical_declaration", "variable_declaration"):
            for decl in inner.children:
                value = decl.child_by_field_name("value") if decl.type == \
                    "variable_declarator" else None
                if value is not None and value.type in ("arrow_function", "function_expression",
                                                        "function", "class"):
                    return node, decl
        return None

    def emit(outer: Any, inner: Any, context: str) -> None:
        kind = types.get(inner.type, "function")
        symbol = name_of(inner) or name_of(inner.child_by_field_name("value") or inner)
        start, end = outer.start_point[0] + 1, outer.end_point[0] + 1
        signature = lines[inner.start_point[0]] if inner.start_point[0] < len(lines) else ""
        if kind == "class" and end - start + 1 > max_lines:
            body = inner.child_by_field_name("body")
            members = [m for m in (body.children if body else [])
                       if definition(m) is not None]
            header_end = (members[0].start_point[0]) if members else end
            chunks.extend(_windows(path, lines, start, max(header_end, start), language, symbol,
                                   "class", max_lines, context))
            for m in members:
                found = definition(m)
                if found:
                    emit(found[0], found[1], f"{context} class {symbol}".strip())
            return
        if context and kind == "function":
            kind = "method"
        chunks.extend(_windows(path, lines, start, end, language, symbol, kind, max_lines,
                               context, signature))

    for child in tree.root_node.children:
        found = definition(child)
        if found is None:
            loose.extend(range(child.start_point[0] + 1, child.end_point[0] + 2))
            continue
        emit(found[0], found[1], "")
    # group loose statements into module chunks (runs of nearby lines)
    if loose:
        runs: list[list[int]] = []
        for ln in sorted(set(loose)):
            if runs and ln - runs[-1][-1] <= 2:
                runs[-1].append(ln)
            else:
                runs.append([ln])
        for run in runs:
            end = min(run[-1], len(lines))
            if "\n".join(lines[run[0] - 1:end]).strip():
                chunks.extend(_windows(path, lines, run[0], end, language, "<module>",
                                       "module", max_lines))
    chunks.sort(key=lambda c: (c.start_line, c.end_line))
    return chunks


def _md_starts(lines: list[str]) -> list[int]:
    starts = [1]
    fence = False
    for i, line in enumerate(lines, start=1):
        if line.lstrip().startswith("```"):
            fence = not fence
        if not fence and _MD_HEADING.match(line) and i != 1:
            starts.append(i)
    return starts


def _rst_starts(lines: list[str]) -> list[int]:
    starts = [1]
    for i in range(1, len(lines)):
        if _RST_UNDERLINE.match(lines[i]) and lines[i - 1].strip() and \
                len(lines[i].strip()) >= len(lines[i - 1].strip()) and i - 1 > 0:
            starts.append(i)  # the title line (1-based index of lines[i-1])
    return sorted(set(starts))


def _paragraph_starts(lines: list[str], max_lines: int) -> list[int]:
    starts = [1]
    size = 0
    for i, line in enumerate(lines, start=1):
        size += 1
        if not line.strip() and size >= max_lines // 2:
            starts.append(i + 1)
            size = 0
    return [s for s in starts if s <= len(lines)]


def _sections(path: str, lines: list[str], language: str, max_lines: int,
              starts: list[int]) -> list[Chunk]:
    out: list[Chunk] = []
    bounds = [*starts, len(lines) + 1]
    for a, b in zip(bounds, bounds[1:], strict=False):
        if b <= a:
            continue
        title = lines[a - 1].strip().lstrip("#").strip() if a - 1 < len(lines) else ""
        out.extend(_windows(path, lines, a, b - 1, language, title[:80], "section", max_lines))
    return out
