"""Hybrid retrieval: two dense rankings and two BM25 rankings, fused by reciprocal rank.

Dense: the query's MiniLM embedding against every chunk's vector (one matrix product over
the manifest's copy; the Chroma server in server mode), and against every chunk's name
vector (``Chunk.head_text``: path, symbol and signature). Lexical: SQLite FTS5's BM25, with
Porter stemming, over the chunks' text, and over their names alone (``Chunk.name_text``:
symbol and enclosing class split into words, so a short name that says what the request
says is not drowned by a long body's identifiers). The four rankings are fused by weighted
reciprocal rank fusion (k=5; chunk vector 1, BM25 0.75, names' BM25 0.5, name vector 0.25).
Chunks in files the request names get the weight of one more first place; chunks defining a
symbol it names get that weight divided by how many chunks define it (``get`` defined forty
times says little). Overlapping chunks of a file are deduplicated, and each further chunk
from a file already in the answer counts its score times 0.8 per chunk taken (at most four a
file), so the top k spans more files without pushing out a clearly better second chunk.
Dense-only matches below the similarity threshold are dropped. Every chunk says why it was
chosen.

Every constant was chosen on the development packages of bench/bench_rag.py (toolz,
boltons, werkzeug, markdown, packaging, urllib3; all 1,088 docstring queries) by a
coordinate search that maximised symbol-hit@5 while file-recall@5 stayed at or above its
level before (0.885); the test packages (attrs, click, more-itertools, requests, jinja2,
pluggy) were scored once afterwards. docs/RETRIEVAL.md has the figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dmc.rag.store import ChromaStore, Manifest

RRF_K = 5
LEXICAL_WEIGHT = 0.75
NAME_LEXICAL_WEIGHT = 0.5
HEAD_WEIGHT = 0.25
SAME_FILE_DECAY = 0.8
MAX_PER_FILE = 4
CANDIDATES = 100
_WORD = re.compile(r"[A-Za-z][a-z0-9]+|[A-Z]+(?![a-z])|[a-z0-9]{2,}")
_STOP = frozenset("""a an and are as at be by do does for from how i in is it of on or our
the this that to we what where which who why with when you your can should into about
there their them then than these those code function file files find show me please""".split())


@dataclass
class Query:
    """What to look for."""

    text: str
    k: int = 8
    threshold: float = 0.2
    mentioned_files: tuple[str, ...] = ()
    mentioned_symbols: tuple[str, ...] = ()


def lexical_terms(text: str) -> list[str]:
    """Words for the BM25 query: identifiers split, lower-cased, stop words out."""
    words = [w.lower() for w in _WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if w not in _STOP and len(w) > 1))


def query_from(doc: dict[str, Any], text: str, k: int, threshold: float) -> Query:
    """The query for a pipe document: its text, and the files and symbols its
    ``extraction`` names (files only where they exist in the repository)."""
    ex = doc.get("extraction") or {}
    files = tuple(f["path"] for f in ex.get("mentioned_files", [])
                  if isinstance(f, dict) and f.get("exists") and isinstance(f.get("path"), str))
    symbols = tuple(s for s in ex.get("mentioned_symbols", []) if isinstance(s, str))
    return Query(text, k=k, threshold=threshold, mentioned_files=files,
                 mentioned_symbols=symbols)


#: index path -> (index version, rowids, {column: matrix}) while vectors are kept in memory
_KEPT: dict[str, tuple[tuple[Any, ...], Any, dict[str, Any]]] = {}
_KEEP = {"on": False}


def keep_vectors_in_memory(on: bool = True) -> None:
    """Keep each index's vectors in memory between queries, reloaded when the index
    changes: for a long-lived process (``dmc serve``), where reading them from SQLite
    would be most of a warm query's time. A short-lived command reads them per query."""
    _KEEP["on"] = on
    if not on:
        _KEPT.clear()


def vectors(manifest: Manifest, columns: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    """(rowids, {column: matrix}) for the columns asked for; a column with a missing
    vector (name vectors not filled in yet: an upgrade halted) is left out."""
    import numpy as np

    version: tuple[Any, ...] = ()
    if _KEEP["on"]:
        version = tuple(manifest.db.execute(
            "SELECT count(*), coalesce(sum(chunks), 0), coalesce(max(indexed_at), 0), "
            "(SELECT value FROM meta WHERE key = 'in_progress') FROM files").fetchone())
        kept = _KEPT.get(str(manifest.path))
        if kept is not None and kept[0] == version:
            return kept[1], {c: kept[2][c] for c in columns if c in kept[2]}
        columns = ("vec", "hvec")  # load both once; later queries pick what they need
    rows = manifest.db.execute(
        f"SELECT rowid, {', '.join(columns)} FROM chunks").fetchall()  # noqa: S608
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    mats: dict[str, Any] = {}
    for n, column in enumerate(columns, start=1):
        present = [r[n] for r in rows if r[n] is not None]
        if rows and len(present) == len(rows):
            mats[column] = np.frombuffer(b"".join(present), dtype=np.float32).reshape(
                len(rows), -1)
    if _KEEP["on"]:
        _KEPT[str(manifest.path)] = (version, ids, mats)
    return ids, mats


def dense_rankings(manifest: Manifest, vector: Any, limit: int,
                   columns: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """(rowid, cosine) best first for each vector column asked for: ``vec`` (the chunks)
    and/or ``hvec`` (their names). Only those columns are read (unless vectors are kept
    in memory, see :func:`keep_vectors_in_memory`)."""
    import numpy as np

    assert set(columns) <= {"vec", "hvec"}
    if not columns:
        return {}
    ids, mats = vectors(manifest, columns)
    if not len(ids):
        return {}
    query = vector.astype(np.float32)
    out: dict[str, list[tuple[int, float]]] = {}
    for column in columns:
        if column not in mats:
            continue
        sims = mats[column] @ query
        top = np.argsort(-sims)[:limit]
        out[column] = [(int(ids[i]), float(sims[i])) for i in top]
    return out


def lexical_ranking(manifest: Manifest, terms: list[str], limit: int) -> list[tuple[int, float]]:
    """(rowid, bm25) best first; FTS5's bm25() is lower-is-better, so it is negated."""
    if not terms:
        return []
    match = " OR ".join(f'"{t}"' for t in terms)
    rows = manifest.db.execute(
        "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
        "ORDER BY bm25(chunks_fts) LIMIT ?", (match, limit)).fetchall()
    return [(int(r), -float(s)) for r, s in rows]


def name_lexical_ranking(manifest: Manifest, terms: list[str],
                         limit: int) -> list[tuple[int, float]]:
    """(rowid, bm25) best first over the chunks' names alone (symbol and enclosing class,
    split into words): a request says what a function is for, and its name often says
    the same in a few words that the body's many identifiers drown in the chunk's BM25."""
    if not terms:
        return []
    match = " OR ".join(f'"{t}"' for t in terms)
    rows = manifest.db.execute(
        "SELECT rowid, bm25(names_fts) FROM names_fts WHERE names_fts MATCH ? "
        "ORDER BY bm25(names_fts) LIMIT ?", (match, limit)).fetchall()
    return [(int(r), -float(s)) for r, s in rows]


def search(manifest: Manifest, query: Query, vector: Any,
           chroma: ChromaStore | None = None, mode: str = "hybrid") -> list[dict[str, Any]]:
    """Chunks for a query, best first (``mode``: hybrid, dense or lexical)."""
    dense: list[tuple[int, float]] = []
    heads: list[tuple[int, float]] = []
    if mode in ("hybrid", "dense"):
        # the chunk vectors are searched by the Chroma server in server mode; the name
        # vectors, which only the manifest holds, only for hybrid
        columns = (() if chroma is not None else ("vec",)) + \
            (("hvec",) if mode == "hybrid" else ())
        found = dense_rankings(manifest, vector, CANDIDATES, columns)
        dense, heads = found.get("vec", []), found.get("hvec", [])
        if chroma is not None:
            by_id = dict(manifest.db.execute("SELECT id, rowid FROM chunks"))
            dense = [(by_id[i], s) for i, s in chroma.query(vector, CANDIDATES) if i in by_id]
    terms = lexical_terms(query.text)
    lexical = lexical_ranking(manifest, terms, CANDIDATES) \
        if mode in ("hybrid", "lexical") else []
    names = name_lexical_ranking(manifest, terms, CANDIDATES) \
        if mode == "hybrid" and NAME_LEXICAL_WEIGHT > 0 else []
    if mode != "hybrid":
        # a plain baseline: its own ranking, nothing fused, boosted or diversified
        ranked = dense if mode == "dense" else lexical
        key = "dense" if mode == "dense" else "lexical"
        field = "similarity" if key == "dense" else "bm25"
        return _rows(manifest, ranked[:query.k],
                     {r: {key: {"rank": n, field: round(s, 4)}}
                      for n, (r, s) in enumerate(ranked, start=1)})
    why: dict[int, dict[str, Any]] = {}
    score: dict[int, float] = {}
    for name, ranking, weight, field in (("dense", dense, 1.0, "similarity"),
                                         ("name", heads, HEAD_WEIGHT, "similarity"),
                                         ("lexical", lexical, LEXICAL_WEIGHT, "bm25"),
                                         ("name_lexical", names, NAME_LEXICAL_WEIGHT, "bm25")):
        for rank, (rowid, value) in enumerate(ranking, start=1):
            why.setdefault(rowid, {})[name] = {"rank": rank, field: round(value, 4)}
            score[rowid] = score.get(rowid, 0.0) + weight / (RRF_K + rank)
    _boost(manifest, query, score, why)
    kept = {}
    for rowid, s in score.items():
        reasons = why[rowid]
        sims = [reasons[n]["similarity"] for n in ("dense", "name") if n in reasons]
        if "lexical" not in reasons and "boost" not in reasons and sims and \
                max(sims) < query.threshold:
            continue
        kept[rowid] = s
    return _diverse(manifest, kept, why, query.k)


def _boost(manifest: Manifest, query: Query, score: dict[int, float],
           why: dict[int, dict[str, Any]]) -> None:
    """Mentioned files: every chunk of them; mentioned symbols: the chunks defining them,
    the weight shared among the definitions."""
    first_place = 1.0 / (RRF_K + 1)
    files = sorted(set(query.mentioned_files))
    if files:
        marks = ",".join("?" * len(files))
        for (rowid,) in manifest.db.execute(
                f"SELECT rowid FROM chunks WHERE path IN ({marks})", files):  # noqa: S608
            why.setdefault(rowid, {})["boost"] = "mentioned file"
            score[rowid] = score.get(rowid, 0.0) + first_place
    symbols = sorted({s.split(".")[-1] for s in query.mentioned_symbols if s})
    if symbols:
        marks = ",".join("?" * len(symbols))
        defining: dict[str, list[int]] = {}
        for rowid, symbol in manifest.db.execute(
                f"SELECT rowid, symbol FROM chunks WHERE symbol IN ({marks})",  # noqa: S608
                symbols):
            defining.setdefault(symbol, []).append(rowid)
        for symbol, rowids in defining.items():
            for rowid in rowids:
                reasons = why.setdefault(rowid, {})
                reasons.setdefault("boost", f"defines {symbol}")
                score[rowid] = score.get(rowid, 0.0) + first_place / len(rowids)


def _diverse(manifest: Manifest, score: dict[int, float], why: dict[int, dict[str, Any]],
             k: int) -> list[dict[str, Any]]:
    """Pick k chunks greedily: overlapping ones are skipped, and a chunk's score counts
    SAME_FILE_DECAY less for each chunk of its file already picked."""
    ranked = sorted(score, key=lambda r: -score[r])[:CANDIDATES * 3]
    spans = _spans(manifest, ranked)
    taken: dict[str, list[tuple[int, int]]] = {}
    picked: list[int] = []
    while len(picked) < k:
        best, best_score = None, 0.0
        for rowid in ranked:
            if rowid not in spans:
                continue
            path, start, end = spans[rowid]
            mine = taken.get(path, [])
            if len(mine) >= MAX_PER_FILE or any(start <= e and end >= b for b, e in mine):
                continue
            value = score[rowid] * SAME_FILE_DECAY ** len(mine)
            if best is None or value > best_score:
                best, best_score = rowid, value
            if not mine:
                break  # scores only fall from here on, and nothing further is decayed less
        if best is None:
            break
        path, start, end = spans[best]
        taken.setdefault(path, []).append((start, end))
        picked.append(best)
        ranked.remove(best)
    return _rows(manifest, [(r, score[r]) for r in picked], why)


def _spans(manifest: Manifest, rowids: list[int]) -> dict[int, tuple[str, int, int]]:
    out: dict[int, tuple[str, int, int]] = {}
    for start in range(0, len(rowids), 500):
        part = rowids[start:start + 500]
        marks = ",".join("?" * len(part))
        for rowid, path, first, last in manifest.db.execute(
                f"SELECT rowid, path, start_line, end_line FROM chunks "  # noqa: S608
                f"WHERE rowid IN ({marks})", part):
            out[rowid] = (path, first, last)
    return out


def _rows(manifest: Manifest, ranked: list[tuple[int, float]],
          why: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rowid, s in ranked:
        row = manifest.db.execute(
            "SELECT path, start_line, end_line, symbol, language, kind, context, text "
            "FROM chunks WHERE rowid = ?", (rowid,)).fetchone()
        if row is None:
            continue
        path, start, end, symbol, language, kind, context, text = row
        out.append({"path": path, "start_line": start, "end_line": end, "symbol": symbol,
                    "language": language, "kind": kind, "context": context,
                    "score": round(s, 6), "why": why.get(rowid, {}), "text": text})
    return out
