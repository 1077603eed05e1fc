"""Result cache: issues per (tool, tool version, settings, path, file content, what else
the tool read).

An unchanged file costs a hash and a look-up, so a pre-commit hook re-run on the same tree
runs no tool at all. "Unchanged" covers everything the tool's answer depends on: for mypy
and pylint that includes every project module the file imports, transitively (see
:mod:`dmc.validate.deps`), the installed packages and the project's tool configuration; the
runner folds those into the key. A cache may make the gate faster, never different.

Stored in SQLite (WAL, so parallel hooks and editors can share it); it is only a cache, so a
damaged file is thrown away and rebuilt rather than reported. A second table remembers the
module names each file content imports, so a warm run parses nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import orjson

from dmc.validate.issues import Issue

MAX_ROWS = 50_000


def mark_state_parent(path: Path) -> None:
    """Give the ``.dmc`` folder ``path`` lies in (if any) its ``.gitignore``.

    The cache, mypy's cache and ESLint's generated config are machine state inside the
    project: without the ignore file they would show in ``git status`` and could be
    committed by ``git add -A``.
    """
    from dmc.repo import mark_state_dir

    for folder in (path, *path.parents):
        if folder.name == ".dmc":
            mark_state_dir(folder)
            return


def key(tool: str, version: str, settings: str, path: str, digest: str) -> str:
    """The cache key of one file's result for one tool."""
    raw = "\x00".join((tool, version, settings, path, digest))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class ResultCache:
    """A small key -> issues store; every method degrades to a miss on error."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.warning: str | None = None
        if path is not None:
            self._open(path)

    def _open(self, path: Path) -> None:
        mark_state_parent(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = self._connect(path)
        except sqlite3.DatabaseError:
            # a damaged cache: remove it and start over; nothing of value is lost
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            try:
                self.db = self._connect(path)
                self.warning = f"validate cache {path} was damaged and has been rebuilt"
            except sqlite3.DatabaseError as exc:
                self.db = None
                self.warning = f"validate cache disabled: {exc}"
        except OSError as exc:
            self.db = None
            self.warning = f"validate cache disabled: {exc}"

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), timeout=5, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, issues BLOB "
                   "NOT NULL, used REAL NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS imports (key TEXT PRIMARY KEY, modules BLOB "
                   "NOT NULL)")
        db.execute("SELECT count(*) FROM results").fetchone()
        return db

    def get_imports(self, key: str) -> list[str] | None:
        """The module names a file content imports, if remembered."""
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT modules FROM imports WHERE key = ?", (key,)).fetchone()
            return list(orjson.loads(row[0])) if row else None
        except (sqlite3.DatabaseError, orjson.JSONDecodeError, TypeError):
            return None

    def put_imports(self, items: dict[str, list[str]]) -> None:
        """Remember parsed imports; the table is bounded like the results."""
        if self.db is None or not items:
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO imports VALUES (?, ?)",
                                [(k, orjson.dumps(v)) for k, v in items.items()])
            (n,) = self.db.execute("SELECT count(*) FROM imports").fetchone()
            if n > MAX_ROWS:
                self.db.execute("DELETE FROM imports")  # rebuilt by parsing on the next run
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    def get_many(self, keys: list[str]) -> dict[str, list[Issue]]:
        """Cached issues for the keys that are present."""
        if self.db is None or not keys:
            return {}
        found: dict[str, list[Issue]] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for k, blob in self.db.execute(
                        f"SELECT key, issues FROM results WHERE key IN ({marks})",  # noqa: S608
                        chunk):
                    found[k] = [Issue.from_dict(d) for d in orjson.loads(blob)]
        except (sqlite3.DatabaseError, orjson.JSONDecodeError, TypeError):
            return {}
        return found

    def put_many(self, items: dict[str, list[Issue]]) -> None:
        """Store results; older rows beyond :data:`MAX_ROWS` are evicted."""
        if self.db is None or not items:
            return
        now = time.time()
        rows = [(k, orjson.dumps([i.to_dict() for i in v]), now) for k, v in items.items()]
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?)", rows)
            (n,) = self.db.execute("SELECT count(*) FROM results").fetchone()
            if n > MAX_ROWS:
                self.db.execute("DELETE FROM results WHERE key IN (SELECT key FROM results "
                                "ORDER BY used LIMIT ?)", (n - MAX_ROWS,))
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    def close(self) -> None:
        """Close the database."""
        if self.db is not None:
            self.db.close()
            self.db = None
