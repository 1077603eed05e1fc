"""Which project files a Python file's checks read besides the file itself.

mypy and pylint do not judge a file alone: ``f(1)`` in ``a.py`` is right or wrong depending
on ``f`` in ``b.py``. A cached result for ``a.py`` is therefore only valid while every
project module it imports, directly or through other project modules, is unchanged. This
module finds those modules the way the checkers do (an import names a module; the module is
a ``.py``/``.pyi`` file or a package ``__init__`` under one of the search roots), without
running either tool, so that the cache key can include their contents.

It over-approximates on purpose: every ``import`` anywhere in the file counts (inside
functions, under ``TYPE_CHECKING``, in ``try``), and ``from p import x`` counts both ``p``
and a submodule ``p.x`` if one exists. A needless cache miss costs time; a missed
dependency would let a broken file pass.

The same resolver serves ``--staged``, where the files live in the git index rather than on
disk: it takes ``exists`` and ``read`` functions instead of touching the file system itself.
"""

from __future__ import annotations

import ast
import hashlib
import posixpath
from collections.abc import Callable, Iterable

Exists = Callable[[str], bool]
Read = Callable[[str], bytes | None]

_SUFFIXES = (".py", ".pyi")


def imported_modules(source: bytes, package: str | None, is_package: bool) -> set[str]:
    """Absolute names of every module the source may import (parents included).

    ``package`` is the dotted package the file belongs to (None for a top-level module),
    used to resolve relative imports. A file that does not parse imports nothing here: the
    syntax check reports it and no other tool looks at it.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package, is_package)
            if base is None:
                continue
            if base:
                names.add(base)
            for alias in node.names:
                if alias.name != "*":
                    names.add(f"{base}.{alias.name}" if base else alias.name)
    out: set[str] = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return out


def _absolute(module: str | None, level: int, package: str | None,
              is_package: bool) -> str | None:
    if level == 0:
        return module or None
    if package is None and not is_package:
        return None  # a relative import outside a package fails at run time anyway
    parts = (package or "").split(".") if package else []
    if level > 1:
        if level - 1 > len(parts):
            return None
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    if module:
        return f"{base}.{module}" if base else module
    return base


def package_of(path: str, exists: Exists) -> tuple[str, str | None, bool]:
    """(search root, dotted package, is a package ``__init__``) for a project file.

    As mypy does: walk up while the folder holds an ``__init__.py``; the first folder
    without one is the root the file's module name is relative to.
    """
    folder = posixpath.dirname(path)
    name = posixpath.basename(path)
    is_pkg = name in ("__init__.py", "__init__.pyi")
    parts: list[str] = []
    while folder and posixpath.dirname(folder) != folder and (
            exists(posixpath.join(folder, "__init__.py"))
            or exists(posixpath.join(folder, "__init__.pyi"))):
        parts.insert(0, posixpath.basename(folder))
        folder = posixpath.dirname(folder)
    package = ".".join(parts) or None
    return folder, package, is_pkg


def resolve(module: str, roots: Iterable[str], exists: Exists) -> list[str]:
    """The project files that may define ``module`` (stub and source both count)."""
    rel = module.replace(".", "/")
    found = []
    for root in roots:
        base = posixpath.join(root, rel) if root else rel
        for suffix in _SUFFIXES:
            for candidate in (base + suffix, posixpath.join(base, "__init__" + suffix)):
                if exists(candidate):
                    found.append(posixpath.normpath(candidate))
    return found


class Graph:
    """Project-import closure of Python files, over any file source.

    ``extra_roots`` are searched for every file besides its own root (the working folder,
    as the checkers add it). Paths are POSIX strings relative to whatever ``exists`` and
    ``read`` understand (a folder on disk, or the git index).
    """

    def __init__(self, exists: Exists, read: Read, extra_roots: Iterable[str] = ("",),
                 known_imports: Callable[[str], list[str] | None] = lambda key: None,
                 label: Callable[[str], str] = lambda p: p) -> None:
        self._exists = exists
        self._seen: dict[str, bool] = {}
        self.read = read
        self.extra_roots = list(dict.fromkeys(extra_roots))
        self.label = label  # the stable name a path has in the digest (not a temp folder)
        self._direct: dict[str, list[str]] = {}
        self._unresolved: dict[str, list[str]] = {}
        self._content: dict[str, bytes | None] = {}
        # digest of a file's bytes + its package -> the module names it imports (looked up
        # in the result cache, so a warm run parses nothing; new answers are collected)
        self.known_imports = known_imports
        self.new_imports: dict[str, list[str]] = {}

    def exists(self, path: str) -> bool:
        """Whether the file exists (asked once per path: resolving probes many)."""
        found = self._seen.get(path)
        if found is None:
            found = self._seen[path] = self._exists(path)
        return found

    def content(self, path: str) -> bytes | None:
        """The file's bytes (read once)."""
        if path not in self._content:
            self._content[path] = self.read(path)
        return self._content[path]

    def direct(self, path: str) -> list[str]:
        """Project files the file imports directly."""
        if path in self._direct:
            return self._direct[path]
        data = self.content(path)
        deps: list[str] = []
        if data is not None:
            root, package, is_pkg = package_of(path, self.exists)
            memo = hashlib.sha256(data + f"\x00{package}\x00{is_pkg}".encode()).hexdigest()
            modules = self.known_imports(memo)
            if modules is None:
                modules = sorted(imported_modules(data, package, is_pkg))
                self.new_imports[memo] = modules
            roots = [root, *self.extra_roots]
            missing = []
            for module in modules:
                files = resolve(module, roots, self.exists)
                if files:
                    deps.extend(files)
                else:
                    missing.append(module)
            # a module that is not in the project today (stdlib, installed, or not yet
            # written) is part of the key too: creating it later must invalidate the result
            self._unresolved[path] = missing
        self._direct[path] = sorted(set(deps) - {path})
        return self._direct[path]

    def unresolved(self, path: str) -> list[str]:
        """Modules the file imports that are not project files (stdlib, installed, gone)."""
        self.direct(path)
        return self._unresolved.get(path, [])

    def closure(self, path: str) -> list[str]:
        """Every project file reachable through imports from ``path`` (itself excluded)."""
        seen: set[str] = set()
        stack = [path]
        while stack:
            for dep in self.direct(stack.pop()):
                if dep not in seen and dep != path:
                    seen.add(dep)
                    stack.append(dep)
        return sorted(seen)

    def digest(self, path: str) -> str:
        """One hash over the names and contents of everything ``path`` imports."""
        h = hashlib.sha256()
        deps = self.closure(path)
        for dep in deps:
            data = self.content(dep)
            h.update(self.label(dep).encode("utf-8", "surrogatepass") + b"\x00")
            h.update(hashlib.sha256(data).digest() if data is not None else b"missing")
        for node in (path, *deps):
            h.update(b"\x01" + "\x00".join(self._unresolved.get(node, ())).encode())
        return h.hexdigest()
