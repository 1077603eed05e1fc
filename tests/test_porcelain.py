"""Porcelain: dmc run and dmc doctor, and what a new user does on a fresh clone."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
SMALL_PROJECT = {
    "textutil/__init__.py": '"""Text helpers."""\n',
    "textutil/words.py": ('"""Word helpers."""\n\n\ndef count_words(text: str) -> int:\n'
                          '    """How many whitespace-separated words text has."""\n'
                          "    return len(text.split())\n"),
    "README.md": "# textutil\n\nSmall text helpers.\n",
}
RUN_FLAGS = ["--set", "generation.max_tokens=120", "--set", "validation.max_iterations=1",
             "--set", "generation.context_window=4096"]


def test_doctor_reports_and_exit_codes(dmc, make_repo) -> None:
    repo = make_repo(SMALL_PROJECT)
    res = dmc("doctor", cwd=repo)
    report = res.doc
    names = {c["name"]: c for c in report["checks"]}
    assert {"config", "repository", "index", "embedding model", "generation",
            "validate: pylint", "validate: eslint"} <= set(names)
    assert names["index"]["ok"] is False and names["index"]["fix"] == "dmc index"
    assert res.code == 0 and report["ok"] is True  # the index is recommended, not required
    down = dmc("doctor", "--set", f"desktop.url=http://127.0.0.1:{free_port()}", cwd=repo)
    assert down.code == 3
    gen = {c["name"]: c for c in down.doc["checks"]}["generation"]
    assert "unreachable" in gen["detail"] and "dmc agent serve" in gen["fix"]


def test_run_stop_after_gives_the_plumbing_document(dmc, make_repo) -> None:
    repo = make_repo(SMALL_PROJECT)
    res = dmc("run", "--json", "--stop-after", "optimize", "count the words in a file",
              cwd=repo)
    assert res.code == 0, res.stderr
    doc = res.doc
    assert {"intent", "extraction", "payload"} <= set(doc) and "result" not in doc
    plumbing = dmc("optimize", stdin=dmc("extract", stdin=dmc(
        "intent", "count the words in a file", cwd=repo).stdout, cwd=repo).stdout, cwd=repo)
    assert plumbing.doc["intent"] == doc["intent"]
    assert set(plumbing.doc["payload"]) == set(doc["payload"])
    assert "retrieve skipped: no index" in res.stderr


@pytest.mark.slow
def test_run_generates_applies_and_continues(dmc, make_repo) -> None:
    repo = make_repo(SMALL_PROJECT)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"],
                   cwd=repo, check=True)
    assert dmc("index", cwd=repo).code == 0
    # --apply-partial: this test is about applying; whether the small model's answer is a
    # success is measured by the benchmarks, not here
    res = dmc("run", *RUN_FLAGS, "--apply", "--apply-partial",
              "write a python function reverse_words(text) in textutil/reverse.py", cwd=repo,
              timeout=300)  # a real model on two cores: slow when the machine is busy
    assert res.code in (0, 1), res.stderr
    assert "intent:" in res.stderr and "retrieve:" in res.stderr and "generate:" in res.stderr
    written = repo / "textutil/reverse.py"
    assert written.is_file() and written.read_text() in res.stdout.decode()
    from dmc.history import History, path_for

    history = History(path_for(repo))
    assert history.last_with_code()["text"].startswith("write a python function")
    history.close()
    follow = dmc("run", *RUN_FLAGS, "--json", "--continue", "also strip punctuation",
                 cwd=repo, timeout=300)
    assert "continuing from: write a python function" in follow.stderr
    assert follow.doc["input"]["previous"].startswith("write a python function")
    # a local edit is never overwritten, whatever file the model chose
    (repo / "textutil/words.py").write_text("# my edit\n")
    dmc("run", *RUN_FLAGS, "--apply", "--apply-partial",
        "rewrite textutil/words.py with type hints", cwd=repo, timeout=300)
    assert (repo / "textutil/words.py").read_text() == "# my edit\n"


def test_apply_refuses_to_overwrite_uncommitted_changes(make_repo) -> None:
    """The refusal itself, made certain: `dmc run --apply` hands the generated files to
    this function, so here it gets one aimed at the edited file (a real git repository)."""
    from dmc.commands.run import _apply

    from dmc.contract import DmcError, Exit

    repo = make_repo(SMALL_PROJECT)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"],
                   cwd=repo, check=True)
    before = (repo / "textutil/words.py").read_text()
    first_line = before.splitlines(keepends=True)[0]
    edit = {"search": first_line, "replace": "# counted by dmc\n" + first_line}
    assert _apply(repo, [{"path": "textutil/words.py", "code": "ignored",
                          "edits": [edit]}]) == ["textutil/words.py"]  # committed: written
    # the edit replayed on the file on disk: one line added, nothing else touched
    assert (repo / "textutil/words.py").read_text() == "# counted by dmc\n" + before
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "x"],
                   cwd=repo, check=True)
    # an existing file is never replaced whole, and a new one is written whole
    with pytest.raises(DmcError, match="replace textutil/words.py whole"):
        _apply(repo, [{"path": "textutil/words.py", "code": "x = 1\n"}])
    stale = {"search": "no such line\n", "replace": "x\n"}
    with pytest.raises(DmcError, match="no longer apply"):
        _apply(repo, [{"path": "textutil/words.py", "code": "", "edits": [stale]},
                      {"path": "textutil/new.py", "code": "y = 2\n"}])
    assert not (repo / "textutil/new.py").exists()  # nothing written when one file fails
    assert _apply(repo, [{"path": "textutil/new.py", "code": "y = 2\n"}]) == \
        ["textutil/new.py"]
    (repo / "textutil/__init__.py").write_text("# my edit\n")
    with pytest.raises(DmcError) as refused:
        _apply(repo, [{"path": "textutil/__init__.py", "code": "x = 1\n"}])
    assert refused.value.code == Exit.USAGE and "uncommitted changes" in refused.value.message
    assert (repo / "textutil/__init__.py").read_text() == "# my edit\n"
    with pytest.raises(DmcError, match="outside the repository"):
        _apply(repo, [{"path": "../escape.py", "code": "x = 1\n"}])
    assert not (repo.parent / "escape.py").exists()


@pytest.mark.slow
def test_new_user_on_a_fresh_clone(tmp_path: Path, make_repo) -> None:
    """Fresh clone; `make demo` (the README's first command: it installs everything); then
    doctor, index and run on a small real project with the embedded defaults only.
    (`make test` is the command running this test, so it is not run again from inside.)"""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{ROOT}", str(clone)], check=True)
    # a new user's shell: no dmc settings, no venv, and not inside the `make test` running us
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DMC_", "VIRTUAL_ENV", "MAKE", "MFLAGS"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    demo = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True,
                          timeout=1800)
    assert demo.returncode == 0, demo.stderr[-3000:]
    # the whole pipeline ran on the demo app: a time for every stage, code on stdout
    for stage in ("intent", "extract", "retrieve", "optimize", "generate", "validate"):
        assert re.search(rf"\b{stage}: \d+(\.\d+)? s".encode(), demo.stderr), stage
    assert b"feature_implementation" in demo.stderr
    assert b"qwen2.5-coder-0.5b" in demo.stderr, "the embedded model generated the code"
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True,
                              check=True).stdout.strip(), "make demo dirtied the clone"
    dmc = str(clone / ".venv/bin/dmc")
    project = make_repo(SMALL_PROJECT, name="project")
    doctor = subprocess.run([dmc, "doctor"], cwd=project, env=env, capture_output=True,
                            timeout=300)
    assert doctor.returncode == 0, doctor.stdout
    index = subprocess.run([dmc, "index"], cwd=project, env=env, capture_output=True,
                           timeout=600)
    assert index.returncode == 0, index.stderr
    run = subprocess.run([dmc, "run", *RUN_FLAGS, "write a python function that counts "
                          "lines in a text, in textutil/lines.py"], cwd=project, env=env,
                         capture_output=True, timeout=900)
    assert run.returncode in (0, 1), run.stderr
    assert run.stdout.strip(), "dmc run printed no code"
    if run.returncode == 0:  # validation passed, so the code must at least parse
        compile(run.stdout, "lines.py", "exec")
