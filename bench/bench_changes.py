"""Real changes to small real repositories: a piece removed or broken, asked for in words.

Each task copies a small real code base into a temporary git repository — the demo app
(``examples/demo-app``) or a pure-Python module installed in this venv (python-dotenv's
``variables.py``, idna's ``intranges.py``, ``mccabe.py``) — removes or breaks a piece (a
route, a function body), commits, and asks for the piece in words, as a user would. A task
succeeds when, after the change is applied as ``dmc run --apply`` applies it (edit blocks
replayed on the file on disk; a whole file only for a new path), the task's check passes
(the behaviour of the original code, computed from the installed original, never written
here by hand; for the demo app, its routes called through a stand-in for Express, the new
route and the POST route that was already there) **and** no line of the file outside the
task's region was deleted or changed (:func:`lost_lines`; the demo app's region is empty:
the route may go back anywhere, and nothing there may be lost; additions such as an import
are part of a change) and no other file changed. The strict measure — the untouched
stretches kept whole and in order (:func:`dmc.generate.edits.changes_outside`), so an
added import counts too — is reported beside it as ``changed_outside_region``.

Three ways, measured in the same run with the same loaded model:

- ``edit``: ``generate()`` on the payload ``dmc optimize`` writes (target files whole in
  ``context.files``; SEARCH/REPLACE answers; refinement);
- ``plan``: a plan by the planning model (the packaged 1.5B, shared when it is the coder),
  then ``dmc.plan.run_plan`` step by step;
- ``whole``: the baseline — the same payload without ``context.files``, the target file's
  text given whole as existing code, so the model rewrites the whole file, which is written
  whole (what dmc did before edit blocks).

``first`` is the first pass (for ``plan``: the final result when every step kept its first
pass, else a failure — a lower bound), ``final`` what the user receives. Every applied diff
is stored, so ``tests/test_changes_bench.py`` can grep them for context markers.

Usage: ``bench_changes.py [--model qwen2.5-coder-1.5b] [--task NAME] [--mode edit]``.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from bench.common import DMC, ROOT, write  # noqa: E402

SITE = Path(importlib.util.find_spec("mccabe").origin or "").parent  # type: ignore[union-attr]
DEMO = ROOT / "examples" / "demo-app"
CTX = 8192
MODES = ("edit", "plan", "whole")
GENERATION = {"max_iterations": 2, "time_budget_s": 300.0, "generated_tests": False,
              "samples": 1}
PLANNER = "qwen2.5-coder-1.5b"


# ----------------------------------------------------------------------------- tasks


@dataclass
class Task:
    """One change: how to set the repository up, what to ask, how to tell it worked."""

    name: str
    source: str
    request: str
    setup: Callable[[Path], dict[str, tuple[int, int]]]  # -> path: region (1-based, incl.)
    check: Callable[[Path], tuple[bool, str]]
    targets: list[str] = field(default_factory=list)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (quiet, no user config needed)."""
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@x")
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, env=env).stdout


def break_body(text: str, qualname: str) -> tuple[str, tuple[int, int]]:
    """``text`` with the body of ``qualname`` (after its docstring) replaced by
    ``raise NotImplementedError``; and the function's lines in the new text."""
    tree = ast.parse(text)
    node: Any = tree
    for part in qualname.split("."):
        node = next(n for n in ast.iter_child_nodes(node)
                    if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
    body = node.body
    head = body[0] if body else None
    keep = 1 if isinstance(head, ast.Expr) and isinstance(head.value, ast.Constant) and \
        isinstance(head.value.value, str) else 0
    lines = text.split("\n")
    first = body[keep].lineno - 1
    indent = re.match(r"\s*", lines[first]).group(0)  # type: ignore[union-attr]
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno)
    new = lines[:first] + [f"{indent}raise NotImplementedError"] + lines[node.end_lineno:]
    return "\n".join(new), (start, first + 1)


def remove_block(text: str, first_line: str) -> tuple[str, int]:
    """``text`` without the block that starts with ``first_line`` and ends at the next
    ``});``/``}`` at its indentation (and one blank line after it); where it was."""
    lines = text.split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith(first_line))
    indent = re.match(r"\s*", lines[start]).group(0)  # type: ignore[union-attr]
    end = next(i for i in range(start + 1, len(lines))
               if lines[i].startswith(indent + "}") and not lines[i].startswith(indent + " "))
    if end + 1 < len(lines) and not lines[end + 1].strip():
        end += 1
    return "\n".join(lines[:start] + lines[end + 1:]), start + 1


def _span(text: str, first: str, last: str) -> tuple[int, int]:
    """Lines from the first line starting with ``first`` to the first after it starting
    with ``last`` (1-based, inclusive)."""
    lines = text.split("\n")
    a = next(i for i, ln in enumerate(lines) if ln.startswith(first))
    b = next(i for i in range(a, len(lines)) if lines[i].startswith(last))
    return a + 1, b + 1


FAKE_EXPRESS = """
const routes = [];
function Router() {
  const r = { routes };
  for (const m of ["get", "post", "put", "patch", "delete", "use"]) {
    r[m] = (path, ...handlers) => { routes.push({ method: m, path, handlers }); return r; };
  }
  return r;
}
module.exports = { Router };
module.exports.Router = Router;
"""
ROUTE_CHECK = """
const path = require("path");
const repo = process.argv[2];
const router = require(path.join(repo, "routes/api.js"));
const User = require(path.join(repo, "models/User.js"));
function res() {
  const r = { statusCode: 200, body: undefined, ended: false };
  r.status = (c) => { r.statusCode = c; return r; };
  r.json = (b) => { r.body = b; r.ended = true; return r; };
  r.send = (b) => { r.body = b; r.ended = true; return r; };
  r.end = () => { r.ended = true; return r; };
  r.sendStatus = (c) => { r.statusCode = c; r.ended = true; return r; };
  return r;
}
async function call(route, req) {
  const r = res();
  for (const h of route.handlers) {
    let next = false;
    await h(req, r, () => { next = true; });
    if (!next) break;
  }
  return r;
}
(async () => {
  const u = await User.create({ name: "Ada", email: "ada@example.com" });
  const route = (router.routes || []).find((x) => x.method === "get" && x.path === "/users/:id");
  if (!route) { console.log("no GET /users/:id route"); process.exit(1); }
  const found = await call(route, { params: { id: String(u.id) }, body: {} });
  if (found.statusCode !== 200 || JSON.stringify(found.body) !== JSON.stringify(u)) {
    console.log("found user: got " + found.statusCode + " " + JSON.stringify(found.body));
    process.exit(1);
  }
  const missing = await call(route, { params: { id: "999" }, body: {} });
  if (missing.statusCode !== 404 || JSON.stringify(missing.body) !== '{"error":"not found"}') {
    console.log("missing user: got " + missing.statusCode + " " + JSON.stringify(missing.body));
    process.exit(1);
  }
  // what the app already did still works: POST /users creates a user (201)
  const post = (router.routes || []).find((x) => x.method === "post" && x.path === "/users");
  if (!post) { console.log("the POST /users route is gone"); process.exit(1); }
  const made = await call(post, { params: {}, body: { name: "Bo", email: "bo@example.com" } });
  if (made.statusCode !== 201 || !made.body || made.body.name !== "Bo" || !made.body.id) {
    console.log("POST /users: got " + made.statusCode + " " + JSON.stringify(made.body));
    process.exit(1);
  }
  console.log("ok");
})().catch((e) => { console.log(String(e)); process.exit(1); });
"""


def check_routes(repo: Path) -> tuple[bool, str]:
    """The demo app's GET /users/:id, called through a stand-in Express router."""
    with tempfile.TemporaryDirectory(prefix="dmc-bench-node-") as tmp:
        (Path(tmp) / "express").mkdir()
        (Path(tmp) / "express" / "index.js").write_text(FAKE_EXPRESS)
        (Path(tmp) / "check.js").write_text(ROUTE_CHECK)
        try:
            proc = subprocess.run(["node", str(Path(tmp) / "check.js"), str(repo)],
                                  capture_output=True, text=True, timeout=30,
                                  env={"PATH": os.environ.get("PATH", ""), "NODE_PATH": tmp})
        except subprocess.TimeoutExpired:
            return False, "timed out"
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()[-300:]


def _python_check(repo: Path, program: str) -> tuple[bool, str]:
    """``program`` run with the repository first on the path (its module shadows the
    installed original, which the program loads by file as ``original``)."""
    try:
        proc = subprocess.run([sys.executable, "-c", program], capture_output=True,
                              text=True, timeout=60, cwd=str(repo),
                              env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(repo),
                                   "PYTHONDONTWRITEBYTECODE": "1",
                                   "HOME": str(repo)})
    except subprocess.TimeoutExpired:
        return False, "timed out"
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()[-300:]


LOAD_ORIGINAL = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("original", {path!r})
original = importlib.util.module_from_spec(spec)
sys.modules["original"] = original
spec.loader.exec_module(original)
"""


def setup_demo(repo: Path, *, model_too: bool) -> dict[str, tuple[int, int]]:
    shutil.copytree(DEMO, repo, dirs_exist_ok=True)
    api = (repo / "routes" / "api.js").read_text()
    api, at = remove_block(api, 'router.get("/users/:id"')
    (repo / "routes" / "api.js").write_text(api)
    # the piece goes back in, anywhere: nothing of what is there may be lost (an empty
    # region, so every original line counts; additions are the change)
    regions = {"routes/api.js": (at, at - 1)}
    if model_too:
        user = (repo / "models" / "User.js").read_text()
        user, at = remove_block(user, "  static async findById")
        (repo / "models" / "User.js").write_text(user)
        regions["models/User.js"] = (at, at - 1)
    return regions


def setup_module(repo: Path, src: Path, dest: str,
                 breaks: list[str]) -> dict[str, tuple[int, int]]:
    target = repo / dest
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent != repo:
        (target.parent / "__init__.py").write_text("")
    text = src.read_text()
    spans = []
    for qualname in breaks:
        text, span = break_body(text, qualname)
        spans.append(span)
    target.write_text(text)
    # one region over the broken pieces (with two, the lines between count as inside)
    return {dest: (min(a for a, _ in spans), max(b for _, b in spans))}


def check_dotenv(repo: Path) -> tuple[bool, str]:
    program = LOAD_ORIGINAL.format(path=str(SITE / "dotenv" / "variables.py")) + """
from dotenv.variables import parse_variables
cases = [("${A}", {"A": "1"}), ("${B:-x}", {}), ("${B}", {}), ("${A}", {"A": None}),
         ("a${A}b${C:-d}e", {"A": "1"}), ("${A:-z}", {"A": "y"}), ("plain", {})]
for text, env in cases:
    want = "".join(a.resolve(env) for a in original.parse_variables(text))
    got = "".join(a.resolve(env) for a in parse_variables(text))
    assert got == want, (text, env, got, want)
print("ok")
"""
    return _python_check(repo, program)


def check_intranges(repo: Path) -> tuple[bool, str]:
    program = LOAD_ORIGINAL.format(path=str(SITE / "idna" / "intranges.py")) + """
import random
from idna import intranges as mine
rng = random.Random(7)
for _ in range(50):
    values = sorted(rng.sample(range(0, 400), rng.randint(1, 60)))
    ranges = original.intranges_from_list(values)
    assert mine.intranges_from_list(values) == ranges, values
    for x in range(-2, 402):
        assert mine.intranges_contain(x, ranges) == (x in values), (x, values)
for a, b in [(0, 1), (5, 9), (65, 91), (2**20, 2**20 + 3)]:
    assert mine._encode_range(a, b) == original._encode_range(a, b)
    assert mine._decode_range(original._encode_range(a, b)) == (a, b)
print("ok")
"""
    return _python_check(repo, program)


MCCABE_SAMPLE = '''
def simple(x):
    return x

def branches(x, y):
    if x:
        return 1
    elif y:
        for i in range(3):
            if i == y:
                break
        return 2
    while x > 0:
        x -= 1
    return 3

class K:
    def method(self, items):
        try:
            return [i for i in items if i]
        except ValueError:
            return None
        finally:
            pass
'''


def check_mccabe(repo: Path) -> tuple[bool, str]:
    program = LOAD_ORIGINAL.format(path=str(SITE / "mccabe.py")) + f"""
import ast
import mccabe
assert mccabe.__file__.startswith({str(repo)!r}), mccabe.__file__
code = {MCCABE_SAMPLE!r}
def scores(mod):
    visitor = mod.PathGraphingAstVisitor()
    visitor.preorder(ast.parse(code), visitor)
    return {{name: g.complexity() for name, g in visitor.graphs.items()}}
want, got = scores(original), scores(mccabe)
assert got == want, (got, want)
print("ok")
"""
    return _python_check(repo, program)


def tasks() -> list[Task]:
    """The change tasks (at most six: each costs minutes of a 2-core laptop per model)."""
    return [
        Task("demo-route", "examples/demo-app",
             "add a GET /users/:id route to routes/api.js that answers the user found by "
             "User.findById as JSON, or 404 with {error: \"not found\"} when there is none",
             lambda r: setup_demo(r, model_too=False), check_routes, ["routes/api.js"]),
        Task("demo-two-files", "examples/demo-app",
             "add a static async findById(id) to the User class in models/User.js (the "
             "users map is keyed by number, so convert id; null when missing), and a GET "
             "/users/:id route to routes/api.js that answers the user as JSON, or 404 with "
             "{error: \"not found\"}",
             lambda r: setup_demo(r, model_too=True), check_routes,
             ["models/User.js", "routes/api.js"]),
        Task("dotenv-resolve", "python-dotenv dotenv/variables.py",
             "implement `Variable.resolve(self, env)` in dotenv/variables.py: return the "
             "value of the variable's name in env; when the name is missing, the variable's "
             "default, or an empty string when it has no default; a None value in env also "
             "gives an empty string",
             lambda r: setup_module(r, SITE / "dotenv" / "variables.py",
                                    "dotenv/variables.py", ["Variable.resolve"]),
             check_dotenv, ["dotenv/variables.py"]),
        Task("idna-intranges", "idna idna/intranges.py",
             "implement `_encode_range(start, end)` in idna/intranges.py (start shifted left "
             "by 32 bits, or-ed with end) and its inverse `_decode_range(r)`, which returns "
             "the pair (start, end)",
             lambda r: setup_module(r, SITE / "idna" / "intranges.py", "idna/intranges.py",
                                    ["_encode_range", "_decode_range"]),
             check_intranges, ["idna/intranges.py"]),
        Task("mccabe-complexity", "mccabe.py",
             "implement `PathGraph.complexity` in mccabe.py: the McCabe complexity of the "
             "graph, the number of edges (the sum of the lengths of the node lists in "
             "self.nodes) minus the number of nodes plus 2",
             lambda r: setup_module(r, SITE / "mccabe.py", "mccabe.py",
                                    ["PathGraph.complexity"]),
             check_mccabe, ["mccabe.py"]),
    ]


# ----------------------------------------------------------------------------- one run


def make_repo(task: Task, root: Path) -> tuple[Path, dict[str, tuple[int, int]]]:
    """The task's repository, committed (so --apply's "never over local changes" holds)."""
    repo = root / task.name
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    regions = task.setup(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "task")
    return repo, regions


def laptop_payload(repo: Path, request: str) -> dict[str, Any]:
    """The payload ``dmc optimize`` writes for the request in ``repo`` (intent and extract
    computed by it; no index, so the context is the files the request names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["DMC_QUIET"] = "1"
    proc = subprocess.run([DMC, "optimize", "--set", "optimize.token_counter=bytes", request],
                          capture_output=True, cwd=repo, env=env, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"dmc optimize failed: {proc.stderr.decode()[-300:]}")
    payload: dict[str, Any] = orjson.loads(proc.stdout)["payload"]
    payload["generation"] = {**payload.get("generation", {}), **GENERATION}
    budget = os.environ.get("DMC_BENCH_TIME_BUDGET")
    if budget:  # development runs on a loaded machine: rates without the clock's say
        payload["generation"]["time_budget_s"] = float(budget)
    return payload


def whole_file_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The baseline's payload: no ``context.files``; each target's text whole (no marker)
    as existing code, so the model is asked for the whole file."""
    out = orjson.loads(orjson.dumps(payload))
    files = out["context"].pop("files", {}) or {}
    existing = {p: c for p, c in (out["context"].get("existing_code") or {}).items()
                if p not in files}
    existing.update(files)
    out["context"]["existing_code"] = existing
    return dict(out)


def apply(repo: Path, files: list[dict[str, Any]], *, whole: bool) -> tuple[bool, str]:
    """Write ``files`` as ``dmc run --apply`` does (edits replayed on disk; every file
    checked before any is written); ``whole``: the baseline writes each file whole."""
    from dmc.generate.edits import EditBlock, apply_edits, strip_markers

    planned = []
    for f in files:
        target = repo / f["path"]
        if not target.resolve().is_relative_to(repo.resolve()):
            return False, f"outside: {f['path']}"
        old = target.read_text() if target.is_file() else None
        if whole or f.get("edits") is None:
            if old is not None and not whole:
                return False, f"refused whole file for {f['path']}"
            planned.append((target, strip_markers(str(f["code"])) if old is None
                            else str(f["code"])))
            continue
        blocks = [EditBlock(f["path"], e["search"], e["replace"], i + 1)
                  for i, e in enumerate(f["edits"])]
        result = apply_edits(old, blocks, path=f["path"])
        if not result.ok:
            return False, f"edits do not apply to {f['path']}"
        planned.append((target, result.content))
    for target, text in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return True, ""


def judge(task: Task, repo: Path, regions: dict[str, tuple[int, int]],
          files: list[dict[str, Any]], *, whole: bool) -> dict[str, Any]:
    """Apply ``files`` to a fresh copy of the task's repository and judge the change."""
    from dmc.generate.edits import LineRange, changes_outside, has_markers

    with tempfile.TemporaryDirectory(prefix="dmc-bench-judge-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(repo, copy)
        ok, why = apply(copy, files, whole=whole) if files else (False, "no files")
        if not ok:
            return {"success": False, "check": False, "applied": False, "why": why,
                    "deleted_outside": [], "outside": [], "other_files": [], "markers": 0,
                    "diff": ""}
        status = [ln[3:] for ln in git(copy, "status", "--porcelain").splitlines()]
        other = [p for p in status if p not in regions]
        outside: list[str] = []
        deleted: list[str] = []
        diff = git(copy, "diff")
        markers = 0
        for path, (a, b) in regions.items():
            before = git(copy, "show", f"HEAD:{path}")
            after = (copy / path).read_text()
            markers += has_markers(after)
            outside += [f"{path}:{r}" for r in changes_outside(before, after,
                                                             [LineRange(a, b)])]
            deleted += [f"{path}: {ln}" for ln in lost_lines(before, after, (a, b))]
        passed, detail = task.check(copy)
    return {"success": bool(passed and not deleted and not other and not markers),
            "check": passed, "applied": True, "why": detail if not passed else "",
            "deleted_outside": deleted, "outside": outside, "other_files": other,
            "markers": markers, "diff": diff[:6000]}


def lost_lines(before: str, after: str, region: tuple[int, int]) -> list[str]:
    """Lines of ``before`` outside ``region`` (1-based, inclusive; empty when end < start)
    that ``after`` deleted or changed, by a line diff (so a line that reappears elsewhere, or
    two lines swapped, count too). Blank lines do not count; added lines (an import, the new
    piece anywhere) are the change."""
    a, b = region
    old = [(i, ln.strip()) for i, ln in enumerate(before.splitlines(), start=1) if ln.strip()]
    new = [ln.strip() for ln in after.splitlines() if ln.strip()]
    matcher = difflib.SequenceMatcher(None, [t for _, t in old], new, autojunk=False)
    lost = []
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            lost += [t for i, t in old[i1:i2] if not a <= i <= b]
    return lost


def first_pass_files(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The files of the first pass, from its ``iteration`` event."""
    for e in events:
        if e.get("event") == "iteration" and e.get("iteration") == 1:
            return list(e.get("files") or [])
    return []


def run_mode(mode: str, task: Task, repo: Path, regions: dict[str, tuple[int, int]],
             payload: dict[str, Any], backend: Any, planner: Any) -> dict[str, Any]:
    """One way of making the change; the first pass and the final result judged."""
    from dmc.generate import generate
    from dmc.plan import make_plan, reasons_to_plan, run_plan

    events: list[dict[str, Any]] = []

    def record(event: dict[str, Any]) -> None:
        events.append(event)
        if event.get("event") in ("iteration", "step"):  # a sign of life in long runs
            print(f"    {task.name} {mode}: {event.get('event')} "
                  f"{event.get('iteration') or event.get('step')}"
                  + (f", {event.get('tokens')} tokens in {event.get('seconds')} s"
                     if event.get("event") == "iteration" else ""),
                  file=sys.stderr, flush=True)

    start = time.perf_counter()
    row: dict[str, Any] = {"mode": mode}
    if mode == "plan":
        reasons = reasons_to_plan(payload, context_window=CTX, asked=True)
        plan = make_plan(payload, planner, repo=repo, reasons=reasons)
        row["plan"] = {"planner": plan.get("planner"), "steps": [
            {"title": s["title"], "files": s["files"], "checks": s.get("checks", [])}
            for s in plan["steps"]], "notes": plan.get("notes", []),
            "seconds": (plan.get("metadata") or {}).get("seconds")}
        result = run_plan(payload, plan, backend, on_event=record, repo=repo)
    else:
        sent = whole_file_payload(payload) if mode == "whole" else payload
        result = generate(sent, backend, on_event=record)
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["status"] = result["status"]
    row["reason"] = result.get("reason")
    row["passes"] = len(result["metadata"]["iterations"])
    # each pass as generate recorded it (checks, edits applied/converted/refused, finish)
    row["iterations"] = [{k: v for k, v in it.items() if k not in ("files",)}
                         for it in result["metadata"]["iterations"]]
    row["tokens"] = result["metadata"]["tokens_generated"]
    whole = mode == "whole"
    row["final"] = judge(task, repo, regions, result.get("files") or [], whole=whole)
    if mode == "plan":
        kept_first = bool(result["metadata"]["lift"].get("every_step_kept_its_first_pass"))
        row["first"] = {"success": row["final"]["success"] and kept_first,
                        "note": "final result, counted only when every step kept its first "
                                "pass"}
    else:
        first = first_pass_files(events)
        row["first"] = row["final"] if row["passes"] == 1 else \
            judge(task, repo, regions, first, whole=whole)
    return row


def run_model(model: str, chosen: list[Task], modes: list[str], root: Path,
              on_row: Callable[[list[dict[str, Any]]], None] | None = None) -> dict[str, Any]:
    """Every task in every mode with one loaded coder (and the planner)."""
    from dmc.generate.backends import make_backend
    from dmc.plan import make_planner

    backend = make_backend(kind="llamacpp", server=None, model=model, timeout=900,
                           connect_timeout=5, context_window=CTX)
    threads = os.environ.get("DMC_BENCH_THREADS")
    if threads:  # on a shared machine one thread avoids llama.cpp's spin-waiting collapse
        backend.n_threads = int(threads)  # type: ignore[attr-defined]
    planner = make_planner(PLANNER, generation_kind="llamacpp", generation_server=None,
                           ollama_url="", context_window=CTX, timeout=900, share=backend)
    rows = []
    for task in chosen:
        repo, regions = make_repo(task, root / model)
        payload = laptop_payload(repo, task.request)
        for mode in modes:
            row = run_mode(mode, task, repo, regions, payload, backend, planner)
            row["task"] = task.name
            rows.append(row)
            if on_row is not None:
                on_row(rows)  # a partial result on disk after every row: runs take hours
            print(f"  {model} {task.name} {mode}: first {row['first']['success']} final "
                  f"{row['final']['success']} ({row['status']}, {row['seconds']} s)",
                  file=sys.stderr, flush=True)
    return summarise(model, rows, modes)


def summarise(model: str, rows: list[dict[str, Any]], modes: list[str]) -> dict[str, Any]:
    """Success rates by mode, first and final; what went wrong where."""
    out: dict[str, Any] = {"model": model, "tasks": len({r["task"] for r in rows})}
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        n = len(mine) or 1
        if not mine:
            out[mode] = {"runs": 0}  # not reached (a run stopped early): no figure
            continue
        out[mode] = {
            "runs": len(mine),
            "first_success": sum(bool(r["first"]["success"]) for r in mine),
            "final_success": sum(bool(r["final"]["success"]) for r in mine),
            "final_rate": round(sum(bool(r["final"]["success"]) for r in mine) / n, 3),
            "check_passed": sum(bool(r["final"]["check"]) for r in mine),
            "deleted_outside_region": sum(bool(r["final"].get("deleted_outside"))
                                          for r in mine),
            "changed_outside_region": sum(bool(r["final"]["outside"]) for r in mine),
            "other_files_changed": sum(bool(r["final"]["other_files"]) for r in mine),
            "markers_written": sum(int(r["final"]["markers"]) for r in mine),
            "seconds_total": round(sum(r["seconds"] for r in mine), 1),
        }
    if out.get("edit", {}).get("runs") and out.get("whole", {}).get("runs"):
        base = out["whole"]["final_success"]
        out["edit_vs_whole"] = (f"{out['edit']['final_success']} vs {base}"
                                + (f" ({out['edit']['final_success'] / base:.1f}x)"
                                   if base else ""))
    out["rows"] = rows
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", action="append", help="packaged model (repeatable)")
    parser.add_argument("--task", action="append", help="task name (repeatable)")
    parser.add_argument("--mode", action="append", choices=MODES)
    parser.add_argument("--name", default="changes")
    parser.add_argument("--merge", action="append", metavar="NAME",
                        help="only join results/NAME.json files (runs of one model each, "
                             "made side by side) into results/<--name>.json")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.name, args.merge)
    models = args.model or ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    by_name = {t.name: t for t in tasks()}
    unknown = [n for n in args.task or [] if n not in by_name]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}: {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.task] if args.task else list(by_name.values())
    modes = args.mode or list(MODES)
    os.environ.setdefault("DMC_QUIET", "1")
    results: dict[str, Any] = {}

    def partial(model: str) -> Callable[[list[dict[str, Any]]], None]:
        def save(rows: list[dict[str, Any]]) -> None:
            write(args.name, header(chosen) | {
                "complete": False,
                "models": {**results, model: summarise(model, rows, modes)}})
        return save

    with tempfile.TemporaryDirectory(prefix="dmc-bench-changes-") as tmp:
        for m in models:
            results[m] = run_model(m, chosen, modes, Path(tmp), partial(m))
    out = header(chosen) | {"complete": True, "models": results}
    path = write(args.name, out)
    for m, r in results.items():
        parts = [f"{mode} first {r[mode]['first_success']} final {r[mode]['final_success']}"
                 for mode in modes]
        print(f"changes {m} ({r['tasks']} tasks): " + "; ".join(parts) + f" -> {path}")
    return out


def merge(name: str, parts: list[str]) -> dict[str, Any]:
    """One result from runs made side by side (a model each): their models joined,
    complete only when every part is; the parts are removed."""
    from bench.common import RESULTS

    loaded = [orjson.loads((RESULTS / f"{p}.json").read_bytes()) for p in parts]
    out = {k: v for k, v in loaded[0].items() if k not in ("benchmark", "machine")}
    out["models"] = {m: r for part in loaded for m, r in part["models"].items()}
    out["complete"] = all(part.get("complete") for part in loaded)
    out["runs"] = [{"name": p, "machine": part.get("machine"), "complete": part.get("complete")}
                   for p, part in zip(parts, loaded, strict=True)]
    write(name, out)
    for p in parts:
        if p != name:
            (RESULTS / f"{p}.json").unlink()
    return out


def header(chosen: list[Task]) -> dict[str, Any]:
    """What every write of the result starts with: the protocol and the tasks."""
    return {"protocol": "a piece removed or broken in a small real code base, asked for in "
                        "words; success = the task's check passes after the change is "
                        "applied as --apply does (for the demo app: the new route and the "
                        "POST route already there), no line outside the piece's region "
                        "deleted or changed, no other file changed, no context marker "
                        "written",
            "generation": GENERATION, "context_window": CTX, "planner": PLANNER,
            "tasks": [{"name": t.name, "source": t.source, "request": t.request,
                       "targets": t.targets} for t in chosen]}


if __name__ == "__main__":
    main()

