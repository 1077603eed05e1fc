"""A JavaScript project's own tests as acceptance checks (dmc.generate.jstests): found by
what they import, run with Node's runner in the sandbox, failures fed back to the model."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from dmc.generate import generate, jstests
from dmc.generate.backends import OllamaBackend
from dmc.generate.checks import run
from dmc.generate.code import CodeFile
from tests.support.servers import OllamaDouble

SLUG = ("function slugify(text) {\n  throw new Error('not yet');\n}\n\n"
        "module.exports = { slugify };\n")
RIGHT = ("function slugify(text) {\n  return text.trim().toLowerCase().split(/\\s+/).join('-');"
         "\n}\n\nmodule.exports = { slugify };\n")
TEST = """const test = require('node:test');
const assert = require('node:assert');
const { slugify } = require('../lib/slug');

test('words are joined by dashes, lower case', () => {
  assert.strictEqual(slugify('  Hello Big World '), 'hello-big-world');
});
"""


def project(tmp_path: Path, *, jest: bool = False) -> Path:
    repo = tmp_path / "proj"
    (repo / "lib").mkdir(parents=True)
    (repo / "test").mkdir()
    (repo / "lib" / "slug.js").write_text(SLUG)
    (repo / "lib" / "other.js").write_text("module.exports = {};\n")
    test = TEST if not jest else TEST.replace("const test = require('node:test');\n", "")
    (repo / "test" / "slug.test.js").write_text(test)
    (repo / "test" / "other.test.js").write_text("require('../lib/other');\n")
    (repo / "package.json").write_text('{"name": "proj", "version": "1.0.0"}\n')
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    return repo


def test_the_tests_that_import_a_target_are_found_by_what_they_import(tmp_path: Path) -> None:
    repo = project(tmp_path)
    found = jstests.find(repo, ["lib/slug.js"])
    assert [c.path for c in found] == ["test/slug.test.js"]
    assert found[0].kind == jstests.KIND and found[0].source == "repository"
    assert jstests.find(repo, ["lib/none.js"]) == [] and jstests.find(repo, ["a.py"]) == []


def test_node_test_passes_right_code_and_names_the_failure_of_wrong_code(
        tmp_path: Path) -> None:
    repo = project(tmp_path)
    found = jstests.find(repo, ["lib/slug.js"])
    good = run(found, [CodeFile("lib/slug.js", RIGHT, "javascript")])
    assert (good.total, good.passed, good.failures) == (1, 1, [])
    assert good.isolation
    bad = run(found, [CodeFile("lib/slug.js", RIGHT.replace("'-'", "'_'"), "javascript")])
    assert (bad.total, bad.passed) == (1, 0)
    [failure] = bad.failures
    assert failure["check_text"] == "test/slug.test.js"
    assert "node --test" in failure["message"] and "hello_big_world" in failure["message"]
    # the original (nothing generated yet) fails too: that is what a baseline run shows
    assert run(found, []).passed == 0


def test_a_test_needing_an_uninstalled_runner_is_reported_not_counted(tmp_path: Path) -> None:
    repo = project(tmp_path, jest=True)  # Jest-style: no node:test, no node_modules
    found = jstests.find(repo, ["lib/slug.js"])
    result = run(found, [CodeFile("lib/slug.js", RIGHT, "javascript")])
    assert (result.total, result.passed) == (0, 0)
    assert len(result.errors) == 1 and "npm ci" in result.errors[0]


def test_generate_refines_until_the_projects_own_tests_pass(tmp_path: Path) -> None:
    """The model (Ollama TEST DOUBLE) first answers wrong code; the failing repository test
    is fed back; the second answer passes it and is the result."""
    repo = project(tmp_path)
    request = "make slugify in lib/slug.js join the words with dashes, lower case"
    payload: dict[str, Any] = {
        "request_id": "t", "timestamp": "2026-01-01T00:00:00+00:00",
        "task": {"type": "feature_implementation", "description": request,
                 "complexity": "low", "language": "javascript",
                 "target_files": ["lib/slug.js"]},
        "context": {"existing_code": {}, "files": {"lib/slug.js": SLUG},
                    "relevant_docs": [], "examples": [], "frameworks": [],
                    "dependencies": []},
        "requirements": {"functional": [], "constraints": []}, "style": {},
        "quality_criteria": {"fail_on": "error", "security_scan": False,
                             "type_check": False},
        "generation": {"max_tokens": 400, "temperature": 0.2, "max_iterations": 3,
                       "generated_tests": False, "samples": 1}}
    wrong = "File: lib/slug.js\n```javascript\n" + RIGHT.replace("'-'", "'_'") + "```\n"
    right = "File: lib/slug.js\n```javascript\n" + RIGHT + "```\n"
    double = OllamaDouble([wrong, right])
    try:
        result = generate(payload, OllamaBackend(double.url, "qwen2.5-coder", timeout=30),
                          repo=repo)
    finally:
        double.stop()
    assert result["status"] == "success", result.get("reason")
    passes = result["metadata"]["iterations"]
    assert [p["checks"] for p in passes] == [{"run": 1, "passed": 0}, {"run": 1, "passed": 1}]
    assert "hello_big_world" in double.requests[1]["messages"][-1]["content"]
    assert "join('-')" in result["files"][0]["code"]


def test_the_projects_dependencies_are_there_and_a_missing_one_is_no_failure(
        tmp_path: Path) -> None:
    """node_modules is the project's own, mounted into the sandbox's copy even when the
    project lives under /tmp (which the sandbox replaces); a dependency that is not
    installed is an error of the environment, never a failure of the code."""
    repo = project(tmp_path)
    dep = repo / "node_modules" / "dashify"
    dep.mkdir(parents=True)
    (dep / "index.js").write_text("module.exports = (w) => w.join('-');\n")
    code = RIGHT.replace("function slugify(text) {\n  return text.trim().toLowerCase()"
                         ".split(/\\s+/).join('-');",
                         "const dashify = require('dashify');\n\nfunction slugify(text) {\n"
                         "  return dashify(text.trim().toLowerCase().split(/\\s+/));")
    assert "require('dashify')" in code
    found = jstests.find(repo, ["lib/slug.js"])
    good = run(found, [CodeFile("lib/slug.js", code, "javascript")])
    assert (good.total, good.passed, good.errors) == (1, 1, []), good.failures
    missing = run(found, [CodeFile("lib/slug.js", code.replace("'dashify'", "'not-there'"),
                                   "javascript")])
    assert (missing.total, missing.failures) == (0, [])
    assert len(missing.errors) == 1 and "not-there" in missing.errors[0]


def test_helpers_under_test_are_not_tests(tmp_path: Path) -> None:
    repo = project(tmp_path)
    (repo / "test" / "helpers.js").write_text("module.exports = require('../lib/slug');\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    assert [c.path for c in jstests.find(repo, ["lib/slug.js"])] == ["test/slug.test.js"]
