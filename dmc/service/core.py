"""The service's state and work, without HTTP: warm models, the context cache, drafts,
runs and their events.

A **draft** is the request as the user types it: from ``serve.draft_min_chars`` characters
on, its laptop half (intent, extract, retrieve, optimize; the first three in parallel) is
prepared in the background, and newer text cancels the older draft's work. A **run** is a
sent request: its laptop half comes from the context cache when a draft (or an earlier
run) prepared it, then generate and validate run (one generation at a time). Every event a
run emits is numbered and stored (``dmc.history``), so a client that disconnects can come
back and read the events so far, then the live ones; the run does not depend on any
client staying connected.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmc.config import BY_KEY, Config, load
from dmc.contract import DmcError, Exit, new_document
from dmc.pipeline import LAPTOP_STAGES, STAGES, Cancelled, RunOptions, Warm, run
from dmc.service.cache import ContextCache, Entry, cache_key, file_version, index_version
from dmc.service.metrics import Dashboard, Records, stats_from
from dmc.service.warm import SINK, ServiceWarm, TokenBatcher

#: settings a request may not change: where the service listens and what it trusts, any
#: file it would read and send elsewhere (a token, a key), and where it sends the
#: repository's code or writes an index (a request must not redirect either)
_FIXED_SECTIONS = ("serve.", "server.")
_FIXED_SUFFIXES = ("_file", "client_cert", "client_key")
_FIXED_KEYS = frozenset({"desktop.url", "generation.server", "models.ollama_url",
                         "rag.chroma_url", "rag.index_dir"})
FINISHED_KEPT = 32


def allowed_override(key: str) -> bool:
    """Whether a request may set this setting for itself."""
    return key in BY_KEY and not key.startswith(_FIXED_SECTIONS) and \
        not key.endswith(_FIXED_SUFFIXES) and key not in _FIXED_KEYS


def only_in_process(key: str) -> bool:
    """Whether a run given this setting must run in-process rather than on a service: the
    service would not take it from the request and would run with its own value (where
    code is sent, where the index lives, the agent's token). ``serve.*`` and ``server.*``
    say how to reach a service or an agent's own set-up, not what the run does."""
    return not allowed_override(key) and not key.startswith(_FIXED_SECTIONS)


@dataclass
class _Job:
    """One preparation (a request's laptop half) in flight."""

    key: str
    text: str
    future: Future[Entry]
    cancel: threading.Event = field(default_factory=threading.Event)
    pinned: bool = False  # a run waits on it: newer draft text must not cancel it
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    prefill: dict[str, Any] | None = None  # the prompt evaluated ahead (see _prefill)


@dataclass
class LiveRun:
    """A run this process is executing or executed recently."""

    id: str
    session_id: str
    text: str
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    status: str = "running"
    document: dict[str, Any] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: float = field(default_factory=time.perf_counter)  # events carry t from here
    created: float = field(default_factory=time.time)


def _fresh_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """A prepared document as a new request: its own request id and time (a cached
    payload must not reuse the id of the request that prepared it)."""
    import uuid as _uuid
    from datetime import UTC, datetime

    payload = doc.get("payload")
    if not isinstance(payload, dict):
        return doc
    out = dict(doc)
    out["payload"] = {**payload, "request_id": f"dmc-{_uuid.uuid4().hex[:20]}",
                      "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
    return out


class Service:
    """Everything ``dmc serve`` keeps between requests, for one repository."""

    def __init__(self, cfg: Config, overrides: dict[str, Any] | None = None, *,
                 prefill_after: float | None = 0.4, sample_every: float = 15.0) -> None:
        from dmc.history import History, path_for
        from dmc.rag.retrieve import keep_vectors_in_memory

        keep_vectors_in_memory()  # a long-lived process: no SQLite read per query
        self.cfg = cfg
        self.repo = cfg.repo
        self.base_overrides = dict(overrides or {})
        self.cache = ContextCache(float(cfg.get("preprocessing.cache_ttl")))
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dmc-serve")
        self.generation = threading.Lock()  # one generation at a time, as on the agent
        state = path_for(self.repo) if self.repo is not None else \
            Path.home() / ".local" / "state" / "dmc" / "history.sqlite"
        self.history = History(state)
        self.records = Records(self.history)
        self.dashboard = Dashboard(self)
        self.prefill_after = prefill_after  # None: no prompt evaluation ahead of a run
        self.sample_every = sample_every
        self.stopping = threading.Event()  # set by close(): background loops end
        self._prefilling = threading.Lock()
        # its own thread: a prefill waiting its turn must not hold a worker that drafts
        # and runs need
        self.prefill_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dmc-prefill")
        self.waiting = 0  # runs waiting for the generation lock
        self.runs: OrderedDict[str, LiveRun] = OrderedDict()
        self.drafts: dict[str, _Job] = {}  # draft id -> job
        self.latest_draft: dict[str, str] = {}  # session (or "") -> its newest draft id
        self.jobs: dict[str, _Job] = {}  # cache key -> job in flight
        import orjson

        self._configs: OrderedDict[str, tuple[Config, ServiceWarm]] = OrderedDict()
        self._base_tag = orjson.dumps(cfg.values, option=orjson.OPT_SORT_KEYS,
                                      default=str).decode()
        self._configs[self._base_tag] = (cfg, ServiceWarm(cfg))
        self._lock = threading.Lock()
        self._versions = self._state_versions()
        self.started = time.time()

    # --- configuration and warm state --------------------------------------------------

    def config_for(self, overrides: dict[str, Any] | None) -> tuple[Config, Warm]:
        """The configuration for a request's overrides (and its warm pieces), kept for the
        few override sets in use."""
        import orjson

        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        for key in list(overrides):
            if allowed_override(key):
                continue
            if key in BY_KEY and overrides[key] == self.cfg.get(key):
                del overrides[key]  # the service's own value: no change asked for
                continue
            raise DmcError(f"setting '{key}' cannot be changed per request")
        cfg = load(repo=self.repo, overrides={**self.base_overrides, **overrides}) \
            if overrides else self.cfg
        # keyed by the values, not the overrides: a client repeating the service's own
        # settings shares its warm pieces
        tag = orjson.dumps(cfg.values, option=orjson.OPT_SORT_KEYS, default=str).decode()
        with self._lock:
            if tag in self._configs:
                self._configs.move_to_end(tag)
                return self._configs[tag]
            pair = (cfg, ServiceWarm(cfg))
            self._configs[tag] = pair
            while len(self._configs) > 8:
                oldest = next(k for k in self._configs if k != self._base_tag)
                del self._configs[oldest]
        return pair

    def warm_up(self) -> dict[str, float]:
        """Load the models, profiles and the index's vectors now, not on the first
        request."""
        warm = self._configs[self._base_tag][1]
        took = warm.warm_up(generation=True)
        if "generation_backend" in took:
            # the embedded model's weights load on its first answer: give it one now, so
            # the first request after start does not pay for the load
            inner = getattr(warm.loaded_backend(), "inner", warm.loaded_backend())
            if getattr(inner, "kind", "") == "llamacpp":
                started = time.perf_counter()
                try:
                    inner.chat([{"role": "user", "content": "hi"}], max_tokens=1,
                               temperature=0.0, top_p=1.0)
                    took["generation_model"] = round(time.perf_counter() - started, 3)
                except DmcError:
                    pass  # the first request reports it
        from dmc.rag.retrieve import vectors
        from dmc.rag.store import Manifest
        from dmc.wiring import index_settings

        path = index_settings(self.cfg, self.repo).manifest_path if self.repo else None
        if path is not None and path.is_file():
            started = time.perf_counter()
            manifest = Manifest(path, create=False)
            try:
                vectors(manifest, ("vec", "hvec"))
            finally:
                manifest.close()
            took["index_vectors"] = round(time.perf_counter() - started, 3)
        return took

    def _state_versions(self) -> dict[str, str]:
        from dmc.wiring import index_settings, project_style_path, user_style_path

        index = index_settings(self.cfg, self.repo).manifest_path if self.repo else None
        return {"index": index_version(index),
                "style": file_version(project_style_path(self.repo), user_style_path())}

    def _check_versions(self) -> dict[str, str]:
        """The index and style versions now; a change empties the cache (its entries can
        no longer be hit) and reloads the style profile."""
        versions = self._state_versions()
        if versions != self._versions:
            self.cache.clear()
            if versions["style"] != self._versions["style"]:
                with self._lock:
                    for _, warm in self._configs.values():
                        warm.drop("optimize_options", "validate_settings")
            self._versions = versions
        return versions

    def key_for(self, text: str, cfg: Config, extra: str = "") -> str:
        versions = self._check_versions()
        return cache_key(text, versions["index"], cfg.values, versions["style"] + extra)

    # --- preparation: the laptop half ------------------------------------------------------

    def _prepare(self, key: str, doc: dict[str, Any], cfg: Config, warm: Warm,
                 cancel: threading.Event) -> Entry:
        events: list[dict[str, Any]] = []
        prepared = run(doc, cfg, stop_after="optimize", warm=warm, on_event=events.append,
                       cancelled=cancel.is_set, parallel=True)
        self.cache.put(key, prepared, events)
        entry = self.cache.get(key)
        return entry if entry is not None else Entry(prepared, events, time.monotonic())

    def _job(self, key: str, doc: dict[str, Any], cfg: Config, warm: Warm,
             pin: bool) -> _Job:
        """The job preparing ``key``: the one in flight, or a new one."""
        with self._lock:
            job = self.jobs.get(key)
            if job is not None and not job.cancel.is_set():
                job.pinned = job.pinned or pin
                return job
            cancel = threading.Event()
            future: Future[Entry] = Future()
            job = _Job(key, doc["input"]["text"], future, cancel, pinned=pin)
            self.jobs[key] = job

        def work() -> None:
            try:
                if not future.set_running_or_notify_cancel():
                    return
                future.set_result(self._prepare(key, doc, cfg, warm, cancel))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                future.set_exception(exc)
            finally:
                job.finished = time.perf_counter()
                with self._lock:
                    if self.jobs.get(key) is job:
                        del self.jobs[key]

        self.pool.submit(work)
        return job

    def draft(self, text: str, session_id: str = "",
              overrides: dict[str, Any] | None = None, prefill: bool = False
              ) -> dict[str, Any]:
        """Start preparing the text being typed; newer text cancels the older draft.
        ``prefill``: the client wants the prompt evaluated ahead too (see _prefill; the
        web page asks, an API client that only prepares does not pay for it)."""
        cfg, warm = self.config_for(overrides)
        minimum = int(self.cfg.get("serve.draft_min_chars"))
        previous = self.latest_draft.get(session_id)
        if len(text.strip()) < minimum:
            self._supersede(previous, None)
            return {"state": "too_short", "min_chars": minimum}
        doc = new_document(text, str(self.repo) if self.repo else None)
        key = self.key_for(doc["input"]["text"], cfg)
        if self.cache.get(key) is not None:
            draft_id = uuid.uuid4().hex[:16]
            done: Future[Entry] = Future()
            done.set_result(self.cache.get(key))  # type: ignore[arg-type]
            job = _Job(key, text, done, finished=time.perf_counter())
        else:
            job = self._job(key, doc, cfg, warm, pin=False)
            draft_id = uuid.uuid4().hex[:16]
        self._supersede(previous, job)
        with self._lock:
            self.drafts[draft_id] = job
            self.latest_draft.pop(session_id, None)  # to the end: the newest session
            self.latest_draft[session_id] = draft_id
            while len(self.drafts) > 64:
                self.drafts.pop(next(iter(self.drafts)))
            while len(self.latest_draft) > 256:  # clients that name many sessions
                self.latest_draft.pop(next(iter(self.latest_draft)))
        if prefill and self.prefill_after is not None:
            job.future.add_done_callback(
                lambda _f: self.prefill_pool.submit(self._prefill, draft_id, session_id, job,
                                                    cfg, warm))
        return {"draft_id": draft_id, "state": "ready" if job.future.done() else "pending"}

    def _prefill(self, draft_id: str, session_id: str, job: _Job, cfg: Config,
                 warm: Warm) -> None:
        """Evaluate the prepared prompt on the in-process model while the user reads it.

        llama.cpp keeps the last prompt's evaluation and reuses its longest common prefix,
        so when the user sends this text, generation starts at the first new token instead
        of evaluating a few hundred prompt tokens first (seconds on a laptop CPU). Done
        only for the session's newest draft once the text has been still for
        ``prefill_after`` seconds, only when no generation is running (never delays one),
        and only for the embedded model (a server or the agent evaluate elsewhere)."""
        assert self.prefill_after is not None
        if self.latest_draft.get(session_id) != draft_id:
            job.prefill = {"state": "skipped", "reason": "newer text"}
            return
        time.sleep(self.prefill_after)
        if job.future.cancelled() or job.future.exception() is not None:
            return
        if cfg.get("desktop.url"):
            job.prefill = {"state": "skipped", "reason": "generation runs on the agent"}
            return
        job.prefill = {"state": "waiting"}
        with self._prefilling:  # one at a time: a newer one reuses what the last evaluated
            if self.latest_draft.get(session_id) != draft_id:
                job.prefill = {"state": "skipped", "reason": "newer text"}
                return
            if not self.generation.acquire(blocking=False):
                job.prefill = {"state": "skipped", "reason": "a generation is running"}
                return
            self._prefill_now(job, cfg, warm)

    def _prefill_now(self, job: _Job, cfg: Config, warm: Warm) -> None:
        """The prompt evaluation itself; the generation lock is held and released here."""
        try:
            from dmc.generate import require_payload
            from dmc.generate.prompt import initial_messages
            from dmc.wiring import with_generation_settings

            backend = warm.backend([])
            inner = getattr(backend, "inner", backend)
            if getattr(inner, "kind", "") != "llamacpp":
                job.prefill = {"state": "skipped", "reason": "not the embedded model"}
                return
            payload = with_generation_settings(require_payload(job.future.result().doc), cfg)
            started = time.perf_counter()
            job.prefill = {"state": "running"}
            inner.chat(initial_messages(payload), max_tokens=1, temperature=0.0, top_p=1.0)
            job.prefill = {"state": "done",
                           "seconds": round(time.perf_counter() - started, 3)}
        except Exception as exc:  # noqa: BLE001 - an optimisation: the run does it anyway
            job.prefill = {"state": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        finally:
            self.generation.release()

    def _supersede(self, previous: str | None, now: _Job | None) -> None:
        old = self.drafts.get(previous) if previous else None
        if old is not None and old is not now and not old.pinned and not old.future.done():
            old.cancel.set()

    def draft_status(self, draft_id: str, wait: float = 0.0) -> dict[str, Any] | None:
        """Where a draft stands (waiting up to ``wait`` seconds for it)."""
        job = self.drafts.get(draft_id)
        if job is None:
            return None
        try:
            entry = job.future.result(timeout=wait) if wait > 0 else \
                (job.future.result() if job.future.done() else None)
        except TimeoutError:
            entry = None
        except Cancelled:
            return {"draft_id": draft_id, "state": "cancelled"}
        except DmcError as exc:
            return {"draft_id": draft_id, "state": "error",
                    "error": {"code": int(exc.code), "message": exc.message}}
        if entry is None:
            return {"draft_id": draft_id, "state": "cancelled" if job.cancel.is_set()
                    else "pending"}
        payload = entry.doc.get("payload") or {}
        chunks = (entry.doc.get("context") or {}).get("chunks", [])
        extraction = entry.doc.get("extraction") or {}
        return {"draft_id": draft_id, "state": "ready",
                "prepare_seconds": round((job.finished or job.started) - job.started, 3),
                "timings": entry.doc.get("run", {}).get("timings", {}),
                "intent": entry.doc.get("intent"),
                "context_files": list(dict.fromkeys(c["path"] for c in chunks)),
                "payload_tokens": (payload.get("metadata") or {}).get("context_tokens"),
                "extraction": {k: extraction.get(k) for k in (
                    "frameworks", "libraries", "services", "tools", "requirements",
                    "constraints", "mentioned_symbols", "languages", "mentioned_files")
                    if extraction.get(k)},
                "chunks": [{k: c.get(k) for k in ("path", "start_line", "end_line", "symbol",
                                                   "kind", "score", "why")} for c in chunks],
                "prefill": job.prefill}

    # --- runs ----------------------------------------------------------------------------

    def start_run(self, text: str, *, session_id: str | None = None,
                  stop_after: str | None = None, options: RunOptions | None = None,
                  follow_up: bool = False, overrides: dict[str, Any] | None = None,
                  ) -> LiveRun:
        """Begin a run in the background; its events arrive through :meth:`follow`."""
        if not text.strip():
            raise DmcError("the request is empty")
        if stop_after is not None and stop_after not in STAGES:
            raise DmcError(f"stop_after must be one of {', '.join(STAGES)}")
        cfg, warm = self.config_for(overrides)
        if session_id is None:
            session_id = self.history.new_session(text[:80])
        elif not self.history.has_session(session_id):
            raise DmcError(f"no session {session_id}", Exit.USAGE)
        live = LiveRun(uuid.uuid4().hex[:16], session_id, text)
        self.history.start_run(session_id, text, live.id)
        with self._lock:
            self.runs[live.id] = live
            finished = [k for k, r in self.runs.items() if r.done]
            for k in finished[:max(0, len(finished) - FINISHED_KEPT)]:
                del self.runs[k]
        self.pool.submit(self._execute, live, cfg, warm, stop_after,
                         options or RunOptions(), follow_up)
        return live

    def _emit(self, live: LiveRun, event: dict[str, Any]) -> None:
        with live.lock:
            event = {**event, "seq": len(live.events),
                     "t": round(time.perf_counter() - live.clock, 3)}
            live.events.append(event)
            waiters = list(live.waiters)
        self.history.add_event(live.id, event["seq"], event)
        for loop, flag in waiters:
            loop.call_soon_threadsafe(flag.set)

    def _execute(self, live: LiveRun, cfg: Config, warm: Warm, stop_after: str | None,
                 options: RunOptions, follow_up: bool) -> None:
        emit: Callable[[dict[str, Any]], None] = lambda e: self._emit(live, e)  # noqa: E731
        emit({"event": "run_started", "run_id": live.id, "session_id": live.session_id,
              "text": live.text})
        status: str = "error"
        doc: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        try:
            doc = self._run_stages(live, cfg, warm, stop_after, options, follow_up, emit)
            status = "done"
        except Cancelled:
            status, error = "cancelled", {"code": int(Exit.INTERRUPTED), "message": "cancelled"}
        except DmcError as exc:
            error = {"code": int(exc.code), "message": exc.message, "hint": exc.hint,
                     "stage": exc.stage}
        except Exception as exc:  # noqa: BLE001 - a bug: reported, the service stays up
            import logging

            logging.getLogger("dmc.serve").exception("run %s failed", live.id)
            error = {"code": int(Exit.INTERNAL), "message": f"{type(exc).__name__}: {exc}"}
        live.document, live.status = doc, status
        self.history.finish_run(live.id, status, doc,
                                None if error is None else error["message"])
        try:  # before the last event: a client that saw it finds the figures too
            with live.lock:
                events = [*live.events, {"event": "end",
                                         "t": round(time.perf_counter() - live.clock, 3)}]
            self.records.put_stats(live.id, live.created, stats_from(events, doc, status))
        except Exception:  # noqa: BLE001 - a dashboard figure must not fail the run
            import logging

            logging.getLogger("dmc.serve").exception("no stats for run %s", live.id)
        if error is None:
            emit({"event": "done", "status": status, "document": doc})
        else:
            emit({"event": "error", "status": status, "error": error})
        with live.lock:
            live.done = True
            waiters = list(live.waiters)
        for loop, flag in waiters:
            loop.call_soon_threadsafe(flag.set)

    def _run_stages(self, live: LiveRun, cfg: Config, warm: Warm, stop_after: str | None,
                    options: RunOptions, follow_up: bool,
                    emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        from dmc.history import continue_from

        doc = new_document(live.text, str(self.repo) if self.repo else None)
        extra = ""
        if follow_up:
            last = self.history.last_with_code()
            if last is None or last["id"] == live.id:
                emit({"event": "message", "level": "warning", "source": "run",
                      "message": "--continue: no previous request in this project"})
            else:
                emit({"event": "message", "level": "note", "source": "run",
                      "message": f"continuing from: {last['text']}"})
                doc = continue_from(doc, last)
                extra = "|continue:" + last["id"]
        last_stage = STAGES.index(stop_after) if stop_after else len(STAGES) - 1
        if last_stage < STAGES.index("optimize") or options.refresh:
            # a partial laptop half, or an index refresh asked for: nothing cached fits
            return run(doc, cfg, stop_after=stop_after, options=options, warm=warm,
                       on_event=emit, cancelled=live.cancel.is_set, parallel=True)
        key = self.key_for(doc["input"]["text"], cfg, extra)
        entry = self.cache.get(key)
        cached = entry is not None
        if entry is None:
            job = self._job(key, doc, cfg, warm, pin=True)
            while True:
                try:
                    entry = job.future.result(timeout=0.2)
                    break
                except TimeoutError:
                    if live.cancel.is_set():
                        raise Cancelled from None
        for event in entry.events:
            emit({**event, "cached": True} if cached else event)
        prepared = _fresh_ids(entry.doc)
        if stop_after in LAPTOP_STAGES:
            return {**prepared, "run": {**prepared["run"], "cached": True}} if cached \
                else prepared
        with self._lock:
            self.waiting += 1
        try:
            self.generation.acquire()
        finally:
            with self._lock:
                self.waiting -= 1
        SINK.sink = TokenBatcher(emit)
        try:
            rest = run({k: v for k, v in prepared.items() if k != "run"}, cfg,
                       start="generate", stop_after=stop_after, options=options, warm=warm,
                       on_event=emit, cancelled=live.cancel.is_set)
        finally:
            SINK.sink = None
            self.generation.release()
        timings = {**prepared["run"]["timings"], **rest["run"]["timings"]}
        rest["run"] = {"timings": timings, "total_seconds": round(sum(timings.values()), 3),
                       **({"cached": True} if cached else {})}
        return rest

    def cancel(self, run_id: str) -> bool:
        live = self.runs.get(run_id)
        if live is None or live.done:
            return False
        live.cancel.set()
        return True

    def describe_run(self, run_id: str) -> dict[str, Any] | None:
        live = self.runs.get(run_id)
        stored = self.history.run(run_id)
        if stored is None:
            return None
        if live is not None and not live.done:
            stored["status"] = "running"
            stored["events"] = len(live.events)
        elif stored["status"] == "running":
            stored["status"] = "interrupted"  # an earlier process stopped during it
        stored["document"] = live.document if live is not None and live.done else \
            self.history.document(run_id)
        stored["actions"] = self.records.actions(run_id)
        return stored

    async def follow(self, run_id: str, after: int = -1) -> AsyncIterator[dict[str, Any]]:
        """The run's events after ``after``: those so far, then the live ones until it
        ends. A run of an earlier process is replayed from the history."""
        live = self.runs.get(run_id)
        if live is None:
            for event in self.history.events(run_id, after):
                yield event
            info = self.history.run(run_id)
            if info is not None and info["status"] == "running":
                yield {"event": "error", "status": "interrupted", "seq": -1,
                       "error": {"code": int(Exit.UNAVAILABLE),
                                 "message": "the service stopped during this run"}}
            return
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()
        with live.lock:
            live.waiters.add((loop, flag))
        try:
            sent = after
            while True:
                flag.clear()
                with live.lock:
                    pending = live.events[sent + 1:]
                    finished = live.done
                for event in pending:
                    yield event
                    sent = event["seq"]
                if finished and sent >= len(live.events) - 1:
                    return
                try:
                    await asyncio.wait_for(flag.wait(), timeout=5.0)
                except TimeoutError:
                    pass
        finally:
            with live.lock:
                live.waiters.discard((loop, flag))

    # --- a run's result: the diff against the tree, apply, discard ------------------------

    def _result(self, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The finished run's result and its files (a DmcError says why there are none)."""
        info = self.describe_run(run_id)
        if info is None:
            raise LookupError(run_id)
        if info["status"] == "running":
            raise DmcError("the run is still running", Exit.USAGE)
        result = (info.get("document") or {}).get("result")
        if not result or not result.get("files"):
            raise DmcError("this run produced no code to apply", Exit.USAGE)
        return result, list(result["files"])

    def changes(self, run_id: str) -> dict[str, Any]:
        """Each file of the run's result as a diff against the working tree now, or why it
        would be refused (dmc.apply's checks, file by file)."""
        from dmc.apply import plan

        result, files = self._result(run_id)
        out = []
        for f in files:
            try:
                planned = plan(self.repo, [f])[0]
            except DmcError as exc:
                out.append({"path": f["path"], "refused": exc.message, "hint": exc.hint,
                            "code": f.get("code", "")})
                continue
            out.append({"path": planned.rel, "new_file": not planned.target.is_file(),
                        "diff": planned.diff(), "code": f.get("code", "")})
        return {"run_id": run_id, "status": result.get("status"),
                "reason": result.get("reason"), "files": out,
                "applicable": all("refused" not in f for f in out),
                "actions": self.records.actions(run_id)}

    def apply(self, run_id: str, partial: bool = False) -> dict[str, Any]:
        """Write the run's result into the tree: ``dmc run --apply``'s rules (a result that
        is not a success only with ``partial``; dmc.apply refuses truncated files, files
        outside the repository or in .git, files with uncommitted changes, whole-file
        replacements and edits that no longer apply; nothing is written if any is)."""
        from dmc.apply import apply_files

        result, files = self._result(run_id)
        status = result.get("status")
        if status != "success" and not partial:
            raise DmcError(f"not applied: the result is {status} "
                           f"({result.get('reason') or 'see the result'})", Exit.USAGE,
                           hint="apply it anyway as a partial result")
        with self._lock:  # two tabs pressing Apply at once write once
            written = apply_files(self.repo, files)
            self.records.add_action(run_id, "applied", {"files": written,
                                                        "partial": status != "success"})
        return {"run_id": run_id, "applied": written}

    def discard(self, run_id: str) -> dict[str, Any]:
        """Remember that the user set the result aside (nothing on disk changes)."""
        self._result(run_id)
        self.records.add_action(run_id, "discarded", {})
        return {"run_id": run_id, "discarded": True}

    def queue(self) -> dict[str, int]:
        """Runs going, whether the model is generating, runs waiting for it."""
        with self._lock:
            return {"running": sum(1 for r in self.runs.values() if not r.done),
                    "generating": 1 if self.generation.locked() else 0,
                    "waiting": self.waiting}

    def base_warm(self) -> ServiceWarm:
        """The warm pieces of the service's own configuration."""
        return self._configs[self._base_tag][1]

    def status(self) -> dict[str, Any]:
        """What the service holds now (for /v1/status and the benchmarks)."""
        import resource

        with self._lock:
            running = sum(1 for r in self.runs.values() if not r.done)
        return {"repo": str(self.repo) if self.repo else None, "runs_running": running,
                "runs_in_memory": len(self.runs), "drafts": len(self.drafts),
                "cache": self.cache.stats(), "configs": len(self._configs),
                "uptime_s": round(time.time() - self.started, 1),
                "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                     1)}

    def close(self) -> None:
        self.stopping.set()
        for live in list(self.runs.values()):
            live.cancel.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.prefill_pool.shutdown(wait=False, cancel_futures=True)
        self.history.close()
