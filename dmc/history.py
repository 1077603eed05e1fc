"""Sessions, runs and their events, per project, in SQLite (``.dmc/history.sqlite``).

One store for everything that remembers requests: ``dmc run`` records each request and its
code there (``--continue`` builds on the last one), and the laptop service keeps its
sessions there, each run with every event it emitted, so a run can be watched again or
picked up after a client disconnects. The older ``.dmc/history.jsonl`` (one line per
``dmc run``) is folded in the first time the store opens, then left in place untouched.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from dmc.contract import DmcError, Exit

FILE = "history.sqlite"
LEGACY = "history.jsonl"
CLI_SESSION = "cli"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, created REAL NOT NULL, title TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, created REAL NOT NULL,
    finished REAL, text TEXT NOT NULL, status TEXT NOT NULL, files TEXT,
    document BLOB, error TEXT);
CREATE INDEX IF NOT EXISTS runs_session ON runs(session_id, created);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, n INTEGER NOT NULL, event BLOB NOT NULL,
    PRIMARY KEY (run_id, n));
"""


def path_for(repo: Path, state_dir: str = ".dmc") -> Path:
    """Where a project's history lives."""
    return repo / state_dir / FILE


class History:
    """The store; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        from dmc.repo import mark_state_dir

        self.path = path
        self.lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            mark_state_dir(path.parent)
            self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            self._fold_in_legacy()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise DmcError(f"cannot open the history {path}: {exc}", Exit.UNAVAILABLE,
                           hint="remove it to start a new history") from None

    def close(self) -> None:
        self.db.close()

    def _fold_in_legacy(self) -> None:
        legacy = self.path.with_name(LEGACY)
        done = self.db.execute("SELECT value FROM meta WHERE key = 'legacy_imported'"
                               ).fetchone()
        if done or not legacy.is_file():
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._session(CLI_SESSION, "dmc run")
            for n, line in enumerate(legacy.read_bytes().splitlines()):
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a torn last line: the old reader skipped it too
                when = _parse_ts(entry.get("ts"))
                self.db.execute(
                    "INSERT OR IGNORE INTO runs (id, session_id, created, finished, text, "
                    "status, files) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (f"legacy-{n}", CLI_SESSION, when + n * 1e-6, when,
                     str(entry.get("text", "")), str(entry.get("status", "")),
                     orjson.dumps(entry.get("files") or []).decode()))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('legacy_imported', ?)",
                            (str(time.time()),))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _session(self, session_id: str, title: str = "") -> None:
        self.db.execute("INSERT OR IGNORE INTO sessions VALUES (?, ?, ?)",
                        (session_id, time.time(), title))

    # --- sessions and runs -------------------------------------------------------------

    def new_session(self, title: str = "") -> str:
        session_id = uuid.uuid4().hex[:16]
        with self.lock:
            self._session(session_id, title[:200])
        return session_id

    def has_session(self, session_id: str) -> bool:
        with self.lock:
            return self.db.execute("SELECT 1 FROM sessions WHERE id = ?",
                                   (session_id,)).fetchone() is not None

    def sessions(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT s.id, s.created, s.title, count(r.id) FROM sessions s LEFT JOIN runs r "
                "ON r.session_id = s.id GROUP BY s.id ORDER BY s.created DESC LIMIT ?",
                (limit,)).fetchall()
        return [{"id": i, "created": c, "title": t, "runs": n} for i, c, t, n in rows]

    def start_run(self, session_id: str, text: str, run_id: str | None = None) -> str:
        run_id = run_id or uuid.uuid4().hex[:16]
        with self.lock:
            self._session(session_id)
            self.db.execute("INSERT INTO runs (id, session_id, created, text, status) "
                            "VALUES (?, ?, ?, ?, 'running')",
                            (run_id, session_id, time.time(), text))
        return run_id

    def add_event(self, run_id: str, n: int, event: dict[str, Any]) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO events VALUES (?, ?, ?)",
                            (run_id, n, orjson.dumps(event)))

    def finish_run(self, run_id: str, status: str, doc: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        files = (doc or {}).get("result", {}).get("files")
        with self.lock:
            self.db.execute(
                "UPDATE runs SET finished = ?, status = ?, files = ?, document = ?, error = ? "
                "WHERE id = ?", (time.time(), status,
                                 orjson.dumps(files).decode() if files is not None else None,
                                 orjson.dumps(doc) if doc is not None else None, error,
                                 run_id))

    def record(self, text: str, status: str, files: list[dict[str, Any]],
               session_id: str = CLI_SESSION) -> str:
        """One finished request in one call (what ``dmc run`` remembers)."""
        run_id = uuid.uuid4().hex[:16]
        now = time.time()
        with self.lock:
            self._session(session_id, "dmc run" if session_id == CLI_SESSION else "")
            self.db.execute("INSERT INTO runs (id, session_id, created, finished, text, "
                            "status, files) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (run_id, session_id, now, now, text, status,
                             orjson.dumps(files).decode()))
        return run_id

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.db.execute(
                "SELECT id, session_id, created, finished, text, status, files, error, "
                "(SELECT count(*) FROM events WHERE run_id = runs.id) FROM runs WHERE id = ?",
                (run_id,)).fetchone()
        return _run_row(row) if row else None

    def runs(self, session_id: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, session_id, created, finished, text, status, files, error, "
                "(SELECT count(*) FROM events WHERE run_id = runs.id) FROM runs "
                "WHERE session_id = ? ORDER BY created", (session_id,)).fetchall()
        return [_run_row(r) for r in rows]

    def search_runs(self, query: str = "", limit: int = 50,
                    before: float | None = None) -> list[dict[str, Any]]:
        """Runs of every session, newest first, whose request contains ``query`` (any case;
        words in any order); ``before`` pages back (a run's ``created``)."""
        words = [w for w in query.lower().split() if w][:8]
        where = " AND ".join(["lower(text) LIKE ? ESCAPE '\\'"] * len(words)) or "1"
        args: list[Any] = ["%" + w.replace("\\", "\\\\").replace("%", "\\%")
                           .replace("_", "\\_") + "%" for w in words]
        if before is not None:
            where += " AND created < ?"
            args.append(before)
        # only fixed clauses are joined into the text; every value is a parameter
        query = ("SELECT id, session_id, created, finished, text, status, files, error, "  # noqa: S608
                 "(SELECT count(*) FROM events WHERE run_id = runs.id) FROM runs WHERE "
                 + where + " ORDER BY created DESC LIMIT ?")
        with self.lock:
            rows = self.db.execute(query, (*args, max(1, min(limit, 500)))).fetchall()
        return [_run_row(r) for r in rows]

    def document(self, run_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.db.execute("SELECT document FROM runs WHERE id = ?",
                                  (run_id,)).fetchone()
        return orjson.loads(row[0]) if row and row[0] is not None else None

    def events(self, run_id: str, after: int = -1) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT event FROM events WHERE run_id = ? AND n > ? "
                                   "ORDER BY n", (run_id, after)).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def last_with_code(self, session_id: str | None = None) -> dict[str, Any] | None:
        """The latest request that produced code (in a session, or in the project):
        what ``--continue`` builds on."""
        query = ("SELECT id, session_id, created, finished, text, status, files, error, 0 "
                 "FROM runs WHERE files IS NOT NULL AND (? IS NULL OR session_id = ?) "
                 "ORDER BY created DESC LIMIT 1")
        with self.lock:
            row = self.db.execute(query, (session_id, session_id)).fetchone()
        return _run_row(row) if row else None


def _run_row(row: tuple[Any, ...]) -> dict[str, Any]:
    run_id, session_id, created, finished, text, status, files, error, events = row
    return {"id": run_id, "session_id": session_id, "created": created, "finished": finished,
            "text": text, "status": status,
            "files": orjson.loads(files) if files else [], "error": error, "events": events}


def _parse_ts(value: Any) -> float:
    import calendar

    try:
        return float(calendar.timegm(time.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return 0.0


def continue_from(doc: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """The request built on a previous one: its code at the top of the context ranking,
    the previous request named in the text."""
    chunks = [{"path": f["path"], "start_line": 1, "end_line": f["code"].count("\n") + 1,
               "text": f["code"], "score": 3.0, "language": f.get("language") or "",
               "symbol": "previous answer"} for f in last.get("files", [])]
    out = dict(doc)
    out["input"] = {**doc["input"], "text": f"{doc['input']['text']} (following up on: "
                    f"{last['text']})", "previous": last["text"]}
    out["context"] = {"chunks": chunks}
    return out
