"""The pipeline: one request through any range of stages, with events and cancellation.

``dmc run``, the laptop service (``dmc serve``) and anything else that wants the whole
chain call :func:`run`; the stage commands remain the plumbing. A run reports what happens
as events (plain dicts, JSON-ready) to ``on_event``:

- ``{"event": "stage_started", "stage"}`` and ``{"event": "stage_finished", "stage",
  "seconds", "summary"}`` (``summary``: the one-line description ``dmc run`` prints, and
  ``detail``: the same figures as data);
- ``{"event": "message", "level": "note"|"warning", "source", "message"}``: what a person
  should hear (``source`` is the stage or command the CLI names on stderr);
- generate's own progress, forwarded with ``"stage": "generate"``: ``generating``,
  ``validating``, ``checks``, ``iteration`` (per-pass check results), ``stopped``, and
  from an agent ``queued``/``started``.

``cancelled()`` is polled between stages and at every generated token; a cancelled run
raises :class:`Cancelled`. What is slow to load (the embedding model, the tokenizer, the
style profile, the generation backend) lives in a :class:`Warm`, which a short-lived CLI
process uses once and the service keeps for every request.

With ``parallel=True`` the independent first stages run together: intent, extraction and
the retrieval's preparation (opening the index and embedding the query) start at once,
the style profile and the tokenizer load beside them; the ranking waits for the
extraction (it boosts the files and symbols the request names), optimize waits for all of
them, generate for optimize, validate for generate. Events still come in stage order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dmc.config import Config
from dmc.contract import DmcError, Document, Exit

STAGES = ("intent", "extract", "retrieve", "optimize", "generate", "validate")
#: the stages whose result needs no model server: the "laptop half"
LAPTOP_STAGES = STAGES[:4]

Event = dict[str, Any]
OnEvent = Callable[[Event], None]


class Cancelled(DmcError):
    """The run was cancelled (newer text in the draft box, a client that asked to stop)."""

    def __init__(self) -> None:
        super().__init__("cancelled", Exit.INTERRUPTED)


@dataclass(frozen=True)
class RunOptions:
    """How this request runs (``dmc run``'s flags)."""

    refresh: bool = False  # build or refresh the index first
    local: bool = False  # generate in this process even with desktop.url
    remote: bool = False  # require the agent
    plan: bool = False  # plan first and generate step by step (else generation.plan decides)


class Warm:
    """What is slow to load, loaded once for a configuration and kept.

    Each piece loads on first use, under its own lock, so parallel stages never load one
    twice. The embedding model, the intent model and the tokenizer are process-wide
    caches already; this object adds the per-configuration pieces (style profile,
    optimize options, validate settings, backend, agent client) and a warm-up that loads
    everything ahead of the first request.
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._values: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = make()
            return self._values[key]

    def drop(self, *keys: str) -> None:
        """Forget pieces so the next use loads them again (the style profile changed)."""
        with self._guard:
            for key in keys:
                self._values.pop(key, None)

    def embedder(self) -> Any:
        from dmc.rag.embed import load

        return self._once("embedder", lambda: load(for_query=True))

    def counter(self) -> tuple[Callable[[str], int], str]:
        from dmc.wiring import token_counter

        return self._once("counter", lambda: token_counter(self.cfg))  # type: ignore[no-any-return]

    def optimize_options(self, notes: list[str]) -> Any:
        from dmc.wiring import optimize_options

        found: list[str] = []
        opts = self._once("optimize_options", lambda: (optimize_options(self.cfg, found),
                                                       list(found)))
        notes.extend(opts[1])
        return opts[0]

    def validate_settings(self) -> Any:
        from dmc.wiring import validate_settings

        return self._once("validate_settings",
                          lambda: validate_settings(self.cfg, None, True, False, None))

    def backend(self, notes: list[str]) -> Any:
        from dmc.wiring import generation_backend

        found: list[str] = []
        made = self._once("backend", lambda: (generation_backend(self.cfg, found),
                                              list(found)))
        if not self._values.get("backend_noted"):
            notes.extend(made[1])
            self._values["backend_noted"] = True
        return made[0]

    def client(self) -> Any:
        from dmc.wiring import agent_client

        return self._once("client", lambda: agent_client(self.cfg))

    def warm_up(self, *, generation: bool = False) -> dict[str, float]:
        """Load what the laptop half needs now (and the in-process model when asked);
        returns the seconds each piece took. A piece that fails to load is skipped: the
        request that needs it reports the error."""
        from dmc.intent.classifier import load_model

        took: dict[str, float] = {}
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("intent_model", load_model), ("embedder", self.embedder),
            ("tokenizer", self.counter), ("style_profile", lambda: self.optimize_options([])),
        ]
        if generation and not self.cfg.get("desktop.url"):
            steps.append(("generation_backend", lambda: self.backend([])))
        for name, step in steps:
            started = time.perf_counter()
            try:
                step()
            except DmcError:
                continue
            took[name] = round(time.perf_counter() - started, 3)
        return took


class _Emitter:
    """Sends events on, or holds them back while stages run in parallel, so that the
    events of each stage come out together and in stage order."""

    def __init__(self, on_event: OnEvent | None) -> None:
        self.on_event = on_event
        self.held: dict[str, list[Event]] | None = None
        self.lock = threading.Lock()

    def __call__(self, event: Event, stage: str | None = None) -> None:
        with self.lock:
            if self.held is not None and stage is not None and stage in self.held:
                self.held[stage].append(event)
                return
        if self.on_event is not None:
            self.on_event(event)

    def message(self, level: str, source: str, text: str, stage: str | None = None) -> None:
        self({"event": "message", "level": level, "source": source, "message": text}, stage)


def run(doc: Document, cfg: Config, *, start: str = "intent", stop_after: str | None = None,
        options: RunOptions | None = None, warm: Warm | None = None,
        on_event: OnEvent | None = None, cancelled: Callable[[], bool] | None = None,
        parallel: bool = False) -> Document:
    """Run the stages from ``start`` to ``stop_after`` (inclusive) on ``doc``.

    Returns the document the piped stages would have produced, with ``run``: the seconds
    each stage took and their total. Raises :class:`DmcError` (the stage's error) or
    :class:`Cancelled`.
    """
    for name, value in (("start", start), ("stop_after", stop_after)):
        if value is not None and value not in STAGES:
            raise DmcError(f"{name} must be one of {', '.join(STAGES)}, not {value!r}")
    first = STAGES.index(start)
    last = STAGES.index(stop_after) if stop_after is not None else len(STAGES) - 1
    if last < first:
        raise DmcError(f"stop_after {stop_after} comes before start {start}")
    todo = list(STAGES[first:last + 1])
    ctx = _Context(cfg, options or RunOptions(), warm or Warm(cfg), _Emitter(on_event),
                   cancelled or (lambda: False))
    timings: dict[str, float] = {}
    if parallel and todo[:3] == ["intent", "extract", "retrieve"]:
        doc = _first_three(doc, ctx, timings)
        todo = todo[3:]
    for stage in todo:
        ctx.check()
        ctx.emit({"event": "stage_started", "stage": stage})
        started = time.perf_counter()
        doc = _STEPS[stage](doc, ctx)
        timings[stage] = round(time.perf_counter() - started, 3)
        _finished(ctx, stage, doc, timings[stage])
    out = dict(doc)
    out["run"] = {"timings": timings, "total_seconds": round(sum(timings.values()), 3)}
    if ctx.parallel_wall is not None:  # the first three stages overlapped: their wall time
        out["run"]["parallel_wall_seconds"] = ctx.parallel_wall
    return out


@dataclass
class _Context:
    cfg: Config
    options: RunOptions
    warm: Warm
    emit: _Emitter
    cancelled: Callable[[], bool]
    parallel_wall: float | None = None

    def check(self) -> None:
        if self.cancelled():
            raise Cancelled


def _finished(ctx: _Context, stage: str, doc: Document, seconds: float) -> None:
    summary, detail = describe(stage, doc)
    ctx.emit({"event": "stage_finished", "stage": stage, "seconds": seconds,
              "summary": summary, "detail": detail})


def describe(stage: str, doc: Document) -> tuple[str, dict[str, Any]]:
    """What a finished stage produced: the text ``dmc run`` appends to its timing line
    (" — 3 chunks from a.py, b.py"), and the same figures as data."""
    if stage == "intent" and "intent" in doc:
        i = doc["intent"]
        return (f" — {i['task_type']}, {i['complexity']}, {i['domain']} "
                f"({i['confidence']:.2f})",
                {k: i[k] for k in ("task_type", "complexity", "domain", "confidence")})
    if stage == "retrieve":
        chunks = doc.get("context", {}).get("chunks", [])
        files = list(dict.fromkeys(c["path"] for c in chunks))[:4]
        return (f" — {len(chunks)} chunks" + (f" from {', '.join(files)}" if files else ""),
                {"chunks": len(chunks), "files": files})
    if stage == "generate" and "result" in doc:
        from dmc.generate import summary_line

        r = doc["result"]
        return (f" — {summary_line(r)}, {r['metadata']['tokens_generated']} tokens, "
                f"{r['metadata']['model_used']}",
                {"status": r.get("status"), "tokens": r["metadata"]["tokens_generated"],
                 "model": r["metadata"]["model_used"]})
    if stage == "validate" and "validation" in doc:
        c = doc["validation"]["counts"]
        return (f" — {c['error']} errors, {c['warning']} warnings", dict(c))
    return "", {}


# --- the stages ----------------------------------------------------------------------------

def _intent(doc: Document, ctx: _Context) -> Document:
    from dmc.intent import analyze

    out, notes = analyze(doc, min_confidence=ctx.cfg.get("preprocessing.min_confidence"))
    for n in notes:
        ctx.emit.message("warning", "run", n, "intent")
    return out


def _extract(doc: Document, ctx: _Context) -> Document:
    from dmc.extract import analyze

    out, _notes = analyze(doc, repo=ctx.cfg.repo)
    return out


class _Prepared:
    """The retrieval's half that needs no extraction: the index opened, the query
    embedded. ``None`` fields mean retrieval is skipped (the note says why)."""

    def __init__(self, ctx: _Context, text: str) -> None:
        from dmc.wiring import index_settings, open_index

        self.settings: Any = None
        self.chroma: Any = None
        self.vector: Any = None
        cfg = ctx.cfg
        if cfg.repo is None:
            ctx.emit.message("note", "run", "retrieve skipped: not inside a repository",
                             "retrieve")
            return
        settings = index_settings(cfg, cfg.repo)
        if not settings.manifest_path.is_file() and not ctx.options.refresh:
            ctx.emit.message("note", "run", "retrieve skipped: no index (run `dmc index`, "
                             "or pass --refresh)", "retrieve")
            return
        notes: list[tuple[str, str]] = []
        try:
            self.settings, manifest, self.chroma = open_index(
                cfg, refresh=ctx.options.refresh, allow_stale=True, notes=notes)
        finally:
            for level, message in notes:
                ctx.emit.message(level, "retrieve", message, "retrieve")
        # SQLite connections stay in their thread: the ranking opens its own
        manifest.close()
        self.vector = ctx.warm.embedder().embed([text])[0]


def _retrieve(doc: Document, ctx: _Context, prepared: _Prepared | None = None) -> Document:
    from dmc.rag.retrieve import query_from, search

    text = doc["input"]["text"]
    from dmc.rag.store import Manifest

    prepared = prepared or _Prepared(ctx, text)
    if prepared.settings is None:
        return doc
    manifest = Manifest(prepared.settings.manifest_path, create=False)
    try:
        query = query_from(doc, text, k=ctx.cfg.get("rag.top_k"),
                           threshold=ctx.cfg.get("rag.similarity_threshold"))
        chunks = search(manifest, query, prepared.vector, prepared.chroma)
    finally:
        manifest.close()
    out = dict(doc)
    out["context"] = {**(doc.get("context") or {}), "chunks":
                      (doc.get("context") or {}).get("chunks", []) + chunks}
    return out


def _optimize(doc: Document, ctx: _Context) -> Document:
    from dmc.optimize import optimize

    count, name = ctx.warm.counter()
    notes: list[str] = []
    opts = ctx.warm.optimize_options(notes)
    for n in notes:
        ctx.emit.message("warning", "optimize", n)
    out, notes = optimize(doc, opts, count, name)
    for n in notes:
        ctx.emit.message("warning", "run", n)
    return out


def _generate(doc: Document, ctx: _Context) -> Document:
    from dmc.generate import generate, require_payload
    from dmc.generate.backends import Cancelled as Stop
    from dmc.wiring import with_generation_settings

    payload = with_generation_settings(require_payload(doc), ctx.cfg)
    urls = ctx.cfg.get("desktop.url")
    if ctx.options.remote and not urls:
        raise DmcError("--remote needs desktop.url")

    def forward(event: Event) -> None:
        ctx.check()
        ctx.emit({**event, "stage": "generate"})

    use_agent = bool(urls) and not ctx.options.local
    try:
        plan = _plan(doc, payload, ctx, use_agent)
        if plan is not None:
            result = _follow(payload, plan, ctx, use_agent, forward)
        elif use_agent:
            result = dict(ctx.warm.client().generate(payload, on_event=forward))
        else:
            notes: list[str] = []
            backend = ctx.warm.backend(notes)
            for n in notes:
                ctx.emit.message("note", "generate", n)
            result = generate(payload, backend, on_event=forward, cancelled=ctx.cancelled,
                              repo=ctx.cfg.repo)  # here: its own tests run as checks
        if (result.get("metadata") or {}).get("interrupted"):
            raise KeyboardInterrupt  # Ctrl-C: the run stops here, nothing is applied
    except Stop:
        raise Cancelled from None
    out = dict(doc)
    out["result"] = result
    return out


def _plan(doc: Document, payload: dict[str, Any], ctx: _Context,
          use_agent: bool) -> dict[str, Any] | None:
    """The plan this run follows (:func:`dmc.plan.plan_to_follow`), its lines as notes."""
    from dmc.plan import describe, plan_to_follow

    notes: list[str] = []
    plan = plan_to_follow(doc, payload, ctx.cfg, asked=ctx.options.plan, use_agent=use_agent,
                          backend=lambda: ctx.warm.backend(notes), notes=notes)
    for n in notes:
        ctx.emit.message("note", "generate", n)
    if plan is not None:
        for line in describe(plan):
            ctx.emit.message("note", "generate", line)
    return plan


def _follow(payload: dict[str, Any], plan: dict[str, Any], ctx: _Context, use_agent: bool,
            forward: Callable[[Event], None]) -> dict[str, Any]:
    """Generate ``plan`` step by step, each step here or on the agent."""
    from dmc.generate import generate
    from dmc.plan import run_plan

    def step(sp: dict[str, Any], on_event: Any) -> dict[str, Any]:
        if use_agent:
            return dict(ctx.warm.client().generate(sp, on_event=on_event))
        return generate(sp, ctx.warm.backend([]), on_event=on_event, cancelled=ctx.cancelled,
                        repo=ctx.cfg.repo)

    return run_plan(payload, plan, on_event=forward, repo=ctx.cfg.repo, generate_step=step)


def _validate(doc: Document, ctx: _Context) -> Document:
    from dmc.validate import validate
    from dmc.wiring import validate_sources

    sources, settings = validate_sources(doc, ctx.warm.validate_settings(), None)
    out = dict(doc)
    out["validation"] = validate(sources, settings)
    return out


_STEPS: dict[str, Callable[[Document, _Context], Document]] = {
    "intent": _intent, "extract": _extract, "retrieve": _retrieve, "optimize": _optimize,
    "generate": _generate, "validate": _validate}


_POOL: dict[str, Any] = {}
_POOL_LOCK = threading.Lock()


def _stage_pool() -> Any:
    """The threads parallel stages run on, made once per process: a long-lived service
    would otherwise start and stop threads for every request it prepares."""
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if "pool" not in _POOL:
            _POOL["pool"] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dmc-stage")
        return _POOL["pool"]


def _first_three(doc: Document, ctx: _Context, timings: dict[str, float]) -> Document:
    """intent, extract and the retrieval's preparation at once (with the style profile and
    the tokenizer loading beside them); the ranking once the extraction is in."""
    from concurrent.futures import Future
    from concurrent.futures import wait as wait_all

    stages = ("intent", "extract", "retrieve")
    with ctx.emit.lock:
        ctx.emit.held = {s: [] for s in stages}
    text = doc["input"]["text"]
    begun = time.perf_counter()

    def timed(fn: Callable[[], Any]) -> Callable[[], tuple[Any, float]]:
        def call() -> tuple[Any, float]:
            started = time.perf_counter()
            value = fn()
            return value, time.perf_counter() - started
        return call

    ctx.check()
    pool = _stage_pool()
    submitted: list[Future[Any]] = []
    try:
        intent_f = pool.submit(timed(lambda: _intent(doc, ctx)))
        extract_f = pool.submit(timed(lambda: _extract(doc, ctx)))
        prep_f = pool.submit(timed(lambda: _Prepared(ctx, text)))
        side: list[Future[Any]] = [pool.submit(ctx.warm.counter),
                                   pool.submit(ctx.warm.optimize_options, [])]
        submitted = [intent_f, extract_f, prep_f, *side]
        (with_intent, t_intent) = intent_f.result()
        (with_extraction, t_extract) = extract_f.result()
        (prepared, t_prep) = prep_f.result()
        ctx.check()
        started = time.perf_counter()
        merged = dict(doc)  # keys in the order the stages one after another give them
        merged["intent"] = with_intent["intent"]
        merged.update((k, v) for k, v in with_extraction.items() if k != "intent")
        merged = _retrieve(merged, ctx, prepared)
        t_retrieve = t_prep + time.perf_counter() - started
        for f in side:
            try:
                f.result()
            except DmcError:
                pass  # reported by the stage that needs it
    except BaseException:
        for f in submitted:
            f.cancel()
        wait_all(submitted)  # nothing of this run still working once it has failed
        with ctx.emit.lock:
            held, ctx.emit.held = ctx.emit.held or {}, None
        for stage in stages:  # what was said before the failure is still worth hearing
            for event in held.get(stage, []):
                ctx.emit(event)
        raise
    with ctx.emit.lock:
        held, ctx.emit.held = ctx.emit.held or {}, None
    for stage, seconds in zip(stages, (t_intent, t_extract, t_retrieve), strict=True):
        ctx.emit({"event": "stage_started", "stage": stage})
        for event in held.get(stage, []):
            ctx.emit(event)
        timings[stage] = round(seconds, 3)
        _finished(ctx, stage, merged, timings[stage])
    ctx.parallel_wall = round(time.perf_counter() - begun, 3)
    return merged
