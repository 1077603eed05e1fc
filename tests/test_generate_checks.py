"""Guarded decoding, repair of cut-off answers, acceptance checks and the loop they drive.

The stream guard, the repair and the check gathering are pure functions, tested directly.
Checks run in the real validate sandbox. The loop is driven through the Ollama backend against
the Ollama TEST DOUBLE (a script of answers; no Ollama server can run here); validation and
the sandbox in the loop are the real ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from dmc.generate import answer_tokens, generate, summary_line
from dmc.generate.backends import Backend, ChatResult, OllamaBackend
from dmc.generate.checks import CheckRun, from_text, gather, run
from dmc.generate.code import CodeFile, extract_files
from dmc.generate.guard import StreamGuard, repeated_tail
from tests.support.servers import OllamaDouble

LOOP_LINE = 'assert is_palindrome("Was it a car or a cat I saw?") == False\n'
PALINDROME = ("def is_palindrome(s):\n    t = ''.join(c.lower() for c in s if c.isalnum())\n"
              "    return t == t[::-1]\n")


def feed_all(guard: StreamGuard, text: str, step: int = 5) -> str | None:
    reason = None
    for i in range(0, len(text), step):
        reason = guard.feed(text[i:i + step])
        if reason:
            return reason
    return reason


# --- the stream guard ---------------------------------------------------------------------

def test_guard_stops_a_line_that_keeps_repeating() -> None:
    guard = StreamGuard()
    text = "```python\n" + PALINDROME + "\n" + LOOP_LINE * 50
    assert feed_all(guard, text) == "repetition"
    # stopped after a handful of repeats, not after fifty
    assert guard.text.count(LOOP_LINE.strip()) <= 5
    assert repeated_tail(guard.text) == LOOP_LINE.strip()


def test_guard_stops_a_repeated_block_of_lines() -> None:
    block = "    print('checking the value')\n    value = compute(value)\n"
    assert feed_all(StreamGuard(), "def f(value):\n" + block * 10) == "repetition"


def test_guard_stops_a_phrase_repeated_inside_one_line() -> None:
    assert feed_all(StreamGuard(), "x = '" + "abc, " * 400) == "repetition"


def test_guard_lets_ordinary_code_through() -> None:
    code = "\n".join(
        [f"def handler_{i}(request):\n    if request is None:\n        return None\n"
         f"    return {{'id': {i}, 'ok': True}}\n" for i in range(30)]
        + ["}\n" * 6, "    pass\n" * 6])
    guard = StreamGuard()
    assert feed_all(guard, code) is None and guard.reason is None


def test_guard_lets_repeated_data_lines_through() -> None:
    board = "board = [\n" + "    [0, 0, 0, 0, 0, 0, 0, 0, 0],\n" * 9 + "]\n"
    assert feed_all(StreamGuard(), board) is None
    assert feed_all(StreamGuard(), "<ul>\n" + "  <li></li>\n" * 8 + "</ul>\n") is None
    # but not without end
    assert feed_all(StreamGuard(), "rows = [\n" + "    [0, 0, 0, 0, 0, 0],\n" * 40) == \
        "repetition"


def test_a_usage_block_before_the_code_does_not_end_the_answer() -> None:
    guard = StreamGuard(single_block=True, language="python")
    text = "```python\nprint(is_even(4))\n```\n```python\n" \
           "def is_even(n):\n    return n % 2 == 0\n```\nmore"
    assert feed_all(guard, text) == "complete" and "def is_even" in guard.text


def test_guard_stops_when_the_one_block_asked_for_is_closed() -> None:
    guard = StreamGuard(single_block=True, language="python")
    text = "Here:\n```bash\npip install x\n```\n```python\n" + PALINDROME + "```\nUsage: ..."
    assert feed_all(guard, text, step=3) == "complete"
    assert "Usage" not in guard.text and guard.text.count("```") == 4
    # with several files wanted, a closed block is not the end
    assert feed_all(StreamGuard(), "```python\nx = 1\n```\nmore") is None


# --- extraction and repair ---------------------------------------------------------------

def test_an_unclosed_fence_never_reaches_code_and_a_loop_is_cut_back() -> None:
    answer = ("File: pal.py\n```python\nFile: pal.py\n" + PALINDROME + "\n" + LOOP_LINE * 12
              + 'assert is_palindrome("Was')
    [f] = extract_files(answer, language="python", target_files=["pal.py"], cut_off="length")
    assert "```" not in f.code and "File:" not in f.code
    compile(f.code, "pal.py", "exec")
    assert f.code.count(LOOP_LINE.strip()) <= 1
    assert not f.truncated and f.repair and "cut off (length)" in f.repair


def test_a_cut_off_function_is_dropped_back_to_the_last_complete_statement() -> None:
    answer = "```python\ndef f():\n    return 1\n\n\ndef g(x):\n    if x:\n        return ("
    [f] = extract_files(answer, language="python", cut_off="length")
    assert f.code == "def f():\n    return 1\n"
    assert not f.truncated and "dropped" in (f.repair or "")


def test_an_answer_with_nothing_complete_stays_truncated() -> None:
    [f] = extract_files("```python\ndef f(:\n", language="python", cut_off="length")
    assert f.truncated and "```" not in f.code


def test_template_tokens_and_file_lines_are_cleaned_from_closed_blocks() -> None:
    [f] = extract_files("```python\n# File: a.py\nx = 1<|im_end|>\n```", language="python")
    assert f.code == "x = 1\n"


def test_answer_size_follows_the_task() -> None:
    base = {"task": {"type": "feature_implementation", "description": "d",
                     "complexity": "low", "target_files": ["a.py"]},
            "generation": {"max_tokens": 2048}, "context": {}}
    assert answer_tokens(base) == 768
    high = {**base, "task": {**base["task"], "complexity": "high", "description": "d" * 500}}
    assert answer_tokens(high) == 2048  # never above the configured limit
    brief = {**high, "task": {**high["task"], "description": "write is_even(n)"}}
    assert answer_tokens(brief) == 768  # one new piece of code, said briefly
    edit = {**base, "context": {"existing_code": {"a.py": "x" * 3000}}}
    assert answer_tokens(edit) == 3000 // 3 + 256  # room to rewrite what exists


# --- gathering checks ---------------------------------------------------------------------

def test_checks_from_asserts_doctests_and_prose() -> None:
    text = ("Write square(x). For example square(3) == 9 and `square(-2)` returns 4.\n"
            "assert square(0) == 0\n>>> square(5)\n25\n"
            "It should be fast and is simple.")
    checks = from_text(text, "request")
    codes = [c.code for c in checks]
    assert "assert square(0) == 0" in codes
    assert "assert square(3) == 9" in codes and "assert square(-2) == 4" in codes
    assert any(c.kind == "doctest" and ">>> square(5)" in c.code for c in checks)
    assert len(checks) == 4 and all(c.source == "request" for c in checks)


def test_no_checks_from_prose_without_examples() -> None:
    assert from_text("add a DELETE /users/:id route that returns 204 and is fast", "r") == []
    # calls on names describe behaviour; they are not examples that can run
    for text in ("find(lst, x) returns -1 if x is missing", "fib(n) should return 0",
                 # an empty input with no one function to call: nothing to guess
                 "write a function that returns [] for an empty list",
                 "merge(a, b) returns [] for an empty list",
                 "parse(s) and render(t): both give '' for an empty string"):
        assert from_text(text, "r") == [], text


def test_a_value_for_the_empty_input_becomes_a_call_of_the_one_function() -> None:
    cases = {"count(s) is 0 for an empty string": "assert count('') == 0",
             "write flatten(xs); it returns [] for an empty list": "assert flatten([]) == []",
             "is_sorted(xs) should return True for an empty list": "assert is_sorted([]) is True",
             "invert(d) gives {} for an empty dict": "assert invert({}) == {}"}
    for text, code in cases.items():
        assert [c.code for c in from_text(text, "r")] == [code], text


def test_prose_examples_take_the_whole_literal() -> None:
    codes = [c.code for c in from_text("f(3) returns [1, 2, 3] for three, and "
                                       "title('a b') returns 'A B' always.", "r")]
    assert codes == ["assert f(3) == [1, 2, 3]", "assert title('a b') == 'A B'"]


def test_checks_import_a_file_whose_name_is_not_a_module() -> None:
    checks = from_text("assert double(2) == 4", "request")
    result = run(checks, [CodeFile("my-tool.py", "def double(x):\n    return 2 * x\n",
                                   "python")])
    assert (result.total, result.passed) == (1, 1)


def test_checks_of_javascript_code_are_not_run_nor_counted() -> None:
    checks = from_text("add(2, 3) returns 5", "request")
    result = run(checks, [CodeFile("add.js", "export const add = (a, b) => a + b;\n",
                                   "javascript")])
    assert result.total == 0 and "Python code only" in result.errors[0]


def test_gather_takes_target_file_doctests_and_payload_tests() -> None:
    payload = {"task": {"type": "feature_implementation", "description": "finish add",
                        "target_files": ["m.py"],
                        "tests": [{"path": "test_m.py", "code": "def test_x():\n    pass\n"}]},
               "context": {"existing_code": {"m.py": 'def add(a, b):\n    """\n    >>> add(2, 3)'
                                                     '\n    5\n    """\n'}}}
    checks = gather(payload)
    assert [c.source for c in checks] == ["target file", "payload"]


# --- running checks in the sandbox --------------------------------------------------------

def test_checks_pass_and_fail_with_the_assertion_shown() -> None:
    checks = from_text("assert square(3) == 9\nassert square(2) == 4", "request")
    good = run(checks, [CodeFile("sq.py", "def square(x):\n    return x * x\n", "python")])
    assert (good.total, good.passed, good.failures) == (2, 2, [])
    bad = run(checks, [CodeFile("sq.py", "def square(x):\n    return x + x\n", "python")])
    assert (bad.total, bad.passed) == (2, 1)
    [failure] = bad.failures
    assert failure["check_text"] == "assert square(3) == 9" and "6" in failure["message"]


def test_code_that_does_not_import_fails_every_check() -> None:
    checks = from_text("assert f(1) == 1", "request")
    result = run(checks, [CodeFile("m.py", "def f(:\n", "python")])
    assert result.passed == 0 and result.failures


def test_a_hanging_check_is_killed_at_its_limit() -> None:
    checks = from_text("assert spin() == 1", "request")
    code = "def spin():\n    while True:\n        pass\n"
    result = run(checks, [CodeFile("m.py", code, "python")], timeout=3)
    assert result.passed == 0 and result.seconds < 30
    assert "3 s" in result.failures[0]["message"] or "killed" in result.failures[0]["message"]


def test_a_test_file_that_does_not_parse_is_reported_not_crashed() -> None:
    payload = {"task": {"type": "testing", "description": "x",
                        "tests": [{"path": "test_bad.py", "code": "def test_(:\n"}]}}
    result = run(gather(payload), [CodeFile("m.py", "x = 1\n", "python")])
    assert result.errors and "does not parse" in result.errors[0]
    assert isinstance(result, CheckRun) and result.total == 0  # not held against the code


# --- the loop -----------------------------------------------------------------------------

PAYLOAD: dict[str, Any] = {
    "request_id": "r-2", "timestamp": "2026-11-29T00:00:00Z",
    "task": {"type": "feature_implementation", "language": "python", "complexity": "low",
             "description": "write square(x) in sq.py. assert square(3) == 9",
             "target_files": ["sq.py"]},
    "context": {}, "requirements": {}, "style": {},
    "quality_criteria": {"max_complexity": 10, "security_scan": True, "type_check": True},
    "generation": {"max_tokens": 400, "max_iterations": 3},
}
WRONG = '```python\n"""Squares."""\n\n\ndef square(x: int) -> int:\n    """Square."""\n' \
        '    return x + x\n```\n'
RIGHT = WRONG.replace("x + x", "x * x")


def run_script(answers: list[str], payload: dict[str, Any] | None = None
               ) -> tuple[dict[str, Any], OllamaDouble, list[dict[str, Any]]]:
    double = OllamaDouble(answers)
    events: list[dict[str, Any]] = []
    try:
        response = generate(payload or PAYLOAD,
                            OllamaBackend(double.url, "qwen2.5-coder", timeout=30),
                            on_event=events.append)
    finally:
        double.stop()
    return response, double, events


def test_a_failing_example_drives_refinement_until_it_passes() -> None:
    response, double, events = run_script([WRONG, RIGHT])
    assert response["status"] == "success"
    passes = response["metadata"]["iterations"]
    assert [p["checks"] for p in passes] == [{"run": 1, "passed": 0}, {"run": 1, "passed": 1}]
    assert [p["kept"] for p in passes] == [False, True]
    feedback = double.requests[1]["messages"][-1]["content"]
    assert "assert square(3) == 9" in feedback and "6" in feedback
    assert "x + x" in double.requests[1]["messages"][-2]["content"]  # the kept code
    assert any(e["event"] == "checks" for e in events)
    assert summary_line(response) == "2 passes: 0/1 → 1/1 checks, success"
    assert response["checks"]["sources"] == ["request"]


def test_linter_clean_but_wrong_code_is_never_success() -> None:
    response, _, _ = run_script([WRONG, WRONG, WRONG])
    assert response["status"] == "partial"
    assert "acceptance check" in response["reason"]
    assert response["validation"]["passed"] is True  # linters saw nothing wrong
    assert response["validation"]["iterations"] == 2  # the same code twice: no progress


def test_a_looping_answer_is_stopped_and_the_next_prompt_says_so() -> None:
    looping = "```python\n" + WRONG.split("\n", 1)[1].rsplit("```", 1)[0] + LOOP_LINE * 200
    response, double, _ = run_script([looping, RIGHT])
    first = response["metadata"]["iterations"][0]
    assert first["finish_reason"] == "repetition" and first["tokens"] < 200
    assert "```" not in response["code"]
    feedback = double.requests[1]["messages"][-1]["content"]
    assert "kept repeating the line `" + LOOP_LINE.strip() in feedback
    assert response["status"] == "success" and "x * x" in response["code"]


class _InterruptingBackend(Backend):
    """TEST DOUBLE backend: answers once, then behaves as if the user pressed Ctrl-C."""

    kind = "double"
    model = "interrupt"

    def __init__(self) -> None:
        self.calls = 0

    def chat(self, messages: Any, *, max_tokens: int, temperature: float, top_p: float,
             on_token: Any = None, stop: Any = None) -> ChatResult:
        self.calls += 1
        if self.calls > 1:
            raise KeyboardInterrupt
        return ChatResult(WRONG, 10, 20, self.model, 0.1)

    def health(self) -> dict[str, Any]:
        return {"ok": True}


def test_ctrl_c_returns_the_best_pass_so_far() -> None:
    response = generate(PAYLOAD, _InterruptingBackend())
    assert response["metadata"]["interrupted"] is True
    assert response["status"] == "partial" and "x + x" in response["code"]


@pytest.mark.parametrize("answers, status", [(["no code here, sorry"] * 3, "error")])
def test_no_code_is_an_error_with_a_reason(answers: list[str], status: str) -> None:
    response, _, _ = run_script(answers)
    assert response["status"] == status and response["reason"]


def test_refinement_passes_draw_refine_samples_while_the_stated_check_fails() -> None:
    """generation.refine_samples: a refinement pass draws more than one answer, the extra
    ones at the sample temperature and from the same refinement prompt (Ollama TEST DOUBLE)."""
    payload = {**PAYLOAD, "generation": {**PAYLOAD["generation"], "samples": 1,
                                         "refine_samples": 2, "sample_temperature": 0.9}}
    also_wrong = WRONG.replace("x + x", "x - x")
    response, double, _ = run_script([WRONG, also_wrong, RIGHT], payload)
    passes = response["metadata"]["iterations"]
    assert [(p["iteration"], p["sample"]) for p in passes] == [(1, 1), (2, 1), (2, 2)]
    assert [p["checks"]["passed"] for p in passes] == [0, 0, 1]
    assert response["status"] == "success" and "x * x" in response["code"]
    second, third = double.requests[1], double.requests[2]
    assert second["messages"] == third["messages"]  # both answer the same feedback
    assert "assert square(3) == 9" in second["messages"][-1]["content"]
    assert third["options"]["temperature"] == 0.9
    assert second["options"]["temperature"] != 0.9


def test_refine_samples_default_to_one_answer_a_pass() -> None:
    payload = {**PAYLOAD, "generation": {**PAYLOAD["generation"], "samples": 1}}
    also_wrong = WRONG.replace("x + x", "x - x")
    response, double, _ = run_script([WRONG, also_wrong, RIGHT], payload)
    passes = response["metadata"]["iterations"]
    assert [(p["iteration"], p["sample"]) for p in passes] == [(1, 1), (2, 1), (3, 1)]


# --- backends' repetition controls, and the agent ----------------------------------------

def test_repetition_controls_and_stop_sequences_reach_ollama() -> None:
    from dmc.generate.backends import make_backend

    double = OllamaDouble(RIGHT)
    try:
        backend = make_backend(kind="ollama", server=f"ollama:{double.url}",
                               model="qwen2.5-coder", timeout=10, connect_timeout=2,
                               context_window=4096, repeat_penalty=1.1)
        result = backend.chat([{"role": "user", "content": "x"}], max_tokens=50,
                              temperature=0, top_p=1, stop=["<|im_end|>"])
    finally:
        double.stop()
    options = double.requests[0]["options"]
    assert options["repeat_penalty"] == 1.1 and options["stop"] == ["<|im_end|>"]
    assert result.finish_reason in ("stop", "length")


def agent_payload(dmc: Any) -> bytes:
    res = dmc("optimize", "write square(x) in sq.py. assert square(3) == 9")
    assert res.code == 0, res.stderr
    return res.stdout


def test_agent_and_local_give_the_same_result_and_the_agent_streams_checks(
        dmc: Any, isolated_env: dict[str, str]) -> None:
    import httpx
    import orjson

    from tests.support.servers import AgentProcess

    payload = agent_payload(dmc)
    local_double = OllamaDouble([WRONG, RIGHT])
    try:
        local = dmc("generate", "--local", "--backend", "ollama", "--set",
                    f"generation.server=ollama:{local_double.url}", "--model", "qwen2.5-coder",
                    stdin=payload)
    finally:
        local_double.stop()
    assert local.code == 0, local.stderr
    # the CLI draws up to generation.samples (4) answers: the second one passes
    assert "1 pass (2 answers): 0/1 → 1/1 checks, success" in local.stderr

    agent_double = OllamaDouble([WRONG, RIGHT])
    env = dict(isolated_env, DMC_AGENT_TOKEN="t-123")
    agent = AgentProcess("--backend", "ollama", "--model", "qwen2.5-coder", "--set",
                         f"generation.server=ollama:{agent_double.url}", env=env)
    events: list[dict[str, Any]] = []
    try:
        agent.wait()
        body = orjson.loads(payload)["payload"]
        body["generation"]["max_iterations"] = 3
        with httpx.stream("POST", f"{agent.url}/v1/generate", content=orjson.dumps(body),
                          headers={"authorization": "Bearer t-123"}, timeout=120) as resp:
            events = [orjson.loads(line) for line in resp.iter_lines() if line.strip()]
    finally:
        agent.stop()
        agent_double.stop()
    checks = [e for e in events if e.get("event") == "checks"]
    assert [(c["run"], c["passed"]) for c in checks] == [(1, 0), (1, 1)]
    remote = events[-1]["response"]
    local_result = local.doc["result"]
    assert remote["status"] == local_result["status"] == "success"
    assert remote["code"] == local_result["code"]
    assert [p["checks"] for p in remote["metadata"]["iterations"]] == \
        [p["checks"] for p in local_result["metadata"]["iterations"]]


def test_with_nothing_stated_the_model_writes_tests_that_rank_but_never_overrule() -> None:
    payload = {**PAYLOAD, "task": {**PAYLOAD["task"], "description": "write square(x) in sq.py"},
               "generation": {**PAYLOAD["generation"], "generated_tests": True}}
    tests_answer = "```python\nassert square(3) == 9\nassert square(-2) == 4\n```\n"
    response, double, events = run_script([WRONG, tests_answer, RIGHT], payload)
    assert "Write up to" in double.requests[1]["messages"][-1]["content"]
    model = response["checks"]["model"]
    assert model["run"] == 2 and model["passed"] == 2
    passes = response["metadata"]["iterations"]
    assert [p["model_checks"]["passed"] for p in passes] == [0, 2]
    feedback = double.requests[2]["messages"][-1]["content"]
    assert "may be wrong" in feedback and "assert square(3) == 9" in feedback
    assert response["status"] == "success"
    assert [c["source"] for c in response["checks"]["list"]] == ["model", "model"]
    assert any(e.get("source") == "model" for e in events if e["event"] == "checks")


def test_ctrl_c_in_the_cli_writes_the_best_so_far_and_exits_130(
        dmc: Any, isolated_env: dict[str, str]) -> None:
    """A real `dmc generate` process, SIGINT after its first pass (Ollama TEST DOUBLE)."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import orjson

    payload = agent_payload(dmc)
    double = OllamaDouble([WRONG, RIGHT], delay=4.0)
    exe = str(Path(sys.executable).with_name("dmc"))
    proc = subprocess.Popen([exe, "generate", "--local", "--set", "generation.backend=ollama",
                             "--set", f"generation.server=ollama:{double.url}",
                             "--set", "models.generation=qwen2.5-coder"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=isolated_env,
                            # as a terminal starts it: a suite run in the background (nohup,
                            # `&`) ignores SIGINT, and a child inherits that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(payload)
        proc.stdin.close()
        deadline = time.monotonic() + 240  # a loaded machine is slow to load the stages
        seen = b""
        while b"pass 1:" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        assert b"pass 1:" in seen, seen
        proc.send_signal(signal.SIGINT)  # during the second request's delay
        assert proc.stdout is not None
        out = proc.stdout.read()
        seen += proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        proc.kill()
        double.stop()
    assert proc.returncode == 130, seen
    assert out, seen
    result = orjson.loads(out)["result"]
    assert result["metadata"]["interrupted"] is True and "x + x" in result["code"]


def test_the_repository_tests_of_a_target_run_and_old_failures_are_named(
        make_repo: Any) -> None:
    """The repository's own pytest file for the target runs in the sandbox beside the
    repository's other modules; a test already failing before the change is named."""
    import subprocess

    repo = make_repo({
        "pkg/__init__.py": "",
        "pkg/helpers.py": "def double(x):\n    return 2 * x\n",
        "pkg/sq.py": "def square(x):\n    raise NotImplementedError\n",
        "tests/test_sq.py": "from pkg.sq import square\nfrom pkg.helpers import double\n\n\n"
                            "def test_square():\n    assert square(3) == 9\n\n\n"
                            "def test_double():\n    assert double(2) == 4\n\n\n"
                            "def test_already_broken():\n    assert double(1) == 3\n",
        "tests/test_other.py": "def test_unrelated():\n    assert True\n",
    })
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    payload = {**PAYLOAD, "task": {**PAYLOAD["task"], "description": "implement square in "
                                   "pkg/sq.py", "target_files": ["pkg/sq.py"]},
               "generation": {**PAYLOAD["generation"], "generated_tests": False}}
    right = RIGHT.replace("```python\n", "File: pkg/sq.py\n```python\n")
    wrong = WRONG.replace("```python\n", "File: pkg/sq.py\n```python\n")
    double = OllamaDouble([wrong, right])
    events: list[dict[str, Any]] = []
    try:
        response = generate(payload, OllamaBackend(double.url, "qwen2.5-coder", timeout=30),
                            on_event=events.append, repo=repo)
    finally:
        double.stop()
    listed = response["checks"]["list"]
    assert [(c["source"], c["check"]) for c in listed] == [
        ("repository", "tests in tests/test_sq.py")]  # not the unrelated test file
    baseline = [e for e in events if e.get("source") == "repository baseline"]
    assert baseline and baseline[0]["failed"] == 1  # it failed before the change
    assert response["checks"]["failing_before_the_change"] == [
        "tests/test_sq.py::test_already_broken", "tests/test_sq.py::test_square"]
    passes = response["metadata"]["iterations"]
    # one check per test file: it "fails" in both passes (the old failure), but only the
    # second pass leaves only the old failure (a third, the same code again, ends the loop)
    assert [p["kept"] for p in passes][:2] == [False, True]
    # still failing the same way it did before: named, and still no success (a test of the
    # missing feature also "fails the same way" when the model changes nothing)
    [left] = response["checks"]["failures"]
    assert left["check_text"] == "tests/test_sq.py::test_already_broken"
    assert response["status"] == "partial" and "x * x" in response["code"]
    assert "test_already_broken failed the same way before the change" in response["reason"]
