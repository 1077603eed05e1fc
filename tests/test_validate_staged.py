"""``dmc validate --staged`` judges what the commit will contain (the git index), with real
git and the real tools; every case here passed a broken commit before the index was read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BROKEN = "def f(:\n    return 1\n"
GOOD = '"""Module."""\n\n\ndef f() -> int:\n    """One."""\n    return 1\n'
# a type error mypy reports at the line of the call
TYPE_ERROR = '"""Module."""\n\n\ndef f(x: int) -> int:\n    """Same."""\n    return x\n\n\n' \
             'VALUE = f("one")\n'

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True,
                          check=True, env={**_base_env(), **GIT_ENV})
    return proc.stdout.decode()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("DMC_", "GIT_"))}


def errors(res) -> list[dict]:
    return [i for i in res.doc["validation"]["issues"] if i["severity"] == "error"]


@pytest.fixture
def repo(make_repo) -> Path:
    root = make_repo({"README.md": "x\n"})
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    return root


def test_staged_broken_unstaged_fixed_is_blocked(dmc, repo: Path) -> None:
    """The reproduction from issue 13: the working tree is fine, the index is not."""
    (repo / "a.py").write_text(BROKEN)
    git(repo, "add", "a.py")
    (repo / "a.py").write_text(GOOD)
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 1, res.stderr
    bad = errors(res)
    assert bad and {i["path"] for i in bad} == {"a.py"}
    assert bad[0]["line"] == 1
    assert res.doc["validation"]["staged"]["source"] == "git index"
    # and the working tree copy alone passes: the difference is the index
    assert dmc("validate", "a.py", "--no-cache", cwd=repo).code == 0


def test_staged_fixed_unstaged_broken_passes(dmc, repo: Path) -> None:
    (repo / "a.py").write_text(GOOD)
    git(repo, "add", "a.py")
    (repo / "a.py").write_text(BROKEN)
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 0, res.doc
    assert res.doc["validation"]["files"] == [{"path": "a.py", "language": "python"}]


def test_partially_staged_file_is_judged_by_its_staged_hunks(dmc, repo: Path) -> None:
    base = GOOD + "\n" * 20 + "\n\ndef g() -> int:\n    \"\"\"Two.\"\"\"\n    return 2\n"
    (repo / "m.py").write_text(base)
    git(repo, "add", "m.py")
    git(repo, "commit", "-qm", "m")
    lines = base.split("\n")
    # two edits far apart: a type error at the top (staged), a syntax error at the bottom
    top = lines[:]
    top.insert(6, 'BAD: int = "text"')
    (repo / "m.py").write_text("\n".join(top))
    git(repo, "add", "m.py")                       # stage the top edit only
    both = top[:]
    both.append("def broken(:")
    (repo / "m.py").write_text("\n".join(both))    # the bottom edit stays unstaged
    diff = git(repo, "diff", "--cached", "--stat")
    assert "m.py" in diff
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 1
    bad = errors(res)
    assert {(i["path"], i["tool"]) for i in bad} == {("m.py", "mypy")}, bad
    assert bad[0]["line"] == 7                      # the line in the staged content
    assert not any(i["rule"] in ("syntax-error", "missing-node") for i in bad)

    # the reverse: the good hunk staged, the broken one not -> passes
    git(repo, "reset", "-q", "m.py")
    (repo / "m.py").write_text(base + "\n\n\ndef h() -> int:\n    \"\"\"Three.\"\"\"\n"
                               "    return 3\n")
    git(repo, "add", "m.py")
    (repo / "m.py").write_text(base + "\n\n\ndef h() -> int:\n    \"\"\"Three.\"\"\"\n"
                               "    return 3\n\n\ndef broken(:\n")
    assert dmc("validate", "--staged", cwd=repo).code == 0


def test_staged_file_deleted_from_the_working_tree_is_still_checked(dmc, repo: Path) -> None:
    (repo / "gone.py").write_text(BROKEN)
    git(repo, "add", "gone.py")
    (repo / "gone.py").unlink()
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 1
    assert {i["path"] for i in errors(res)} == {"gone.py"}


def test_staged_deletion_is_not_checked(dmc, repo: Path) -> None:
    (repo / "old.py").write_text(BROKEN)
    git(repo, "add", "old.py")
    git(repo, "commit", "-qm", "broken file committed", "--no-verify")
    git(repo, "rm", "-q", "old.py")
    (repo / "ok.py").write_text(GOOD)
    git(repo, "add", "ok.py")
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 0, res.doc
    assert [f["path"] for f in res.doc["validation"]["files"]] == ["ok.py"]
    # a deletion alone: nothing to check, and that passes
    git(repo, "commit", "-qm", "ok")
    (repo / "ok.py").unlink()
    git(repo, "rm", "-q", "--cached", "ok.py")
    only = dmc("validate", "--staged", cwd=repo)
    assert only.code == 0 and only.doc["validation"]["files"] == []


def test_rename_reports_the_new_name(dmc, repo: Path) -> None:
    (repo / "old_name.py").write_text(GOOD)
    git(repo, "add", "old_name.py")
    git(repo, "commit", "-qm", "old")
    git(repo, "mv", "old_name.py", "new_name.py")
    (repo / "new_name.py").write_text(GOOD + '\n\nWRONG: int = "x"\n')
    git(repo, "add", "new_name.py")
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 1
    assert {i["path"] for i in errors(res)} == {"new_name.py"}
    assert res.doc["validation"]["staged"]["renamed"] == {"new_name.py": "old_name.py"}


def test_imports_are_read_from_the_index_too(dmc, repo: Path) -> None:
    """a.py's call is judged against the staged callee, not the one on disk."""
    (repo / "pkg").mkdir()
    (repo / "pkg/__init__.py").write_text("")
    (repo / "pkg/lib.py").write_text('"""Lib."""\n\n\ndef f(x: int, y: int) -> int:\n'
                                     '    """Sum."""\n    return x + y\n')
    (repo / "pkg/use.py").write_text('"""Use."""\nfrom pkg.lib import f\n\nVALUE = f(1)\n')
    git(repo, "add", ".")
    (repo / "pkg/lib.py").write_text('"""Lib."""\n\n\ndef f(x: int) -> int:\n'
                                     '    """One."""\n    return x\n')   # fixed on disk only
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 1
    bad = errors(res)
    assert {(i["path"], i["tool"], i["rule"]) for i in bad if i["tool"] == "mypy"} == \
        {("pkg/use.py", "mypy", "call-arg")}, bad


CALLEE = '"""Lib."""\n\n\ndef f(x: int) -> int:\n    """One."""\n    return x\n'
CALLER = '"""Use."""\nfrom ledger_calc import f\n\nVALUE = f(1)\n'


def test_a_staged_callee_change_that_breaks_an_unchanged_caller_is_blocked(dmc,
                                                                           repo: Path) -> None:
    (repo / "ledger_calc.py").write_text(CALLEE)
    (repo / "use.py").write_text(CALLER)
    (repo / "other.py").write_text(GOOD)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "lib")
    (repo / "ledger_calc.py").write_text('"""Lib."""\n\n\ndef f(x: int, y: int) -> int:\n'
                                 '    """Two."""\n    return x + y\n')
    git(repo, "add", "ledger_calc.py")  # the callee itself is clean
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 1
    assert res.doc["validation"]["staged"]["dependents"] == ["use.py"]  # not other.py
    assert ("use.py", "mypy", "call-arg") in {(i["path"], i["tool"], i["rule"])
                                               for i in errors(res)}
    assert "also checked 1 unchanged file" in res.stderr


def test_a_staged_deletion_that_breaks_an_importer_is_blocked(dmc, repo: Path) -> None:
    (repo / "ledger_calc.py").write_text(CALLEE)
    (repo / "use.py").write_text(CALLER)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "lib")
    git(repo, "rm", "-q", "ledger_calc.py")
    res = dmc("validate", "--staged", cwd=repo)
    assert res.code == 1
    assert res.doc["validation"]["staged"]["dependents"] == ["use.py"]
    assert ("use.py", 2, "pylint", "import-error") in {
        (i["path"], i["line"], i["tool"], i["rule"]) for i in errors(res)}


def test_paths_are_relative_to_the_current_folder(dmc, repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "sub/deep.py").write_text(TYPE_ERROR)
    (repo / "top.py").write_text(TYPE_ERROR)
    git(repo, "add", ".")
    res = dmc("validate", "--staged", cwd=repo / "sub")
    assert res.code == 1
    assert {i["path"] for i in errors(res)} == {"deep.py"}   # top.py is outside sub/
    from_top = dmc("validate", "--staged", cwd=repo)
    assert {i["path"] for i in errors(from_top)} == {"sub/deep.py", "top.py"}


def test_a_second_hook_run_is_served_from_the_cache(dmc, repo: Path) -> None:
    """Each run checks a new temporary snapshot; the cache keys must not depend on it."""
    (repo / "pyproject.toml").write_text("[tool.mypy]\nwarn_unused_ignores = true\n")
    (repo / "pkg").mkdir()
    (repo / "pkg/__init__.py").write_text("")
    (repo / "pkg/a.py").write_text('"""A."""\nfrom pkg.b import g\n\nX: int = g()\n')
    (repo / "pkg/b.py").write_text('"""B."""\n\n\ndef g() -> int:\n    """G."""\n'
                                   '    return 1\n')
    git(repo, "add", ".")
    first = dmc("validate", "--staged", cwd=repo)
    assert first.code == 0, first.doc["validation"]["issues"]
    second = dmc("validate", "--staged", cwd=repo)
    tools = second.doc["validation"]["tools"]
    assert all(t["status"] == "cached" for n, t in tools.items() if n != "rules"), tools
    (repo / "pkg/b.py").write_text('"""B."""\n\n\ndef g() -> str:\n    """G."""\n'
                                   '    return "1"\n')
    git(repo, "add", "pkg/b.py")
    third = dmc("validate", "--staged", cwd=repo)
    assert third.code == 1
    assert ("pkg/a.py", "assignment") in {(i["path"], i["rule"])
                                          for i in errors(third) if i["tool"] == "mypy"}


def test_staged_outside_a_repository_and_with_files_are_usage_errors(dmc, tmp_path) -> None:
    res = dmc("validate", "--staged")
    assert res.code == 2 and "git repository" in res.doc["error"]["message"]
    assert "Traceback" not in res.stderr
    both = dmc("validate", "--staged", "a.py")
    assert both.code == 2 and "--staged" in both.doc["error"]["message"]


def test_git_hook_blocks_a_commit_whose_staged_content_is_broken(repo: Path,
                                                                  isolated_env) -> None:
    """The plain git hook (`dmc hook install`) relies on --staged reading the index."""
    env = {**isolated_env, **GIT_ENV}
    dmc_bin = str(Path(sys.executable).with_name("dmc"))
    subprocess.run([dmc_bin, "hook", "install"], cwd=repo, env=env, check=True,
                   capture_output=True)
    (repo / "a.py").write_text(BROKEN)
    git(repo, "add", "a.py")
    (repo / "a.py").write_text(GOOD)
    blocked = subprocess.run(["git", "commit", "-qm", "bad"], cwd=repo, env=env,
                             capture_output=True, text=True)
    assert blocked.returncode != 0
    out = blocked.stdout + blocked.stderr
    assert "a.py:1:" in out and "FAILED" in out, out
    git(repo, "add", "a.py")
    ok = subprocess.run(["git", "commit", "-qm", "good"], cwd=repo, env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # `git commit -a` stages through a temporary index (GIT_INDEX_FILE): still judged
    (repo / "a.py").write_text(BROKEN)
    dash_a = subprocess.run(["git", "commit", "-qam", "bad again"], cwd=repo, env=env,
                            capture_output=True, text=True)
    assert dash_a.returncode != 0, dash_a.stdout + dash_a.stderr
