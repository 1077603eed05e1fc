"""Stage ``plan``: a plan for a change too big or too tangled for one answer, then following it.

A small coder answers one focused request far better than a long one: a 0.5B–1.5B model
given three files and four things to do forgets two of them, and a context that does not fit
its window is cut. So, as aider's architect/editor and Plandex's planner do, a planning model
first writes a plan — the files to change, ordered steps, and for each step the checks that
show it is done — and generation then works one step at a time with only that step's
context. The plan is an ordinary key of the request document (``plan``, format in
``dmc/plan.schema.json`` and ``docs/PLANNING.md``), so a person can read and edit it between
``dmc plan`` and ``dmc generate``.

Planning is asked for when (:func:`reasons_to_plan`): the user asks (``--plan``), the prompt
would not fit the coder's window, the task is complex (intent complexity ``high``), or
several files are to be changed.

The planning model answers JSON under a schema (llama.cpp's grammar for the embedded model,
``format`` for Ollama, ``response_format`` for OpenAI-compatible servers). Its answer is
checked (:func:`from_answer`): paths are normalised and must stay inside the repository,
guessed paths are matched to the files the context names, and what cannot run is said in
``notes``. An answer that cannot be used becomes a one-step plan with a note
(:func:`fallback_plan`), never an error: the plan is an aid, and one step is what generating
without a plan does. A plan a person wrote is held to the same rules, but a path outside the
repository there is refused outright (:func:`check_plan`, exit 2).

Following a plan (:func:`run_plan`) calls :func:`dmc.generate.generate` once per step with a
step payload (:func:`step_payload`): the step's files as they are after the steps before (so
each step's edits apply on top of the previous ones), the existing code and documents that
share names with the step, and the step's checks as examples in its request, so they run
after the step like any stated example. The steps' edit blocks are then joined into one
result whose ``files[i].edits`` replay on the original files in order (``dmc run --apply``
needs nothing new), and the request's own checks and "done means done" run once more on
the final files.
"""

from __future__ import annotations

import difflib
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from dmc.contract import DmcError, Exit

PLAN_VERSION = 1
#: Most steps kept from a planner's answer: a small coder gains nothing from finer slicing,
#: and each step costs at least one model answer.
MAX_STEPS = 6
MAX_CHECKS_PER_STEP = 8
#: Existing-code entries and documents sent with one step besides its own files.
MAX_RELATED = 4
PLAN_TOKENS = 700
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "plan.schema.json"

#: What the planning model is asked to answer: a grammar-friendly subset of the plan format
#: (no ids, no tests: dmc numbers the steps, and test files are for people to add).
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "files": {"type": "array", "maxItems": 8, "items": {
            "type": "object",
            "properties": {"path": {"type": "string"},
                           "action": {"type": "string", "enum": ["modify", "create"]}},
            "required": ["path", "action"]}},
        "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {
            "type": "object",
            "properties": {"title": {"type": "string"},
                           "details": {"type": "string"},
                           "files": {"type": "array", "minItems": 1, "maxItems": 4,
                                     "items": {"type": "string"}},
                           "checks": {"type": "array", "maxItems": 4,
                                      "items": {"type": "string"}}},
            "required": ["title", "details", "files", "checks"]}},
    },
    "required": ["summary", "files", "steps"],
}

PLAN_SYSTEM = ("You plan code changes for a coder that works one step at a time and sees only "
               "the files of the current step. Answer with one JSON object only.")

Event = dict[str, Any]
OnEvent = Callable[[Event], None]
GenerateStep = Callable[[dict[str, Any], OnEvent], dict[str, Any]]


# ----------------------------------------------------------------------------- when to plan


def prompt_tokens_estimate(payload: dict[str, Any]) -> int:
    """Tokens the coder's first prompt takes, from its size (about 3 characters a token for
    code: an overestimate for English, close for code, which is what fills the prompt)."""
    from dmc.generate.prompt import initial_messages

    return sum(len(m["content"]) for m in initial_messages(payload)) // 3


def reasons_to_plan(payload: dict[str, Any], *, context_window: int, asked: bool) -> list[str]:
    """Why this payload should be planned before it is generated; empty: no need."""
    from dmc.generate import answer_tokens

    reasons = []
    if asked:
        reasons.append("asked for (--plan)")
    need = prompt_tokens_estimate(payload) + answer_tokens(payload)
    if need > context_window:
        reasons.append(f"the prompt and answer (~{need} tokens) do not fit the coder's "
                       f"{context_window}-token window")
    dropped = ((payload.get("metrics") or {}).get("dropped")) or []
    if dropped:
        reasons.append(f"{len(dropped)} context item(s) did not fit the context budget")
    task = payload.get("task") or {}
    # intent's complexity alone is a weak signal (a one-function request with an example
    # pasted in reads as "high"): it calls for a plan only for a change to existing files
    if task.get("complexity") == "high" and (payload.get("context") or {}).get("files"):
        reasons.append("the task is complex (intent complexity high) and changes existing "
                       "files")
    targets = task.get("target_files") or []
    if len(targets) > 1:
        reasons.append(f"{len(targets)} target files")
    return reasons


# ----------------------------------------------------------------------------- planners


@dataclass
class Answer:
    """What the planning model said: the parsed object (None when it was not JSON)."""

    data: dict[str, Any] | None
    text: str
    seconds: float
    tokens: int = 0
    error: str | None = None


class Planner(ABC):
    """A planning model: one chat turn whose answer is JSON under a schema."""

    label: str = ""

    @abstractmethod
    def unavailable(self) -> str | None:
        """Why this planner cannot be asked (model missing, server down); None: it can.
        Never raises and never loads a model."""

    @abstractmethod
    def ask(self, messages: list[dict[str, str]], schema: dict[str, Any],
            max_tokens: int) -> Answer:
        """One constrained answer; a service failure raises :class:`DmcError` (exit 3/4)."""


class LlamaCppPlanner(Planner):
    """The embedded planning model (llama.cpp in-process), under a JSON-schema grammar.

    When the coder is the same GGUF file in this process, its loaded model is reused: a
    second copy of the weights would cost the memory and the load time again.
    """

    def __init__(self, path: Path, *, name: str | None = None, n_ctx: int = 8192,
                 share: Any = None) -> None:
        self.path = path
        self.name = name or path.stem
        self.label = f"llamacpp:{self.name}"
        self.n_ctx = n_ctx
        self.share = share if share is not None and getattr(share, "path", None) == path \
            else None
        self._llm: Any = None

    def unavailable(self) -> str | None:
        return None if self.path.is_file() else f"model file {self.path} is missing"

    def _model(self) -> Any:
        if self.share is not None:
            return self.share._load()
        if self._llm is None:
            from dmc.generate.backends import LlamaCppBackend

            self._llm = LlamaCppBackend(self.path, n_ctx=self.n_ctx, name=self.name)._load()
        return self._llm

    def ask(self, messages: list[dict[str, str]], schema: dict[str, Any],
            max_tokens: int) -> Answer:
        import contextlib

        start = time.perf_counter()
        llm = self._model()
        lock: Any = self.share._lock if self.share is not None else contextlib.nullcontext()
        with lock:
            try:
                out = llm.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=0.0,
                    response_format={"type": "json_object", "schema": schema})
            except ValueError as exc:  # the prompt does not fit the context, among others
                return Answer(None, "", time.perf_counter() - start, 0, str(exc)[:200])
        text = str(out["choices"][0]["message"].get("content") or "")
        tokens = int((out.get("usage") or {}).get("completion_tokens") or 0)
        return _parsed(text, time.perf_counter() - start, tokens)


class RemotePlanner(Planner):
    """A planning model on Ollama (``format``: the schema) or an OpenAI-compatible server
    (``response_format``), through :func:`dmc.llm.ask_json`."""

    def __init__(self, spec: Any, *, timeout: float) -> None:
        self.spec = spec
        self.label = f"{spec.kind}:{spec.model}"
        self.timeout = timeout

    def unavailable(self) -> str | None:
        import httpx

        try:
            if self.spec.kind == "ollama":
                resp = httpx.get(f"{self.spec.base_url}/api/tags", timeout=5.0)
                if resp.status_code != 200:
                    return f"{self.spec.base_url} answered HTTP {resp.status_code}"
                names = {m.get("model") or m.get("name") for m in resp.json().get("models", [])}
                if self.spec.model not in names and f"{self.spec.model}:latest" not in names:
                    return f"Ollama has no model '{self.spec.model}' (ollama pull " \
                           f"{self.spec.model})"
                return None
            resp = httpx.get(f"{self.spec.base_url}/models", timeout=5.0)
            return None if resp.status_code == 200 else \
                f"{self.spec.base_url} answered HTTP {resp.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            return f"{self.spec.base_url} is unreachable ({type(exc).__name__})"

    def ask(self, messages: list[dict[str, str]], schema: dict[str, Any],
            max_tokens: int) -> Answer:
        from dmc.llm import ask_json

        start = time.perf_counter()
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        user = "\n\n".join(m["content"] for m in messages if m["role"] == "user")
        try:
            data = ask_json(self.spec, system, user, schema, timeout=self.timeout,
                            max_tokens=max_tokens)
        except DmcError as exc:
            if exc.code == Exit.UNAVAILABLE:
                raise
            return Answer(None, "", time.perf_counter() - start, 0, exc.message)
        return Answer(data, orjson.dumps(data).decode(), time.perf_counter() - start)


def _parsed(text: str, seconds: float, tokens: int) -> Answer:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Answer(None, text, seconds, tokens, f"not JSON ({exc})")
    if not isinstance(data, dict):
        return Answer(None, text, seconds, tokens, f"a JSON {type(data).__name__}, not an "
                      "object")
    return Answer(data, text, seconds, tokens)


#: The seed's planning model for an Ollama desktop.
OLLAMA_PLANNER = "codellama:7b-instruct"
#: The embedded planner: the larger packaged model.
EMBEDDED_PLANNER = "qwen2.5-coder-1.5b"


def make_planner(spec: str, *, generation_kind: str, generation_server: str | None,
                 ollama_url: str, context_window: int, timeout: float,
                 share: Any = None) -> Planner:
    """The planner ``models.planning`` names.

    ``auto``: on an Ollama desktop the seed's ``codellama:7b-instruct`` on the same server;
    with an OpenAI-compatible server, the model it serves; otherwise the packaged 1.5B
    in-process. Else ``ollama:NAME``, ``http(s)://HOST/v1#MODEL``, a packaged model name or
    a GGUF path; anything else is exit 2.
    """
    from dmc.llm import ModelSpec, parse_spec

    spec = spec.strip()
    if spec == "auto":
        server = generation_server or ""
        if generation_kind == "ollama" or server.startswith("ollama:"):
            url = server[len("ollama:"):] if server.startswith("ollama:") else ollama_url
            return RemotePlanner(ModelSpec("ollama", OLLAMA_PLANNER, url.rstrip("/")),
                                 timeout=timeout)
        if generation_kind == "openai" or server.startswith("openai:"):
            url = server[len("openai:"):] if server.startswith("openai:") else server
            if url:
                model = getattr(share, "model", None) or "default"
                return RemotePlanner(ModelSpec("openai", model, url.rstrip("/")),
                                     timeout=timeout)
        spec = EMBEDDED_PLANNER
    if spec.startswith(("ollama:", "http://", "https://")):
        parsed = parse_spec(spec, ollama_url=ollama_url)
        assert parsed is not None
        return RemotePlanner(parsed, timeout=timeout)
    from dmc.models import PACKAGED, resolve

    if spec in PACKAGED:
        return LlamaCppPlanner(resolve(spec), name=spec, n_ctx=context_window, share=share)
    if spec.endswith(".gguf"):
        return LlamaCppPlanner(Path(spec).expanduser(), n_ctx=context_window, share=share)
    raise DmcError(f"models.planning: unknown planner {spec!r}", Exit.USAGE,
                   hint="auto, a packaged model (qwen2.5-coder-1.5b), a GGUF path, "
                        "ollama:NAME or http://HOST:PORT/v1#MODEL")


# ----------------------------------------------------------------------------- the prompt

_OUTLINE = re.compile(
    r"^\s*(?:export\s+)?(?:async\s+)?(?:def|class|function)\s+\w+.*$"
    r"|^\s*(?:static\s+)?(?:async\s+)?\w+\s*\([^)]*\)\s*\{\s*$"
    r"|^\s*\w+\.(?:get|post|put|patch|delete|use)\s*\(.*$"
    r"|^\s*@\w+(?:\.\w+)*(?:\(.*)?$"
    r"|^\s*module\.exports.*$", re.M)
MAX_OUTLINE_LINES = 30


def outline(text: str) -> str:
    """The lines that say what a file holds: definitions, routes, exports."""
    lines = [m.group(0).rstrip() for m in _OUTLINE.finditer(text)]
    more = len(lines) - MAX_OUTLINE_LINES
    shown = lines[:MAX_OUTLINE_LINES] + ([f"  … {more} more"] if more > 0 else [])
    return "\n".join("    " + ln.strip()[:120] for ln in shown)


def known_files(payload: dict[str, Any]) -> dict[str, str]:
    """Every file the payload knows something of: path -> its text (whole or in part)."""
    ctx = payload.get("context") or {}
    out: dict[str, str] = {}
    for path, text in (ctx.get("existing_code") or {}).items():
        out[str(path)] = str(text)
    for path, text in (ctx.get("files") or {}).items():
        out[str(path)] = str(text)
    for path in (payload.get("task") or {}).get("target_files") or []:
        out.setdefault(str(path), "")
    return out


def plan_messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    """The chat asking for a plan: the task and an outline of each known file (never the
    files whole: the planner decides what goes where; the coder sees the text)."""
    task = payload.get("task") or {}
    parts = [f"Task: {task.get('description', '')}"]
    if task.get("language"):
        parts.append(f"Language: {task['language']}")
    files = known_files(payload)
    current = (payload.get("context") or {}).get("files") or {}
    targets = set(task.get("target_files") or [])
    listed = []
    for path, text in files.items():
        state = "exists" if path in current or text else "new"
        mark = ", to change" if path in targets else ""
        body = outline(text)
        listed.append(f"- {path} ({state}{mark})" + (f":\n{body}" if body else ""))
    if listed:
        parts.append("Files:\n" + "\n".join(listed))
    parts.append(
        "Write the plan as a JSON object:\n"
        '- "summary": one sentence.\n'
        '- "files": each file to change or create, with "action": "modify" or "create".\n'
        '- "steps": 1 to 4 steps in order; each changes one file when it can. For each: '
        '"title"; "details" (exactly what to add or change, naming the functions, routes '
        'and fields); "files" (paths from the list above, or new paths inside the project); '
        '"checks" (Python assert lines that call the changed code and show the step is '
        "done; [] for code that cannot be called that way, such as JavaScript or code "
        "needing a server).\n"
        "A small change is one step. Plan only what the task asks: no extra tests, "
        "documentation or refactoring.")
    return [{"role": "system", "content": PLAN_SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)}]


# ----------------------------------------------------------------------------- plans


class PlanError(Exception):
    """A planner's answer that cannot be used (the plan falls back to one step)."""


def normalise_path(path: str) -> str:
    """``./routes\\api.js`` -> ``routes/api.js``; the form paths are compared in."""
    text = str(path).strip().strip("`'\"").replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def outside(path: str, repo: Path | None) -> bool:
    """Whether ``path`` leaves the repository (``..``, absolute, or a symlink out)."""
    if not path or "\x00" in path:
        return True
    if repo is not None:
        from dmc.repo import resolve_inside

        return resolve_inside(repo, path) is None
    pure = PurePosixPath(path)
    return pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", path) is not None


def _match_known(path: str, known: list[str]) -> str | None:
    """A guessed path (``src/routes/api.js``, ``api.js``) as the one known file it means."""
    if path in known:
        return path
    name = PurePosixPath(path).name
    same = [k for k in known if PurePosixPath(k).name == name]
    return same[0] if len(same) == 1 else None


def _runnable(check: str) -> bool:
    from dmc.generate.checks import from_text

    return bool(from_text(check, "plan step"))


def from_answer(data: dict[str, Any], payload: dict[str, Any], *, repo: Path | None
                ) -> tuple[dict[str, Any], list[str]]:
    """A plan from the planner's JSON and what was changed in it; :class:`PlanError` when
    the answer cannot be used at all."""
    from dmc.generate.changes import CRITERIA_PREFIX

    notes: list[str] = []
    steps_in = data.get("steps")
    if not isinstance(steps_in, list) or not steps_in:
        raise PlanError("the answer has no steps")
    known = list(known_files(payload))
    targets = [str(t) for t in (payload.get("task") or {}).get("target_files") or []]
    steps: list[dict[str, Any]] = []
    for n, raw in enumerate(steps_in[:MAX_STEPS], start=1):
        if not isinstance(raw, dict):
            raise PlanError(f"step {n} is not an object")
        title = " ".join(str(raw.get("title") or "").split())
        details = str(raw.get("details") or "").strip()
        if not title and not details:
            notes.append(f"step {n}: empty, dropped")
            continue
        files: list[str] = []
        for p in raw.get("files") or []:
            path = normalise_path(str(p))
            if outside(path, repo):
                raise PlanError(f"step {n} names {path!r}, outside the repository")
            if path not in known:
                matched = _match_known(path, known)
                if matched is not None and matched != path:
                    notes.append(f"step {n}: {path} read as {matched}")
                    path = matched
            if path and path not in files:
                files.append(path)
        if not files:
            if len(targets) == 1:
                files = list(targets)
                notes.append(f"step {n}: no file named; {targets[0]} assumed")
            else:
                notes.append(f"step {n}: no file named, dropped")
                continue
        checks: list[str] = []
        criteria: list[str] = []
        for c in raw.get("checks") or []:
            text = str(c).strip()
            if not text:
                continue
            (checks if _runnable(text) and any(f.endswith(".py") for f in files)
             else criteria).append(text)
        if criteria:
            notes.append(f"step {n}: {len(criteria)} check(s) not runnable as Python "
                         "examples; given to the coder as criteria")
            details = (details + "\n" + CRITERIA_PREFIX + "; ".join(criteria)).strip()
        steps.append({"id": len(steps) + 1, "title": title or details.split("\n")[0][:80],
                      "details": details, "files": files,
                      "checks": checks[:MAX_CHECKS_PER_STEP]})
    if len(steps_in) > MAX_STEPS:
        notes.append(f"the planner gave {len(steps_in)} steps; the first {MAX_STEPS} kept")
    if not steps:
        raise PlanError("no usable step")
    planned = {p for s in steps for p in s["files"]}
    missed = [t for t in targets if t not in planned]
    if missed:
        notes.append("target file(s) no step changes: " + ", ".join(missed))
    files_out = []
    for p in dict.fromkeys(p for s in steps for p in s["files"]):
        exists = p in ((payload.get("context") or {}).get("files") or {}) or \
            bool(known_files(payload).get(p)) or \
            (repo is not None and (repo / p).is_file())
        files_out.append({"path": p, "action": "modify" if exists else "create"})
    plan = {"version": PLAN_VERSION, "summary": " ".join(str(data.get("summary") or "").split()),
            "files": files_out, "steps": steps}
    return plan, notes


def fallback_plan(payload: dict[str, Any], reasons: list[str], note: str) -> dict[str, Any]:
    """One step: the whole request, with its target files (what generating without a plan
    does), and why the planner's plan was not used."""
    task = payload.get("task") or {}
    targets = [str(t) for t in task.get("target_files") or []]
    current = (payload.get("context") or {}).get("files") or {}
    return {"version": PLAN_VERSION, "planner": "fallback", "reasons": reasons,
            "summary": str(task.get("description") or "")[:2000],
            "files": [{"path": t, "action": "modify" if t in current else "create"}
                      for t in targets],
            "steps": [{"id": 1, "title": "the whole request", "details": "",
                       "files": targets, "checks": [], "whole_request": True}],
            "notes": [note]}


def make_plan(payload: dict[str, Any], planner: Planner, *, repo: Path | None,
              reasons: list[str], planner_named: bool = False,
              max_tokens: int = PLAN_TOKENS) -> dict[str, Any]:
    """A plan for ``payload``: the planner's, checked, or one step with the reason.

    A planner that cannot be asked falls back with a note, unless the user named it for this
    run (``planner_named``): then it is exit 3, as for any model a user names.
    """
    why = planner.unavailable()
    if why is not None:
        if planner_named:
            raise DmcError(f"planner {planner.label} is not usable: {why}", Exit.UNAVAILABLE,
                           hint="set models.planning to a model that is there")
        return fallback_plan(payload, reasons, f"planner {planner.label} not usable ({why}); "
                             "one step")
    try:
        answer = planner.ask(plan_messages(payload), ANSWER_SCHEMA, max_tokens)
    except DmcError as exc:
        if planner_named:
            raise
        return fallback_plan(payload, reasons, f"planner {planner.label} failed "
                             f"({exc.message}); one step")
    meta = {"seconds": round(answer.seconds, 3), "tokens": answer.tokens}
    if answer.data is None:
        plan = fallback_plan(payload, reasons, f"the planner's answer was unusable "
                             f"({answer.error}); one step")
        plan["metadata"] = meta
        return plan
    try:
        plan, notes = from_answer(answer.data, payload, repo=repo)
    except PlanError as exc:
        plan = fallback_plan(payload, reasons, f"the planner's answer was unusable ({exc}); "
                             "one step")
        plan["metadata"] = meta
        return plan
    return {"version": PLAN_VERSION, "planner": planner.label, "reasons": reasons,
            "summary": plan["summary"], "files": plan["files"], "steps": plan["steps"],
            "notes": notes, "metadata": meta}


def check_plan(plan: Any, repo: Path | None) -> dict[str, Any]:
    """A plan as read from a document (a person may have edited it): its shape checked, its
    steps numbered; exit 2 with one line for anything wrong, and for a path outside the
    repository."""
    if not isinstance(plan, dict):
        raise DmcError("plan must be an object")
    if plan.get("version", PLAN_VERSION) != PLAN_VERSION:
        raise DmcError(f"plan version {plan.get('version')!r} is not {PLAN_VERSION}")
    steps = plan.get("steps")
    if not isinstance(steps, list) or not steps:
        raise DmcError("plan.steps must be a non-empty list")
    if len(steps) > 12:
        raise DmcError(f"plan has {len(steps)} steps; at most 12")
    out = dict(plan)
    out["steps"] = []
    for n, step in enumerate(steps, start=1):
        where = f"plan.steps[{n - 1}]"
        if not isinstance(step, dict):
            raise DmcError(f"{where} must be an object")
        files = step.get("files")
        if not isinstance(files, list) or not files or \
                not all(isinstance(f, str) and f.strip() for f in files):
            raise DmcError(f"{where}.files must be a non-empty list of paths")
        for key in ("title", "details"):
            if key in step and not isinstance(step[key], str):
                raise DmcError(f"{where}.{key} must be a string")
        checks = step.get("checks") or []
        if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
            raise DmcError(f"{where}.checks must be a list of strings")
        tests = step.get("tests") or []
        if not isinstance(tests, list) or not all(
                isinstance(t, dict) and isinstance(t.get("path"), str)
                and isinstance(t.get("code"), str)
                and re.fullmatch(r"[A-Za-z0-9_./-]+\.py", t["path"]) for t in tests):
            raise DmcError(f"{where}.tests must be a list of {{path: NAME.py, code}}")
        paths = [normalise_path(f) for f in files]
        for path in paths + [str(t["path"]) for t in tests]:
            if outside(path, repo):
                raise DmcError(f"{where} names {path!r}, outside the repository; refused")
        out["steps"].append({**step, "id": n, "files": list(dict.fromkeys(paths)),
                             "title": str(step.get("title") or f"step {n}")})
    for f in plan.get("files") or []:
        path = normalise_path(str(f.get("path") if isinstance(f, dict) else f))
        if outside(path, repo):
            raise DmcError(f"plan.files names {path!r}, outside the repository; refused")
    return out


# ----------------------------------------------------------------------------- following it

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")
_STOP = {"this", "that", "with", "from", "into", "when", "then", "each", "step", "file",
         "files", "code", "return", "returns", "function", "method", "should", "change",
         "add", "make", "const", "self", "none", "true", "false", "async", "await", "import",
         "export", "require", "module", "exports", "class", "static", "def", "lines"}


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _STOP


def step_request(step: dict[str, Any], payload: dict[str, Any]) -> str:
    """The coder's request for one step: its title, details and checks (the checks are
    examples in the request, so ``dmc.generate.checks.from_text`` runs them after it)."""
    if step.get("whole_request"):
        return str((payload.get("task") or {}).get("description") or "")
    text = str(step.get("title") or "").strip()
    details = str(step.get("details") or "").strip()
    if details and details != text:
        text = f"{text}: {details}" if text else details
    checks = [str(c) for c in step.get("checks") or []]
    if checks:
        text += "\nIt is done when these hold:\n" + "\n".join(checks)
    return text[:20000]


def step_payload(payload: dict[str, Any], plan: dict[str, Any], step: dict[str, Any],
                 current: dict[str, str]) -> dict[str, Any]:
    """The payload for one step: only that step's files (as the steps before left them) and
    the context that shares names with it."""
    n = int(step["id"])
    total = len(plan["steps"])
    task = dict(payload.get("task") or {})
    files = [str(f) for f in step["files"]]
    request = step_request(step, payload)
    task["description"] = request
    task["target_files"] = files
    task["complexity"] = "low" if len(files) == 1 and task.get("complexity") == "low" \
        else "medium"
    if step.get("tests"):
        task["tests"] = [{"path": t["path"], "code": t["code"]} for t in step["tests"]]
    else:
        task.pop("tests", None)
    ctx = dict(payload.get("context") or {})
    ctx["files"] = {p: current[p] for p in files if p in current}
    words = _words(request)
    existing = ctx.get("existing_code") or {}
    related = sorted(((len(words & _words(str(code))), str(path))
                      for path, code in existing.items() if path not in files),
                      reverse=True)
    keep = {p for score, p in related[:MAX_RELATED] if score > 0}
    ctx["existing_code"] = {p: c for p, c in existing.items() if p in files or p in keep}
    docs = [d for d in ctx.get("relevant_docs") or [] if words & _words(str(d))]
    ctx["relevant_docs"] = docs[:2]
    reqs = {k: list(v) for k, v in (payload.get("requirements") or {}).items()}
    if total > 1 and not step.get("whole_request"):
        done = [f"{s['id']}. {s['title']}" for s in plan["steps"] if int(s["id"]) < n]
        constraint = (f"This is step {n} of {total} of the task: "
                      f"{(payload.get('task') or {}).get('description', '')}. Do only this "
                      "step; the other steps are done separately."
                      + (" Done already: " + "; ".join(done) + "." if done else ""))
        reqs["constraints"] = [constraint[:1000]] + list(reqs.get("constraints") or [])
    out = dict(payload)
    out["request_id"] = f"{str(payload.get('request_id') or 'dmc')[:100]}-s{n}"
    out["task"] = task
    out["context"] = ctx
    out["requirements"] = reqs
    out.pop("metrics", None)
    return out


@dataclass
class _Merged:
    """The files across steps: original text, the edit blocks in order, the text now."""

    originals: dict[str, str | None] = field(default_factory=dict)  # None: a new file
    current: dict[str, str] = field(default_factory=dict)
    edits: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    languages: dict[str, str | None] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)


def _read_repo_file(repo: Path | None, path: str) -> str | None:
    """A step's file the payload did not carry, read from the repository (redacted)."""
    if repo is None:
        return None
    from dmc.repo import resolve_inside

    real = resolve_inside(repo, path)
    if real is None or not real.is_file() or real.stat().st_size > 60_000:
        return None
    try:
        raw = real.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    from dmc.optimize.secrets import redact

    return redact(path, raw)[0]


def _default_step(backend: Any, validator: Any) -> GenerateStep:
    def step(payload: dict[str, Any], on_event: OnEvent) -> dict[str, Any]:
        from dmc.generate import generate, validate_files

        return generate(payload, backend, on_event=on_event,
                        validator=validator or validate_files)
    return step


def run_plan(payload: dict[str, Any], plan: dict[str, Any], backend: Any = None, *,
             on_event: OnEvent | None = None, repo: Path | None = None,
             validator: Callable[..., dict[str, Any]] | None = None,
             generate_step: GenerateStep | None = None) -> dict[str, Any]:
    """Generate ``plan`` step by step; the joined result, in generate's response format.

    ``generate_step`` runs one step payload (default: :func:`dmc.generate.generate` with
    ``backend`` in this process; ``dmc generate`` passes the agent client when there is one).
    Each step's events are passed on with ``step`` added. Ctrl-C during a step keeps the
    steps done so far and returns them as ``partial``.
    """
    from dmc.generate import validate_files

    emit = on_event or (lambda e: None)
    run_step = generate_step or _default_step(backend, validator)
    check_validator = validator or validate_files
    start = time.perf_counter()
    merged = _Merged()
    for path, text in ((payload.get("context") or {}).get("files") or {}).items():
        merged.originals[str(path)] = str(text)
        merged.current[str(path)] = str(text)
    records: list[dict[str, Any]] = []
    passes: list[dict[str, Any]] = []
    notes: list[str] = []
    tokens = 0
    model = ""
    interrupted = False
    for step in plan["steps"]:
        for path in step["files"]:
            if path not in merged.current:
                text = _read_repo_file(repo, path)
                if text is not None:
                    merged.originals[path] = text
                    merged.current[path] = text
        sp = step_payload(payload, plan, step, merged.current)
        emit({"event": "step", "step": step["id"], "of": len(plan["steps"]),
              "title": step["title"], "files": step["files"]})

        def forward(event: Event, n: int = int(step["id"])) -> None:
            emit({**event, "step": n})

        started = time.perf_counter()
        try:
            result = run_step(sp, forward)
        except KeyboardInterrupt:
            if not records:
                raise
            interrupted = True
            notes.append(f"interrupted before step {step['id']} finished")
            break
        meta = result.get("metadata") or {}
        tokens += int(meta.get("tokens_generated") or 0)
        model = str(meta.get("model_used") or model)
        applied = _take(result, step, merged, notes)
        for p in meta.get("iterations") or []:
            passes.append({**p, "step": step["id"]})
        checks = result.get("checks") or {}
        records.append({"step": step["id"], "title": step["title"], "files": step["files"],
                        "status": result.get("status"), "reason": result.get("reason"),
                        "applied": applied,
                        "checks": {"run": checks.get("run", 0), "passed": checks.get("passed", 0)},
                        "passes": len(meta.get("iterations") or []),
                        "kept_pass": (result.get("validation") or {}).get("kept_iteration"),
                        "seconds": round(time.perf_counter() - started, 3)})
        emit({"event": "step_done", **records[-1]})
        if meta.get("interrupted"):
            interrupted = True
            notes.append(f"interrupted during step {step['id']}")
            break
    return _joined(payload, plan, merged, records, passes, notes, tokens, model,
                   interrupted, start, check_validator)


def _take(result: dict[str, Any], step: dict[str, Any], merged: _Merged,
          notes: list[str]) -> list[str]:
    """Fold one step's files into the merged state; the paths it changed."""
    applied = []
    for f in result.get("files") or []:
        path = str(f["path"])
        edits = f.get("edits")
        if edits is None and merged.current.get(path):
            # a whole file for one that has text: never replaces it (would delete code)
            notes.append(f"step {step['id']}: a whole file for {path}, which exists; ignored")
            continue
        if edits is not None and merged.originals.get(path) is not None:
            merged.edits.setdefault(path, []).extend(
                {"search": str(e["search"]), "replace": str(e["replace"])} for e in edits)
        elif path not in merged.originals:
            merged.originals[path] = None  # created by this plan
        merged.current[path] = str(f["code"])
        merged.languages[path] = f.get("language")
        if path not in merged.changed:
            merged.changed.append(path)
        applied.append(path)
    return applied


def _joined(payload: dict[str, Any], plan: dict[str, Any], merged: _Merged,
            records: list[dict[str, Any]], passes: list[dict[str, Any]], notes: list[str],
            tokens: int, model: str, interrupted: bool, start: float,
            validator: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    from dmc.generate import checks as checks_mod
    from dmc.generate.changes import FileState, language_of, missing_named
    from dmc.generate.code import CodeFile
    from dmc.generate.edits import EditBlock, apply_edits

    files: list[CodeFile] = []
    for path in merged.changed:
        original = merged.originals.get(path)
        content = merged.current[path]
        lang = merged.languages.get(path) or language_of(path)
        if original is None:
            files.append(CodeFile(path, content, lang))
            continue
        blocks = [EditBlock(path, e["search"], e["replace"], i + 1)
                  for i, e in enumerate(merged.edits.get(path, []))]
        replay = apply_edits(original, blocks, path=path)
        if not replay.ok or replay.content != content:
            notes.append(f"{path}: the steps' edits do not replay to the same text on the "
                         "original; --apply would write something else")
        item = CodeFile(path, content, lang)
        item.edits = merged.edits.get(path, [])
        item.diff = "".join(difflib.unified_diff(
            original.splitlines(keepends=True), content.splitlines(keepends=True),
            f"a/{path}", f"b/{path}"))
        files.append(item)
    task = payload.get("task") or {}
    final_checks = checks_mod.gather(payload)
    targets = [str(t) for t in task.get("target_files") or []]
    check_files = files + [CodeFile(p, merged.current[p], language_of(p)) for p in targets
                           if p in merged.current and p not in merged.changed]
    run = checks_mod.run(final_checks, check_files) if final_checks and files else \
        checks_mod.CheckRun(len(final_checks), 0)
    originals = {p: FileState(p, t) for p, t in merged.originals.items() if t is not None}
    missing = missing_named(str(task.get("description") or ""), originals, files) \
        if files else []
    validation = validator(files, payload.get("quality_criteria") or {}, None) if files else \
        {"passed": False, "issues": [], "counts": {"error": 0, "warning": 0, "info": 0}}
    status, reason = _status(files, records, run, missing, validation, interrupted, notes)
    checks = run.to_dict()
    checks["sources"] = sorted({c.source for c in final_checks})
    checks["list"] = [{"id": c.id, "source": c.source, "kind": c.kind, "check": c.describe()}
                      for c in final_checks]
    first_steps_kept_first = all(r.get("kept_pass") in (1, None) for r in records)
    return {
        "request_id": payload.get("request_id"),
        "status": status,
        **({"reason": reason} if reason else {}),
        "code": files[0].code if files else "",
        "language": files[0].language if files else task.get("language"),
        "files": [f.to_dict() for f in files],
        "checks": checks,
        "validation": {"passed": bool(validation.get("passed")),
                       "issues": validation.get("issues", []),
                       "counts": validation.get("counts", {}),
                       "iterations": len(passes), "kept_iteration": None},
        "metadata": {"generation_time": round(time.perf_counter() - start, 3),
                     "model_used": model, "tokens_generated": tokens,
                     "stopped": None, "interrupted": interrupted,
                     "lift": {"every_step_kept_its_first_pass": first_steps_kept_first,
                              "final_checks_passed": run.passed, "checks_run": run.total},
                     "iterations": passes,
                     "plan": {"planner": plan.get("planner"), "steps": records,
                              "notes": notes, "missing": missing}},
    }


def _status(files: list[Any], records: list[dict[str, Any]], run: Any, missing: list[str],
            validation: dict[str, Any], interrupted: bool,
            notes: list[str]) -> tuple[str, str | None]:
    if not files:
        return "error", "no step changed any file"
    if missing:
        return "partial", "the change does not add what the request names: " + \
            ", ".join(missing)
    if run.total and not run.all_passed:
        return "partial", f"{run.total - run.passed} of {run.total} acceptance check(s) " \
                          "failed on the final files"
    unfinished = [r for r in records if r.get("status") != "success"]
    if unfinished:
        r = unfinished[0]
        return "partial", f"step {r['step']} ({r['title'][:60]}): {r.get('status')}: " \
                          f"{r.get('reason') or ''}".rstrip(": ")
    if any("do not replay" in n for n in notes):
        return "partial", "the steps' edits do not replay on the original files"
    if not validation.get("passed"):
        return "partial", "validation found blocking issues"
    if interrupted:
        return "partial", "interrupted before the plan finished"
    return "success", None


# ----------------------------------------------------------------------------- configuration


def planner_named(cfg: Any) -> bool:
    """Whether ``models.planning`` was named for this run (a flag, ``--set``, ``DMC_*``):
    then a planner that is not there is an error, never a silent fallback."""
    source = cfg.sources.get("models.planning", "default")
    return source == "flag" or source.startswith("env DMC_")


def planner_for(cfg: Any, share: Any = None) -> Planner:
    """The planner configuration names (``share``: the coder's backend, reused when it is
    the same embedded model)."""
    server = cfg.get("generation.server")
    kind = cfg.get("generation.backend")
    return make_planner(cfg.get("models.planning"), generation_kind=kind,
                        generation_server=server, ollama_url=cfg.get("models.ollama_url"),
                        context_window=cfg.get("generation.context_window"),
                        timeout=cfg.get("generation.timeout"), share=share)


def plan_for(doc: dict[str, Any], payload: dict[str, Any], cfg: Any, *, asked: bool,
             share: Any = None, notes: list[str] | None = None) -> dict[str, Any] | None:
    """The plan a generation should follow: the document's own (checked, exit 2 when it is
    wrong), a new one when asked or needed (``generation.plan``), or None: generate as one.
    ``notes`` gets what a person should be told."""
    notes = notes if notes is not None else []
    if doc.get("plan") is not None:
        return check_plan(doc["plan"], cfg.repo)
    when = cfg.get("generation.plan")
    if when == "never" and not asked:
        return None
    reasons = reasons_to_plan(payload, context_window=cfg.get("generation.context_window"),
                              asked=asked or when == "always")
    if not reasons:
        return None
    planner = planner_for(cfg, share)
    notes.append(f"planning with {planner.label}: " + "; ".join(reasons))
    plan = make_plan(payload, planner, repo=cfg.repo, reasons=reasons,
                     planner_named=planner_named(cfg))
    if plan.get("planner") == "fallback" and not asked and when != "always":
        notes.extend(plan.get("notes") or [])
        return None  # one step is generating without a plan: nothing to follow
    return plan


def plan_to_follow(doc: dict[str, Any], payload: dict[str, Any], cfg: Any, *, asked: bool,
                   use_agent: bool, backend: Callable[[], Any],
                   notes: list[str]) -> dict[str, Any] | None:
    """The one policy `dmc generate`, `dmc run` and the service share: the plan a generation
    follows, or None to generate in one go.

    A plan in the document is checked before anything loads (a bad one is exit 2 at once).
    "never" plans only when asked; "auto" does not plan when an agent generates (a planner
    loaded on the laptop would cost more than it saves; ask with ``--plan`` or set
    ``generation.plan=always``). ``backend`` gives the local coder to share with the
    planner, called only when generation runs here.
    """
    given = check_plan(doc["plan"], cfg.repo) if doc.get("plan") is not None else None
    if given is not None:
        return given
    mode = cfg.get("generation.plan")
    if not asked and (mode == "never" or (mode == "auto" and use_agent)):
        return None
    share = None if use_agent else backend()
    return plan_for(doc, payload, cfg, asked=asked, share=share, notes=notes)


def describe(plan: dict[str, Any]) -> list[str]:
    """Lines for a person: who planned, each step and its files, the notes."""
    lines = [f"plan by {plan.get('planner') or 'hand'}: {len(plan['steps'])} step(s)"]
    for s in plan["steps"]:
        checks = len(s.get("checks") or []) + len(s.get("tests") or [])
        lines.append(f"  {s['id']}. {str(s.get('title'))[:70]} [{', '.join(s['files'])}]"
                     + (f", {checks} check(s)" if checks else ""))
    lines += [f"  note: {n}" for n in plan.get("notes") or []]
    return lines
