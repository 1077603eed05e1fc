"""What people and CI see: ``dmc validate --format text|json|sarif|github``, the default on
a terminal, colour rules, and the terminal views of retrieve, optimize, generate, validate."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import typing
from pathlib import Path

import orjson
import pytest

from tests.test_validate import BAD_PY, CLEAN_PY, write

DMC = str(Path(sys.executable).with_name("dmc"))


def test_text_view_groups_issues_by_file(dmc, tmp_path: Path) -> None:
    write(tmp_path / "work", {"bad.py": BAD_PY, "broken.py": "def f(:\n    pass\n",
                              "good.py": CLEAN_PY})
    res = dmc("validate", "bad.py", "broken.py", "good.py", "--format", "text", "--no-cache")
    assert res.code == 1
    out = res.stdout.decode()
    assert "\x1b[" not in out  # NO_COLOR is set by the fixture
    lines = out.splitlines()
    # a header line per file with issues, then its issues, each starting with path:line:col
    assert lines.index("bad.py") < lines.index("broken.py")
    assert "good.py" not in lines
    b602 = next(line for line in lines if "B602 (bandit)" in line)
    assert b602.strip().startswith("bad.py:6:") and " error " in b602
    mypy = next(line for line in lines if "arg-type (mypy)" in line)
    assert mypy.strip().startswith("bad.py:17:")
    assert any(line.strip().startswith("broken.py:1:") for line in lines)
    verdict = next(line for line in lines if line.startswith("dmc validate: FAILED"))
    doc = dmc("validate", "bad.py", "broken.py", "good.py", "--no-cache").doc["validation"]
    assert f"{doc['counts']['error']} error(s)" in verdict
    assert "in 3 file(s)" in verdict
    # infos are counted, not listed, unless they block
    info = [i for i in doc["issues"] if i["severity"] == "info"]
    if info:
        assert f"{len(info)} below warning not listed" in verdict
        strict = dmc("validate", "bad.py", "--format", "text", "--fail-on", "info")
        assert f"{info[0]['rule']} ({info[0]['tool']}" in strict.stdout.decode()


def test_text_view_colour_follows_no_color_and_force_color(dmc, tmp_path: Path,
                                                           isolated_env) -> None:
    write(tmp_path / "work", {"bad.py": BAD_PY})
    env = {k: v for k, v in isolated_env.items() if k != "NO_COLOR"}
    forced = subprocess.run([DMC, "validate", "bad.py", "--format", "text"],
                            cwd=tmp_path / "work", env={**env, "FORCE_COLOR": "1"},
                            capture_output=True)
    assert b"\x1b[1;31merror" in forced.stdout
    piped = subprocess.run([DMC, "validate", "bad.py", "--format", "text"],
                           cwd=tmp_path / "work", env=env, capture_output=True)
    assert b"\x1b[" not in piped.stdout  # not a terminal: no colour


def _on_pty(args: list[str], cwd: Path, env: dict[str, str], which: str) -> tuple[bytes, bytes]:
    """Run with stdout or stderr on a pseudo-terminal; returns (pty bytes, other bytes)."""
    master, slave = pty.openpty()
    kwargs = {"stdout": slave, "stderr": subprocess.PIPE} if which == "stdout" else \
        {"stdout": subprocess.PIPE, "stderr": slave}
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, **kwargs)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    other = (proc.stderr if which == "stdout" else proc.stdout).read()  # type: ignore[union-attr]
    proc.wait(timeout=120)
    return seen, other


def test_terminal_stdout_defaults_to_text_pipe_to_json(tmp_path: Path, isolated_env) -> None:
    write(tmp_path / "work", {"bad.py": BAD_PY})
    shown, _ = _on_pty([DMC, "validate", "bad.py"], tmp_path / "work", isolated_env, "stdout")
    text = shown.decode().replace("\r\n", "\n")
    assert not text.lstrip().startswith("{")
    assert "bad.py:6:" in text and "B602 (bandit)" in text
    piped = subprocess.run([DMC, "validate", "bad.py"], cwd=tmp_path / "work",
                           env=isolated_env, capture_output=True)
    assert orjson.loads(piped.stdout)["validation"]["passed"] is False


def test_terminal_stderr_shows_the_issues_beside_json(tmp_path: Path, isolated_env) -> None:
    """Issue 13 defect 3: on a terminal the human view showed no issues at all."""
    write(tmp_path / "work", {"bad.py": BAD_PY})
    env = {k: v for k, v in isolated_env.items() if k != "NO_COLOR"}
    shown, stdout = _on_pty([DMC, "validate", "bad.py", "--format", "json"],
                            tmp_path / "work", env, "stderr")
    assert orjson.loads(stdout)["validation"]["passed"] is False
    text = shown.decode()
    assert "bad.py:6:" in text and "B602 (bandit)" in text and "FAILED" in text


def test_github_annotations(dmc, tmp_path: Path) -> None:
    write(tmp_path / "work", {"bad.py": BAD_PY, "odd, name.py": 'X: int = "a%b"\n'})
    res = dmc("validate", "bad.py", "odd, name.py", "--format", "github", "--no-cache")
    assert res.code == 1
    lines = res.stdout.decode().splitlines()
    b602 = next(line for line in lines if "title=bandit B602" in line)
    assert b602.startswith("::error file=bad.py,line=6,col=")
    odd = [line for line in lines if "file=odd%2C name.py" in line]
    assert odd and all(line.startswith(("::error", "::warning", "::notice")) for line in odd)
    assert lines[-1].startswith("dmc validate: FAILED")


def test_github_escaping() -> None:
    from dmc.validate.report import github

    out = github({"passed": False, "fail_on": "error", "counts": {"error": 1},
                  "issues": [{"path": "a:b.py", "line": 2, "column": 0, "severity": "error",
                              "rule": "r", "tool": "t", "message": "50% off\nnext line"}]})
    assert out.splitlines()[0] == ("::error file=a%3Ab.py,line=2,col=1,title=t r::"
                                   "50%25 off%0Anext line")


@pytest.mark.parametrize("option, value, choices", [
    ("--format", "xml", "'text', 'json', 'sarif', 'github'"),
    ("--format", "TEXT", "'text', 'json', 'sarif', 'github'"),
    ("--fail-on", "fatal", "'error', 'warning', 'info'"),
    ("--fail-on", "", "'error', 'warning', 'info'"),
])
def test_unknown_choice_is_a_one_line_usage_error(dmc, option: str, value: str,
                                                  choices: str) -> None:
    # Click checks the choice before any file is read: x.py need not exist
    res = dmc("validate", option, value, "x.py")
    assert res.code == 2
    assert res.doc["error"]["stage"] == "validate"
    message = res.doc["error"]["message"]
    assert option in message and choices in message
    assert len(res.stderr.strip().splitlines()) == 1 and "Usage:" not in res.stderr


def test_choices_are_listed_in_help_and_match_the_config(dmc) -> None:
    from dmc.commands.validate import FORMATS, Severity

    from dmc.config import BY_KEY

    out = dmc("validate", "-h").stdout.decode()
    assert "<text|json|sarif|github>" in out and "<error|warning|info>" in out
    assert FORMATS == ("text", "json", "sarif", "github")
    assert set(typing.get_args(Severity)) == set(BY_KEY["validation.fail_on"].choices or ())


# -- the terminal views of the other stages (in-process, stderr made a terminal) -----------

class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _tty_stderr(monkeypatch) -> _Tty:
    """stderr as a terminal (set inside the test: pytest re-installs its own between phases)."""
    stream = _Tty()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("DMC_QUIET", raising=False)
    return stream


def test_optimize_view(monkeypatch) -> None:
    from dmc.commands import ui

    tty_stderr = _tty_stderr(monkeypatch)
    from dmc.optimize import Options, optimize
    from dmc.tokens import byte_bound as estimate
    from tests.test_optimize import doc_with

    chunks = [{"path": f"m{i}.py", "start_line": 1, "end_line": 40, "score": 1 - i / 10,
               "language": "python", "text": "def f():\n    return 1\n" * 40}
              for i in range(6)]
    doc, _ = optimize(doc_with(chunks), Options(max_context_tokens=600), estimate)
    ui.summary("optimize", doc)
    shown = tty_stderr.getvalue()
    metrics = doc["payload"]["metrics"]
    assert f"{metrics['context_tokens']} of 600" in shown
    assert f"{len(metrics['dropped'])} dropped" in shown and "6 in" in shown


def test_retrieve_view(monkeypatch) -> None:
    from dmc.commands import ui

    tty_stderr = _tty_stderr(monkeypatch)

    doc = {"dmc": 1, "context": {"retrieval": {"mode": "hybrid", "k": 2}, "chunks": [
        {"path": "app/auth.py", "start_line": 10, "end_line": 42, "symbol": "login",
         "score": 0.0312, "why": {"dense": {"rank": 1}, "bm25": {"rank": 3}}, "text": "..."},
        {"path": "app/db.py", "start_line": 1, "end_line": 9, "symbol": None, "kind": "module",
         "score": 0.0151, "why": {}, "text": "..."}]}}
    ui.summary("retrieve", doc)
    shown = tty_stderr.getvalue()
    assert "app/auth.py:10-42" in shown and "login" in shown and "dense #1" in shown
    assert "2 chunk(s)" in shown and "hybrid" in shown


def test_generate_view(monkeypatch) -> None:
    from dmc.commands import ui

    tty_stderr = _tty_stderr(monkeypatch)

    doc = {"dmc": 1, "result": {
        "status": "partial", "files": [{"path": "svc/api.py", "language": "python",
                                        "code": "a = 1\nb = 2\nc = 3\n"}],
        "validation": {"passed": False, "counts": {"error": 2, "warning": 1}, "iterations": 3},
        "metadata": {"model_used": "embedded:qwen", "generation_time": 4.2}}}
    ui.summary("generate", doc)
    shown = tty_stderr.getvalue()
    assert "svc/api.py" in shown and "partial" in shown and "3 pass(es)" in shown
    assert "2 error(s)" in shown
