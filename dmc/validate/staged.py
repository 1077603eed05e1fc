"""``validate --staged``: check what the commit will contain, not the working tree.

A pre-commit hook must judge the index. The working tree can differ from it in every way
that matters: a fixed file whose broken version is staged, a hunk staged with ``git add -p``,
a staged file deleted from disk since. So the staged content of each added, copied,
modified or renamed file is read from the index (``git cat-file --batch``), written into a
private folder at its repository path, and checked there, together with the index versions
of what the checkers read besides the file: the project modules it imports (transitively,
see :mod:`dmc.validate.deps`), the package ``__init__`` files that give it its module name,
and the tool configuration files. Issues keep the paths the user knows (relative to the
current folder, as ``git diff --relative`` prints them).

``GIT_INDEX_FILE`` is honoured (git sets it for ``git commit -a`` and ``git commit PATH``),
since every git call inherits the environment.
"""

from __future__ import annotations

import posixpath
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from dmc.contract import DmcError, Exit
from dmc.validate.deps import Graph

#: Files besides sources that change what a checker reports, copied from the index when
#: present (at the top level and in the current folder).
CONFIG_FILES = ("pyproject.toml", "setup.cfg", "tox.ini", "mypy.ini", ".mypy.ini",
                "pylintrc", ".pylintrc", ".bandit", "package.json", "tsconfig.json",
                "eslint.config.js", "eslint.config.mjs", "eslint.config.cjs",
                "eslint.config.ts")

_SKIP_MODES = {"160000", "120000"}  # submodules and symbolic links have no content to lint


@dataclass
class StagedFile:
    """One staged file: the path the user knows, where it lives in the repository."""

    path: str
    repo_path: str
    blob: str
    renamed_from: str | None = None


@dataclass
class Snapshot:
    """The staged files written out under ``root``; ``cwd`` mirrors the user's folder."""

    root: Path
    cwd: Path
    files: list[StagedFile] = field(default_factory=list)
    written: int = 0
    #: unchanged files whose checks read a staged change (they import, directly or not, a
    #: changed, added or deleted module): the commit can break them without touching them
    dependents: list[StagedFile] = field(default_factory=list)

    def real(self, f: StagedFile) -> Path:
        """Where the staged content of ``f`` was written."""
        return self.root / f.repo_path


def _git(args: list[str], cwd: Path | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60,
                              check=False)
    except FileNotFoundError:
        raise DmcError("--staged needs git, which is not installed", Exit.UNAVAILABLE) from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise DmcError(f"git {args[0]} failed: {exc}", Exit.UNAVAILABLE) from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DmcError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}",
                       Exit.UNAVAILABLE)
    return proc.stdout


def repository(cwd: Path) -> tuple[Path, str]:
    """The work tree's top level and the current folder's path inside it ('' or 'a/b/')."""
    try:
        out = _git(["rev-parse", "--show-toplevel", "--show-prefix"], cwd)
    except DmcError as exc:
        if "not a git repository" in exc.message:
            raise DmcError("--staged needs a git repository (this folder is not in one)") \
                from None
        raise
    lines = out.decode("utf-8", "surrogateescape").split("\n")
    if len(lines) < 2 or not lines[0]:
        raise DmcError("--staged needs a git work tree (not a bare repository)")
    return Path(lines[0]), lines[1]


def staged_files(cwd: Path, prefix: str) -> list[StagedFile]:
    """Added, copied, modified and renamed files in the index, under the current folder."""
    raw = _git(["diff", "--cached", "--raw", "-z", "-M", "--diff-filter=ACMR", "--relative",
                "--no-ext-diff"], cwd)
    fields = raw.decode("utf-8", "surrogateescape").split("\x00")
    out: list[StagedFile] = []
    i = 0
    while i < len(fields) - 1:
        meta = fields[i]
        if not meta.startswith(":"):
            i += 1
            continue
        parts = meta[1:].split()
        new_mode, new_blob, status = parts[1], parts[3], parts[4]
        if status[:1] in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old, new = None, fields[i + 1]
            i += 2
        if new_mode in _SKIP_MODES:
            continue
        out.append(StagedFile(new, prefix + new, new_blob,
                              old if status.startswith("R") else None))
    return out


def changed_paths(cwd: Path) -> tuple[set[str], set[str]]:
    """Repository paths the commit adds or changes, and the paths it removes (deletions and
    the old names of renames), over the whole repository."""
    raw = _git(["diff", "--cached", "--raw", "-z", "-M", "--no-ext-diff"], cwd)
    fields = raw.decode("utf-8", "surrogateescape").split("\x00")
    changed: set[str] = set()
    removed: set[str] = set()
    i = 0
    while i < len(fields) - 1:
        meta = fields[i]
        if not meta.startswith(":"):
            i += 1
            continue
        status = meta[1:].split()[4]
        if status[:1] in ("R", "C"):
            if status[0] == "R":
                removed.add(fields[i + 1])
            changed.add(fields[i + 2])
            i += 3
            continue
        (removed if status[0] == "D" else changed).add(fields[i + 1])
        i += 2
    return changed, removed


def _module_names(path: str) -> set[str]:
    """Every dotted name a file may be imported as ('a/b/c.py': c, b.c, a.b.c)."""
    stem = path.rsplit(".", 1)[0]
    parts = [p for p in stem.split("/") if p]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return {".".join(parts[i:]) for i in range(len(parts))}


class _BlobReader:
    """One ``git cat-file --batch`` process answering blob reads, one at a time."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=cwd,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)

    def read(self, blob: str) -> bytes | None:
        stdin: IO[bytes] | None = self.proc.stdin
        stdout: IO[bytes] | None = self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(blob.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            return None
        data = stdout.read(int(header[2]))
        stdout.read(1)  # the newline after the content
        return data

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _index(cwd: Path) -> dict[str, str]:
    """Every stage-0 path in the index (relative to the top level) and its blob."""
    raw = _git(["ls-files", "-s", "-z", "--full-name"], cwd)
    out: dict[str, str] = {}
    for entry in raw.decode("utf-8", "surrogateescape").split("\x00"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, blob, stage = meta.split()
        if stage == "0" and mode not in _SKIP_MODES:
            out[path] = blob
    return out


class StagedSnapshot:
    """Context manager: the index content to check, in a private folder removed afterwards."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.tmp: str | None = None

    def __enter__(self) -> Snapshot:
        top, prefix = repository(self.cwd)
        files = staged_files(self.cwd, prefix)
        self.tmp = tempfile.mkdtemp(prefix="dmc-staged-")
        root = Path(self.tmp) / "index"
        snap = Snapshot(root, root / prefix if prefix else root, files)
        snap.cwd.mkdir(parents=True, exist_ok=True)
        index = _index(top)
        reader = _BlobReader(top)
        try:
            wanted: dict[str, str] = {f.repo_path: f.blob for f in files}
            blobs: dict[str, bytes | None] = {}

            def read(path: str) -> bytes | None:
                if path not in blobs:
                    blob = wanted.get(path) or index.get(path)
                    blobs[path] = reader.read(blob) if blob else None
                return blobs[path]

            python = [f.repo_path for f in files if f.repo_path.endswith((".py", ".pyi"))]
            graph = Graph(lambda p: p in index or p in wanted, read,
                          extra_roots=["", prefix.rstrip("/")])
            snap.dependents = self._dependents(top, prefix, files, index, graph)
            python += [d.repo_path for d in snap.dependents]
            for d in snap.dependents:
                wanted[d.repo_path] = d.blob
            if python:
                for path in python:
                    for dep in graph.closure(path):
                        wanted.setdefault(dep, index.get(dep, ""))
                for path in list(wanted):
                    for init in _package_inits(path, index):
                        wanted.setdefault(init, index.get(init, ""))
            for folder in dict.fromkeys(("", prefix)):
                for name in CONFIG_FILES:
                    if folder + name in index:
                        wanted.setdefault(folder + name, index[folder + name])
            for path in wanted:
                data = read(path)
                if data is None:
                    raise DmcError(f"cannot read the staged content of {path} from the git "
                                   "index", Exit.UNAVAILABLE)
                dest = root / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
                snap.written += 1
        except BaseException:
            self._remove()
            raise
        finally:
            reader.close()
        return snap

    @staticmethod
    def _dependents(top: Path, prefix: str, files: list[StagedFile], index: dict[str, str],
                    graph: Graph) -> list[StagedFile]:
        """Unchanged Python files in the index whose import closure meets a staged change.

        mypy and pylint judge a file by what it imports, so changing ``f``'s signature in
        b.py can break the unchanged a.py that calls it; a deleted module breaks its
        importers. Every Python file of the index is read once (its imports are parsed),
        only when the commit touches Python.
        """
        changed, removed = changed_paths(top)
        py = (".py", ".pyi")
        changed = {p for p in changed if p.endswith(py)}
        removed = {p for p in removed if p.endswith(py)}
        if not changed and not removed:
            return []
        gone = set().union(*(_module_names(p) for p in removed)) if removed else set()
        staged = {f.repo_path for f in files}
        out = []
        for path in sorted(p for p in index if p.endswith(py) and p not in staged):
            if not path.startswith(prefix):
                continue  # reported relative to the current folder, as git diff does
            closure = graph.closure(path)
            hit = bool(changed.intersection(closure)) or any(
                gone.intersection(graph.unresolved(node)) for node in (path, *closure))
            if hit:
                out.append(StagedFile(path[len(prefix):], path, index[path]))
        return out

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._remove()

    def _remove(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def _package_inits(path: str, index: dict[str, str]) -> list[str]:
    """The ``__init__`` files of every folder above ``path`` that the index holds."""
    out = []
    folder = posixpath.dirname(path)
    while folder:
        for name in ("__init__.py", "__init__.pyi"):
            candidate = posixpath.join(folder, name)
            if candidate in index:
                out.append(candidate)
        folder = posixpath.dirname(folder)
    return out
