"""The contract as users meet it: the real `dmc` command in subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import DMC


def test_intent_then_extract_gives_one_document(dmc) -> None:
    first = dmc("intent", stdin="add JWT authentication to the Express API\n")
    assert first.code == 0, first.stderr
    second = dmc("extract", stdin=first.stdout)
    assert second.code == 0, second.stderr
    doc = second.doc
    assert doc["dmc"] == 1
    assert doc["intent"]["task_type"] == "feature_implementation"
    assert "express" in doc["extraction"]["frameworks"]
    assert "jwt_tokens" in doc["extraction"]["constraints"]


def test_text_as_argument(dmc) -> None:
    res = dmc("intent", "fix", "the", "crash", "on", "empty", "input")
    assert res.code == 0
    assert res.doc["input"]["text"] == "fix the crash on empty input"
    assert res.doc["intent"]["task_type"] == "bug_fix"


def test_bad_json_exits_2_with_error_document_and_one_line(dmc) -> None:
    res = dmc("intent", stdin=b"{bad json")
    assert res.code == 2
    assert res.doc["error"]["stage"] == "intent"
    assert res.doc["error"]["code"] == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmc intent: error:")
    assert "Traceback" not in res.stderr


def test_error_document_passes_through_extract(dmc) -> None:
    bad = dmc("intent", stdin=b"{bad json")
    passed = dmc("extract", stdin=bad.stdout)
    assert passed.code == 2
    assert passed.doc == bad.doc


def test_pipefail_pipeline_stops_cleanly(tmp_path: Path, isolated_env) -> None:
    script = f"set -o pipefail; printf '{{bad' | {DMC} intent | {DMC} extract"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, env=isolated_env,
                          cwd=tmp_path)
    assert proc.returncode == 2
    assert orjson.loads(proc.stdout)["error"]["stage"] == "intent"


def test_batch_of_1000_in_order_one_process(dmc) -> None:
    requests = [f"fix bug number {i} in the parser" if i % 2 else f"add feature {i}"
                for i in range(1000)]
    res = dmc("intent", "--batch", stdin="\n".join(requests) + "\n")
    assert res.code == 0, res.stderr[-500:]
    docs = res.docs
    assert len(docs) == 1000
    assert [d["input"]["text"] for d in docs] == requests


def test_ndjson_auto_detected(dmc) -> None:
    lines = b"".join(orjson.dumps({"input": {"text": t}}) + b"\n"
                     for t in ("add a cache", "fix typo in docs", "explain the retry loop"))
    res = dmc("intent", stdin=lines)
    assert res.code == 0
    assert [d["intent"]["task_type"] for d in res.docs][2] == "explanation"
    assert len(res.docs) == 3


def test_pretty_indents_and_stdout_is_json_only(dmc) -> None:
    res = dmc("intent", "--pretty", "add a login page")
    assert res.stdout.startswith(b"{\n  ")
    orjson.loads(res.stdout)
    plain = dmc("intent", "add a login page")
    assert plain.stdout.count(b"\n") == 1


def test_no_rich_output_when_stderr_is_not_a_terminal(dmc) -> None:
    res = dmc("intent", "add a login page")
    assert res.stderr == ""


def test_no_input_on_terminal_is_usage_error(isolated_env, tmp_path: Path) -> None:
    # a pty as stdin: dmc must not hang waiting for a person to type
    import pty

    master, slave = pty.openpty()
    proc = subprocess.run([DMC, "intent"], stdin=slave, capture_output=True, env=isolated_env,
                          cwd=tmp_path, timeout=30)
    assert proc.returncode == 2
    assert b"no request" in proc.stderr


def test_version_and_help(dmc) -> None:
    assert dmc("--version").stdout.startswith(b"dmc ")
    helped = dmc("--help")
    assert helped.code == 0 and b"intent" in helped.stdout and b"Exit codes" in helped.stdout


def test_broken_pipe_is_quiet_and_exits_141(tmp_path: Path, isolated_env) -> None:
    """`dmc … | head -1`: dmc exits 141 (as a filter killed by SIGPIPE would) and says
    nothing. The input comes from a file and head exits 0, so with pipefail the pipeline's
    status is dmc's own."""
    (tmp_path / "requests.txt").write_text("add a feature\n" * 3000)
    script = f"set -o pipefail; {DMC} intent --batch < requests.txt | head -n 1"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, env=isolated_env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 141, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    assert proc.stderr == b""


def test_stages_do_not_import_heavy_modules(isolated_env, tmp_path: Path) -> None:
    code = (
        "import sys, io\n"
        "from dmc.commands.main import app\n"
        "sys.argv = ['dmc', 'extract', 'add JWT login to the Express API']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'chromadb', 'llama_cpp', "
        "'sentence_transformers', 'numpy', 'onnxruntime', 'httpx', 'rich') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=isolated_env,
                          cwd=tmp_path, timeout=60)
    assert b"HEAVY []" in proc.stderr, proc.stderr
