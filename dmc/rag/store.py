"""The index on disk: a SQLite manifest, and a Chroma server beside it when one is set.

The manifest (``.dmc/index.sqlite``) records each file's content hash and chunk ids, which
is what makes re-indexing incremental, and keeps every chunk with its two vectors (the
chunk's and its name's, see ``Chunk.head_text``), an FTS5 full-text index with Porter
stemming ("parses" finds ``parse``), and a second one over the chunks' names alone
(``Chunk.name_text``). A query needs SQLite, numpy and onnxruntime, not
chromadb (whose import alone costs about 0.85 s), so ``dmc retrieve`` stays well under a
second, and the dense search over the stored vectors is exact. A Chroma server
(``--chroma-url``, ``rag.chroma_url``) also holds the chunks and their embeddings, for a
team sharing one index; it then answers the chunk-vector search. Embeddings are always
passed explicitly, so Chroma never reaches for a model download. ``ChromaStore`` can still
open a local folder (the benchmarks compare its HNSW search with the exact one), but
``dmc index`` no longer keeps a local copy: docs/SERVICE.md has the figures.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dmc.contract import DmcError, Exit
from dmc.rag.chunk import Chunk
from dmc.repo import mark_state_dir

SCHEMA_VERSION = 3
COLLECTION = "dmc_chunks"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, path TEXT NOT NULL,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, symbol TEXT, kind TEXT,
    language TEXT, context TEXT, text TEXT NOT NULL, vec BLOB NOT NULL, hvec BLOB);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(body, tokenize='porter unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS names_fts USING fts5(name, tokenize='porter unicode61');
"""
_FTS_V2 = "CREATE VIRTUAL TABLE chunks_fts USING fts5(body, tokenize='porter unicode61')"


class Manifest:
    """The SQLite side of the index."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        if not create and not path.is_file():
            raise DmcError(f"no index at {path.parent}", Exit.UNAVAILABLE,
                           hint="build it with `dmc index` (or pass --refresh)")
        try:
            mark_state_dir(path.parent)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            version = self.get_meta("schema")
            if version is None:
                self.set_meta("schema", str(SCHEMA_VERSION))
            elif version == "1" and create:
                self._upgrade_from_1()
                self._upgrade_from_2()
            elif version == "2":
                self._upgrade_from_2()  # cheap (no embedding): done by any command
            elif version == "1":
                raise DmcError(f"the index at {path.parent} was built by an older dmc",
                               Exit.UNAVAILABLE, hint="run `dmc index` (or pass --refresh): "
                               "it upgrades the index in place without re-embedding the code")
            elif version != str(SCHEMA_VERSION):
                raise DmcError(f"index at {path.parent} has schema {version}; this dmc "
                               f"writes {SCHEMA_VERSION}", Exit.UNAVAILABLE,
                               hint="rebuild it: dmc index --rebuild")
        except sqlite3.DatabaseError as exc:
            raise DmcError(f"the index at {path.parent} is damaged ({exc})", Exit.UNAVAILABLE,
                           hint="rebuild it: dmc index --rebuild") from None

    def _upgrade_from_1(self) -> None:
        """Schema 1 -> 2: a column for the name vectors (filled by the next build, see
        ``missing_heads``) and the full-text index re-tokenised with stemming. One
        transaction: an interrupted upgrade leaves schema 1 as it was."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("ALTER TABLE chunks ADD COLUMN hvec BLOB")
            self.db.execute("DROP TABLE chunks_fts")
            self.db.execute(_FTS_V2)
            for rowid, chunk in self.chunks_where("1"):
                self.db.execute("INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)",
                                (rowid, chunk.embed_text()))
            self.set_meta("schema", "2")
            self.set_meta("heads_missing", "1")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _upgrade_from_2(self) -> None:
        """Schema 2 -> 3: the names' full-text index (``Chunk.name_text``), filled from the
        chunks already stored: text only, so any command may do it, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM names_fts")
            for rowid, chunk in self.chunks_where("1"):
                self.db.execute("INSERT INTO names_fts (rowid, name) VALUES (?, ?)",
                                (rowid, chunk.name_text()))
            self.set_meta("schema", str(SCHEMA_VERSION))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def chunks_where(self, where: str) -> list[tuple[int, Chunk]]:
        """(rowid, chunk) for the rows a *constant* SQL condition selects (never user text)."""
        query = ("SELECT rowid, path, start_line, end_line, text, symbol, kind, "  # noqa: S608
                 f"language, context FROM chunks WHERE {where}")  # constant conditions only
        rows = self.db.execute(query).fetchall()
        return [(r[0], Chunk(r[1], r[2], r[3], r[4], r[5] or "", r[6] or "", r[7] or "",
                             r[8] or "")) for r in rows]

    def missing_heads(self) -> list[tuple[int, Chunk]]:
        """Chunks without a name vector: those of an index upgraded from schema 1 (a flag
        saves the no-change run from scanning the table)."""
        if self.get_meta("heads_missing") != "1":
            return []
        return self.chunks_where("hvec IS NULL")

    def set_heads(self, rows: list[tuple[int, Any]]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("UPDATE chunks SET hvec = ? WHERE rowid = ?",
                                [(v.astype("float32").tobytes(), r) for r, v in rows])
            if self.db.execute("SELECT 1 FROM chunks WHERE hvec IS NULL LIMIT 1").fetchone() \
                    is None:
                self.set_meta("heads_missing", "0")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def files(self) -> dict[str, tuple[str, int, int]]:
        """path -> (sha, size, mtime_ns)."""
        return {p: (s, z, m) for p, s, z, m in
                self.db.execute("SELECT path, sha, size, mtime_ns FROM files")}

    def chunk_ids(self, path: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE path = ?", (path,))]

    def all_chunk_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM chunks")}

    def replace_file(self, path: str, sha: str, size: int, mtime_ns: int,
                     chunks: list[Chunk], vectors: Any, head_vectors: Any) -> None:
        """Swap a file's chunks in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_chunks(path)
            for chunk, vec, hvec in zip(chunks, vectors, head_vectors, strict=True):
                cur = self.db.execute(
                    "INSERT OR REPLACE INTO chunks (id, path, start_line, end_line, symbol, "
                    "kind, language, context, text, vec, hvec) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (chunk.id, chunk.path, chunk.start_line, chunk.end_line, chunk.symbol,
                     chunk.kind, chunk.language, chunk.context, chunk.text,
                     vec.astype("float32").tobytes(), hvec.astype("float32").tobytes()))
                self.db.execute("INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)",
                                (cur.lastrowid, chunk.embed_text()))
                self.db.execute("INSERT INTO names_fts (rowid, name) VALUES (?, ?)",
                                (cur.lastrowid, chunk.name_text()))
            self.db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)",
                            (path, sha, size, mtime_ns, len(chunks), time.time()))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def touch_file(self, path: str, size: int, mtime_ns: int) -> None:
        """Same content, new timestamp: remember it so the next run skips hashing."""
        self.db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                        (size, mtime_ns, path))

    def remove_file(self, path: str) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_chunks(path)
            self.db.execute("DELETE FROM files WHERE path = ?", (path,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _delete_chunks(self, path: str) -> None:
        rows = [r[0] for r in self.db.execute("SELECT rowid FROM chunks WHERE path = ?",
                                              (path,))]
        for start in range(0, len(rows), 500):
            part = rows[start:start + 500]
            marks = ",".join("?" * len(part))
            self.db.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", part)  # noqa: S608
            self.db.execute(f"DELETE FROM names_fts WHERE rowid IN ({marks})", part)  # noqa: S608
            self.db.execute(f"DELETE FROM chunks WHERE rowid IN ({marks})", part)  # noqa: S608

    def stats(self) -> dict[str, Any]:
        files, chunks = self.db.execute(
            "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM chunks)").fetchone()
        langs = dict(self.db.execute(
            "SELECT coalesce(language, ''), count(*) FROM chunks GROUP BY 1 ORDER BY 2 DESC"))
        last = self.db.execute("SELECT max(indexed_at) FROM files").fetchone()[0]
        return {"files": files, "chunks": chunks, "languages": langs,
                "last_indexed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last))
                if last else None}

    def close(self) -> None:
        self.db.close()


class ChromaStore:
    """The Chroma side: a persistent folder or a server."""

    def __init__(self, folder: Path, url: str | None) -> None:
        try:
            import chromadb
        except ImportError:
            raise DmcError("chromadb is not installed", Exit.UNAVAILABLE,
                           hint="pip install 'dmc[rag]'") from None
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=True)
        try:
            if url:
                from urllib.parse import urlparse

                parsed = urlparse(url)
                self.client = chromadb.HttpClient(host=parsed.hostname or "127.0.0.1",
                                                  port=parsed.port or 8000,
                                                  ssl=parsed.scheme == "https",
                                                  settings=settings)
                self.client.heartbeat()
                self.where = url
            else:
                self.client = chromadb.PersistentClient(path=str(folder), settings=settings)
                self.where = str(folder)
            self.collection = self.client.get_or_create_collection(
                COLLECTION, metadata={"hnsw:space": "cosine"}, embedding_function=None)
        except DmcError:
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds; all mean this
            what = f"Chroma server {url}" if url else f"Chroma store {folder}"
            raise DmcError(f"{what} is not usable ({type(exc).__name__}: "
                           f"{str(exc)[:200]})", Exit.UNAVAILABLE,
                           hint="start it with `chroma run --path DIR`" if url else
                           "rebuild it: dmc index --rebuild") from None

    def _failed(self, action: str, exc: Exception) -> DmcError:
        return DmcError(f"Chroma could not {action} ({type(exc).__name__}: "
                        f"{str(exc)[:200]})", Exit.UNAVAILABLE,
                        hint="check free disk space and the Chroma server, then run "
                             "`dmc index` again; it continues where it stopped")

    def upsert(self, chunks: list[Chunk], vectors: Any) -> None:
        try:
            self._upsert(chunks, vectors)
        except Exception as exc:  # noqa: BLE001 - chromadb's errors have no common base
            raise self._failed("store chunks", exc) from None

    def _upsert(self, chunks: list[Chunk], vectors: Any) -> None:
        for start in range(0, len(chunks), 1000):
            part = chunks[start:start + 1000]
            self.collection.upsert(
                ids=[c.id for c in part],
                embeddings=[v.tolist() for v in vectors[start:start + 1000]],
                documents=[c.text for c in part],
                metadatas=[{"path": c.path, "start_line": c.start_line, "end_line": c.end_line,
                            "symbol": c.symbol, "kind": c.kind, "language": c.language}
                           for c in part])

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        try:
            for start in range(0, len(ids), 1000):
                self.collection.delete(ids=ids[start:start + 1000])
        except Exception as exc:  # noqa: BLE001 - chromadb's errors have no common base
            raise self._failed("delete chunks", exc) from None

    def ids(self) -> set[str]:
        try:
            return set(self.collection.get(include=[])["ids"])
        except Exception as exc:  # noqa: BLE001
            raise self._failed("list chunks", exc) from None

    def query(self, vector: Any, k: int) -> list[tuple[str, float]]:
        try:
            res = self.collection.query(query_embeddings=[vector.tolist()], n_results=k,
                                        include=["distances"])
        except Exception as exc:  # noqa: BLE001
            raise self._failed("answer the query", exc) from None
        distances = res.get("distances") or [[]]
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], distances[0], strict=True)]

    def count(self) -> int:
        return int(self.collection.count())

    def reset(self) -> None:
        try:
            self.client.delete_collection(COLLECTION)
        except Exception:  # noqa: BLE001, S110 - nothing to delete
            pass
        self.collection = self.client.get_or_create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine"}, embedding_function=None)
