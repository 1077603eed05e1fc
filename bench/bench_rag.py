"""Benchmark retrieval: quality (docstring -> code), indexing speed, query latency, memory.

Quality: wheels of real packages are downloaded from PyPI at bench time; their public
functions' docstrings are blanked in the indexed copy (line numbers kept), and each
function's first docstring sentence is the query. file-recall@5: a returned chunk is in the
function's file; symbol-hit@5: a returned chunk overlaps the function. Hybrid is compared in
the same run with plain BM25 and plain dense retrieval over the same chunks, and built the
way ``dmc retrieve`` builds it (extraction of the request, the configured threshold).

Two sets of packages: DEV_WHEELS, on which every constant of the retrieval was chosen
(weights, RRF k, the per-file cap and decay; see dmc/rag/retrieve.py), and WHEELS, the test
set, reported once after choosing and never used to choose. Beside dmc's hybrid, in the same
run: "hybrid, previous" (the constants and rankings before that re-selection: no names'
BM25), plain BM25 and plain dense.

``--quality-only`` skips the speed section (indexing an 11k-chunk corpus: most of an hour
on a loaded two-core machine) and keeps the previous speed figures with their own date.
``--work DIR`` keeps the corpora and indexes in DIR, so a second run re-indexes nothing.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DMC, RESULTS, ROOT, write  # noqa: E402
from dmc.config import BY_KEY  # noqa: E402
from dmc.extract import extract  # noqa: E402
from dmc.rag import retrieve  # noqa: E402
from dmc.rag.embed import load  # noqa: E402
from dmc.rag.index import IndexSettings, build  # noqa: E402
from dmc.rag.retrieve import query_from, search  # noqa: E402
from dmc.rag.store import Manifest  # noqa: E402

WHEELS = ["attrs==24.2.0", "click==8.1.7", "more-itertools==10.5.0", "requests==2.32.3",
          "jinja2==3.1.4", "pluggy==1.5.0"]
DEV_WHEELS = ["toolz==0.12.1", "boltons==24.0.0", "werkzeug==3.0.4", "markdown==3.7",
              "packaging==24.1", "urllib3==2.2.3"]
MAX_QUERIES = 400
#: The retrieval's constants before they were re-selected on DEV_WHEELS (RRF k and the
#: per-file cap had been chosen on WHEELS); measured beside the current ones.
PREVIOUS = {"RRF_K": 10, "LEXICAL_WEIGHT": 0.75, "HEAD_WEIGHT": 0.25,
            "NAME_LEXICAL_WEIGHT": 0.0, "SAME_FILE_DECAY": 0.8, "MAX_PER_FILE": 3}
BIG_PACKAGES = ["pylint", "astroid", "rich", "httpx", "click", "jinja2", "pygments",
                "yaml", "mypy/test", "chromadb/api"]


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.strip().split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:300]


def make_corpus(dest: Path, wheels: list[str]) -> list[dict[str, Any]]:
    """Download the wheels, blank the docstrings (keeping lines), return the queries."""
    dl = dest.parent / f"{dest.name}-wheels"
    dl.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dl),
                    *wheels], check=True, capture_output=True)
    queries = []
    for wheel in sorted(dl.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if not name.endswith(".py") or ".dist-info/" in name or "/tests/" in name:
                    continue
                source = zf.read(name).decode("utf-8", "replace")
                lines = source.split("\n")
                try:
                    tree = ast.parse(source)
                except SyntaxError:
                    continue
                for node in ast.walk(tree):
                    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or \
                            node.name.startswith("_"):
                        continue
                    doc = ast.get_docstring(node)
                    body0 = node.body[0] if node.body else None
                    if not doc or len(doc) < 20 or not isinstance(body0, ast.Expr):
                        continue
                    first, last = body0.lineno, body0.end_lineno or body0.lineno
                    indent = re.match(r"\s*", lines[first - 1]).group(0)  # type: ignore[union-attr]
                    lines[first - 1] = f'{indent}""'
                    for i in range(first, last):
                        lines[i] = ""
                    start = (node.decorator_list[0].lineno if node.decorator_list
                             else node.lineno)
                    queries.append({"query": _first_sentence(doc), "path": name,
                                    "symbol": node.name, "start": start,
                                    "end": node.end_lineno or node.lineno})
                out = dest / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text("\n".join(lines))
    return queries


def _constants(values: dict[str, Any]) -> dict[str, Any]:
    """Set retrieve's module constants; returns the old values."""
    old = {k: getattr(retrieve, k) for k in values}
    for k, v in values.items():
        setattr(retrieve, k, v)
    return old


def quality(work: Path, wheels: list[str], name: str) -> dict[str, Any]:
    corpus = work / name
    corpus.mkdir(exist_ok=True)
    queries = make_corpus(corpus, wheels)
    random.Random(7).shuffle(queries)
    queries = queries[:MAX_QUERIES]
    settings = IndexSettings(root=corpus, index_dir=work / f"{name}-index")
    started = time.perf_counter()
    summary = build(settings)
    index_seconds = time.perf_counter() - started
    embedder = load()
    manifest = Manifest(settings.manifest_path, create=False)
    threshold = BY_KEY["rag.similarity_threshold"].default
    results: dict[str, dict[str, float]] = {}
    for mode in ("hybrid", "hybrid_previous", "lexical", "dense"):
        old = _constants(PREVIOUS) if mode == "hybrid_previous" else {}
        file_hits = symbol_hits = 0
        for q in queries:
            vector = embedder.embed([q["query"]])[0]
            doc = {"extraction": extract(q["query"], corpus)}
            query = query_from(doc, q["query"], k=5, threshold=threshold)
            chunks = search(manifest, query, vector, None, mode.split("_")[0])
            if any(c["path"] == q["path"] for c in chunks):
                file_hits += 1
            if any(c["path"] == q["path"] and c["start_line"] <= q["end"]
                   and c["end_line"] >= q["start"] for c in chunks):
                symbol_hits += 1
        _constants(old)
        results[mode] = {"file_recall_at_5": round(file_hits / len(queries), 3),
                         "symbol_hit_at_5": round(symbol_hits / len(queries), 3)}
    manifest.close()
    return {"wheels": wheels, "queries": len(queries), "chunks": summary["chunks"],
            "index_seconds": round(index_seconds, 1), "by_mode": results,
            "constants": {k: getattr(retrieve, k) for k in PREVIOUS},
            "goals": {"symbol_hit_at_5": 0.65, "file_recall_at_5": 0.95}}


def _timed(args: list[str], cwd: Path, stdin: bytes = b"") -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS (KiB) and stdout of a command."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd, input=stdin,
                          capture_output=True, check=False)
    wall = time.perf_counter() - start
    rss = int(proc.stderr.decode().strip().splitlines()[-1]) if proc.stderr.strip() else 0
    return wall, rss, proc.stdout


def speed(work: Path) -> dict[str, Any]:
    import importlib.util

    site = Path(importlib.util.find_spec("httpx").origin).parent.parent  # type: ignore[union-attr, arg-type]
    big = work / "big"
    subprocess.run(["git", "init", "-q", str(big)], check=True)
    for pkg in BIG_PACKAGES:
        src = site / pkg
        if src.is_dir():
            shutil.copytree(src, big / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    wall, rss, out = _timed([DMC, "index"], big)
    import orjson

    summary = orjson.loads(out)["index"]
    embedder = load()
    m = Manifest(big / ".dmc/index.sqlite", create=False)
    chunks = [c for _, c in m.chunks_where("kind IN ('function', 'method') LIMIT 2000")]
    m.close()
    texts = [c.embed_text() for c in chunks]
    started = time.perf_counter()
    embedder.embed(texts)
    embed_rate = len(texts) / (time.perf_counter() - started)
    # what `dmc index` does per chunk: the chunk's text and its short name text
    started = time.perf_counter()
    embedder.embed(texts + [c.head_text() for c in chunks])
    embed_both_rate = len(texts) / (time.perf_counter() - started)
    noop_wall, _, _ = _timed([DMC, "index"], big)
    query = b"where do we check that a function is too complex?\n"
    runs = sorted(_timed([DMC, "retrieve", "--allow-stale"], big, query)[0] for _ in range(7))
    _, query_rss, _ = _timed([DMC, "retrieve", "--allow-stale"], big, query)
    pipeline = (f"echo 'add a check for functions that are too complex' | {DMC} intent | "
                f"{DMC} extract | {DMC} retrieve --allow-stale | {DMC} optimize > /dev/null")
    pipe_runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], cwd=big, check=True,
                       capture_output=True)
        pipe_runs.append(time.perf_counter() - start)
    # this repository, no change: the figure a pre-commit or editor hook pays
    this = work / "this"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(this)],
                   check=True)
    subprocess.run([DMC, "index"], cwd=this, check=True, capture_output=True)
    own_noop = sorted(_timed([DMC, "index"], this)[0] for _ in range(3))[1]
    return {
        "index_corpus": f"{len(BIG_PACKAGES)} installed packages ({', '.join(BIG_PACKAGES)})",
        "index_files": summary["files"], "index_chunks": summary["chunks"],
        "index_wall_s": round(wall, 1), "index_peak_rss_mib": round(rss / 1024, 1),
        "index_chunks_per_s_end_to_end": round(summary["chunks"] / wall, 1),
        "embed_chunks_per_s_function_chunks": round(embed_rate, 1),
        "embed_chunks_per_s_with_name_vectors": round(embed_both_rate, 1),
        "embed_sample": len(texts),
        "noop_reindex_big_s": round(noop_wall, 3),
        "noop_reindex_this_repo_s": round(own_noop, 3),
        "retrieve_median_s": round(runs[len(runs) // 2], 3),
        "retrieve_peak_rss_mib": round(query_rss / 1024, 1),
        "pipeline_intent_extract_retrieve_optimize_median_s":
            round(sorted(pipe_runs)[1], 3),
        "goals": {"embed_chunks_per_s": 60, "noop_reindex_s": 1.0, "retrieve_s": 0.5,
                  "pipeline_s": 1.0},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality-only", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dmc-bench-rag-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result: dict[str, Any] = {"quality_dev": quality(work, DEV_WHEELS, "dev"),
                                  "quality": quality(work, WHEELS, "test")}
        if args.quality_only:
            previous = RESULTS / "rag.json"
            if previous.is_file():
                old = json.loads(previous.read_text())
                speed_from = old.get("speed_measured_on", old["machine"])
                result["speed"] = old["speed"]
                result["speed_measured_on"] = speed_from
        else:
            result["speed"] = speed(work)
    path = write("rag", result)
    q, s = result["quality"]["by_mode"], result["speed"]
    print(f"rag: symbol-hit@5 hybrid {q['hybrid']['symbol_hit_at_5']} / bm25 "
          f"{q['lexical']['symbol_hit_at_5']} / dense {q['dense']['symbol_hit_at_5']}; "
          f"embed {s['embed_chunks_per_s_function_chunks']}/s; retrieve "
          f"{s['retrieve_median_s']}s on {s['index_chunks']} chunks -> {path}")
    return result


if __name__ == "__main__":
    main()
