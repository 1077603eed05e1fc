"""The planner (``dmc plan``) and following a plan step by step.

Models are the Ollama TEST DOUBLE (``tests.support.servers.OllamaDouble``, a scripted
answerer; no Ollama server runs here): one double plays the planning model
(``codellama:7b-instruct``), another the coder. What is real: the plan checks, the step
payloads, the edit application, the acceptance checks in the sandbox and validation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from dmc.contract import DmcError, Exit
from dmc.generate.backends import OllamaBackend
from dmc.generate.edits import EditBlock, apply_edits
from dmc.llm import ModelSpec
from dmc.plan import (
    ANSWER_SCHEMA,
    PlanError,
    RemotePlanner,
    check_plan,
    from_answer,
    make_plan,
    reasons_to_plan,
    run_plan,
    step_payload,
)
from tests.support.servers import OllamaDouble

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo-app"
SCHEMA = Path(__file__).resolve().parent.parent / "dmc" / "plan.schema.json"
PLANNER = "codellama:7b-instruct"
REQUEST = ("add a static async deleteById(id) to the User class in models/User.js and a "
           "DELETE /users/:id route to routes/api.js that calls it and returns 204")
USER_JS = (DEMO / "models" / "User.js").read_text()
API_JS = (DEMO / "routes" / "api.js").read_text()

PLAN_ANSWER = {
    "summary": "add deleteById to the model, then the route",
    "files": [{"path": "models/User.js", "action": "modify"},
              {"path": "routes/api.js", "action": "modify"}],
    "steps": [
        {"title": "add deleteById to User", "details": "add static async deleteById(id) "
         "that removes the user from the map", "files": ["./models/User.js"], "checks": []},
        {"title": "add the DELETE route", "details": "router.delete('/users/:id') calls "
         "User.deleteById and answers 204", "files": ["src/routes/api.js"],
         "checks": ["the route answers 204"]},
    ],
}
STEP1 = '''File: models/User.js
```javascript
<<<<<<< SEARCH
  static async create({ name, email }) {
=======
  static async deleteById(id) {
    return users.delete(Number(id));
  }

  static async create({ name, email }) {
>>>>>>> REPLACE
```
'''
STEP2 = '''File: routes/api.js
```javascript
<<<<<<< SEARCH
module.exports = router;
=======
router.delete("/users/:id", async (req, res) => {
  await User.deleteById(req.params.id);
  res.status(204).end();
});

module.exports = router;
>>>>>>> REPLACE
```
'''


def demo_payload(targets: list[str] | None = None, description: str = REQUEST,
                 complexity: str = "medium") -> dict[str, Any]:
    """A payload as dmc optimize writes it for the demo app (context.files whole)."""
    targets = targets if targets is not None else ["models/User.js", "routes/api.js"]
    texts = {"models/User.js": USER_JS, "routes/api.js": API_JS}
    return {
        "request_id": "dmc-test", "timestamp": "2026-01-01T00:00:00+00:00",
        "task": {"type": "feature_implementation", "description": description,
                 "complexity": complexity, "language": "javascript",
                 "target_files": targets},
        "context": {"existing_code": {p: f"\u27e6dmc: lines 1-9 of {p}\u27e7\n{t}"
                                      for p, t in texts.items()},
                    "files": {p: texts[p] for p in targets if p in texts},
                    "relevant_docs": [], "examples": [], "frameworks": ["express"],
                    "dependencies": []},
        "requirements": {"functional": [], "constraints": []}, "style": {},
        "quality_criteria": {"fail_on": "error", "security_scan": False, "type_check": False},
        "generation": {"max_tokens": 512, "temperature": 0.2, "max_iterations": 2,
                       "generated_tests": False},
    }


def demo_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "demo"
    shutil.copytree(DEMO, repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def planner_double(answer: Any) -> OllamaDouble:
    return OllamaDouble(answer if isinstance(answer, (str, list)) else json.dumps(answer),
                        models=(PLANNER,))


def planner_at(double: OllamaDouble) -> RemotePlanner:
    return RemotePlanner(ModelSpec("ollama", PLANNER, double.url), timeout=10)


# --------------------------------------------------------------------------- when to plan


def test_reasons_name_each_trigger() -> None:
    one = demo_payload(["routes/api.js"], "add a GET /health route to routes/api.js", "low")
    assert reasons_to_plan(one, context_window=8192, asked=False) == []
    assert reasons_to_plan(one, context_window=8192, asked=True) == ["asked for (--plan)"]
    both = demo_payload(complexity="high")
    reasons = reasons_to_plan(both, context_window=8192, asked=False)
    assert any("complex" in r for r in reasons) and any("2 target files" in r for r in reasons)
    tight = reasons_to_plan(one, context_window=600, asked=False)
    assert len(tight) == 1 and "do not fit the coder's 600-token window" in tight[0]
    # a new piece of code classified "high" (an example pasted in reads as complex) is not
    # planned: complexity counts only for a change to existing files
    new_code = dict(one, task=dict(one["task"], complexity="high", target_files=[]),
                    context=dict(one["context"], files={}))
    assert reasons_to_plan(new_code, context_window=8192, asked=False) == []
    dropped = dict(one, metrics={"dropped": [{"path": "a.py"}, {"path": "b.py"}]})
    assert reasons_to_plan(dropped, context_window=8192, asked=False) == [
        "2 context item(s) did not fit the context budget"]


# --------------------------------------------------------------------------- the planner


def test_planner_answer_under_schema_becomes_a_checked_plan(tmp_path: Path) -> None:
    """The double plays codellama: the request carries the schema as Ollama's `format`."""
    repo = demo_repo(tmp_path)
    double = planner_double(PLAN_ANSWER)
    try:
        plan = make_plan(demo_payload(), planner_at(double), repo=repo,
                         reasons=["2 target files"])
    finally:
        double.stop()
    sent = double.requests[0]
    assert sent["model"] == PLANNER and sent["format"] == ANSWER_SCHEMA
    assert "models/User.js (exists, to change)" in sent["messages"][1]["content"]
    assert "static async findById(id) {" in sent["messages"][1]["content"]  # the outline
    assert plan["planner"] == f"ollama:{PLANNER}"
    assert [s["files"] for s in plan["steps"]] == [["models/User.js"], ["routes/api.js"]]
    assert [s["id"] for s in plan["steps"]] == [1, 2]
    assert "step 2: src/routes/api.js read as routes/api.js" in plan["notes"]
    # prose "checks" cannot run (JavaScript): they go to the coder as criteria
    assert plan["steps"][1]["checks"] == []
    assert "Done when: the route answers 204" in plan["steps"][1]["details"]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(plan, json.loads(SCHEMA.read_text()))


@pytest.mark.parametrize(("answer", "why"), [
    ("this is not json", "not the JSON asked for"),
    ({"summary": "x", "files": [], "steps": []}, "the answer has no steps"),
    ({"summary": "x", "files": [], "steps": [{"title": "t", "details": "d",
                                              "files": ["../../etc/passwd"], "checks": []}]},
     "outside the repository"),
])
def test_an_unusable_answer_falls_back_to_one_step(tmp_path: Path, answer: Any,
                                                   why: str) -> None:
    repo = demo_repo(tmp_path)
    double = planner_double(answer)
    try:
        plan = make_plan(demo_payload(), planner_at(double), repo=repo, reasons=["asked"])
    finally:
        double.stop()
    assert plan["planner"] == "fallback"
    assert len(plan["steps"]) == 1 and plan["steps"][0]["whole_request"] is True
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(plan, json.loads(SCHEMA.read_text()))
    assert plan["steps"][0]["files"] == ["models/User.js", "routes/api.js"]
    assert why in plan["notes"][0]


def test_a_missing_planner_model_falls_back_unless_named(tmp_path: Path) -> None:
    """The double serves only the coder model: the planner is asked nothing (no POST)."""
    double = OllamaDouble("{}", models=("qwen2.5-coder",))
    try:
        plan = make_plan(demo_payload(), planner_at(double), repo=None, reasons=["asked"])
        assert plan["planner"] == "fallback" and "has no model" in plan["notes"][0]
        with pytest.raises(DmcError) as err:
            make_plan(demo_payload(), planner_at(double), repo=None, reasons=["asked"],
                      planner_named=True)
    finally:
        double.stop()
    assert err.value.code == Exit.UNAVAILABLE
    assert double.requests == []


def test_from_answer_keeps_runnable_checks_and_caps_steps() -> None:
    payload = demo_payload(["calc.py"], "add `add(a, b)` to calc.py")
    payload["context"]["files"] = {}
    answer = {"summary": "s", "files": [], "steps": [
        {"title": f"step {i}", "details": "", "files": ["calc.py"],
         "checks": ["assert add(2, 3) == 5", "it adds"]} for i in range(9)]}
    plan, notes = from_answer(answer, payload, repo=None)
    assert len(plan["steps"]) == 6
    assert plan["steps"][0]["checks"] == ["assert add(2, 3) == 5"]
    assert "Done when: it adds" in plan["steps"][0]["details"]
    assert plan["files"] == [{"path": "calc.py", "action": "create"}]
    assert any("first 6 kept" in n for n in notes)
    with pytest.raises(PlanError):
        from_answer({"steps": [{"title": "t", "files": ["/etc/passwd"]}]}, payload, repo=None)


# --------------------------------------------------------------------------- a user's plan


@pytest.mark.parametrize(("plan", "message"), [
    ({"steps": [{"title": "t", "files": ["../outside.py"]}]}, "outside the repository"),
    ({"steps": [{"title": "t", "files": ["ok.py"], "tests": [
        {"path": "../../t.py", "code": "x"}]}]}, "names '../../t.py', outside the repository"),
    ({"steps": [{"title": "t", "files": ["ok.py"], "tests": [{"path": "t.js"}]}]},
     "tests must be a list"),
    ({"steps": []}, "plan.steps must be a non-empty list"),
    ({"steps": [{"title": "t", "files": []}]}, "files must be a non-empty list"),
    ({"version": 2, "steps": [{"title": "t", "files": ["a.py"]}]}, "plan version 2"),
    ({"files": [{"path": "/etc/passwd"}], "steps": [{"title": "t", "files": ["a.py"]}]},
     "outside the repository"),
])
def test_check_plan_refuses_bad_plans(tmp_path: Path, plan: dict[str, Any],
                                      message: str) -> None:
    with pytest.raises(DmcError) as err:
        check_plan(plan, tmp_path)
    assert err.value.code == Exit.USAGE and message in err.value.message


def test_check_plan_refuses_a_symlink_out_of_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link").symlink_to(tmp_path)
    with pytest.raises(DmcError, match="outside the repository"):
        check_plan({"steps": [{"title": "t", "files": ["link/x.py"]}]}, repo)
    plan = check_plan({"steps": [{"title": "t", "files": ["./pkg\\mod.py"]}]}, repo)
    assert plan["steps"][0] == {"title": "t", "files": ["pkg/mod.py"], "id": 1}


# --------------------------------------------------------------------------- following it


def test_step_payload_carries_only_the_step(tmp_path: Path) -> None:
    payload = demo_payload()
    plan = {"steps": [{"id": 1, "title": "model", "details": "add deleteById to User",
                       "files": ["models/User.js"], "checks": []},
                      {"id": 2, "title": "route", "details": "router.delete",
                       "files": ["routes/api.js"], "checks": []}]}
    changed = {"models/User.js": USER_JS + "// changed\n", "routes/api.js": API_JS}
    sp = step_payload(payload, plan, plan["steps"][1], changed)
    assert sp["task"]["target_files"] == ["routes/api.js"]
    assert sp["context"]["files"] == {"routes/api.js": API_JS}
    assert sp["task"]["description"] == "route: router.delete"
    assert sp["request_id"] == "dmc-test-s2"
    assert sp["requirements"]["constraints"][0].startswith("This is step 2 of 2 of the task")
    assert "Done already: 1. model" in sp["requirements"]["constraints"][0]
    from dmc.payload import check

    check(sp)  # a step payload is a payload the agent accepts


def test_run_plan_applies_each_step_on_the_previous(tmp_path: Path) -> None:
    """The coder double answers one edit per step; the joined edits replay on the originals."""
    payload = demo_payload()
    plan = check_plan({"steps": [
        {"title": "add deleteById to User", "details": "static async deleteById(id)",
         "files": ["models/User.js"]},
        {"title": "add the DELETE /users/:id route", "details": "returns 204",
         "files": ["routes/api.js"]}]}, None)
    double = OllamaDouble([STEP1, STEP2])
    events: list[dict[str, Any]] = []
    try:
        result = run_plan(payload, plan, OllamaBackend(double.url, "qwen2.5-coder",
                                                       timeout=30), on_event=events.append)
    finally:
        double.stop()
    first, second = (r["messages"][-1]["content"] for r in double.requests)
    assert "Current content of models/User.js" in first and "Current content of routes" \
        not in first
    assert "Current content of routes/api.js" in second and "deleteById" in second
    assert result["status"] == "success", result.get("reason")
    by_path = {f["path"]: f for f in result["files"]}
    assert set(by_path) == {"models/User.js", "routes/api.js"}
    for path, original in (("models/User.js", USER_JS), ("routes/api.js", API_JS)):
        f = by_path[path]
        blocks = [EditBlock(path, e["search"], e["replace"], i + 1)
                  for i, e in enumerate(f["edits"])]
        assert apply_edits(original, blocks, path=path).content == f["code"]
        assert "\u27e6dmc" not in f["code"]
    steps = result["metadata"]["plan"]["steps"]
    assert [(s["step"], s["status"], s["applied"]) for s in steps] == [
        (1, "success", ["models/User.js"]), (2, "success", ["routes/api.js"])]
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    assert all("step" in e for e in events)


def test_a_steps_checks_run_after_it_and_drive_refinement() -> None:
    """Step 1 comes with an assert; the coder double's first answer fails it, its second
    passes; the final result reruns the request's own example on the joined files."""
    calc = "def add(a, b):\n    return a - b\n"
    payload = demo_payload(["calc.py"], "fix add in calc.py so that add(2, 3) == 5")
    payload["task"]["language"] = "python"
    payload["context"] = {"files": {"calc.py": calc}, "existing_code": {"calc.py": calc}}
    plan = check_plan({"steps": [{"title": "fix add", "details": "add a and b",
                                  "files": ["calc.py"], "checks": ["assert add(1, 1) == 2"]}]},
                      None)
    wrong = ("File: calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n"
             "    return a * b\n>>>>>>> REPLACE\n```\n")
    right = wrong.replace("return a * b", "return a + b").replace("return a - b",
                                                                   "return a * b")
    double = OllamaDouble([wrong, right])
    try:
        result = run_plan(payload, plan, OllamaBackend(double.url, "qwen2.5-coder",
                                                       timeout=30))
    finally:
        double.stop()
    step = result["metadata"]["plan"]["steps"][0]
    assert step["passes"] == 2 and step["checks"] == {"run": 1, "passed": 1}
    assert "assert add(1, 1) == 2" in double.requests[0]["messages"][-1]["content"]
    assert result["files"][0]["code"] == "def add(a, b):\n    return a + b\n"
    assert result["checks"]["run"] == 1 and result["checks"]["passed"] == 1  # add(2,3)==5
    assert result["status"] == "success"


def test_a_failing_final_check_makes_the_plan_partial() -> None:
    """Each step succeeds on its own terms, but the request's example fails at the end."""
    calc = "def add(a, b):\n    return a - b\n"
    payload = demo_payload(["calc.py"], "fix add in calc.py so that add(2, 3) == 5")
    payload["task"]["language"] = "python"
    payload["context"] = {"files": {"calc.py": calc}, "existing_code": {}}
    plan = check_plan({"steps": [{"title": "change add", "files": ["calc.py"]}]}, None)
    answer = ("File: calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n"
              "    return b - a\n>>>>>>> REPLACE\n```\n")
    double = OllamaDouble([answer])
    try:
        result = run_plan(payload, plan, OllamaBackend(double.url, "qwen2.5-coder",
                                                       timeout=30))
    finally:
        double.stop()
    assert result["status"] == "partial"
    assert "acceptance check(s) failed on the final files" in result["reason"]


# --------------------------------------------------------------------------- the commands


def test_dmc_plan_then_edited_plan_then_generate(dmc: Any, tmp_path: Path) -> None:
    """`dmc plan > plan.json`, edit, `dmc generate < plan.json`, both models doubles."""
    repo = demo_repo(tmp_path)
    planner = planner_double(PLAN_ANSWER)
    coder = OllamaDouble([STEP1, STEP2])
    try:
        planned = dmc("plan", "--set", f"models.ollama_url={planner.url}",
                      "--set", f"models.planning=ollama:{PLANNER}", REQUEST, cwd=repo)
        assert planned.code == 0, planned.stderr
        doc = planned.doc
        assert [s["files"] for s in doc["plan"]["steps"]] == [["models/User.js"],
                                                               ["routes/api.js"]]
        assert "plan by ollama:codellama:7b-instruct: 2 step(s)" in planned.stderr
        doc["plan"]["steps"][1]["details"] = "router.delete('/users/:id') answers 204"
        generated = dmc("generate", "--local", "--set", "generation.backend=ollama",
                        "--set", f"generation.server=ollama:{coder.url}",
                        "--set", "models.generation=qwen2.5-coder",
                        stdin=orjson.dumps(doc), cwd=repo)
    finally:
        planner.stop()
        coder.stop()
    assert generated.code == 0, generated.stderr
    out = generated.doc
    assert out["plan"]["steps"][1]["details"] == "router.delete('/users/:id') answers 204"
    assert "answers 204" in coder.requests[1]["messages"][-1]["content"]
    assert "step 2/2: add the DELETE route" in generated.stderr
    assert {f["path"] for f in out["result"]["files"]} == {"models/User.js", "routes/api.js"}


def test_generate_refuses_a_plan_naming_a_file_outside(dmc: Any, tmp_path: Path) -> None:
    repo = demo_repo(tmp_path)
    doc = {"dmc": 1, "input": {"text": REQUEST}, "payload": demo_payload(),
           "plan": {"steps": [{"title": "x", "files": ["../../etc/passwd"]}]}}
    res = dmc("generate", "--local", stdin=orjson.dumps(doc), cwd=repo)
    assert res.code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "outside the repository" in lines[0], res.stderr
    assert res.doc["error"]["code"] == 2


def test_dmc_plan_if_needed_passes_a_small_request_through(dmc: Any, tmp_path: Path) -> None:
    repo = demo_repo(tmp_path)
    doc = {"dmc": 1, "input": {"text": "add a GET /health route to routes/api.js"},
           "payload": demo_payload(["routes/api.js"], "add a GET /health route to "
                                   "routes/api.js", "low")}
    res = dmc("plan", "--if-needed", stdin=orjson.dumps(doc), cwd=repo)
    assert res.code == 0, res.stderr
    assert "plan" not in res.doc and "no plan needed" in res.stderr


def test_generate_auto_plans_only_with_a_planner_there(dmc: Any, tmp_path: Path) -> None:
    """Two target files make a plan worth having (generation.plan: auto), but the Ollama
    TEST DOUBLE serves only the coder: the planner (codellama on the same server) is noted as
    not usable, nothing is posted to it, and the request is generated as one."""
    repo = demo_repo(tmp_path)
    coder = OllamaDouble([STEP1 + "\n" + STEP2])
    doc = {"dmc": 1, "input": {"text": REQUEST}, "payload": demo_payload()}
    try:
        res = dmc("generate", "--local", "--set", "generation.backend=ollama",
                  "--set", f"generation.server=ollama:{coder.url}",
                  "--set", "models.generation=qwen2.5-coder", stdin=orjson.dumps(doc),
                  cwd=repo)
    finally:
        coder.stop()
    assert res.code == 0, res.stderr
    assert "planning with ollama:codellama:7b-instruct: 2 target files" in res.stderr
    assert "has no model 'codellama:7b-instruct'" in res.stderr
    assert "plan" not in res.doc
    assert len(coder.requests) == 1 and coder.requests[0]["model"] == "qwen2.5-coder"
    assert {f["path"] for f in res.doc["result"]["files"]} == {"models/User.js",
                                                               "routes/api.js"}


def test_embedded_planner_asks_llama_cpp_under_the_schema(tmp_path: Path) -> None:
    """The embedded planner reuses the coder's loaded llama.cpp model when it is the same
    file, and asks it with a JSON-schema response_format. llama.cpp itself is a stand-in
    here (a recording object): loading the 1.5B costs minutes on this machine; the change
    benchmark runs the real one."""
    import threading

    from dmc.plan import LlamaCppPlanner

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    asked: list[dict[str, Any]] = []

    class Llama:
        def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
            asked.append(kwargs)
            return {"choices": [{"message": {"content": json.dumps(PLAN_ANSWER)}}],
                    "usage": {"completion_tokens": 42}}

    class Coder:
        path = gguf
        _lock = threading.Lock()

        def _load(self) -> Llama:
            return Llama()

    planner = LlamaCppPlanner(gguf, name="qwen2.5-coder-1.5b", share=Coder())
    assert planner.unavailable() is None and planner.label == "llamacpp:qwen2.5-coder-1.5b"
    plan = make_plan(demo_payload(), planner, repo=None, reasons=["asked"])
    assert asked[0]["response_format"] == {"type": "json_object", "schema": ANSWER_SCHEMA}
    assert asked[0]["temperature"] == 0.0
    assert plan["planner"] == "llamacpp:qwen2.5-coder-1.5b" and len(plan["steps"]) == 2
    assert plan["metadata"]["tokens"] == 42
    missing = LlamaCppPlanner(tmp_path / "absent.gguf")
    assert "missing" in str(missing.unavailable())


def test_run_plan_follows_the_plan_and_applies_both_steps(dmc: Any, tmp_path: Path) -> None:
    """`dmc run --plan --apply`: the pipeline plans (planner: Ollama TEST DOUBLE), generates
    step by step (coder: another TEST DOUBLE) and --apply writes both files' edits."""
    repo = demo_repo(tmp_path)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x",
                    "commit", "-qm", "demo"], check=True)
    planner = planner_double(PLAN_ANSWER)
    coder = OllamaDouble([STEP1, STEP2])
    try:
        res = dmc("run", "--plan", "--apply", "--json", "--local",
                  "--set", f"models.ollama_url={planner.url}",
                  "--set", f"models.planning=ollama:{PLANNER}",
                  "--set", "generation.backend=ollama",
                  "--set", f"generation.server=ollama:{coder.url}",
                  "--set", "models.generation=qwen2.5-coder",
                  "--set", "generation.generated_tests=false", REQUEST, cwd=repo)
    finally:
        planner.stop()
        coder.stop()
    assert res.code in (0, 1), res.stderr
    doc = orjson.loads(res.stdout)
    assert "step 2/2: add the DELETE route" in res.stderr
    assert [s["status"] for s in doc["result"]["metadata"]["plan"]["steps"]] == [
        "success", "success"]
    assert sorted(doc["run"]["applied"]) == ["models/User.js", "routes/api.js"]
    assert "static async deleteById(id)" in (repo / "models" / "User.js").read_text()
    assert 'router.delete("/users/:id"' in (repo / "routes" / "api.js").read_text()
    assert len(planner.requests) == 1 and len(coder.requests) == 2
