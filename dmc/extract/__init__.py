"""Stage ``extract``: the concrete things a request names, checked against the repository.

Frameworks, libraries, services and tools (from the request and from the repository's
dependency files), languages, requirements, constraints, the files and symbols the request
mentions (resolved inside the repository, never outside it), and the dependency files found.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from dmc.contract import Document, request_text
from dmc.extract.catalog import (
    CONSTRAINTS,
    EXTENSION_LANGUAGE,
    LANGUAGES,
    PACKAGES,
    REQUIREMENTS,
)
from dmc.extract.deps import SKIP_DIRS, find_dependency_files, read_dependencies
from dmc.repo import resolve_inside

_KIND_KEY = {"framework": "frameworks", "library": "libraries", "service": "services",
             "tool": "tools"}
#: Aliases that are ordinary English words: only counted when written as a name
#: (capitalised, or in backticks).
_AMBIGUOUS = frozenset({"go", "c", "click", "spring", "requests", "gin", "rails", "node",
                        "express", "koa", "next", "push", "sh", "ts", "gem", "flutter",
                        "spark", "commander", "passport", "store", "save", "page", "session",
                        "screen", "form", "role", "roles", "option", "flag", "health",
                        "handle", "error", "errors", "log", "logs", "ms"})
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#._-]*[A-Za-z0-9+#]|[A-Za-z0-9#]")
_EXTS = "|".join(sorted({e.lstrip(".") for e in EXTENSION_LANGUAGE}
                        | {"json", "yaml", "yml", "toml", "md", "rst", "txt", "cfg", "ini",
                           "html", "css", "scss", "vue", "svelte", "lock", "env", "xml"},
                        key=len, reverse=True))
_FILE = re.compile(
    r"(?<![\w@/:.])((?:\.{1,2}/|/)?(?:[\w.-]+/)*[\w-][\w.-]*\.(?:" + _EXTS + r")"
    r"|(?:\.{1,2}/|/)?(?:[\w.-]+/)+[\w.-]+|Dockerfile|Makefile|\.env|\.gitignore)(?![\w/])"
)
_BACKTICK = re.compile(r"`([^`\n]{1,120})`")
_SYMBOL = re.compile(r"\b([a-z]+(?:_[a-z0-9]+)+|[a-z]+[A-Z][A-Za-z0-9]*|"
                     r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)\b")
MAX_CANDIDATE_SCAN = 20_000


def extract(text: str, repo: Path | None) -> dict[str, Any]:
    """The ``extraction`` object for one request and (optionally) its repository."""
    words_orig = _WORD.findall(text)
    words = {w.lower().rstrip(".") for w in words_orig}
    named = {w.lower() for w in words_orig if w[:1].isupper()}
    named |= {m.lower() for m in _BACKTICK.findall(text)}
    lowered = " " + " ".join(text.lower().split()) + " "
    out: dict[str, Any] = {k: [] for k in _KIND_KEY.values()}
    languages: dict[str, str] = {}
    for name, (kind, language, aliases, _pkgs) in PACKAGES.items():
        if any(_mentions(a, words, named, lowered) for a in aliases):
            out[_KIND_KEY[kind]].append(name)
            if language:
                languages.setdefault(language, f"implied by {name}")
    for language, aliases in LANGUAGES.items():
        if any(_mentions(a, words, named, lowered) for a in aliases):
            languages[language] = "mentioned"
    out["requirements"] = sorted(r for r, cues in REQUIREMENTS.items()
                                 if any(_mentions(c, words, named, lowered) for c in cues))
    out["constraints"] = sorted(c for c, cues in CONSTRAINTS.items()
                                if any(_mentions(q, words, named, lowered) for q in cues))
    files = _mentioned_files(text)
    for f in files:
        lang = EXTENSION_LANGUAGE.get(os.path.splitext(f)[1].lower())
        if lang:
            languages.setdefault(lang, f"file {f}")
    file_names = {os.path.basename(f) for f in files}
    out["mentioned_symbols"] = sorted(
        {s for s in _BACKTICK.findall(text) + _SYMBOL.findall(text)
         if s not in files and s not in file_names and "/" not in s}
    )[:30]
    out["languages"] = sorted(languages)
    out["language_evidence"] = languages
    if repo is not None:
        out["repo"] = str(repo)
        checked = [_check_file(repo, f) for f in files]
        # "and/or", "read/write": slash pairs that are not in the repo are words, not paths
        out["mentioned_files"] = [c for c in checked if c["exists"] or c.get("outside_repo")
                                  or not _is_word_pair(c["path"])]
        dep_info = _dependencies(repo)
        out.update(dep_info)
    else:
        out["mentioned_files"] = [{"path": f, "exists": None} for f in files]
        out["dependency_files"] = []
    return out


def analyze(doc: Document, *, repo: Path | None) -> tuple[Document, list[str]]:
    """Add ``extraction`` to ``doc``; returns the document and notes for the user."""
    text = request_text(doc)
    notes: list[str] = []
    if repo is None:
        notes.append("no repository found (not inside git, no --repo): files not checked")
    extraction = extract(text, repo)
    missing = [f["path"] for f in extraction["mentioned_files"] if f.get("exists") is False]
    if missing:
        notes.append("mentioned but not in the repository: " + ", ".join(missing[:5]))
    out = dict(doc)
    out["extraction"] = extraction
    if repo is not None:
        out["input"] = {**doc.get("input", {}), "repo": str(repo)}
    return out, notes


def _mentions(cue: str, words: set[str], named: set[str], lowered: str) -> bool:
    cue = cue.lower()
    if " " in cue or "'" in cue:
        return f" {cue} " in lowered or f" {cue}," in lowered or f" {cue}." in lowered
    if cue in _AMBIGUOUS:
        return cue in named
    return cue in words


def _mentioned_files(text: str) -> list[str]:
    seen: list[str] = []
    for raw in _FILE.findall(text):
        path = raw.rstrip("`'\".,;:()").lstrip("`'\"(")
        if path.startswith("./"):
            path = path[2:]
        if path and path not in seen and "://" not in path and not path.startswith("e.g"):
            seen.append(path)
    return seen[:50]


def _is_word_pair(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 2 and all(p.isalpha() and p.islower() for p in parts)


def _check_file(root: Path, path: str) -> dict[str, Any]:
    real = resolve_inside(root, path)
    if real is None:
        return {"path": path, "exists": False, "outside_repo": True}
    if not real.exists() and not os.path.isabs(path):
        # people name files relative to where they stand, which may be below the root
        here = resolve_inside(root, os.path.join(os.getcwd(), path))
        if here is not None and here.exists():
            real = here
    rel = real.relative_to(Path(os.path.realpath(root))).as_posix() or "."
    entry: dict[str, Any] = {"path": rel, "exists": real.exists()}
    if not entry["exists"]:
        candidates = _find_by_name(root, os.path.basename(path))
        if candidates:
            entry["candidates"] = candidates
    return entry


def _find_by_name(root: Path, name: str) -> list[str]:
    """Files called ``name`` anywhere in the repository (bounded walk)."""
    hits: list[str] = []
    scanned = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        scanned += len(files)
        if name in files:
            hits.append((Path(folder) / name).relative_to(root).as_posix())
        if scanned > MAX_CANDIDATE_SCAN or len(hits) >= 5:
            break
    return hits


def _dependencies(root: Path) -> dict[str, Any]:
    dep_files = []
    declared: set[str] = set()
    for path in find_dependency_files(root):
        names = read_dependencies(path)
        declared.update(n.lower() for n in names)
        dep_files.append({"path": path.relative_to(root).as_posix(),
                          "ecosystem": _ecosystem(path.name), "packages": len(names)})
    repo_found: dict[str, list[str]] = {}
    for name, (kind, _lang, _aliases, pkgs) in PACKAGES.items():
        if any(p.lower() in declared for p in pkgs):
            repo_found.setdefault("repo_" + _KIND_KEY[kind], []).append(name)
    return {"dependency_files": dep_files, **repo_found}


def _ecosystem(name: str) -> str:
    from dmc.extract.catalog import DEPENDENCY_FILES

    return DEPENDENCY_FILES.get(name, "pypi" if name.endswith(".txt") else "unknown")
