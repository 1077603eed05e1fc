"""Pull code files out of a model's answer.

Models format answers in many ways; accepted, in order of precedence, for each fenced block:
a path in the info string (```python app/main.py```, ```js title="a.js"```, ```py:a.py```),
a ``File: path`` / ``**path**`` / ``# path`` line just before the fence, or a first line
inside the block that is a comment naming the file. Blocks without a path get the request's
target file when the language fits, else ``generated.<ext>``. An answer with no fences is
taken whole when it looks like code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dmc.validate.languages import ALIASES, EXTENSIONS

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

    def to_dict(self) -> dict[str, str | None]:
        """The form used in ``result.files``."""
        return {"path": self.path, "language": self.language, "code": self.code}


def _ext_for(language: str | None) -> str:
    for ext, lang in EXTENSIONS.items():
        if lang == language:
            return ext
    return ".txt"


def extract_files(answer: str, *, language: str | None = None,
                  target_files: list[str] | None = None) -> list[CodeFile]:
    """Every code file in ``answer`` (later blocks for the same path win)."""
    files: dict[str, CodeFile] = {}
    targets = list(target_files or [])
    unnamed = 0
    for m in _FENCE.finditer(answer):
        info = m.group("info").strip()
        body = m.group("body")
        tag = re.split(r"[\s:{]", info, maxsplit=1)[0].lower() if info else ""
        lang = _LANG_BY_TAG.get(tag)
        path = _path_from_info(info)
        if path is None:
            before = answer[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
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
        if not body.strip():
            continue
        files[path] = CodeFile(path, body.rstrip() + "\n", lang)
    if not files and answer.strip() and _looks_like_code(answer):
        path = targets[0] if targets else f"generated{_ext_for(language)}"
        files[path] = CodeFile(path, answer.strip() + "\n", language)
    return list(files.values())


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
