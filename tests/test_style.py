"""The style learner on real code we did not write (installed packages), the SQLite profile,
style check, and the profile reaching optimize and validate."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dmc.style.observe import naming, observe
from dmc.style.profile import StyleDB, score

DMC = str(Path(sys.executable).with_name("dmc"))


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations)))


def learned(dmc, repo: Path, *paths: str) -> dict:
    res = dmc("style", "learn", *paths, cwd=repo)
    assert res.code == 0, res.stderr
    show = dmc("style", "show", cwd=repo)
    return show.doc["style"]["languages"]


def test_naming_classifier() -> None:
    assert [naming(n) for n in ("load_config", "loadConfig", "LoadConfig", "MAX_SIZE",
                                "my-file", "x1")] == [
        "snake_case", "camelCase", "PascalCase", "UPPER_CASE", "kebab-case", "snake_case"]


def test_async_package_and_sync_package(dmc, make_repo) -> None:
    """aiohttp (async-heavy) and PyYAML (sync, untyped) learned into two profiles."""
    a = make_repo({}, name="async_repo")
    s = make_repo({}, name="sync_repo")
    async_prof = learned(dmc, a, str(package_dir("aiohttp")))["python"]
    sync_prof = learned(dmc, s, str(package_dir("yaml")))["python"]
    async_share = async_prof["async"]["values"].get("async/await", 0) / \
        async_prof["async"]["evidence"]
    assert async_share > 0.15  # aiohttp: about a fifth of its functions are async
    assert sync_prof["async"]["preferred"] == "sync"
    assert sync_prof["async"]["values"].get("async/await", 0) == 0
    assert async_prof["naming.functions"]["preferred"] == "snake_case"
    assert async_prof["naming.classes"]["preferred"] == "PascalCase"
    assert async_prof["indentation"]["preferred"] == "4 spaces"
    assert async_prof["type_hints"]["preferred"] == "full"
    assert sync_prof["type_hints"]["preferred"] == "none"
    assert "asyncio" in async_prof["imports"]["top"]
    assert async_prof["errors.custom_exceptions"]["evidence"] > 0
    for entry in async_prof.values():
        assert entry["evidence"] > 0
        if "confidence" in entry:
            assert 0 <= entry["confidence"] <= 1


def test_javascript_conventions(dmc, make_repo) -> None:
    eslint_rules = Path(sys.prefix) / "node" / "node_modules" / "eslint" / "lib" / "rules"
    repo = make_repo({})
    js = learned(dmc, repo, str(eslint_rules))["javascript"]
    assert js["naming.functions"]["preferred"] == "camelCase"
    assert js["quotes"]["preferred"] == "double"
    assert js["semicolons"]["preferred"] == "yes"
    assert js["docstrings.style"]["preferred"] == "jsdoc"
    vitest = observe("a.test.ts", "import { it, expect } from 'vitest';\n"
                     "it('adds', async () => { expect(await add(1, 2)).toBe(3) })\n",
                     "typescript")
    assert ("tests.framework", "vitest", 1) in vitest


def test_relearning_does_not_double_count_and_changes_replace(dmc, make_repo) -> None:
    repo = make_repo({"a.py": "def f_one(x: int) -> int:\n    return x\n"})
    first = dmc("style", "learn", cwd=repo).doc["style"]
    again = dmc("style", "learn", cwd=repo).doc["style"]
    assert first["learned"] == 1 and again["learned"] == 0 and again["unchanged"] == 1
    prof = dmc("style", "show", cwd=repo).doc["style"]["languages"]["python"]
    assert prof["naming.functions"]["evidence"] == 1
    (repo / "a.py").write_text("def fOne(x):\n    return x\n\n\ndef fTwo(y):\n    return y\n")
    dmc("style", "learn", cwd=repo)
    prof = dmc("style", "show", cwd=repo).doc["style"]["languages"]["python"]
    assert prof["naming.functions"]["values"] == {"camelCase": 2}


def test_concurrent_writers_are_safe(tmp_path: Path) -> None:
    db_path = tmp_path / "style.db"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            db = StyleDB(db_path)
            for i in range(30):
                db.learn(f"w{n}/f{i}.py", f"x = {i}\n# {n}", "python",
                         [("naming.functions", "snake_case", 1)])
            db.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 120


def test_style_check_scores_conforming_code_higher(dmc, make_repo) -> None:
    repo = make_repo({})
    learned(dmc, repo, str(package_dir("starlette")))
    good = repo / "good.py"
    good.write_text('"""Helpers."""\n\nMAX_ITEMS = 10\n\n\nclass ItemStore:\n'
                    '    """Items."""\n\n    def add_item(self, name: str) -> None:\n'
                    '        """Add."""\n        self.name = "x"\n')
    bad = repo / "bad.py"
    bad.write_text("class item_store:\n  def AddItem(self, name):\n    self.name = 'x'\n")
    res = dmc("style", "check", "good.py", "bad.py", cwd=repo)
    by = {r["path"]: r for r in res.doc["style_check"]}
    assert by["good.py"]["score"] > by["bad.py"]["score"]
    found = {d["feature"] for d in by["bad.py"]["deviations"]}
    assert {"naming.classes", "naming.functions", "indentation", "quotes"} <= found
    validated = dmc("validate", "bad.py", cwd=repo)
    assert validated.doc["validation"]["style"]["score"] == by["bad.py"]["score"]
    payload = dmc("optimize", "add a helper", cwd=repo).doc["payload"]
    assert payload["style"]["python.naming.functions"] == "snake_case"


def test_from_git_learns_what_a_commit_added(dmc, make_repo) -> None:
    repo = make_repo({"old.py": "def oldOne():\n    pass\n"})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=repo, check=True)
    (repo / "new.py").write_text("def new_one() -> None:\n    pass\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "two"], cwd=repo, check=True)
    res = dmc("style", "learn", "--from-git", "HEAD", cwd=repo)
    assert res.doc["style"]["learned"] == 1
    prof = dmc("style", "show", cwd=repo).doc["style"]["languages"]["python"]
    assert prof["naming.functions"]["values"] == {"snake_case": 1}


def test_reset_and_errors(dmc, make_repo) -> None:
    repo = make_repo({"a.py": "x = 1\n"})
    assert dmc("style", "show", cwd=repo).code == 3
    dmc("style", "learn", cwd=repo)
    assert dmc("style", "reset", cwd=repo).code == 0
    assert dmc("style", "show", cwd=repo).doc["style"]["languages"] == {}
    assert dmc("style", "learn", "missing.py", cwd=repo).code == 2
    (repo / ".dmc/style.db").write_bytes(b"not a database" * 100)
    broken = dmc("style", "learn", cwd=repo)
    assert broken.code == 3 and "style reset" in broken.stderr


CONFIDENT_SNAKE_CASE = {"languages": {"python": {"naming.functions": {
    "preferred": "snake_case", "confidence": 0.9}}}}


@pytest.mark.parametrize("src", ["def f(:\n", "class A(\n    x = [\n", "\x00\x01"])
def test_unparsable_files_give_no_observations_and_no_score(src: str) -> None:
    found = observe("x.py", src, "python")
    assert found == []
    scored = score(CONFIDENT_SNAKE_CASE, "python", found)
    assert scored["score"] is None and scored["checked"] == 0


def test_an_empty_file_is_judged_by_its_name_only() -> None:
    assert observe("my_module.py", "", "python") == [("naming.files", "snake_case", 1)]
    # the same profile does score a file that has something to judge
    good = observe("x.py", "def good_name(x):\n    return x\n", "python")
    assert score(CONFIDENT_SNAKE_CASE, "python", good)["score"] == 1.0


def test_kill_9_while_learning_leaves_a_consistent_profile(make_repo, isolated_env) -> None:
    import signal
    import time

    files = {f"pkg/m{i}.py": "".join(f"def func_{i}_{j}(x: int) -> int:\n    return x\n\n\n"
                                     for j in range(60)) for i in range(300)}
    repo = make_repo(files)
    proc = subprocess.Popen([DMC, "style", "learn"], cwd=repo, env=isolated_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = repo / ".dmc/style.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db_path) as db:
                if db.execute("SELECT count(*) FROM files").fetchone()[0] >= 5:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db_path) as db:
        learned = {r[0] for r in db.execute("SELECT path FROM files")}
        observed = {r[0] for r in db.execute("SELECT DISTINCT path FROM observations")}
    assert observed <= learned  # no half-learned file
    done = subprocess.run([DMC, "style", "learn"], cwd=repo, env=isolated_env,
                          capture_output=True, timeout=300)
    assert done.returncode == 0
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 300
        per_file = db.execute("SELECT SUM(count) FROM observations WHERE feature = "
                              "'naming.functions' GROUP BY path").fetchall()
    assert {n for (n,) in per_file} == {60}  # each file counted exactly once
