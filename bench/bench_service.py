"""Benchmark the laptop service (`dmc serve`) against the process-per-stage path, in one run.

On a corpus of installed packages copied into a git repository and indexed (default: click,
jinja2, httpx and yaml; ``--big``: the RAG bench's 11k-chunk corpus), with a real
``dmc serve`` subprocess, each figure beside its baseline measured in the same run:

- **payload ready after the last keystroke**: a request typed a character at a time, a
  draft posted for every keystroke from 15 characters on (no debounce: the worst case for
  stale work), then the time from the last keystroke's draft to its payload being ready;
  baseline: the same requests through the four-process pipe (intent | extract | retrieve
  | optimize);
- **a second identical request**: POST /v1/runs (stop after optimize) twice, the second's
  wall time as the client sees it; baseline: the first;
- **the warm laptop half** (intent to optimize, nothing cached) through the service;
  baselines: the four-process pipe and ``dmc run --stop-after optimize`` (one process);
- **a short soak**: mixed drafts and runs (new and repeated texts, superseded drafts) for
  ``--soak`` seconds, the service's resident memory sampled; growth and its slope over the
  second half, extrapolated to an hour (baseline: the memory after warm-up);
- **Chroma**: the store ``dmc index`` writes, queried (HNSW) against the exact search on the
  same vectors for the RAG bench's kind of query (a function's docstring, first sentence):
  recall of the 100 candidates the ranking fuses, latency, import time, disk.

Writes bench/results/service.json. Keep runs short on shared machines (``--soak 120``).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.common import DMC, write  # noqa: E402

SMALL = ["click", "jinja2", "httpx", "yaml"]
BIG = ["pylint", "astroid", "rich", "httpx", "click", "jinja2", "pygments", "yaml",
       "mypy/test", "chromadb/api"]
REQUESTS = [
    "add a --verbose option to the command line parser that prints each step",
    "fix the template loader so that missing templates raise a clear error",
    "add a timeout parameter to the http client's send method",
    "write a function that parses a yaml file into a dict with defaults",
    "refactor the redirect handling in the client to follow at most five hops",
]
JSON = {"content-type": "application/json"}
CACHE_MAX = 256  # dmc.service.cache.ContextCache's default


def corpus(dest: Path, packages: list[str]) -> None:
    site = Path(importlib.util.find_spec("httpx").origin).parent.parent  # type: ignore[arg-type, union-attr]
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    for pkg in packages:
        if (site / pkg).is_dir():
            shutil.copytree(site / pkg, dest / pkg,
                            ignore=shutil.ignore_patterns("__pycache__"))


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    out["NO_COLOR"] = "1"
    return out


def pipe_seconds(repo: Path, text: str) -> float:
    """The four-process laptop half, as a shell pipe."""
    cmd = (f"printf '%s\\n' {sh(text)} | {DMC} intent | {DMC} extract | "
           f"{DMC} retrieve --allow-stale | {DMC} optimize > /dev/null")
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=repo, check=True, env=env(),
                   capture_output=True)
    return time.perf_counter() - started


def one_process_seconds(repo: Path, text: str) -> float:
    started = time.perf_counter()
    subprocess.run([DMC, "run", "--stop-after", "optimize", "--json", text], cwd=repo,
                   check=True, env=env(), capture_output=True)
    return time.perf_counter() - started


def sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def run_seconds(client: httpx.Client, url: str, text: str) -> tuple[float, dict[str, Any]]:
    """POST /v1/runs (stop after optimize), until the done event; wall seconds, document."""
    started = time.perf_counter()
    done: dict[str, Any] = {}
    with client.stream("POST", url + "/v1/runs", headers=JSON, content=orjson.dumps(
            {"text": text, "stop_after": "optimize"})) as resp:
        for line in resp.iter_lines():
            if line.strip():
                event = orjson.loads(line)
                if event["event"] in ("done", "error"):
                    done = event
    if done.get("event") != "done":
        raise RuntimeError(f"run failed: {done}")
    return time.perf_counter() - started, done["document"]


def typing(client: httpx.Client, url: str, text: str, gap: float) -> dict[str, Any]:
    """Type ``text``; a draft per keystroke from 15 characters; time from the last one."""
    last: dict[str, Any] = {}
    for n in range(15, len(text) + 1):
        last = client.post(url + "/v1/draft", json={"text": text[:n], "session_id": "bench"}
                           ).json()
        if n < len(text):
            time.sleep(gap)
    started = time.perf_counter()
    state = client.get(f"{url}/v1/draft/{last['draft_id']}", params={"wait": 30}).json()
    ready = time.perf_counter() - started
    if state["state"] != "ready":
        raise RuntimeError(f"draft not ready: {state}")
    return {"ready_after_last_keystroke_s": round(ready, 3),
            "drafts_posted": len(text) - 14}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def soak(client: httpx.Client, url: str, pid: int, seconds: float) -> dict[str, Any]:
    """Mixed requests for ``seconds``; memory sampled between them."""
    import random

    def sample(at: float) -> tuple[float, float, int]:
        entries = client.get(url + "/v1/status").json()["cache"]["entries"]
        return (round(at, 1), round(rss_mib(pid), 1), int(entries))

    rng = random.Random(15)
    words = ["option", "parser", "template", "client", "timeout", "retry", "cache", "yaml",
             "loader", "error", "redirect", "cookie", "header", "stream", "command"]
    samples: list[tuple[float, float, int]] = []
    started = time.perf_counter()
    counts = {"runs": 0, "repeated_runs": 0, "drafts": 0}
    seen: list[str] = []
    next_sample = 0.0
    while (elapsed := time.perf_counter() - started) < seconds:
        if elapsed >= next_sample:
            samples.append(sample(elapsed))
            next_sample += 10
        kind = rng.random()
        if kind < 0.4 and seen:
            run_seconds(client, url, rng.choice(seen))
            counts["repeated_runs"] += 1
        elif kind < 0.7:
            text = "add " + " ".join(rng.choice(words) for _ in range(6)) + \
                f" support number {rng.randrange(10**6)}"
            run_seconds(client, url, text)
            seen.append(text)
            counts["runs"] += 1
        else:
            text = "change the " + " ".join(rng.choice(words) for _ in range(5))
            for n in range(15, len(text) + 1, 3):
                client.post(url + "/v1/draft", json={"text": text[:n], "session_id": "soak"})
                counts["drafts"] += 1
    samples.append(sample(time.perf_counter() - started))
    # the slope once the bounded structures (the context cache above all) are full, when
    # the soak got that far; else over its second half, which still includes their filling
    full = [s for s in samples if s[2] >= CACHE_MAX]
    half = full if len(full) >= 3 else [s for s in samples if s[0] >= samples[-1][0] / 2]

    def fit(points: list[tuple[float, float, int]]) -> float:
        """Least-squares slope of RSS over time, MiB a second."""
        if len(points) < 2 or points[-1][0] <= points[0][0]:
            return 0.0
        xs = [s[0] for s in points]
        ys = [s[1] for s in points]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / \
            sum((x - mx) ** 2 for x in xs)

    slope = fit(half)
    last_third = fit([s for s in samples if s[0] >= samples[-1][0] * 2 / 3])
    return {"seconds": round(samples[-1][0], 1), "requests": counts,
            "rss_start_mib": samples[0][1], "rss_end_mib": samples[-1][1],
            "growth_mib": round(samples[-1][1] - samples[0][1], 1),
            "slope_mib_per_hour": round(slope * 3600, 1),
            "last_third_slope_mib_per_hour": round(last_third * 3600, 1),
            "slope_measured_over": "cache full" if len(full) >= 3 else
            "second half (cache still filling)",
            "samples_s_rss_mib_cache_entries": samples,
            "goal_mib_per_hour": 100}


def queries(repo: Path, limit: int) -> list[str]:
    """The RAG bench's kind of query: the first sentence of public functions' docstrings."""
    import random

    found = []
    for path in sorted(repo.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= 20:
                    text = " ".join(doc.split())
                    match = re.match(r"(.+?[.!?])(\s|$)", text)
                    found.append((match.group(1) if match else text)[:300])
    random.Random(7).shuffle(found)
    return found[:limit]


def chroma(repo: Path, n_queries: int) -> dict[str, Any]:
    """Chroma's HNSW against the exact search over the same vectors."""
    import numpy as np

    from dmc.rag.embed import load
    from dmc.rag.store import Manifest

    manifest = Manifest(repo / ".dmc" / "index.sqlite", create=False)
    rows = manifest.db.execute("SELECT id, vec FROM chunks").fetchall()
    ids = [r[0] for r in rows]
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows),
                                                                                    -1)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import chromadb"], check=True)
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    import_s -= time.perf_counter() - started
    from dmc.rag.chunk import Chunk
    from dmc.rag.store import ChromaStore

    chunks: list[Chunk] = [c for _, c in manifest.chunks_where("1")]
    vec_by_id = dict(zip(ids, matrix, strict=True))
    scratch = tempfile.TemporaryDirectory(prefix="dmc-bench-chroma-")
    rss_before = rss_mib(os.getpid())
    # the store as `dmc index` used to keep it locally (ChromaStore's own collection
    # settings), written from the manifest's vectors: what keeping it costs an index run
    store = ChromaStore(Path(scratch.name), None)
    started = time.perf_counter()
    store.upsert(chunks, np.stack([vec_by_id[c.id] for c in chunks]))
    upsert_s = time.perf_counter() - started
    store.query(matrix[0], 100)
    rss_opened = rss_mib(os.getpid())
    embedder = load(for_query=True)
    texts = queries(repo, n_queries)
    vectors = embedder.embed(texts)
    recall100, recall8, t_hnsw, t_exact_mem, t_exact_sqlite = [], [], [], [], []
    from dmc.rag.retrieve import dense_rankings

    by_rowid = dict(manifest.db.execute("SELECT rowid, id FROM chunks"))
    for vec in vectors:
        started = time.perf_counter()
        exact = [ids[i] for i in np.argsort(-(matrix @ vec))[:100]]
        t_exact_mem.append(time.perf_counter() - started)
        started = time.perf_counter()
        from_sqlite = dense_rankings(manifest, vec, 100, ("vec",))["vec"]
        t_exact_sqlite.append(time.perf_counter() - started)
        assert [by_rowid[r] for r, _ in from_sqlite][:10] == exact[:10]
        started = time.perf_counter()
        approx = [i for i, _ in store.query(vec, 100)]
        t_hnsw.append(time.perf_counter() - started)
        recall100.append(len(set(approx) & set(exact)) / len(exact))
        recall8.append(len(set(approx[:8]) & set(exact[:8])) / min(8, len(exact)))
    manifest.close()

    def ms(xs: list[float]) -> float:
        return round(statistics.median(xs) * 1000, 2)

    def size(path: Path) -> int:  # noqa: D401 - bytes under a folder
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

    disk = size(Path(scratch.name))
    scratch.cleanup()
    return {"chunks": len(ids), "queries": len(texts),
            "hnsw_recall_at_100_mean": round(statistics.fmean(recall100), 4),
            "hnsw_recall_at_100_min": round(min(recall100), 4),
            "hnsw_recall_at_8_mean": round(statistics.fmean(recall8), 4),
            "query_ms_median": {"chroma_hnsw": ms(t_hnsw),
                                "exact_in_memory_matrix": ms(t_exact_mem),
                                "exact_from_sqlite_as_dmc_retrieve": ms(t_exact_sqlite)},
            "import_chromadb_s": round(import_s, 3),
            "write_all_chunks_to_chroma_s": round(upsert_s, 1),
            "rss_for_chroma_client_mib": round(rss_opened - rss_before, 1),
            "disk_mib": {"chroma": round(disk / 2**20, 1),
                         "manifest_sqlite": round(
                             (repo / ".dmc" / "index.sqlite").stat().st_size / 2**20, 1)},
            "goal_recall": 0.99}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", action="store_true", help="the RAG bench's 11k-chunk corpus")
    parser.add_argument("--soak", type=float, default=180, help="soak seconds (default 180)")
    parser.add_argument("--gap", type=float, default=0.08, help="seconds between keystrokes")
    parser.add_argument("--chroma-queries", type=int, default=200)
    parser.add_argument("--name", help="results file (default service, service-big with --big)")
    parser.add_argument("--repo", type=Path, help="an indexed corpus to reuse (indexing the "
                        "default one takes minutes on two busy cores)")
    args = parser.parse_args(argv)
    from tests.support.serve import ServeProcess

    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="dmc-bench-service-") as tmp:
        repo = args.repo.resolve() if args.repo else Path(tmp) / "corpus"
        if not args.repo:
            corpus(repo, BIG if args.big else SMALL)
        started = time.perf_counter()
        index = subprocess.run([DMC, "index"], cwd=repo, check=True, env=env(),
                               capture_output=True)
        summary = orjson.loads(index.stdout)["index"]
        result["corpus"] = {"packages": BIG if args.big else SMALL, "files": summary["files"],
                            "reused": bool(args.repo),
                            "chunks": summary["chunks"],
                            "index_s": round(time.perf_counter() - started, 1)}
        print(f"corpus: {summary['chunks']} chunks", file=sys.stderr)
        result["chroma"] = chroma(repo, args.chroma_queries)
        print(f"chroma: {result['chroma']}", file=sys.stderr)
        with ServeProcess(repo, env=env()) as server:
            started = time.perf_counter()
            server.wait(300)
            result["service_start_s"] = round(time.perf_counter() - started, 2)
            client = httpx.Client(timeout=120)
            url = server.url
            run_seconds(client, url, "warm the caches once before measuring anything")
            rss_warm = rss_mib(server.pid())
            # the warm laptop half, nothing cached, against the cold paths
            warm, cached, pipe, single, typed = [], [], [], [], []
            for text in REQUESTS:
                first, _ = run_seconds(client, url, text)
                second, doc = run_seconds(client, url, text)
                assert doc["run"].get("cached") is True
                warm.append(first)
                cached.append(second)
                pipe.append(pipe_seconds(repo, text))
                single.append(one_process_seconds(repo, text))
            for n, text in enumerate(REQUESTS):
                typed.append(typing(client, url, f"{text} (variant {n} typed)", args.gap))

            def med(xs: list[float]) -> float:
                return round(statistics.median(xs), 3)

            result["laptop_half"] = {
                "requests": REQUESTS,
                "warm_service_uncached_median_s": med(warm),
                "four_process_pipe_median_s": med(pipe),
                "one_process_dmc_run_median_s": med(single),
                "goal_s": 0.5, "issue_baseline_s": 0.74}
            result["cache"] = {"second_identical_request_median_s": med(cached),
                               "first_request_median_s": med(warm), "goal_s": 0.02}
            result["draft"] = {
                "payload_ready_after_last_keystroke_median_s":
                    med([t["ready_after_last_keystroke_s"] for t in typed]),
                "per_request": typed, "keystroke_gap_s": args.gap,
                "baseline_four_process_pipe_median_s": med(pipe), "goal_s": 0.3}
            print(f"laptop half: {result['laptop_half']}", file=sys.stderr)
            print(f"cache: {result['cache']}; draft: {result['draft']}", file=sys.stderr)
            result["soak"] = {"rss_after_warm_up_mib": round(rss_warm, 1),
                              **soak(client, url, server.pid(), args.soak)}
            result["service_status_after"] = client.get(url + "/v1/status").json()
    result["load_average_at_end"] = os.getloadavg()
    path = write(args.name or ("service-big" if args.big else "service"), result)
    print(f"service -> {path}")
    return result


if __name__ == "__main__":
    main()
