"""Pull code files out of a model's answer, and repair answers that were cut short.

Models format answers in many ways; accepted, in order of precedence, for each fenced block:
a path in the info string (```python app/main.py```, ```js title="a.js"```, ```py:a.py```),
a ``File: path`` / ``**path**`` / ``# path`` line just before the fence, or a first line
inside the block that is a comment naming the file. Blocks without a path get the request's
target file when the language fits, else ``generated.<ext>``. An answer with no fences is
taken whole when it looks like code.

Whatever the model did, two things never reach ``code``: fence markers (an opening fence
that was never closed, a nested one) and the ``File: <path>`` line the prompt asks for, which
small models sometimes put inside the block. A block left open because the answer was cut
off (token limit, a repetition stop) is marked ``truncated`` and cut back to the last
complete top-level statement that parses; when nothing complete is left it stays truncated
and the loop never calls it a success.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from dmc.languages import ALIASES, EXTENSIONS

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n"
                    r"(?P<body>.*?)\n?(?P=indent)(?P=fence)[ \t]*$", re.S | re.M)
_PATHISH = re.compile(r"[\w./-]+\.[A-Za-z0-9]{1,6}")
_BEFORE = re.compile(r"(?:^|\n)[ \t]*(?:[#/*>\-\s]*)?(?:\*\*|`)?(?:file(?:name)?|path)?\s*:?"
                     r"\s*(?:\*\*|`)?(?P<path>[\w./-]+\.[A-Za-z0-9]{1,6})(?:\*\*|`)?:?[ \t]*$",
                     re.I)
_FIRST_LINE = re.compile(r"^\s*(?:#|//|/\*|--)\s*(?:file(?:name)?\s*:\s*)?"
                         r"(?P<path>[\w./-]+\.[A-Za-z0-9]{1,6})\s*(?:\*/)?\s*$", re.I)
_LANG_BY_TAG = {**{k.lstrip("."): v for k, v in EXTENSIONS.items()}, **ALIASES,
                "python": "python", "javascript": "javascript", "typescript": "typescript",
                "jsx": "javascript", "tsx": "tsx", "bash": "bash", "shell": "bash",
                "json": "json", "go": "go", "rust": "rust", "java": "java"}


@dataclass
class CodeFile:
    """One file of generated code."""

    path: str
    code: str
    language: str | None
    truncated: bool = False
    repair: str | None = None
    # a change to an existing file: the SEARCH/REPLACE blocks applied, and the diff
    edits: list[dict[str, str]] | None = None
    diff: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The form used in ``result.files`` (repair notes and edits only when there are)."""
        out: dict[str, Any] = {"path": self.path, "language": self.language, "code": self.code}
        if self.truncated:
            out["truncated"] = True
        if self.repair:
            out["repair"] = self.repair
        if self.edits is not None:
            out["edits"] = self.edits
            out["diff"] = self.diff or ""
        return out


def _ext_for(language: str | None) -> str:
    for ext, lang in EXTENSIONS.items():
        if lang == language:
            return ext
    return ".txt"


_OPEN_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n"
                         r"(?P<body>.*)\Z", re.S | re.M)
_FENCE_LINE = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[^\n]*$")
_FILE_LINE = re.compile(r"^[ \t]*(?:#|//|--|;)?[ \t]*(?:\*\*)?(?:file(?:name)?|path)[ \t]*:"
                        r"[ \t]*(?:\*\*|`)?[\w./-]+\.[A-Za-z0-9]{1,6}(?:\*\*|`)?[ \t]*$", re.I)
# A model echoing the template tokens of its chat format ends up with them in the text.
_TEMPLATE_TOKEN = re.compile(r"<\|(?:im_end|im_start|endoftext|file_sep|fim_\w+|repo_name)\|>")


@dataclass
class _Block:
    info: str
    body: str
    start: int
    closed: bool


def _blocks(answer: str) -> list[_Block]:
    """Closed fenced blocks, then a last one left open when the answer was cut off."""
    blocks = [_Block(m.group("info"), m.group("body"), m.start(), True)
              for m in _FENCE.finditer(answer)]
    rest_from = 0
    if blocks:
        last = list(_FENCE.finditer(answer))[-1]
        rest_from = last.end()
    tail = _OPEN_FENCE.search(answer, rest_from)
    if tail is not None:
        blocks.append(_Block(tail.group("info"), tail.group("body"), tail.start(), False))
    return blocks


def clean_body(body: str) -> str:
    """Drop fence marker lines, a ``File:`` line opening the block, and template tokens.

    Only the first lines are searched for ``File:``: further down, ``path: a.py`` may be a
    line of YAML or INI the user asked for.
    """
    body = _TEMPLATE_TOKEN.sub("", body)
    lines = [ln for ln in body.split("\n") if not _FENCE_LINE.match(ln)]
    head = 0
    while head < len(lines) and head < 2 and (not lines[head].strip()
                                              or _FILE_LINE.match(lines[head])):
        head += 1
    dropped = [ln for ln in lines[:head] if ln.strip()]
    return "\n".join(lines[head:] if dropped else lines)


def extract_files(answer: str, *, language: str | None = None,
                  target_files: list[str] | None = None, cut_off: str | None = None,
                  ) -> list[CodeFile]:
    """Every code file in ``answer`` (later blocks for the same path win).

    ``cut_off`` says why the answer ended early ("length", "repetition"), when it did: a
    block still open then is repaired (:func:`repair`) and marked truncated.
    """
    files: dict[str, CodeFile] = {}
    targets = list(target_files or [])
    unnamed = 0
    answer = answer.replace("\r\n", "\n")
    for m in _blocks(answer):
        info = m.info.strip()
        body = m.body
        tag = re.split(r"[\s:{]", info, maxsplit=1)[0].lower() if info else ""
        lang = _LANG_BY_TAG.get(tag)
        path = _path_from_info(info)
        if path is None:
            before = answer[:m.start].rstrip("\n").rsplit("\n", 1)[-1]
            found = _BEFORE.search("\n" + before)
            path = found.group("path") if found else None
        if path is None:
            first, _, rest = body.partition("\n")
            found = _FIRST_LINE.match(first)
            if found:
                path = found.group("path")
                body = rest
        lang = lang or (EXTENSIONS.get("." + path.rsplit(".", 1)[-1].lower()) if path else None)
        lang = lang or language
        if path is None:
            path = next((t for t in targets if EXTENSIONS.get(
                "." + t.rsplit(".", 1)[-1].lower()) == lang and t not in files), None)
        if path is None:
            unnamed += 1
            suffix = "" if unnamed == 1 else f"_{unnamed}"
            path = f"generated{suffix}{_ext_for(lang)}"
        body = clean_body(body)
        if not body.strip():
            continue
        item = CodeFile(path, body.rstrip() + "\n", lang)
        if not m.closed:
            item = repair(item, cut_off or "unclosed block")
        files[path] = item
    if not files and answer.strip() and _looks_like_code(answer):
        path = targets[0] if targets else f"generated{_ext_for(language)}"
        item = CodeFile(path, clean_body(answer).strip() + "\n", language)
        files[path] = repair(item, cut_off) if cut_off else item
    return list(files.values())


def parses(code: str, language: str | None) -> bool | None:
    """Whether ``code`` parses; None when dmc has no parser for the language."""
    if language == "python":
        try:
            ast.parse(code)
        except (SyntaxError, ValueError):
            return False
        return True
    from dmc.languages import grammar

    lang = grammar(language) if language else None
    if lang is None:
        return None
    import tree_sitter

    return not tree_sitter.Parser(lang).parse(code.encode("utf-8")).root_node.has_error


def _drop_repeated_tail(lines: list[str]) -> list[str]:
    """Without the trailing run of a repeated line or block: what a loop left behind.

    Every copy goes, not all but one: a model that loops on an ``assert`` wrote a test of
    its own, often a wrong one, and one copy of it still breaks the module on import.
    """
    for period in range(1, 9):
        if len(lines) < period * 2:
            break
        unit = lines[-period:]
        if not any(ln.strip() for ln in unit):
            continue
        end = len(lines)
        while end - period >= 0 and lines[end - period:end] == unit:
            end -= period
        if (len(lines) - end) // period >= 3:
            return lines[:end]
    return lines


def _cut_to_parse(lines: list[str], language: str | None) -> tuple[list[str], bool | None]:
    """The longest prefix ending at a top-level statement that parses."""
    ok = parses("\n".join(lines) + "\n", language)
    if ok is None or ok:
        return lines, ok
    starts = [i for i, ln in enumerate(lines) if ln and not ln[0].isspace()
              and not ln.startswith((")", "]", "}"))]
    for i in reversed(starts):
        if i == 0:
            break
        if parses("\n".join(lines[:i]) + "\n", language):
            return lines[:i], True
    return lines, False


def repair(item: CodeFile, reason: str | None) -> CodeFile:
    """A file cut off mid-answer, cut back to what is complete.

    While the code does not parse, the last top-level statement is dropped; a repeated tail
    (the trace of a loop) is dropped whole. The result says what was dropped; when nothing
    complete is left (or the language has no parser) the file stays ``truncated``.
    """
    lines = item.code.rstrip("\n").split("\n")
    kept, ok = _cut_to_parse(lines, item.language)
    if ok is None:
        return CodeFile(item.path, item.code, item.language, True,
                        f"answer cut off ({reason}); no parser to repair {item.language}")
    before_repeats = len(kept)
    kept = _drop_repeated_tail(kept)
    dropped_repeats = before_repeats - len(kept)
    if dropped_repeats:
        kept, ok = _cut_to_parse(kept, item.language)
    dropped = len(lines) - len(kept)
    if not ok or not "\n".join(kept).strip():
        # still unusable, but without the loop's repeats: they would only be fed back
        shown = _drop_repeated_tail(lines)
        return CodeFile(item.path, "\n".join(shown or lines) + "\n", item.language, True,
                        f"answer cut off ({reason}); the code does not parse and nothing "
                        "complete could be kept")
    while kept and not kept[-1].strip():
        kept.pop()
    note = f"answer cut off ({reason})"
    if dropped:
        note += (f"; dropped the last {dropped} line(s)"
                 + (f", {dropped_repeats} of them repeats" if dropped_repeats else ""))
    return CodeFile(item.path, "\n".join(kept) + "\n", item.language, False, note)


def _path_from_info(info: str) -> str | None:
    for key in ("title=", "path=", "file=", "filename="):
        if key in info:
            value = info.split(key, 1)[1].strip().split()[0].strip("\"'")
            return value or None
    if ":" in info:
        candidate = info.split(":", 1)[1].strip()
        if _PATHISH.fullmatch(candidate):
            return candidate
    for word in info.split()[1:]:
        if _PATHISH.fullmatch(word.strip("\"'")):
            return word.strip("\"'")
    return None


def _looks_like_code(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return False
    codeish = sum(1 for ln in lines if re.search(r"[(){}\[\];=:]|^\s*(def|class|import|from|"
                                                 r"function|const|let|return)\b", ln))
    return codeish / len(lines) >= 0.5
