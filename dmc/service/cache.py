"""The context cache: a request's laptop half (intent to payload) kept for a while.

Keyed by the request text, the index version, the style profile's version and every
setting, so a changed index or setting is simply another key; entries expire after
``preprocessing.cache_ttl`` seconds, and the cache holds at most ``max_entries`` (least
recently used out first), so a long session cannot grow it without bound.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


def file_version(*paths: Path | None) -> str:
    """Size and modification time of each file: changes whenever the file is written,
    costs a stat."""
    parts = []
    for path in paths:
        if path is None:
            continue
        try:
            st = path.stat()
            parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{path.name}:-")
    return ";".join(parts)


def index_version(manifest_path: Path | None) -> str:
    """What the index holds, in one string: its files, chunks and the time of the last
    write, read from the manifest (a stat of the SQLite file would miss writes still in
    its WAL, and see reads that only touch the WAL)."""
    import sqlite3

    if manifest_path is None or not manifest_path.is_file():
        return "none"
    try:
        db = sqlite3.connect(f"file:{manifest_path}?mode=ro", uri=True, timeout=5)
        try:
            files, chunks, last = db.execute(
                "SELECT count(*), coalesce(sum(chunks), 0), coalesce(max(indexed_at), 0) "
                "FROM files").fetchone()
            flag = db.execute("SELECT value FROM meta WHERE key = 'in_progress'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"unreadable:{exc}"
    return f"{files}:{chunks}:{last!r}:{flag[0] if flag else ''}"


def cache_key(text: str, index_version: str, settings: dict[str, Any], extra: str = "") -> str:
    """The key of one request's prepared context."""
    blob = orjson.dumps({"text": text, "index": index_version, "settings": settings,
                         "extra": extra}, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(blob).hexdigest()


@dataclass
class Entry:
    """One prepared request: the document after optimize and the events that made it."""

    doc: dict[str, Any]
    events: list[dict[str, Any]]
    stored: float


class ContextCache:
    """A TTL + LRU map, safe across threads."""

    def __init__(self, ttl: float, max_entries: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None or self.clock() - entry.stored > self.ttl:
                if entry is not None:
                    del self._items[key]
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: str, doc: dict[str, Any], events: list[dict[str, Any]]) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._items[key] = Entry(doc, events, self.clock())
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"entries": len(self._items), "hits": self.hits, "misses": self.misses,
                    "ttl_s": self.ttl}
