"""Which files of a repository get indexed.

Inside git, ``git ls-files`` gives tracked and untracked-but-not-ignored files, so
``.gitignore`` (all of its rules, nested files included) is honoured exactly as git does.
A ``.dmcignore`` at the root adds gitignore-style patterns of dmc's own. Vendored and
generated folders, lock files, minified bundles, binaries and files over the size limit are
skipped.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({
    ".git", "node_modules", ".venv", "venv", "env", "__pycache__", "dist", "build", "target",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".dmc", "vendor",
    "third_party", "site-packages", ".idea", ".vscode", "coverage", ".next", ".cache",
})
SKIP_SUFFIXES = (".min.js", ".min.css", ".map", ".lock", "-lock.json", "_pb2.py", ".pyc",
                 ".so", ".dll", ".dylib", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".pdf",
                 ".zip", ".gz", ".tar", ".whl", ".gguf", ".bin", ".onnx", ".sqlite", ".db")
SKIP_NAMES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock",
                        "Cargo.lock", "uv.lock", "Pipfile.lock", "go.sum"})
TEXT_EXTENSIONS = frozenset({".md", ".markdown", ".rst", ".txt"})


@dataclass(frozen=True)
class RepoFile:
    """A file to index, relative to the root."""

    path: str
    size: int
    mtime_ns: int


def _ignore_patterns(root: Path) -> list[str]:
    path = root / ".dmcignore"
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def _ignored(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pat in patterns:
        p = pat.rstrip("/")
        if pat.startswith("/"):
            if fnmatch.fnmatch(rel, p[1:]) or rel.startswith(p[1:] + "/"):
                return True
        elif fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) or \
                f"/{p}/" in f"/{rel}" or rel.startswith(p + "/"):
            return True
    return False


def _candidates(root: Path) -> list[str]:
    if (root / ".git").exists():
        try:
            proc = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached",
                                   "--others", "--exclude-standard"], capture_output=True,
                                  timeout=60, check=True)
            return sorted({p for p in proc.stdout.decode("utf-8", "replace").split("\x00") if p})
        except (OSError, subprocess.SubprocessError):
            pass
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        rel_folder = Path(folder).relative_to(root).as_posix()
        for name in files:
            out.append(name if rel_folder == "." else f"{rel_folder}/{name}")
    return sorted(out)


def discover(root: Path, *, max_bytes: int, supported: set[str]) -> list[RepoFile]:
    """Files to index under ``root``: known languages and docs, not ignored, not too big."""
    patterns = _ignore_patterns(root)
    found = []
    for rel in _candidates(root):
        parts = rel.split("/")
        name = parts[-1]
        if any(p in SKIP_DIRS for p in parts[:-1]) or name in SKIP_NAMES or \
                name.endswith(SKIP_SUFFIXES) or _ignored(rel, patterns):
            continue
        ext = os.path.splitext(name)[1].lower()
        if ext not in supported and ext not in TEXT_EXTENSIONS:
            continue
        path = root / rel
        try:
            st = path.lstat()
        except OSError:
            continue
        if not path.is_file() or path.is_symlink() or st.st_size > max_bytes or st.st_size == 0:
            continue
        found.append(RepoFile(rel, st.st_size, st.st_mtime_ns))
    return found


def is_binary(data: bytes) -> bool:
    """NUL bytes in the first 8 KiB: not text."""
    return b"\x00" in data[:8192]
