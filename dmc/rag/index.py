"""Build and refresh the repository index, incrementally and safely.

Only files whose content changed are re-chunked and re-embedded (a size and mtime match
skips even the hashing; a content hash decides the rest), deleted files are removed, and an
unchanged repository costs one directory listing. Each file is committed on its own (after
its chunks are in the Chroma server, in server mode), so an interrupted run (Ctrl-C,
kill -9) leaves a usable index and the next run finishes the job; a flag left by the
interrupted run makes that next run also remove any chunk the server holds that the
manifest does not know. Locally the manifest is the whole index: no Chroma copy.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmc.contract import DmcError, Exit
from dmc.languages import EXTENSIONS
from dmc.rag.chunk import Chunk, chunk_file
from dmc.rag.files import discover, is_binary
from dmc.rag.store import ChromaStore, Manifest

Progress = Callable[[str, int, int], None]
EMBED_BATCH_CHUNKS = 256


@dataclass
class IndexSettings:
    """Where the index lives and what goes in it."""

    root: Path
    index_dir: Path
    chroma_url: str | None = None
    max_file_bytes: int = 1_000_000
    chunk_max_lines: int = 80

    @property
    def manifest_path(self) -> Path:
        return self.index_dir / "index.sqlite"

    @property
    def chroma_dir(self) -> Path:
        return self.index_dir / "chroma"


def supported_extensions() -> set[str]:
    """Source extensions with a grammar, plus docs."""
    from dmc.languages import grammar

    return {ext for ext, lang in EXTENSIONS.items() if grammar(lang) is not None}


def wipe(settings: IndexSettings) -> None:
    """Remove the local index (manifest and embedded Chroma folder)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(settings.manifest_path) + suffix).unlink(missing_ok=True)
    if settings.chroma_dir.exists():
        shutil.rmtree(settings.chroma_dir)


def build(settings: IndexSettings, *, rebuild: bool = False, progress: Progress | None = None,
          embedder: Any = None) -> dict[str, Any]:
    """Bring the index up to date; returns the summary."""
    from dmc.rag import embed as embed_mod

    start = time.perf_counter()
    if rebuild:
        wipe(settings)
    manifest = Manifest(settings.manifest_path, create=True)
    try:
        # Chroma only for a shared server: on the laptop the manifest is the whole index
        # (the exact search over its vectors beats HNSW there; docs/SERVICE.md has the
        # figures), and the copy an older dmc kept in .dmc/chroma goes
        chroma: _LazyChroma | _NoChroma = _LazyChroma(settings) if settings.chroma_url \
            else _NoChroma()
        legacy = not settings.chroma_url and settings.chroma_dir.is_dir()
        if legacy:
            shutil.rmtree(settings.chroma_dir, ignore_errors=True)
        if rebuild and isinstance(chroma, _LazyChroma):
            chroma.get().reset()
        model_id = f"{embed_mod.MODEL_NAME}:{embed_mod.onnx_path().name}"
        stored_model = manifest.get_meta("model")
        if stored_model not in (None, model_id):
            raise DmcError(f"the index was built with {stored_model}, not {model_id}",
                           Exit.UNAVAILABLE, hint="rebuild it: dmc index --rebuild")
        interrupted = manifest.get_meta("in_progress") == "1"
        manifest.set_meta("in_progress", "1")
        manifest.set_meta("model", model_id)
        try:
            summary = _refresh(settings, manifest, chroma, progress, embedder)
        except (sqlite3.OperationalError, OSError) as exc:
            # disk full, quota, read-only folder: what was committed stays usable
            raise DmcError(f"cannot write the index in {settings.index_dir}: {exc}",
                           Exit.UNAVAILABLE, hint="free some disk space, then run `dmc "
                           "index` again; it continues where this run stopped") from None
        if isinstance(chroma, _LazyChroma) and (interrupted or rebuild):
            stray = chroma.get().ids() - manifest.all_chunk_ids()
            chroma.get().delete(stray)
            summary["recovered"] = {"stray_chunks_removed": len(stray)}
        elif interrupted:  # the manifest commits file by file: nothing stray to remove
            summary["recovered"] = {"stray_chunks_removed": 0}
        if legacy:
            summary["removed_unused_chroma_copy"] = str(settings.chroma_dir)
        manifest.set_meta("in_progress", "0")
        manifest.set_meta("root", str(settings.root))
        summary.update(manifest.stats())
        summary["store"] = (f"chroma server {settings.chroma_url}" if settings.chroma_url
                            else f"sqlite {settings.manifest_path}")
        summary["seconds"] = round(time.perf_counter() - start, 3)
        return summary
    finally:
        manifest.close()


class _NoChroma:
    """Local mode: nothing beside the manifest to keep in step."""

    def delete(self, ids: Any) -> None:
        pass

    def upsert(self, chunks: list[Chunk], vectors: Any) -> None:
        pass


class _LazyChroma:
    """Opens Chroma only when something must be written: importing chromadb costs most of
    a no-change run."""

    def __init__(self, settings: IndexSettings) -> None:
        self.settings = settings
        self.store: ChromaStore | None = None

    def get(self) -> ChromaStore:
        if self.store is None:
            self.store = ChromaStore(self.settings.chroma_dir, self.settings.chroma_url)
        return self.store

    def delete(self, ids: Any) -> None:
        ids = list(ids)
        if ids:
            self.get().delete(ids)

    def upsert(self, chunks: list[Chunk], vectors: Any) -> None:
        self.get().upsert(chunks, vectors)


def _refresh(settings: IndexSettings, manifest: Manifest, chroma: Any,
             progress: Progress | None, embedder: Any) -> dict[str, Any]:
    files = discover(settings.root, max_bytes=settings.max_file_bytes,
                     supported=supported_extensions())
    known = manifest.files()
    present = {f.path for f in files}
    removed = sorted(set(known) - present)
    for path in removed:
        chroma.delete(manifest.chunk_ids(path))
        manifest.remove_file(path)
    todo: list[tuple[Any, str, str, list[Chunk]]] = []
    unchanged = added = updated = skipped = 0
    for f in files:
        old = known.get(f.path)
        if old is not None and old[1] == f.size and old[2] == f.mtime_ns:
            unchanged += 1
            continue
        try:
            data = (settings.root / f.path).read_bytes()
        except OSError:
            skipped += 1
            continue
        if is_binary(data):
            skipped += 1
            continue
        sha = hashlib.sha256(data).hexdigest()
        if old is not None and old[0] == sha:
            manifest.touch_file(f.path, f.size, f.mtime_ns)
            unchanged += 1
            continue
        text = data.decode("utf-8", "replace")
        language = EXTENSIONS.get(Path(f.path).suffix.lower())
        chunks = chunk_file(f.path, text, language, settings.chunk_max_lines)
        todo.append((f, sha, "updated" if old is not None else "added", chunks))
    total_chunks = sum(len(c) for *_, c in todo)
    done_chunks = 0
    embedded = 0
    if todo and embedder is None:
        from dmc.rag.embed import load

        embedder = load()
    batch: list[tuple[Any, str, str, list[Chunk]]] = []
    for item in todo:
        batch.append(item)
        if sum(len(c) for *_, c in batch) >= EMBED_BATCH_CHUNKS:
            embedded += _write_batch(batch, manifest, chroma, embedder)
            done_chunks += sum(len(c) for *_, c in batch)
            batch = []
            if progress:
                progress("embedding", done_chunks, total_chunks)
    if batch:
        embedded += _write_batch(batch, manifest, chroma, embedder)
        done_chunks += sum(len(c) for *_, c in batch)
        if progress:
            progress("embedding", done_chunks, total_chunks)
    upgraded = _fill_heads(manifest, embedder, progress)
    for _, _, how, _ in todo:
        if how == "added":
            added += 1
        else:
            updated += 1
    return {"files_seen": len(files), "added": added, "updated": updated,
            "removed": len(removed), "unchanged": unchanged, "skipped": skipped,
            "embedded_chunks": embedded, **({"upgraded_chunks": upgraded} if upgraded else {})}


def _fill_heads(manifest: Manifest, embedder: Any, progress: Progress | None) -> int:
    """Name vectors for chunks that lack them (an index upgraded from schema 1): short
    texts, so this costs seconds where re-embedding the code would cost minutes."""
    missing = manifest.missing_heads()
    if not missing:
        return 0
    if embedder is None:
        from dmc.rag.embed import load

        embedder = load()
    for start in range(0, len(missing), 1024):
        part = missing[start:start + 1024]
        vectors = embedder.embed([c.head_text() for _, c in part])
        manifest.set_heads([(rowid, v) for (rowid, _), v in zip(part, vectors, strict=True)])
        if progress:
            progress("upgrading", start + len(part), len(missing))
    return len(missing)


def _write_batch(batch: list[tuple[Any, str, str, list[Chunk]]], manifest: Manifest,
                 chroma: Any, embedder: Any) -> int:
    chunks = [c for *_, cs in batch for c in cs]
    # one call for both texts: the length-sorted batching packs the short name texts together
    both = embedder.embed([c.embed_text() for c in chunks] + [c.head_text() for c in chunks]) \
        if chunks else []
    vectors, heads = both[:len(chunks)], both[len(chunks):]
    offset = 0
    for f, sha, _, file_chunks in batch:
        vecs = vectors[offset:offset + len(file_chunks)]
        hvecs = heads[offset:offset + len(file_chunks)]
        offset += len(file_chunks)
        old_ids = set(manifest.chunk_ids(f.path))
        new_ids = {c.id for c in file_chunks}
        if file_chunks:
            chroma.upsert(file_chunks, vecs)
        chroma.delete(old_ids - new_ids)
        manifest.replace_file(f.path, sha, f.size, f.mtime_ns, file_chunks, vecs, hvecs)
    return len(chunks)


def stale(settings: IndexSettings) -> dict[str, int]:
    """How far the files on disk have moved from the index (no hashing, no embedding)."""
    manifest = Manifest(settings.manifest_path, create=False)
    try:
        known = manifest.files()
        if manifest.get_meta("in_progress") == "1":
            return {"changed": 0, "added": 0, "removed": 0, "interrupted": 1}
    finally:
        manifest.close()
    files = discover(settings.root, max_bytes=settings.max_file_bytes,
                     supported=supported_extensions())
    present = {f.path: f for f in files}
    changed = sum(1 for p, f in present.items() if p in known and
                  (known[p][1], known[p][2]) != (f.size, f.mtime_ns))
    return {"changed": changed, "added": sum(1 for p in present if p not in known),
            "removed": sum(1 for p in known if p not in present), "interrupted": 0}
