"""Changes to existing files through the generate loop: edit blocks, not rewrites.

The loop is driven through the Ollama backend against the Ollama TEST DOUBLE with a script of
answers (no Ollama server can run here); the edit application, validation (real ESLint) and
the named-thing check are the real ones. The payload is the one ``dmc optimize`` writes for
the demo app, so ``context.files`` is what the laptop really sends.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson

from dmc.generate import generate
from dmc.generate.backends import OllamaBackend
from dmc.generate.changes import missing_named, named_things
from tests.support.servers import OllamaDouble

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo-app"
REQUEST = "add a DELETE /users/:id route to routes/api.js that returns 204"
ORIGINAL = (DEMO / "routes" / "api.js").read_text()

EDIT = '''File: routes/api.js
```javascript
<<<<<<< SEARCH
router.post("/users", async (req, res) => {
  const user = await User.create(req.body);
  res.status(201).json(user);
});
=======
router.post("/users", async (req, res) => {
  const user = await User.create(req.body);
  res.status(201).json(user);
});

router.delete("/users/:id", async (req, res) => {
  await User.deleteById(req.params.id);
  res.status(204).end();
});
>>>>>>> REPLACE
```
'''
ECHO = ("File: routes/api.js\n```javascript\n⟦dmc: lines 1-19 of routes/api.js⟧\n" + ORIGINAL
        + "```\n")
# a SEARCH quoting code the file does not have (beyond what the tolerant match forgives)
WRONG_PLACE = EDIT.replace(
    'router.post("/users", async (req, res) => {\n  const user = await User.create(req.body);'
    '\n  res.status(201).json(user);\n});\n=======',
    'app.listen(3000, () => {\n  console.log("listening");\n});\n=======', 1)
UNRELATED = EDIT.replace('router.delete("/users/:id"', 'router.get("/health"')


def demo_payload(dmc: Any, tmp_path: Path) -> dict[str, Any]:
    repo = tmp_path / "demo"
    shutil.copytree(DEMO, repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    res = dmc("optimize", REQUEST, cwd=repo)
    assert res.code == 0, res.stderr
    payload: dict[str, Any] = res.doc["payload"]
    payload["generation"]["generated_tests"] = False
    return payload


def committed_demo(tmp_path: Path) -> Path:
    """A copy of the demo app, committed (``--apply`` refuses files with local changes)."""
    repo = tmp_path / "demo"
    shutil.copytree(DEMO, repo)
    for cmd in (["git", "init", "-q"], ["git", "add", "."],
                ["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "i"]):
        subprocess.run(cmd, cwd=repo, check=True)
    return repo


def run_apply(dmc: Any, repo: Path, answers: list[str]) -> Any:
    """`dmc run --apply --json REQUEST` in ``repo``, the model a scripted Ollama TEST DOUBLE."""
    double = OllamaDouble(answers)
    try:
        return dmc("run", "--apply", "--json", "--set", "generation.backend=ollama", "--set",
                   f"generation.server=ollama:{double.url}", "--set",
                   "models.generation=qwen2.5-coder", "--set",
                   "generation.generated_tests=false", REQUEST, cwd=repo)
    finally:
        double.stop()


def run_script(payload: dict[str, Any], answers: list[str]) -> tuple[dict[str, Any], Any]:
    double = OllamaDouble(answers)
    try:
        result = generate(payload, OllamaBackend(double.url, "qwen2.5-coder", timeout=30))
    finally:
        double.stop()
    return result, double


def test_optimize_sends_the_whole_target_file(dmc: Any, tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    assert payload["context"]["files"] == {"routes/api.js": ORIGINAL}


def test_an_edit_block_changes_only_what_it_quotes(dmc: Any, tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    result, double = run_script(payload, [EDIT])
    prompt = double.requests[0]["messages"][-1]["content"]
    assert "SEARCH" in prompt and "Current content of routes/api.js" in prompt
    assert result["status"] == "success", result.get("reason")
    [f] = result["files"]
    assert f["path"] == "routes/api.js" and len(f["edits"]) == 1
    assert f["code"].startswith(ORIGINAL.split("router.post")[0])  # untouched above
    assert 'router.delete("/users/:id"' in f["code"] and "module.exports = router;" in f["code"]
    assert "+router.delete" in f["diff"] and "-" not in "".join(
        ln[0] for ln in f["diff"].splitlines()[2:] if ln and ln[0] in "+-")


def test_an_echoed_whole_file_changes_nothing_and_the_model_is_told(dmc: Any,
                                                                   tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    result, double = run_script(payload, [ECHO, EDIT])
    first = result["metadata"]["iterations"][0]
    assert first["edits"]["refused"] == ["routes/api.js: it changes nothing"]
    feedback = double.requests[1]["messages"][-1]["content"]
    assert "Not applied (routes/api.js: it changes nothing)" in feedback
    assert result["status"] == "success"
    assert "⟦dmc" not in result["files"][0]["code"]


def test_a_block_that_matches_nothing_is_reported_never_applied(dmc: Any,
                                                                 tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    result, double = run_script(payload, [WRONG_PLACE, EDIT])
    first = result["metadata"]["iterations"][0]
    assert first["edits"]["blocks_failed"] == 1 and first["edits"]["blocks_applied"] == 0
    feedback = double.requests[1]["messages"][-1]["content"]
    assert "did not apply" in feedback and "Closest" in feedback
    assert result["status"] == "success"


def test_an_edit_that_does_not_do_what_was_asked_is_not_success(dmc: Any,
                                                                  tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    result, double = run_script(payload, [UNRELATED, UNRELATED, UNRELATED])
    assert result["status"] == "partial"
    assert "DELETE /users/:id" in result["reason"]
    assert "DELETE /users/:id" in double.requests[1]["messages"][-1]["content"]


def test_named_things_routes_functions_and_what_already_exists() -> None:
    assert named_things(REQUEST, ORIGINAL) == ["DELETE /users/:id"]
    # a route that exists is changed, not added: nothing to look for
    assert named_things("make the POST /users route return 200", ORIGINAL) == []
    assert named_things("add `slugify` and fix parse_date()", "def parse_date(s): ...") == \
        ["slugify"]
    assert missing_named("add a GET /health route", {}, []) == ["GET /health"]
    # a plan step's criteria say how it is judged, not what it adds (assert.strictEqual)
    step = ("Add the route: a DELETE /users/:id handler\nDone when: "
            "assert.strictEqual(res.status, 204); `remove` is called")
    assert named_things(step, ORIGINAL) == ["DELETE /users/:id"]


def test_run_apply_replays_the_edits_on_disk(dmc: Any, tmp_path: Path) -> None:
    """`dmc run --apply` end to end with the double: only the edited lines change."""
    repo = committed_demo(tmp_path)
    res = run_apply(dmc, repo, [EDIT])
    assert res.code in (0, 1), res.stderr
    doc = orjson.loads(res.stdout)
    assert doc["run"]["applied"] == ["routes/api.js"]
    after = (repo / "routes" / "api.js").read_text()
    assert after.count("\n") == ORIGINAL.count("\n") + 5
    assert 'router.delete("/users/:id"' in after and "⟦dmc" not in after
    diff = subprocess.run(["git", "diff", "--numstat"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.split()
    assert diff[:2] == ["5", "0"]  # five lines added, none removed


def test_apply_refuses_git_internals_truncated_files_and_partial_results(
        dmc: Any, tmp_path: Path) -> None:
    import pytest

    from dmc.apply import apply_files
    from dmc.contract import DmcError

    repo = committed_demo(tmp_path)
    with pytest.raises(DmcError, match="inside .git"):
        apply_files(repo, [{"path": ".git/hooks/pre-commit", "code": "echo hi\n"}])
    with pytest.raises(DmcError, match="cut off"):
        apply_files(repo, [{"path": "new.js", "code": "function f(", "truncated": True}])
    assert not (repo / ".git/hooks/pre-commit").exists() and not (repo / "new.js").exists()
    res = run_apply(dmc, repo, [UNRELATED] * 3)
    assert res.code == 1 and "not applied: the result is partial" in res.stderr
    assert (repo / "routes" / "api.js").read_text() == ORIGINAL


def test_a_bare_snippet_in_a_change_is_never_a_new_file(dmc: Any, tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    snippet = ("```javascript\nrouter.delete('/users/:id', (req, res) => "
               "res.status(204).end());\n```")
    result, double = run_script(payload, [snippet, EDIT])
    first = result["metadata"]["iterations"][0]
    [why] = first["edits"]["refused"]
    assert why.startswith("a code block without a `File: <path>` line: only part of the file")
    assert why in double.requests[1]["messages"][-1]["content"]
    assert [f["path"] for f in result["files"]] == ["routes/api.js"]
    assert result["status"] == "success"


REWRITE = ("File: routes/api.js\n```javascript\n"
           + ORIGINAL.replace("module.exports = router;",
                              'router.delete("/users/:id", async (req, res) => {\n'
                              "  await User.deleteById(req.params.id);\n"
                              "  res.status(204).end();\n});\n\nmodule.exports = router;")
           .replace("\n\nrouter.post", "\nrouter.post")  # the model's spacing noise
           + "```\n")


def test_a_whole_file_answer_becomes_edits_of_only_what_changed(dmc: Any,
                                                                 tmp_path: Path) -> None:
    """Small models often rewrite the whole file: the change is kept, as edit blocks, and
    `--apply` writes those lines only (the dropped blank line stays)."""
    repo = committed_demo(tmp_path)
    res = run_apply(dmc, repo, [REWRITE])
    assert res.code in (0, 1), res.stderr
    doc = orjson.loads(res.stdout)
    first = doc["result"]["metadata"]["iterations"][0]
    assert first["edits"]["converted"] == ["routes/api.js: made from a whole-file answer"]
    [f] = doc["result"]["files"]
    assert f["edits"] and "\nrouter.post" in f["code"] and "\n\nrouter.post" in f["code"]
    assert doc["run"]["applied"] == ["routes/api.js"]
    diff = subprocess.run(["git", "diff", "--numstat"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.split()
    assert diff[:2] == ["5", "0"]  # the route and its blank line; nothing removed


# what the packaged 1.5B answered on the change benchmark: the new route in place of the
# POST route it was meant to go after
SWAP = EDIT.replace('''=======
router.post("/users", async (req, res) => {
  const user = await User.create(req.body);
  res.status(201).json(user);
});

router.delete''', '''=======
router.delete''')
# the POST route removed outright, the DELETE route added in a second block
DROP = (EDIT.split("=======")[0] + "=======\n>>>>>>> REPLACE\n```\n\n"
        + EDIT.replace('''<<<<<<< SEARCH
router.post("/users", async (req, res) => {
  const user = await User.create(req.body);
  res.status(201).json(user);
});
=======
router.post("/users", async (req, res) => {
  const user = await User.create(req.body);
  res.status(201).json(user);
});
''', "<<<<<<< SEARCH\nmodule.exports = router;\n=======\n").replace(
            ">>>>>>> REPLACE", "\nmodule.exports = router;\n>>>>>>> REPLACE"))


def test_a_block_written_over_its_neighbour_keeps_the_neighbour(dmc: Any,
                                                                tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    result, _ = run_script(payload, [SWAP])
    assert result["status"] == "success", result.get("reason")
    code = result["files"][0]["code"]
    assert code.index('router.post("/users"') < code.index('router.delete("/users/:id"')
    assert result["metadata"]["iterations"][0]["edits"]["deleted"] == []


def test_an_edit_that_deletes_what_was_not_asked_is_not_success(dmc: Any,
                                                                  tmp_path: Path) -> None:
    payload = demo_payload(dmc, tmp_path)
    result, double = run_script(payload, [DROP, EDIT])
    first = result["metadata"]["iterations"][0]
    assert first["edits"]["deleted"] == ["POST /users (routes/api.js)"]
    feedback = double.requests[1]["messages"][-1]["content"]
    assert "Your edit deletes POST /users (routes/api.js)" in feedback
    assert result["status"] == "success" and 'router.post("/users"' in result["files"][0]["code"]
    only, _ = run_script(payload, [DROP, DROP, DROP])
    assert only["status"] == "partial"
    assert "deletes what the request does not name: POST /users" in only["reason"]
