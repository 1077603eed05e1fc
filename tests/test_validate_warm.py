"""dmc validate's state and speed: the ``.dmc`` folder stays out of git, and the warm
checker processes (the fast path) report exactly what the tools run the usual way report."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dmc.validate import worker
from tests.test_validate import (
    BAD_PY,
    CALLEE,
    CALLEE_TWO_ARGS,
    CALLER,
    CLEAN_PY,
    COMPLEX_PY,
)


def _status(repo: Path) -> list[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                         cwd=repo, capture_output=True, text=True, check=True).stdout
    return sorted(line[3:] for line in out.splitlines())


def test_cache_folder_carries_a_gitignore(dmc, make_repo) -> None:
    repo = make_repo({"a.py": CLEAN_PY, "b.py": BAD_PY})
    assert dmc("validate", "a.py", "b.py", cwd=repo).code == 1
    assert (repo / ".dmc/cache/validate.sqlite").is_file()
    assert (repo / ".dmc/.gitignore").read_text(encoding="utf-8") == "*\n"
    # the cache, mypy's cache and the rest of .dmc/ are invisible to git
    assert _status(repo) == ["a.py", "b.py"]
    # an ignore file the user wrote is left alone
    (repo / ".dmc/.gitignore").write_text("cache/\n", encoding="utf-8")
    dmc("validate", "a.py", cwd=repo)
    assert (repo / ".dmc/.gitignore").read_text(encoding="utf-8") == "cache/\n"


def test_no_cache_eslint_config_folder_is_ignored_too(dmc, make_repo) -> None:
    """Without the cache, ESLint's generated config goes to .dmc/eslint in the working
    folder: that folder gets the ignore file as well."""
    repo = make_repo({"m.js": "const x = 1;\nconsole.log(x);\n"})
    res = dmc("validate", "m.js", "--no-cache", cwd=repo)
    if res.doc["validation"]["tools"].get("eslint", {}).get("status") == "missing":
        assert not (repo / ".dmc").exists()
        return
    assert (repo / ".dmc/eslint/eslint.config.mjs").is_file()
    assert _status(repo) == ["m.js"]


# -- warm checker processes ---------------------------------------------------------------

@pytest.fixture
def warm_env(isolated_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A private socket folder (short: socket paths are limited to 108 bytes) whose
    workers are stopped, by their process ids, when the test ends."""
    folder = Path(tempfile.mkdtemp(prefix="dmcw-", dir="/tmp"))  # noqa: S108
    # CI=1 turns warm checkers off by default; the dmc fixture lays this environment over
    # isolated_env, so the variable is emptied rather than left out
    env = dict(isolated_env, CI="", XDG_RUNTIME_DIR=str(folder))
    try:
        yield env
    finally:
        for pid in worker.running(folder / "dmc"):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


def _check(dmc, env: dict[str, str], repo: Path, *args: str) -> dict[str, Any]:
    res = dmc("validate", "--no-cache", *args, cwd=repo, env=env)
    assert res.code in (0, 1), res.stderr
    validation: dict[str, Any] = res.doc["validation"]
    return validation


def _caller_errors(validation: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["tool"], i["rule"]) for i in validation["issues"]
            if i["path"] == "a.py" and i["severity"] == "error"}


def _processes(validation: dict[str, Any]) -> dict[str, str]:
    return {name: tool.get("process", "") for name, tool in validation["tools"].items()
            if name in worker.TOOLS}


def test_warm_checkers_report_what_new_processes_report(dmc, make_repo, warm_env) -> None:
    """The fast path against the usual one on code with findings from all three tools,
    a cross-file call, complexity and a syntax error; a second warm run reuses workers."""
    repo = make_repo({"bad.py": BAD_PY, "complex.py": COMPLEX_PY, "a.py": CALLER,
                      "b.py": CALLEE_TWO_ARGS, "clean.py": CLEAN_PY,
                      "broken.py": "def f(:\n    pass\n"})
    files = ["bad.py", "complex.py", "a.py", "b.py", "clean.py", "broken.py"]
    usual = _check(dmc, warm_env, repo, "--no-warm", *files)
    assert set(_processes(usual).values()) == {"new"}
    assert {i["tool"] for i in usual["issues"]} >= {"pylint", "bandit", "mypy", "python"}
    for _ in range(2):
        warm = _check(dmc, warm_env, repo, "--warm", *files)
        assert set(_processes(warm).values()) == {"warm"}, _processes(warm)
        assert warm["issues"] == usual["issues"]
        assert warm["passed"] == usual["passed"]
    assert len(worker.running(Path(warm_env["XDG_RUNTIME_DIR"]) / "dmc")) == 3


def test_warm_checkers_see_a_changed_file_and_a_changed_dependency(dmc, make_repo,
                                                                 warm_env) -> None:
    repo = make_repo({"a.py": CALLER, "b.py": CALLEE})
    assert not _caller_errors(_check(dmc, warm_env, repo, "a.py", "b.py"))
    # the callee changes; only the caller is checked: the worker must read b.py again
    (repo / "b.py").write_text(CALLEE_TWO_ARGS)
    broken = _check(dmc, warm_env, repo, "a.py")
    assert _processes(broken)["pylint"] == "warm"
    assert {("mypy", "call-arg"), ("pylint", "no-value-for-parameter")} <= \
        _caller_errors(broken)
    assert broken["issues"] == _check(dmc, warm_env, repo, "--no-warm", "a.py")["issues"]
    # and back again, then the file itself changes
    (repo / "b.py").write_text(CALLEE)
    assert not _caller_errors(_check(dmc, warm_env, repo, "a.py"))
    (repo / "a.py").write_text(CALLER.replace("f(1)", "f('1', 2)"))
    again = _check(dmc, warm_env, repo, "a.py")
    assert again["issues"] == _check(dmc, warm_env, repo, "--no-warm", "a.py")["issues"]
    assert ("mypy", "call-arg") in _caller_errors(again)


def test_warm_pylint_forgets_what_a_project_file_put_on_a_library_class(
        dmc, make_repo, warm_env) -> None:
    """astroid records ``d.extra = 1`` on json.JSONDecoder, a library tree the worker
    keeps: once setter.py is no longer checked, the attribute must be gone again, as it
    is in a new process."""
    repo = make_repo({
        "setter.py": '"""Sets."""\nimport json\n\nDECODER = json.JSONDecoder()\n'
                     'DECODER.extra = 1\n',
        "reader.py": '"""Reads."""\nimport json\n\nVALUE = json.JSONDecoder().extra\n'})
    both = _check(dmc, warm_env, repo, "--warm", "setter.py", "reader.py")
    assert _processes(both)["pylint"] == "warm"
    alone = _check(dmc, warm_env, repo, "--warm", "reader.py")
    usual = _check(dmc, warm_env, repo, "--no-warm", "reader.py")
    assert any(i["rule"] == "no-member" for i in usual["issues"])
    assert alone["issues"] == usual["issues"]


def test_a_folder_others_can_enter_means_new_processes(dmc, make_repo, warm_env) -> None:
    """No worker socket where another user could reach it: the tools run the usual way,
    with the same result, and the reason is in the result."""
    shared = Path(warm_env["XDG_RUNTIME_DIR"]) / "dmc"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    repo = make_repo({"bad.py": BAD_PY})
    res = _check(dmc, warm_env, repo, "--warm", "bad.py")
    assert all(p.startswith("new (") and "private" in p for p in _processes(res).values())
    assert res["issues"] == _check(dmc, warm_env, repo, "--no-warm", "bad.py")["issues"]
    assert not worker.running(shared)


def test_ci_turns_warm_checkers_off_by_default(dmc, make_repo, warm_env) -> None:
    repo = make_repo({"clean.py": CLEAN_PY})
    res = _check(dmc, {**warm_env, "CI": "true"}, repo, "clean.py")
    assert set(_processes(res).values()) == {"new"}
    assert not worker.running(Path(warm_env["XDG_RUNTIME_DIR"]) / "dmc")


def test_a_checker_past_the_time_limit_fails_as_a_new_process_does(dmc, make_repo,
                                                                   warm_env) -> None:
    """The worker's alarm stops pylint (tools catch Exception: the alarm is not one), the
    result is the same tool failure a new process gives, and the checker exits."""
    body = "".join(f"def f{i}(x: int) -> int:\n    \"\"\"F.\"\"\"\n    return x + {i}\n\n\n"
                   for i in range(3000))
    repo = make_repo({"big.py": '"""Big."""\n\n\n' + body})
    limit = ("--set", "validation.tool_timeout=1", "--no-cache", "--set",
             "validation.enable_type_checking=false", "--set",
             "validation.enable_security_scan=false")
    res = dmc("validate", "--warm", *limit, "big.py", cwd=repo, env=warm_env)
    usual = dmc("validate", "--no-warm", *limit, "big.py", cwd=repo, env=warm_env)
    for r in (res, usual):
        assert r.code == 1
        pylint = r.doc["validation"]["tools"]["pylint"]
        assert pylint["status"] == "failed" and "within 1 s" in pylint["note"]
    assert res.doc["validation"]["tools"]["pylint"]["process"] == "warm"
    assert res.doc["validation"]["issues"] == usual.doc["validation"]["issues"]
    folder = Path(warm_env["XDG_RUNTIME_DIR"]) / "dmc"
    assert not any("pylint" in lock.name for lock in folder.glob("*.lock")
                   if _held(lock))


def _held(lock: Path) -> bool:
    """Whether a worker holds this lock file (it is alive)."""
    import fcntl

    with open(lock, encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def test_a_killed_checker_is_replaced(dmc, make_repo, warm_env) -> None:
    """A checker killed outright leaves its socket file behind; the next run starts a new
    one there and gets the same answer."""
    repo = make_repo({"bad.py": BAD_PY})
    first = _check(dmc, warm_env, repo, "--warm", "bad.py")
    folder = Path(warm_env["XDG_RUNTIME_DIR"]) / "dmc"
    pids = worker.running(folder)
    assert len(pids) == 3 and list(folder.glob("*.sock"))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.running(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    again = _check(dmc, warm_env, repo, "--warm", "bad.py")
    assert set(_processes(again).values()) == {"warm"}
    assert again["issues"] == first["issues"]
    assert not set(worker.running(folder)) & set(pids)


def test_no_checker_beyond_the_cap(monkeypatch, tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="dmcw-", dir="/tmp"))  # noqa: S108
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
        monkeypatch.setattr(worker, "MAX_WORKERS", 0)
        with pytest.raises(worker.Unavailable, match="running already"):
            worker.run("bandit", ["--version"], tmp_path, 30.0, "environment")
        assert not worker.running(folder / "dmc")
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder / ("x" * 90)))
        with pytest.raises(worker.Unavailable, match="too long"):
            worker.run("bandit", ["--version"], tmp_path, 30.0, "environment")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_generation_validates_through_warm_checkers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refinement loop and the agent's /v1/validate (both call validate_files) use the
    warm checkers unless CI is set: the second pass's validation is served warm, with the
    same issues as the first."""
    from dmc.generate import validate_files
    from dmc.generate.code import CodeFile

    folder = Path(tempfile.mkdtemp(prefix="dmcg-", dir="/tmp"))  # noqa: S108
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    try:
        files = [CodeFile("bad.py", BAD_PY, "python")]
        monkeypatch.setenv("CI", "1")
        off = validate_files(files, {})
        assert set(_processes(off).values()) == {"new"}
        monkeypatch.setenv("CI", "")
        validate_files(files, {})
        again = validate_files(files, {})
        assert set(_processes(again).values()) == {"warm"}, _processes(again)
        assert again["issues"] == off["issues"] and again["issues"]
    finally:
        for pid in worker.running(folder / "dmc"):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)
