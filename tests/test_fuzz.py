"""Property-based fuzzing of every stage's stdin (hypothesis).

For any input: no traceback, an exit code from the documented set (never 70, the code for
a bug), JSON on stdout with an error document whenever the exit code says failure, and
stored state (index, style profile) unchanged. ``DMC_FUZZ_EXAMPLES`` sets the budget per
command (small in ``make test``, large in ``make stress``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.servers import free_port

DMC = str(Path(sys.executable).with_name("dmc"))
EXAMPLES = int(os.environ.get("DMC_FUZZ_EXAMPLES", "12"))
DOCUMENTED = {0, 1, 2, 3, 4}
STAGE_KEYS = ["input", "intent", "extraction", "context", "payload", "result", "validation"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) |
    st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    doc: dict = {"dmc": draw(st.sampled_from([1, 1, 1, 0, 2, "1", None]))}
    for key in draw(st.lists(st.sampled_from(STAGE_KEYS), max_size=4, unique=True)):
        doc[key] = draw(json_values)
    if draw(st.booleans()):
        doc["input"] = {"text": draw(st.text(min_size=1, max_size=60)),
                        "repo": draw(st.none() | st.text(max_size=20))}
    try:
        return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return b"{}"


stdin_inputs = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    documents(),
    st.lists(documents(), min_size=2, max_size=4).map(lambda ds: b"\n".join(ds)),
    st.lists(documents(), min_size=2, max_size=4).map(
        lambda ds: b"\n".join(ds) + b"\n{broken"),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([b"\xff\xfe\xfd", b"{", b"[", b"null", b"[]", b"{}", b'"text"', b"\x00",
                     b'{"dmc": 1, "input": {"text": ""}}', b'{"error": 5}']),
)


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@pytest.fixture(scope="module")
def state_repo(tmp_path_factory, isolated_env_module):
    """A repository with an index and a style profile, whose files must not change."""
    root = tmp_path_factory.mktemp("fuzz") / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "app.py").write_text('"""App."""\n\n\ndef handler(event: dict) -> int:\n'
                                 '    """Handle an event."""\n    return len(event)\n')
    for args in (["index"], ["style", "learn"]):
        subprocess.run([DMC, *args], cwd=root, env=isolated_env_module, check=True,
                       capture_output=True)
    return root


@pytest.fixture(scope="module")
def isolated_env_module(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg"))
    env["NO_COLOR"] = "1"
    # generate must never reach a model here: any valid payload goes to a closed port
    env["DMC_DESKTOP__URL"] = f"http://127.0.0.1:{free_port()}"
    env["DMC_DESKTOP__RETRY_ATTEMPTS"] = "0"
    return env


COMMANDS = [["intent"], ["extract"], ["retrieve", "--allow-stale"], ["optimize"],
            ["validate"], ["generate"], ["intent", "--batch"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_fuzz_stdin(args: list[str], state_repo: Path, isolated_env_module) -> None:
    watched = [state_repo / ".dmc/index.sqlite", state_repo / ".dmc/style.db"]
    before = [digest(p) for p in watched]
    ran: list[int] = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=stdin_inputs)
    def check(data: bytes) -> None:
        ran.append(1)
        proc = subprocess.run([DMC, *args], input=data, capture_output=True, cwd=state_repo,
                              env=isolated_env_module, timeout=120)
        err = proc.stderr.decode("utf-8", "replace")
        assert "Traceback" not in err, err
        assert proc.returncode in DOCUMENTED, (proc.returncode, data[:200], err[-500:])
        lines = [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        if "--batch" in args:  # NDJSON: exactly one output line per non-blank input line
            assert len(lines) == sum(1 for x in data.split(b"\n") if x.strip())
        else:
            assert lines, "every run writes at least one document"
        if proc.returncode not in (0, 1):
            assert any("error" in doc for doc in lines), lines[:2]
            assert err.strip(), "a failure says why on stderr"

    check()
    report_count(f"fuzz-{'-'.join(a.strip('-') for a in args)}", len(ran))
    assert [digest(p) for p in watched] == before, "stored state changed"


def report_count(name: str, inputs: int) -> None:
    """For `make stress` (bench/stress.py): how many inputs really ran, shrinking included."""
    folder = os.environ.get("DMC_STRESS_REPORT_DIR")
    if folder:
        Path(folder, f"{name}.json").write_text(orjson.dumps({"inputs": inputs}).decode())


def test_huge_document_is_handled(state_repo: Path, isolated_env_module) -> None:
    big = orjson.dumps({"dmc": 1, "input": {"text": "add a flag " * 200_000}})
    proc = subprocess.run([DMC, "intent"], input=big, capture_output=True, cwd=state_repo,
                          env=isolated_env_module, timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
