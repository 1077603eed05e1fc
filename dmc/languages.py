"""Which language a file is, and tree-sitter grammars for the ones installed.

Grammars come from the per-language wheels (``tree-sitter-python``, ...); the all-in-one
language pack downloads grammars at run time and fails offline, so it is not used. A grammar
that is not installed simply means that language gets no syntax check (and says so).
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from typing import Any

#: extension -> language
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".mts": "typescript",
    ".cts": "typescript", ".tsx": "tsx", ".sh": "bash", ".bash": "bash", ".go": "go",
    ".rs": "rust", ".java": "java", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
    ".hpp": "cpp", ".rb": "ruby", ".json": "json", ".css": "css", ".html": "html",
}
#: language -> (module, function returning the language pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "bash": ("tree_sitter_bash", "language"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "json": ("tree_sitter_json", "language"),
    "css": ("tree_sitter_css", "language"),
    "html": ("tree_sitter_html", "language"),
}
#: names people pass to --language, mapped to ours
ALIASES: dict[str, str] = {"py": "python", "python3": "python", "js": "javascript",
                           "node": "javascript", "ts": "typescript", "sh": "bash",
                           "shell": "bash", "golang": "go", "c++": "cpp"}
_SHEBANG = {"python": "python", "node": "javascript", "bash": "bash", "sh": "bash",
            "deno": "typescript", "ts-node": "typescript"}


def normalise(language: str) -> str:
    """Canonical language name for user input (``py`` -> ``python``)."""
    lang = language.strip().lower()
    return ALIASES.get(lang, lang)


def detect(path: str, text: str | None = None) -> str | None:
    """Language from the extension, else from a shebang line; None when unknown."""
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    if text and text.startswith("#!"):
        first = text.split("\n", 1)[0]
        words = first[2:].replace("/usr/bin/env", " ").split()
        if words:
            prog = os.path.basename(words[0])
            for name, lang in _SHEBANG.items():
                if prog == name or prog.startswith(name) and prog[len(name):].replace(".",
                                                                                       "").isdigit():
                    return lang
    return None


@cache
def grammar(language: str) -> Any | None:
    """The tree-sitter ``Language`` for a language, or None when its wheel is missing."""
    spec = GRAMMARS.get(language)
    if spec is None:
        return None
    try:
        import tree_sitter

        module = importlib.import_module(spec[0])
        return tree_sitter.Language(getattr(module, spec[1])())
    except (ImportError, AttributeError, ValueError):
        return None


def grammar_version(language: str) -> str | None:
    """Version of the grammar wheel (part of the cache key)."""
    spec = GRAMMARS.get(language)
    if spec is None:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(spec[0].replace("_", "-"))
    except PackageNotFoundError:
        return None


def installed() -> list[str]:
    """Languages with a grammar installed."""
    return [lang for lang in GRAMMARS if grammar(lang) is not None]
