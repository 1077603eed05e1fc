"""Dependency detection: find dependency files in a repository and read package names.

Reads only the files' declarations (never runs setup.py or a build tool). The walk is
bounded (depth and file count) so a huge monorepo cannot stall a pipeline stage.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from dmc.extract.catalog import DEPENDENCY_FILES

SKIP_DIRS = frozenset({
    ".git", "node_modules", ".venv", "venv", "env", "__pycache__", "dist", "build", "target",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".dmc", "vendor", "third_party",
    "site-packages", ".idea", ".vscode",
})
MAX_DEPTH = 2
MAX_FILES = 50
MAX_BYTES = 512 * 1024
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_SETUP_LIST = re.compile(r"install_requires\s*=\s*\[(.*?)\]", re.S)
_QUOTED = re.compile(r"['\"]([A-Za-z0-9][A-Za-z0-9._-]*)")
_GO_REQ = re.compile(r"^\s*(?:require\s+)?([a-z0-9.\-]+\.[a-z]+/[^\s]+)\s+v", re.M)


def find_dependency_files(root: Path) -> list[Path]:
    """Dependency files at the root and up to two folders down, skipping vendored trees."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        if depth >= MAX_DEPTH:
            dirs[:] = []
        for name in sorted(files):
            if name in DEPENDENCY_FILES or re.fullmatch(r"requirements[-\w]*\.txt", name):
                found.append(Path(folder) / name)
                if len(found) >= MAX_FILES:
                    return found
    return found


def read_dependencies(path: Path) -> list[str]:
    """Package names a dependency file declares; empty when it cannot be read."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return []
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    name = path.name
    try:
        if name == "package.json" or name == "composer.json":
            data = json.loads(text)
            keys = ("dependencies", "devDependencies", "peerDependencies", "require",
                    "require-dev")
            return sorted({dep for k in keys if isinstance(data.get(k), dict)
                           for dep in data[k]})
        if name == "pyproject.toml":
            return _pyproject(text)
        if name == "Cargo.toml":
            return _cargo(text)
        if name == "go.mod":
            return sorted(set(_GO_REQ.findall(text)))
        if name == "setup.py":
            match = _SETUP_LIST.search(text)
            return sorted({m.lower() for m in _QUOTED.findall(match.group(1))}) if match else []
        if name.endswith(".txt") or name == "Pipfile":
            return _requirement_lines(text)
    except (ValueError, TypeError, AttributeError):
        return []
    return []


def _requirement_lines(text: str) -> list[str]:
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith(("-", "[")) or "=" in line.split(" ")[0][:1]:
            continue
        match = _REQ_NAME.match(line)
        if match:
            names.add(match.group(1).lower())
    return sorted(names)


def _pyproject(text: str) -> list[str]:
    import tomllib

    data = tomllib.loads(text)
    project: dict[str, Any] = data.get("project", {})
    specs: list[str] = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    poetry = data.get("tool", {}).get("poetry", {})
    specs.extend(k for k in poetry.get("dependencies", {}) if k != "python")
    names = set()
    for spec in specs:
        match = _REQ_NAME.match(str(spec))
        if match:
            names.add(match.group(1).lower())
    return sorted(names)


def _cargo(text: str) -> list[str]:
    import tomllib

    data = tomllib.loads(text)
    names: set[str] = set()
    for key in ("dependencies", "dev-dependencies", "build-dependencies"):
        names.update(data.get(key, {}))
    names.update(data.get("workspace", {}).get("dependencies", {}))
    return sorted(names)
