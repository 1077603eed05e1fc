"""The service's own records for the dashboard: a summary of every finished run, and
samples of the process over time (memory, queue, index), in the project's history store.

Why a summary per run and not a scan of the events: a run streams hundreds of events
(tokens among them); the dashboard asks for weeks of runs at once. The summary is derived
from the run's events and document by :func:`stats_from` when the run ends (and, for runs
recorded before this table existed, when the service starts), so the events stay the one
source of truth and the figures can always be recomputed from them.

Every chart of the web dashboard has one JSON endpoint, built here from these tables:
:func:`latency`, :func:`throughput`, :func:`quality`, :func:`memory`, :func:`queue`, and
the index and agent figures, which are measured live (:func:`index_figures`).
"""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson

from dmc.pipeline import STAGES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_stats (
    run_id TEXT PRIMARY KEY, at REAL NOT NULL, stats BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS run_stats_at ON run_stats(at);
CREATE TABLE IF NOT EXISTS samples (at REAL NOT NULL, kind TEXT NOT NULL, value BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS samples_kind_at ON samples(kind, at);
CREATE TABLE IF NOT EXISTS run_actions (
    run_id TEXT NOT NULL, at REAL NOT NULL, action TEXT NOT NULL, detail BLOB);
CREATE INDEX IF NOT EXISTS run_actions_run ON run_actions(run_id, at);
"""

#: samples older than this are dropped when the service starts (the store stays bounded)
KEEP_SAMPLES_S = 30 * 86400
#: at most this many points per chart series: older ones are thinned, not dropped
MAX_POINTS = 400


class Records:
    """The dashboard's tables, beside the history's, on the history's connection."""

    def __init__(self, history: Any) -> None:
        self.history = history
        with history.lock:
            history.db.executescript(_SCHEMA)
            history.db.execute("DELETE FROM samples WHERE at < ?",
                               (time.time() - KEEP_SAMPLES_S,))

    def put_stats(self, run_id: str, at: float, stats: dict[str, Any]) -> None:
        with self.history.lock:
            self.history.db.execute("INSERT OR REPLACE INTO run_stats VALUES (?, ?, ?)",
                                    (run_id, at, orjson.dumps(stats)))

    def stats(self, since: float) -> list[dict[str, Any]]:
        """Summaries of the runs that began after ``since``, oldest first."""
        with self.history.lock:
            rows = self.history.db.execute(
                "SELECT run_id, at, stats FROM run_stats WHERE at >= ? ORDER BY at",
                (since,)).fetchall()
        return [{"id": r, "at": a, **orjson.loads(s)} for r, a, s in rows]

    def backfill(self, limit: int = 500) -> int:
        """Summaries for finished runs that have events but none yet (recorded before this
        table, or by a process that stopped before writing it)."""
        with self.history.lock:
            ids = [r[0] for r in self.history.db.execute(
                "SELECT id FROM runs WHERE status != 'running' AND id NOT IN "
                "(SELECT run_id FROM run_stats) AND EXISTS (SELECT 1 FROM events "
                "WHERE run_id = runs.id) ORDER BY created DESC LIMIT ?", (limit,))]
        for run_id in ids:
            info = self.history.run(run_id)
            if info is None:
                continue
            self.put_stats(run_id, info["created"], stats_from(
                self.history.events(run_id), self.history.document(run_id), info["status"]))
        return len(ids)

    def add_sample(self, kind: str, value: dict[str, Any], at: float | None = None) -> None:
        with self.history.lock:
            self.history.db.execute("INSERT INTO samples VALUES (?, ?, ?)",
                                    (at if at is not None else time.time(), kind,
                                     orjson.dumps(value)))

    def samples(self, kind: str, since: float) -> list[dict[str, Any]]:
        with self.history.lock:
            rows = self.history.db.execute(
                "SELECT at, value FROM samples WHERE kind = ? AND at >= ? ORDER BY at",
                (kind, since)).fetchall()
        return _thin([{"at": a, **orjson.loads(v)} for a, v in rows])

    def add_action(self, run_id: str, action: str, detail: dict[str, Any]) -> None:
        """What the user did with a run's result (applied, discarded), for its history."""
        with self.history.lock:
            self.history.db.execute("INSERT INTO run_actions VALUES (?, ?, ?, ?)",
                                    (run_id, time.time(), action, orjson.dumps(detail)))

    def actions(self, run_id: str) -> list[dict[str, Any]]:
        with self.history.lock:
            rows = self.history.db.execute(
                "SELECT at, action, detail FROM run_actions WHERE run_id = ? ORDER BY at",
                (run_id,)).fetchall()
        return [{"at": a, "action": k, **(orjson.loads(d) if d else {})} for a, k, d in rows]


def _thin(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every n-th point, so a long window still draws quickly (the last one always kept)."""
    if len(points) <= MAX_POINTS:
        return points
    step = math.ceil(len(points) / MAX_POINTS)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


def pass_ok(record: dict[str, Any]) -> bool:
    """Whether a refinement pass passed: validation clean and every check it ran passed."""
    checks = record.get("checks") or {}
    model = record.get("model_checks") or {}
    return bool(record.get("passed")) and checks.get("passed", 0) == checks.get("run", 0) \
        and model.get("passed", 0) == model.get("run", 0)


def stats_from(events: list[dict[str, Any]], document: dict[str, Any] | None,
               status: str) -> dict[str, Any]:
    """One run's figures, from its events and final document."""
    stages: dict[str, float] = {}
    cached: list[str] = []
    passes: list[dict[str, Any]] = []
    first_token: float | None = None
    end = 0.0
    for e in events:
        end = max(end, float(e.get("t") or 0.0))
        kind = e.get("event")
        if kind == "stage_finished" and e.get("stage") in STAGES:
            stages[e["stage"]] = float(e.get("seconds") or 0.0)
            if e.get("cached"):
                cached.append(e["stage"])
        elif kind == "tokens" and first_token is None and e.get("t") is not None:
            first_token = float(e["t"])
        elif kind == "iteration":
            checks = e.get("checks") or {}
            passes.append({"iteration": e.get("iteration"), "sample": e.get("sample"),
                           "ok": pass_ok(e), "tokens": int(e.get("tokens") or 0),
                           "seconds": float(e.get("seconds") or 0.0),
                           "checks_run": int(checks.get("run") or 0),
                           "checks_passed": int(checks.get("passed") or 0)})
    result = (document or {}).get("result") or {}
    tokens = sum(p["tokens"] for p in passes)
    seconds = sum(p["seconds"] for p in passes)
    final_checks = result.get("checks") or {}
    out: dict[str, Any] = {
        "status": status, "stages": stages, "cached_stages": cached,
        "seconds": round(end, 3), "first_token_s": first_token,
        "tokens": tokens, "generation_seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else None,
        "passes": len(passes),
        "first_pass_ok": any(p["ok"] for p in passes if p["iteration"] == 1) if passes
        else None,
        "final_ok": (result.get("status") == "success") if result else None,
        "checks_run": int(final_checks.get("run") or 0),
        "checks_passed": int(final_checks.get("passed") or 0),
        "validation_errors": ((document or {}).get("validation") or {}).get(
            "counts", {}).get("error"),
    }
    return out


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (pos - low), 4)


_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400)


def bucket_seconds(span: float, most: int = 24) -> int:
    """A round bucket width that cuts ``span`` into at most ``most`` buckets."""
    for width in _BUCKETS:
        if span / width <= most:
            return width
    return _BUCKETS[-1]


def latency(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-stage p50/p95 over the whole window and per time bucket."""
    def figures(group: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for stage in (*STAGES, "first_token"):
            values = [r["first_token_s"] for r in group if r.get("first_token_s") is not None] \
                if stage == "first_token" else \
                [r["stages"][stage] for r in group if stage in r.get("stages", {})
                 and stage not in r.get("cached_stages", [])]
            out[stage] = {"p50": percentile(values, 50), "p95": percentile(values, 95),
                          "n": len(values)}
        return out

    buckets = []
    if rows:
        start = rows[0]["at"]
        width = bucket_seconds(rows[-1]["at"] - start)
        first = math.floor(start / width) * width
        groups: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(int((r["at"] - first) // width), []).append(r)
        buckets = [{"start": first + i * width, "end": first + (i + 1) * width,
                    "runs": len(g), "stages": figures(g)} for i, g in sorted(groups.items())]
    return {"stages": [*STAGES, "first_token"], "runs": len(rows), "overall": figures(rows),
            "buckets": buckets,
            "note": "stages served from the context cache (prepared by a draft) are left "
                    "out: their time was spent before the run"}


def throughput(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens per second and the time to the first token, per run."""
    runs = [{"id": r["id"], "at": r["at"], "tokens": r.get("tokens", 0),
             "tokens_per_second": r.get("tokens_per_second"),
             "first_token_s": r.get("first_token_s")}
            for r in rows if r.get("tokens")]
    rates = [r["tokens_per_second"] for r in runs if r["tokens_per_second"]]
    firsts = [r["first_token_s"] for r in runs if r["first_token_s"] is not None]
    return {"runs": runs, "median_tokens_per_second": percentile(rates, 50),
            "median_first_token_s": percentile(firsts, 50),
            "p95_first_token_s": percentile(firsts, 95)}


def quality(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """First-pass and final pass rates, the refinement lift, the checks passed."""
    gen = [r for r in rows if r.get("final_ok") is not None and r.get("passes")]
    first = sum(1 for r in gen if r.get("first_pass_ok"))
    final = sum(1 for r in gen if r.get("final_ok"))
    n = len(gen)
    return {"runs": [{"id": r["id"], "at": r["at"], "first_pass_ok": r.get("first_pass_ok"),
                      "final_ok": r.get("final_ok"), "passes": r.get("passes"),
                      "checks_run": r.get("checks_run", 0),
                      "checks_passed": r.get("checks_passed", 0)} for r in gen],
            "generated_runs": n,
            "first_pass_rate": round(first / n, 4) if n else None,
            "final_rate": round(final / n, 4) if n else None,
            "lift": round((final - first) / n, 4) if n else None,
            "checks_run": sum(r.get("checks_run", 0) for r in gen),
            "checks_passed": sum(r.get("checks_passed", 0) for r in gen),
            "definitions": {"first_pass_ok": "a sample of pass 1 had clean validation and "
                                              "passed every check it ran",
                            "final_ok": "the result the user got is a success",
                            "lift": "final rate minus first-pass rate"}}


def rss_mib() -> float:
    """This process's resident memory now (not the peak), in MiB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        import os

        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def index_figures(repo: Path | None, settings: Any, walk: bool = True) -> dict[str, Any]:
    """The index's size and how it stands against the tree: last indexed vs git HEAD, and
    (``walk``) how many files on disk moved since (dmc.rag.index.stale)."""
    import sqlite3

    manifest_path: Path | None = settings.manifest_path if settings is not None else None
    out: dict[str, Any] = {"indexed": False}
    if manifest_path is not None and manifest_path.is_file():
        try:
            db = sqlite3.connect(f"file:{manifest_path}?mode=ro", uri=True, timeout=5)
            try:
                files, chunks, last = db.execute(
                    "SELECT count(*), coalesce(sum(chunks), 0), max(indexed_at) FROM files"
                ).fetchone()
            finally:
                db.close()
            out.update(indexed=True, files=files, chunks=chunks, last_indexed=last,
                       bytes=manifest_path.stat().st_size)
        except sqlite3.Error as exc:
            out["error"] = str(exc)
    if repo is not None:
        head = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%H %ct"],
                              capture_output=True, text=True, timeout=10)
        parts = head.stdout.split()
        if head.returncode == 0 and len(parts) == 2:
            out["head"] = {"commit": parts[0], "time": float(parts[1])}
    if out.get("indexed") and walk and repo is not None:
        from dmc.rag.index import stale

        try:
            drift = stale(settings)
        except Exception as exc:  # noqa: BLE001 - a figure of the dashboard, not a request
            out["drift_error"] = f"{type(exc).__name__}: {exc}"
        else:
            out["drift"] = drift
    last, head_time = out.get("last_indexed"), (out.get("head") or {}).get("time")
    out["behind_head"] = bool(last is not None and head_time is not None and head_time > last)
    out["stale"] = out["behind_head"] or any((out.get("drift") or {}).values())
    return out



class Dashboard:
    """The figures behind the web dashboard's charts, for one service: a sampler that
    records the process and the index over time, and one JSON answer per chart."""

    def __init__(self, service: Any) -> None:
        self.service = service  # dmc.service.core.Service

    def start(self) -> None:
        """Record the process (memory, queue) every ``sample_every`` seconds and the index
        every fourth time, in the history store: the series the charts draw."""
        import threading

        stop = self.service.stopping

        def loop() -> None:
            n = 0
            while not stop.wait(0 if n == 0 else self.service.sample_every):
                try:
                    self.sample(index=n % 4 == 0)
                except Exception:  # noqa: BLE001 - a missed sample, the service goes on
                    import logging

                    logging.getLogger("dmc.serve").exception("sampling failed")
                n += 1

        self.service.records.backfill()
        threading.Thread(target=loop, name="dmc-serve-samples", daemon=True).start()

    def sample(self, index: bool = True) -> None:
        """One sample of the process (and of the index)."""
        svc = self.service
        queue = svc.queue()
        svc.records.add_sample("process", {
            "rss_mib": rss_mib(), "running": queue["running"], "waiting": queue["waiting"],
            "drafts": len(svc.drafts), "cache_entries": svc.cache.stats()["entries"]})
        if index:
            figures = self.index_figures()
            svc.records.add_sample("index", {k: figures.get(k) for k in (
                "files", "chunks", "bytes", "last_indexed", "stale", "behind_head")})

    def index_figures(self) -> dict[str, Any]:
        from dmc.wiring import index_settings

        repo = self.service.repo
        return index_figures(repo, index_settings(self.service.cfg, repo) if repo else None)

    def agents(self) -> dict[str, Any]:
        """Who generates, whether it is healthy, and the queue in front of it."""
        svc = self.service
        queue = svc.queue()
        urls = svc.cfg.get("desktop.url") or []
        warm = svc.base_warm()
        if not urls:
            backend = warm.loaded_backend()
            health = backend.health() if backend is not None else \
                {"ok": None, "detail": "not loaded yet (loads on the first generation)"}
            return {"mode": "in-process", "queue": queue, "backend": health, "agents": []}
        client = warm.client()
        agents = []
        for url in urls:
            started = time.perf_counter()
            h = client.health(url)
            agents.append({"url": url, "ok": bool(h and h.get("status") == "ok"),
                           "seconds": round(time.perf_counter() - started, 3),
                           "health": h})
        return {"mode": "agent", "queue": queue, "agents": agents}

    def metrics(self, kind: str, hours: float = 24.0) -> dict[str, Any]:
        """The figures behind one chart, over the last ``hours``."""
        records = self.service.records
        since = time.time() - hours * 3600
        window = {"hours": hours, "since": since, "now": time.time()}
        if kind in ("latency", "throughput", "quality"):
            builder = {"latency": latency, "throughput": throughput, "quality": quality}[kind]
            return {**window, **builder(records.stats(since))}
        if kind == "memory":
            points = records.samples("process", since)
            return {**window, "samples": [{"at": p["at"], "rss_mib": p["rss_mib"]}
                                          for p in points],
                    "now_mib": rss_mib(), "sample_every_s": self.service.sample_every}
        if kind == "queue":
            points = records.samples("process", since)
            return {**window, "samples": [{"at": p["at"], "running": p.get("running", 0),
                                           "waiting": p.get("waiting", 0)} for p in points],
                    **self.agents()}
        if kind == "index":
            return {**window, **self.index_figures(),
                    "samples": records.samples("index", since)}
        raise LookupError(kind)
