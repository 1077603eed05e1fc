"""The pipe contract's reader and document checks, in-process."""

from __future__ import annotations

import io

import orjson
import pytest
from dmc.commands.pipe import iter_input, run_stage

from dmc.contract import (
    SCHEMA_VERSION,
    DmcError,
    Exit,
    check_document,
    dumps,
    error_exit_code,
    new_document,
)


def items(data: bytes, batch: bool = False) -> list:
    return list(iter_input(io.BytesIO(data), batch=batch))


def test_plain_text_is_one_request_even_over_several_lines() -> None:
    [doc] = items(b"  add a login page\nwith a remember-me box\n")
    assert doc["input"]["text"] == "add a login page\nwith a remember-me box"
    assert doc["dmc"] == SCHEMA_VERSION


def test_compact_and_pretty_documents() -> None:
    doc = new_document("fix the parser")
    [one] = items(dumps(doc))
    [pretty] = items(dumps(doc, pretty=True))
    assert one == pretty == doc


def test_ndjson_is_detected_and_streamed_in_order() -> None:
    lines = b"".join(dumps(new_document(f"request {i}")) for i in range(5))
    got = items(lines)
    assert [d["input"]["text"] for d in got] == [f"request {i}" for i in range(5)]


def test_ndjson_reader_does_not_read_ahead() -> None:
    """Streaming: the first document is available before the rest of the input exists."""
    class OneLineAtATime(io.RawIOBase):
        def __init__(self) -> None:
            self.lines = [dumps(new_document("first")), dumps(new_document("second"))]
            self.served = 0

        def readable(self) -> bool:
            return True

        def readline(self, size: int = -1) -> bytes:
            if self.served >= len(self.lines):
                return b""
            self.served += 1
            return self.lines[self.served - 1]

        def __iter__(self):  # type: ignore[override]
            while True:
                line = self.readline()
                if not line:
                    return
                yield line

    stream = OneLineAtATime()
    gen = iter_input(stream)  # type: ignore[arg-type]
    first = next(gen)
    assert first["input"]["text"] == "first"
    assert stream.served == 1  # the second line is still unread


def test_batch_mode_accepts_text_and_json_lines() -> None:
    data = b'fix the crash\n\n{"input": {"text": "add tests"}}\n'
    got = items(data, batch=True)
    assert [d["input"]["text"] for d in got] == ["fix the crash", "add tests"]


def test_json_array_of_documents_and_strings() -> None:
    got = items(b'[{"input": {"text": "a"}}, "b"]')
    assert [d["input"]["text"] for d in got] == ["a", "b"]


@pytest.mark.parametrize("data, fragment", [
    (b"{bad json", "not valid JSON"),
    (b'{"dmc": 99, "input": {"text": "x"}}', "newer than this dmc"),
    (b'{"dmc": "one"}', "positive integer"),
    (b'{"intent": []}', "'intent' must be an object"),
    (b'{"input": {"text": 5}}', "input.text must be a string"),
    (b"[1, 2", "not valid JSON"),
    (b"\xff\xfe add login", "not valid UTF-8"),
    (b"text with \x00 nul", "binary"),
    (b"", "no input"),
    (b"   \n\n", "no input"),
    (b"[]", "empty JSON array"),
])
def test_bad_input_is_a_usage_error(data: bytes, fragment: str) -> None:
    got = items(data)
    errors = [i for i in got if isinstance(i, DmcError)]
    assert errors, got
    assert fragment in errors[0].message
    assert errors[0].code == Exit.USAGE


def test_deep_nesting_is_rejected_cleanly() -> None:
    data = b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    [err] = items(data)
    assert isinstance(err, DmcError) and err.code == Exit.USAGE


def test_error_documents_pass_through_with_their_exit_code() -> None:
    err = DmcError("agent down", Exit.UNAVAILABLE).to_document("generate")
    out = io.BytesIO()
    code = run_stage("validate", lambda d: pytest.fail("must not run"),
                     stdin=io.BytesIO(dumps(err)), stdout=out)
    assert code == Exit.UNAVAILABLE
    assert orjson.loads(out.getvalue()) == err
    assert error_exit_code({"error": {"code": "weird"}}) == Exit.REMOTE


def test_one_output_line_per_input_line_even_with_failures() -> None:
    data = b'ok one\n{broken\nok two\n{"dmc": 7}\n'
    out = io.BytesIO()
    code = run_stage("intent", lambda d: {**d, "seen": True}, stdin=io.BytesIO(data),
                     stdout=out, batch=True)
    lines = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert len(lines) == 4
    assert [("error" in d) for d in lines] == [False, True, False, True]
    assert code == Exit.USAGE


def test_unexpected_exception_becomes_internal_error_document() -> None:
    def boom(doc: dict) -> dict:
        raise ZeroDivisionError("oops")

    out = io.BytesIO()
    code = run_stage("intent", boom, stdin=io.BytesIO(b"text"), stdout=out)
    doc = orjson.loads(out.getvalue())
    assert code == Exit.INTERNAL
    assert doc["error"]["code"] == Exit.INTERNAL and "ZeroDivisionError" in doc["error"]["message"]


def test_unknown_keys_are_passed_through_untouched() -> None:
    doc = check_document({"dmc": 1, "input": {"text": "x"}, "custom": {"keep": [1, 2]}})
    out = io.BytesIO()
    run_stage("intent", lambda d: {**d, "intent": {}}, stdin=io.BytesIO(dumps(doc)), stdout=out)
    assert orjson.loads(out.getvalue())["custom"] == {"keep": [1, 2]}
