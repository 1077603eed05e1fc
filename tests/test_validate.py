"""dmc validate with real tools on real bad code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import orjson
import pytest

from dmc.contract import DmcError, Exit
from dmc.validate import Settings, Source, validate
from dmc.validate.checks.python_tools import PylintCheck

ROOT = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = (Path(sys.prefix) / "node/node_modules/@microsoft/jest-sarif/lib/schemas/"
                "sarif-2.1.0-rtm.5.json")

BAD_PY = '''import subprocess
import yaml


def run(cmd: str) -> int:
    return subprocess.call(cmd, shell=True)


def load(text: str) -> object:
    return yaml.load(text)


def add(a: int, b: int) -> int:
    return a + b


TOTAL: int = add("1", 2)
'''

COMPLEX_PY = '''def tangled(a: int, b: int, c: int) -> int:
    """Branches everywhere."""
    if a:
        if b:
            return 1
        if c:
            return 2
    elif b:
        for i in range(c):
            if i % 2:
                return i
            while i:
                i -= 1
    elif c and a:
        return 5
    return 0
'''

CLEAN_PY = '''"""A tidy module."""


def double(value: int) -> int:
    """Twice the value."""
    return value * 2
'''

BAD_JS = '''const fs = require("fs");
function check(a) {
  if (a == 1) {
    return missingName;
  }
  return eval("a");
}
module.exports = check;
'''


def write(folder: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return list(files)


def issues_of(res, tool: str | None = None) -> list[dict]:
    return [i for i in res.doc["validation"]["issues"] if tool is None or i["tool"] == tool]


def test_planted_problems_are_found_by_the_right_tools(dmc, tmp_path: Path) -> None:
    work = tmp_path / "work"
    write(work, {"bad.py": BAD_PY, "broken.py": "def f(:\n    pass\n",
                 "bad.js": BAD_JS, "broken.js": "function f( {\n  return 1;\n}\n"})
    res = dmc("validate", "bad.py", "broken.py", "bad.js", "broken.js", "--no-cache")
    assert res.code == 1, res.stderr
    found = {(i["path"], i["tool"], i["rule"]) for i in issues_of(res)}
    assert ("bad.py", "bandit", "B602") in found          # subprocess with shell=True
    assert ("bad.py", "bandit", "B506") in found          # yaml.load
    assert ("bad.py", "mypy", "arg-type") in found        # a type error
    assert ("bad.js", "eslint", "no-undef") in found
    assert ("bad.js", "eslint", "no-eval") in found
    syntax = {i["path"]: i for i in issues_of(res) if "syntax" in i["rule"] or
              i["tool"] in ("python", "syntax")}
    assert syntax["broken.py"]["line"] == 1 and syntax["broken.py"]["severity"] == "error"
    assert syntax["broken.js"]["line"] == 1
    tools = res.doc["validation"]["tools"]
    for name in ("pylint", "bandit", "mypy", "eslint", "syntax"):
        assert tools[name]["version"], name
    assert tools["mypy"]["files"] == 1  # the broken file is not handed to the linters


def test_every_issue_has_the_one_format(dmc, tmp_path: Path) -> None:
    write(tmp_path / "work", {"bad.py": BAD_PY})
    res = dmc("validate", "bad.py", "--no-cache")
    for issue in issues_of(res):
        assert {"path", "line", "column", "severity", "rule", "tool", "message"} <= set(issue)
        assert issue["severity"] in ("error", "warning", "info")
        assert issue["line"] >= 1 and issue["column"] >= 0


def test_complexity_breach_from_quality_criteria(dmc) -> None:
    doc = {"dmc": 1, "payload": {"quality_criteria": {"max_complexity": 3}},
           "result": {"code": COMPLEX_PY, "language": "python"}}
    res = dmc("validate", stdin=orjson.dumps(doc))
    hits = [i for i in issues_of(res, "pylint") if i["rule"] == "too-complex"]
    assert hits and hits[0]["severity"] == "warning" and "tangled" in hits[0]["message"]
    assert res.code == 0  # a warning does not fail at the default --fail-on error
    strict = dmc("validate", "--fail-on", "warning", stdin=orjson.dumps(doc))
    assert strict.code == 1


def test_clean_code_passes(dmc, tmp_path: Path) -> None:
    write(tmp_path / "work", {"good.py": CLEAN_PY})
    res = dmc("validate", "good.py", "--no-cache")
    assert res.code == 0, res.doc
    assert res.doc["validation"]["passed"] is True


def test_same_finding_from_two_tools_is_reported_once() -> None:
    report = validate([Source("e.py", text='"""Doc."""\n\nRESULT = eval("1 + 1")\n')],
                      Settings())
    evals = [i for i in report["issues"] if i["line"] == 3 and i["tool"] in ("pylint", "bandit")]
    assert len(evals) == 1
    assert evals[0]["also_reported_by"]


def test_result_files_and_unsafe_paths(dmc) -> None:
    doc = {"dmc": 1, "result": {"files": [
        {"path": "../../etc/evil.py", "code": "import os\n"},
        {"path": "web/app.js", "code": "const a = ;\n"}]}}
    res = dmc("validate", stdin=orjson.dumps(doc))
    paths = {f["path"] for f in res.doc["validation"]["files"]}
    assert paths == {"../../etc/evil.py", "web/app.js"}  # reported as given...
    assert not Path("/etc/evil.py").exists()              # ...but written inside a temp dir
    assert res.code == 1  # the JS syntax error


def test_sarif_is_valid_2_1_0(dmc, tmp_path: Path) -> None:
    write(tmp_path / "work", {"bad.py": BAD_PY, "bad.js": BAD_JS})
    res = dmc("validate", "bad.py", "bad.js", "--format", "sarif", "--no-cache")
    assert res.code == 1
    log = json.loads(res.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert any(r["ruleId"] == "bandit/B602" and r["level"] == "error" for r in results)
    assert all(r["locations"][0]["physicalLocation"]["region"]["startColumn"] >= 1
               for r in results)


def test_cache_makes_unchanged_files_free(dmc, make_repo) -> None:
    repo = make_repo({"a.py": CLEAN_PY, "b.py": BAD_PY})
    first = dmc("validate", "a.py", "b.py", cwd=repo)
    assert first.doc["validation"]["tools"]["pylint"]["status"] == "ran"
    second = dmc("validate", "a.py", "b.py", cwd=repo)
    tools = second.doc["validation"]["tools"]
    assert all(t["status"] == "cached" for n, t in tools.items() if n != "rules"), tools
    assert second.doc["validation"]["issues"] == first.doc["validation"]["issues"]
    (repo / "a.py").write_text(CLEAN_PY + "\n\ndef triple(v: int) -> int:\n"
                               '    """Three times."""\n    return v * 3\n')
    third = dmc("validate", "a.py", "b.py", cwd=repo)
    assert third.doc["validation"]["tools"]["pylint"]["cached"] == 1
    assert (repo / ".dmc/cache/validate.sqlite").exists()


CALLEE = '"""Callee."""\n\n\ndef f(x: int) -> int:\n    """Same."""\n    return x\n'
CALLEE_TWO_ARGS = ('"""Callee."""\n\n\ndef f(x: int, y: int) -> int:\n    """Sum."""\n'
                   '    return x + y\n')
CALLER = '"""Caller."""\nfrom b import f\n\nVALUE = f(1)\n'


def _caller_errors(res) -> set[tuple[str, str]]:
    return {(i["tool"], i["rule"]) for i in issues_of(res)
            if i["path"] == "a.py" and i["severity"] == "error"}


def test_warm_cache_sees_a_broken_callee(dmc, make_repo) -> None:
    """Issue 13 defect 2: a.py's cached clean result must not survive b.py's change."""
    repo = make_repo({"a.py": CALLER, "b.py": CALLEE})
    first = dmc("validate", "a.py", "b.py", cwd=repo)
    assert first.code == 0, first.doc["validation"]["issues"]
    warm = dmc("validate", "a.py", "b.py", cwd=repo)
    assert warm.doc["validation"]["tools"]["mypy"]["status"] == "cached"
    (repo / "b.py").write_text(CALLEE_TWO_ARGS)
    broken = dmc("validate", "a.py", "b.py", cwd=repo)
    assert broken.code == 1
    assert ("mypy", "call-arg") in _caller_errors(broken)
    assert ("pylint", "no-value-for-parameter") in _caller_errors(broken)
    # the same verdict as with no cache at all
    cold = dmc("validate", "a.py", "b.py", "--no-cache", cwd=repo)
    assert _caller_errors(cold) == _caller_errors(broken)
    # only the caller named: its key still covers what it imports
    assert dmc("validate", "a.py", cwd=repo).code == 1
    (repo / "b.py").write_text(CALLEE)
    assert dmc("validate", "a.py", cwd=repo).code == 0


def test_warm_cache_sees_a_transitive_change_and_a_new_module(dmc, make_repo) -> None:
    repo = make_repo({"a.py": '"""A."""\nfrom pkg.mid import g\n\nVALUE: int = g()\n',
                      "pkg/__init__.py": "", "pkg/mid.py": '"""Mid."""\nfrom pkg.low import h'
                      '\n\n\ndef g() -> int:\n    """Pass on."""\n    return h()\n',
                      "pkg/low.py": '"""Low."""\n\n\ndef h() -> int:\n    """One."""\n'
                                    '    return 1\n',
                      "c.py": '"""C."""\nimport later\n\nlater.k(1)\n'})
    first = dmc("validate", "a.py", "c.py", cwd=repo)
    assert not issues_of(first, "mypy")  # `later` does not exist yet: Any to mypy
    assert not [i for i in issues_of(first) if i["path"] == "a.py" and
                i["severity"] == "error"]
    # a.py -> pkg.mid -> pkg.low: h now returns str, so g's `return h()` and nothing in
    # a.py changes text, yet mid.py must be re-checked when validated alongside
    (repo / "pkg/low.py").write_text('"""Low."""\n\n\ndef h() -> str:\n    """One."""\n'
                                     '    return "1"\n')
    res = dmc("validate", "a.py", "pkg/mid.py", cwd=repo)
    assert {(i["path"], i["rule"]) for i in issues_of(res, "mypy")} >= {
        ("pkg/mid.py", "return-value")}
    assert res.doc["validation"]["tools"]["mypy"]["cached"] == 0
    # c.py imported a module that did not exist (Any); creating it must invalidate c.py
    (repo / "later.py").write_text('"""Later."""\n\n\ndef k() -> None:\n    """No args."""\n')
    res = dmc("validate", "c.py", cwd=repo)
    assert res.code == 1 and any(i["rule"] == "call-arg" for i in issues_of(res, "mypy"))
    assert res.doc["validation"]["tools"]["mypy"]["cached"] == 0


def test_mypy_cache_replaying_errors_under_another_path_is_caught(dmc, make_repo) -> None:
    """mypy's own cache replays a module's errors under the path it was cached with; the
    same module content in another folder must still get its error."""
    wrong = '"""M."""\n\nVALUE: int = "text"\n'
    repo = make_repo({"one/m.py": wrong, "two/m.py": wrong})
    first = dmc("validate", "one/m.py", cwd=repo)
    assert {i["path"] for i in issues_of(first, "mypy")} == {"one/m.py"}
    second = dmc("validate", "two/m.py", cwd=repo)
    assert second.code == 1
    assert {i["path"] for i in issues_of(second, "mypy")} == {"two/m.py"}


def test_tool_configuration_is_part_of_the_key(dmc, make_repo) -> None:
    repo = make_repo({"u.py": '"""U."""\n\n\ndef loose(x):\n    """Untyped."""\n'
                              '    return x\n'})
    assert dmc("validate", "u.py", cwd=repo).code == 0
    (repo / "pyproject.toml").write_text("[tool.mypy]\ndisallow_untyped_defs = true\n")
    res = dmc("validate", "u.py", cwd=repo)
    assert res.code == 1 and any(i["rule"] == "no-untyped-def" for i in issues_of(res, "mypy"))


def test_damaged_cache_is_rebuilt(dmc, make_repo) -> None:
    repo = make_repo({"a.py": CLEAN_PY})
    cache = repo / ".dmc/cache/validate.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"this is not a database" * 100)
    res = dmc("validate", "a.py", cwd=repo)
    assert res.code == 0
    assert "rebuilt" in res.stderr


def test_custom_rules(dmc, make_repo) -> None:
    rules = """rules:
  - id: no-print
    message: use logging
    severity: warning
    languages: [python]
    forbid_calls: [print, os.system]
  - id: no-requests
    forbid_imports: [requests, child_process]
  - id: spdx
    require_header: "SPDX-License-Identifier"
  - id: short
    max_lines: 5
"""
    code = ("import os as operating\nimport requests\n\nprint('hi')\noperating.system('ls')\n"
            "requests.get('x')\n")
    js = "// SPDX-License-Identifier: MIT\nconst cp = require('child_process');\n"
    repo = make_repo({"quality_rules.yaml": rules, "m.py": code, "m.js": js})
    res = dmc("validate", "m.py", "m.js", cwd=repo)
    got = {(i["path"], i["rule"], i["line"]) for i in issues_of(res, "rules")}
    assert ("m.py", "no-print", 4) in got
    assert ("m.py", "no-print", 5) in got            # os.system through an alias
    assert ("m.py", "no-requests", 2) in got
    assert ("m.js", "no-requests", 2) in got         # require('child_process')
    assert ("m.py", "spdx", 1) in got and not any(p == "m.js" and r == "spdx"
                                                 for p, r, _ in got)
    assert ("m.py", "short", 6) in got
    assert res.code == 1


def test_bad_rules_file_is_a_usage_error(dmc, make_repo) -> None:
    repo = make_repo({"quality_rules.yaml": "rules:\n  - id: x\n    forbid: [eval]\n",
                      "a.py": CLEAN_PY})
    res = dmc("validate", "a.py", cwd=repo)
    assert res.code == 2 and "unknown key" in res.doc["error"]["message"]


@pytest.mark.parametrize("args, stdin, fragment", [
    (["no-such-file.py"], b"", "no such file"),
    ([], b'{"dmc": 1, "intent": {}}', "no result to validate"),
    ([], b"def f(): pass\n", "needs --language"),
    (["--format", "xml", "x.py"], b"", "--format"),
])
def test_bad_input_exits_2(dmc, args, stdin, fragment) -> None:
    res = dmc("validate", *args, stdin=stdin)
    assert res.code == 2
    assert fragment in res.doc["error"]["message"]


def test_missing_required_tool_is_exit_3(monkeypatch) -> None:
    monkeypatch.setattr(PylintCheck, "package", "pylint-is-not-installed-here")
    with pytest.raises(DmcError) as err:
        validate([Source("a.py", text=CLEAN_PY)], Settings())
    assert err.value.code == Exit.UNAVAILABLE
    assert "pylint" in err.value.message and "pip install" in (err.value.hint or "")


class TestSandbox:
    def test_failing_test_coverage_and_network(self, dmc, tmp_path: Path) -> None:
        write(tmp_path / "work", {
            "calc.py": "def add(a, b):\n    return a + b\n\n\ndef unused(x):\n    return -x\n",
            "test_calc.py": (
                "import socket\nimport urllib.request\nfrom calc import add\n\n\n"
                "def test_add():\n    assert add(1, 2) == 3\n\n\n"
                "def test_wrong():\n    assert add(1, 1) == 3\n\n\n"
                "def test_no_network():\n"
                "    try:\n        socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                "    except OSError:\n        return\n"
                "    raise AssertionError('network reachable')\n")})
        res = dmc("validate", "calc.py", "test_calc.py", "--run-tests", "--min-coverage", "95",
                  "--no-cache")
        tests = res.doc["validation"]["tests"]
        assert tests["passed"] == 2 and tests["failed"] == 1
        assert tests["coverage"] is not None and tests["coverage"] < 95
        rules = {i["rule"] for i in issues_of(res, "pytest")}
        assert {"test-failed", "coverage"} <= rules
        assert res.code == 1

    def test_infinite_loop_is_killed(self, dmc, tmp_path: Path) -> None:
        write(tmp_path / "work", {"test_loop.py": "def test_forever():\n    while True:\n"
                                                  "        pass\n"})
        res = dmc("validate", "test_loop.py", "--run-tests", "--no-cache",
                  "--set", "validation.test_timeout=3", timeout=60)
        rules = {i["rule"] for i in issues_of(res, "pytest")}
        assert "test-timeout" in rules
        assert res.doc["validation"]["tests"]["seconds"] < 20

    def test_environment_is_scrubbed(self, dmc, tmp_path: Path) -> None:
        write(tmp_path / "work", {"test_env.py": "import os\n\n\ndef test_env():\n"
                                                 "    assert 'SECRET_TOKEN' not in os.environ\n"
                                                 "    assert os.environ['HOME'] != '/root'\n"})
        res = dmc("validate", "test_env.py", "--run-tests", "--no-cache",
                  env={"SECRET_TOKEN": "hunter2"})
        assert res.doc["validation"]["tests"]["passed"] == 1, res.doc["validation"]


def test_hook_install_blocks_a_bad_commit(make_repo, isolated_env, tmp_path: Path) -> None:
    repo = make_repo({"good.py": CLEAN_PY})
    env = dict(isolated_env, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e")
    dmc_bin = str(Path(sys.executable).with_name("dmc"))
    subprocess.run([dmc_bin, "hook", "install"], cwd=repo, env=env, check=True,
                   capture_output=True)
    subprocess.run(["git", "add", "good.py"], cwd=repo, check=True)
    ok = subprocess.run(["git", "commit", "-qm", "good"], cwd=repo, env=env,
                        capture_output=True)
    assert ok.returncode == 0, ok.stderr
    (repo / "bad.py").write_text(BAD_PY)
    subprocess.run(["git", "add", "bad.py"], cwd=repo, check=True)
    blocked = subprocess.run(["git", "commit", "-qm", "bad"], cwd=repo, env=env,
                             capture_output=True)
    assert blocked.returncode != 0
    # the hook's text view names the file, the line and the bandit finding that blocked it
    shown = (blocked.stdout + blocked.stderr).decode()
    assert "bad.py:6:" in shown and "B602 (bandit)" in shown and "FAILED" in shown, shown
    again = subprocess.run([dmc_bin, "hook", "install"], cwd=repo, env=env, capture_output=True)
    assert again.returncode == 0  # ours: replaced without --force
    (repo / ".git/hooks/pre-commit").write_text("#!/bin/sh\necho mine\n")
    refused = subprocess.run([dmc_bin, "hook", "install"], cwd=repo, env=env,
                             capture_output=True)
    assert refused.returncode == 2 and b"--force" in refused.stderr


@pytest.mark.slow
def test_pre_commit_try_repo(make_repo, isolated_env, tmp_path: Path) -> None:
    """The real pre-commit tool runs dmc from this repository's hook definition."""
    target = make_repo({"bad.py": BAD_PY, "good.py": CLEAN_PY}, name="target")
    subprocess.run(["git", "add", "."], cwd=target, check=True)
    env = dict(isolated_env, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    pre_commit = [sys.executable, "-m", "pre_commit"]
    proc = subprocess.run([*pre_commit, "try-repo", str(ROOT), "dmc-validate", "--files",
                           "bad.py", "good.py", "--verbose"], cwd=target, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "dmc validate" in out and "Failed" in out
    assert "bad.py:6:" in out and "B602 (bandit)" in out  # the text view, not JSON
    clean = subprocess.run([*pre_commit, "try-repo", str(ROOT), "dmc-validate", "--files",
                            "good.py"], cwd=target, env=env, capture_output=True, text=True,
                           timeout=900)
    assert clean.returncode == 0, clean.stdout + clean.stderr
