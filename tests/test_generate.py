"""Generation: code extraction from answers, and the refinement loop.

The loop is driven through the Ollama backend against the Ollama TEST DOUBLE with a script
of answers (no Ollama server can run here); validation in the loop is the real one.
"""

from __future__ import annotations

import pytest

from dmc.generate import generate
from dmc.generate.backends import OllamaBackend
from dmc.generate.code import extract_files
from tests.support.servers import OllamaDouble

PAYLOAD = {
    "request_id": "r-1", "timestamp": "2026-11-26T00:00:00Z",
    "task": {"type": "feature_implementation", "description": "add a square function",
             "language": "python", "target_files": ["mathx.py"]},
    "context": {}, "requirements": {}, "style": {},
    "quality_criteria": {"max_complexity": 10, "security_scan": True, "type_check": True},
    # a scripted double answers in turn: no extra chat asking the model for tests
    "generation": {"max_tokens": 200, "max_iterations": 3, "generated_tests": False},
}
BROKEN = "File: mathx.py\n```python\ndef square(x: int) -> int\n    return x * x\n```\n"
TYPE_ERROR = ('File: mathx.py\n```python\n"""Squares."""\n\n\ndef square(x: int) -> int:\n'
              '    """Square."""\n    return str(x * x)\n```\n')
GOOD = ('File: mathx.py\n```python\n"""Squares."""\n\n\ndef square(x: int) -> int:\n'
        '    """Square."""\n    return x * x\n```\n')


@pytest.mark.parametrize("answer, path, lang", [
    ("```python app/main.py\nprint(1)\n```", "app/main.py", "python"),
    ('```js title="web/a.js"\nconsole.log(1)\n```', "web/a.js", "javascript"),
    ("```py:tools/x.py\nx = 1\n```", "tools/x.py", "python"),
    ("**src/util.ts**\n```typescript\nexport const a = 1;\n```", "src/util.ts", "typescript"),
    ("File: lib/b.py\n```python\nb = 2\n```", "lib/b.py", "python"),
    ("```python\n# file: pkg/c.py\nc = 3\n```", "pkg/c.py", "python"),
    ("```python\nd = 4\n```", "mathx.py", "python"),
    ("def f():\n    return 1\n", "mathx.py", "python"),
])
def test_code_extraction_formats(answer: str, path: str, lang: str) -> None:
    [f] = extract_files(answer, language="python", target_files=["mathx.py"])
    assert f.path == path and f.language == lang
    assert f.code.strip() and "```" not in f.code and "file:" not in f.code.lower()


def test_several_files_and_prose() -> None:
    answer = ("Here you go.\n\nFile: a.py\n```python\na = 1\n```\n\nAnd the test:\n\n"
              "File: test_a.py\n```python\nfrom a import a\n\n\ndef test_a():\n"
              "    assert a == 1\n```\nDone.")
    files = extract_files(answer)
    assert [f.path for f in files] == ["a.py", "test_a.py"]
    assert extract_files("Sorry, I cannot help with that.") == []


def run_script(answers: list[str]) -> tuple[dict, OllamaDouble]:
    double = OllamaDouble(answers)
    events: list[dict] = []
    try:
        response = generate(PAYLOAD, OllamaBackend(double.url, "qwen2.5-coder", timeout=30),
                            on_event=events.append)
    finally:
        double.stop()
    response["_events"] = events
    return response, double


def test_refinement_fixes_a_syntax_error_then_stops() -> None:
    response, double = run_script([BROKEN, GOOD, GOOD])
    assert response["status"] == "success"
    assert response["validation"]["iterations"] == 2
    iters = response["metadata"]["iterations"]
    assert iters[0]["errors"] >= 1 and iters[1]["errors"] == 0
    assert "return x * x" in response["code"]
    refinement = double.requests[1]["messages"][-1]["content"]
    # one file: the problem is named by line, with the offending line quoted
    assert "line 1: expected ':'" in refinement and "`def square(x: int) -> int`" in refinement
    assert "def square" in double.requests[1]["messages"][-2]["content"]  # the code, as kept
    assert response["metadata"]["model_used"] == "ollama:qwen2.5-coder"
    assert response["metadata"]["tokens_generated"] > 0


def test_two_passes_that_do_not_improve_stop_the_loop_and_the_best_is_kept() -> None:
    two_errors = TYPE_ERROR.replace("```\n", '\n\ndef cube(x: int) -> int:\n'
                                    '    """Cube."""\n    return str(x)\n```\n')
    payload = {**PAYLOAD, "generation": {**PAYLOAD["generation"], "max_iterations": 5}}
    double = OllamaDouble([TYPE_ERROR, two_errors, two_errors.replace("cube", "cube2"), GOOD])
    events: list[dict] = []
    try:
        response = generate(payload, OllamaBackend(double.url, "qwen2.5-coder", timeout=30),
                            on_event=events.append)
    finally:
        double.stop()
    assert response["validation"]["iterations"] == 3  # GOOD, fourth in the script, never asked
    assert response["validation"]["kept_iteration"] == 1
    assert "return str(x * x)" in response["code"]
    assert response["status"] == "partial"
    assert any(e.get("event") == "stopped" and "did not improve" in e["reason"]
               for e in events)
    # the third pass was asked from the best (the first), not from the worse second
    assert "cube" not in double.requests[2]["messages"][-2]["content"]


def test_no_code_in_any_answer_is_an_error_status() -> None:
    response, _ = run_script(["I can't do that."] * 3)
    assert response["status"] == "error" and response["code"] == ""


@pytest.mark.slow
def test_generate_local_with_the_embedded_model(dmc) -> None:
    """`dmc generate --local` in-process with the packaged Qwen2.5-Coder 0.5B."""
    res = dmc("generate", "--local", "--set", "generation.max_tokens=120",
              "--set", "validation.max_iterations=1", "--set", "generation.context_window=4096",
              "write a python function add(a, b) that returns a + b, in add.py",
              timeout=300)  # a real model on two cores: slow when the machine is busy
    assert res.code == 0, res.stderr
    result = res.doc["result"]
    assert result["metadata"]["model_used"] == "llamacpp:qwen2.5-coder-0.5b"
    compile(result["code"], "add.py", "exec")
    assert "embedded model" in res.stderr
