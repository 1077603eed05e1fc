"""The agent's attack surface and its behaviour under faults and load, on 127.0.0.1 only.

The agent here fronts an OpenAI-compatible backend at a port where nothing answers (or a
socket that accepts and never replies, for the hang test), so the API layer is exercised
without spending minutes on a model; the load test uses a real small model.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.servers import AgentProcess, free_port, smollm2_path

TOKEN = "sec-token-0b1c"
HEADERS = {"authorization": f"Bearer {TOKEN}"}
DMC = str(Path(sys.executable).with_name("dmc"))
ROUNDS = int(os.environ.get("DMC_STRESS_ROUNDS", "1"))


def agent_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["DMC_AGENT_TOKEN"] = TOKEN
    return env


def payload(n: int = 0, max_tokens: int = 8) -> dict:
    return {"request_id": f"req-{n}", "timestamp": "2026-11-26T00:00:00Z",
            "task": {"type": "feature_implementation", "description": "add a helper",
                     "language": "python"},
            "context": {}, "requirements": {}, "style": {}, "quality_criteria": {},
            "generation": {"max_tokens": max_tokens, "max_iterations": 1,
                           "temperature": 0.0}}


@pytest.fixture(scope="module")
def api_agent():
    """An agent whose model server does not exist: generation fails fast and cleanly."""
    agent = AgentProcess("--backend", "openai", "--model", "none", "--set",
                         f"generation.server=openai:http://127.0.0.1:{free_port()}/v1",
                         "--set", "generation.timeout=5", env=agent_env())
    try:
        agent.wait()
        yield agent
    finally:
        agent.stop()


def test_validate_endpoint_never_writes_outside_its_folder(api_agent, tmp_path: Path) -> None:
    target = tmp_path / "escape.py"
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    files = [{"path": f"../../../../..{target}", "code": "x = 1\n"},
             {"path": str(target), "code": "y = 2\n"},
             {"path": "a/../../b/../../c.py", "code": "z = 3\n"},
             {"path": "ok.py", "code": "import os\n"}]
    resp = httpx.post(f"{api_agent.url}/v1/validate", headers=HEADERS,
                      content=orjson.dumps({"files": files}), timeout=120)
    assert resp.status_code == 200
    assert not target.exists()
    reported = {f["path"] for f in resp.json()["validation"]["files"]}
    assert reported == {f["path"] for f in files}
    bad = httpx.post(f"{api_agent.url}/v1/validate", headers=HEADERS,
                     content=orjson.dumps({"files": [{"path": "\x00", "code": "x"}]}))
    assert bad.status_code == 400


@pytest.mark.parametrize("headers", [
    {}, {"authorization": ""}, {"authorization": "Bearer"}, {"authorization": TOKEN},
    {"authorization": f"Basic {TOKEN}"}, {"authorization": f"Bearer {TOKEN} extra"},
    {"authorization": f"Bearer {TOKEN[:-1]}"}, {"authorization": f"Bearer {TOKEN}x"},
    {"authorization": f"Bearer {TOKEN.upper()}"}, {"x-api-key": TOKEN},
])
def test_auth_bypass_attempts(api_agent, headers: dict[str, str]) -> None:
    for path, method in (("/v1/generate", "POST"), ("/v1/validate", "POST")):
        resp = httpx.request(method, f"{api_agent.url}{path}", headers=headers, content=b"{}")
        assert resp.status_code == 401, (headers, path)
    assert httpx.get(f"{api_agent.url}/health", headers=headers).json() == {"status": "ok"}


def test_token_in_query_string_is_refused(api_agent) -> None:
    for name in ("token", "access_token", "Token", "api_key"):
        resp = httpx.post(f"{api_agent.url}/v1/validate?{name}={TOKEN}", headers=HEADERS,
                          content=b"{}")
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "token_in_query"


def test_oversized_bodies(api_agent) -> None:
    big = b"[" + b"1," * (3 * 1024 * 1024) + b"1]"
    declared = httpx.post(f"{api_agent.url}/v1/generate", headers=HEADERS, content=big)
    assert declared.status_code == 413

    def chunked():  # no Content-Length: the limit is enforced while reading
        for _ in range(6):
            yield b"x" * (1024 * 1024)

    streamed = httpx.post(f"{api_agent.url}/v1/generate", headers=HEADERS, content=chunked())
    assert streamed.status_code == 413


def test_slow_clients_do_not_block_others(api_agent) -> None:
    host, port = "127.0.0.1", int(api_agent.url.rsplit(":", 1)[1])
    slow = []
    for _ in range(20):  # slowloris-style: half a request each, then silence
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"POST /v1/validate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        slow.append(s)
    try:
        start = time.monotonic()
        resp = httpx.get(f"{api_agent.url}/health", headers=HEADERS, timeout=10)
        assert resp.status_code == 200 and time.monotonic() - start < 5
    finally:
        for s in slow:
            s.close()


def test_backend_failure_is_a_clean_error_event(api_agent) -> None:
    with httpx.stream("POST", f"{api_agent.url}/v1/generate", headers=HEADERS,
                      content=orjson.dumps(payload()), timeout=60) as resp:
        events = [orjson.loads(line) for line in resp.iter_lines() if line.strip()]
    assert events[-1]["event"] == "error" and events[-1]["error"]["code"] == 3
    assert httpx.get(f"{api_agent.url}/health", headers=HEADERS).json()["queue"]["running"] == 0


def test_openapi_schema_fuzzing_finds_no_server_errors(api_agent) -> None:
    """schemathesis against the agent's own OpenAPI document."""
    import schemathesis
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{api_agent.url}/openapi.json", headers=HEADERS)
    budget = int(os.environ.get("DMC_FUZZ_EXAMPLES", "12"))
    failures: list[str] = []
    calls: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        from hypothesis import HealthCheck, given, settings

        @settings(max_examples=budget, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:  # noqa: ANN001 - schemathesis' Case
            response = case.call(headers=HEADERS, timeout=60)
            calls.append(operation.label)
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                failures.append(f"{operation.label}: {str(exc)[:300]}")

        run()
    folder = os.environ.get("DMC_STRESS_REPORT_DIR")  # for `make stress`: what really ran
    if folder:
        Path(folder, "fuzz-openapi.json").write_text(orjson.dumps(
            {"inputs": len(calls), "failures": len(failures)}).decode())
    assert not failures, failures[:3]
    assert {"GET /health", "POST /v1/generate", "POST /v1/validate"} <= set(calls)


@pytest.mark.slow
def test_read_timeout_when_the_backend_hangs(isolated_env) -> None:
    """A model server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    agent = AgentProcess("--backend", "openai", "--model", "m", "--set",
                         f"generation.server=openai:http://127.0.0.1:{port}/v1", "--set",
                         "generation.timeout=2", env=agent_env())
    try:
        agent.wait()
        start = time.monotonic()
        with httpx.stream("POST", f"{agent.url}/v1/generate", headers=HEADERS,
                          content=orjson.dumps(payload()), timeout=60) as resp:
            events = [orjson.loads(line) for line in resp.iter_lines() if line.strip()]
        assert events[-1]["event"] == "error" and events[-1]["error"]["code"] == 4
        assert time.monotonic() - start < 30
    finally:
        agent.stop()
        listener.close()
        for c in accepted:
            c.close()


@pytest.mark.slow
def test_client_retries_until_the_agent_restarts(isolated_env) -> None:
    port = free_port()
    doc = {"dmc": 1, "input": {"text": "add a helper"}, "payload": payload()}
    env = dict(isolated_env, DMC_AGENT_TOKEN=TOKEN)
    client = subprocess.Popen([DMC, "generate", "--set", f"desktop.url=http://127.0.0.1:{port}",
                               "--set", "desktop.retry_attempts=6"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    client.stdin.write(orjson.dumps(doc))  # type: ignore[union-attr]
    client.stdin.close()  # type: ignore[union-attr]
    time.sleep(1.5)  # the client is retrying against nothing
    agent_proc = subprocess.Popen([DMC, "agent", "serve", "--port", str(port), "--backend",
                                   "llamacpp", "--model", str(smollm2_path())],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.wait(timeout=180)
        out = client.stdout.read()  # type: ignore[union-attr]
        assert client.returncode == 0, client.stderr.read()  # type: ignore[union-attr]
        assert orjson.loads(out)["result"]["request_id"] == "req-0"
    finally:
        agent_proc.terminate()
        agent_proc.wait(10)


@pytest.mark.slow
def test_load_every_request_gets_exactly_one_answer(tmp_path: Path) -> None:
    """50 concurrent clients against one agent with a real small model."""
    agent = AgentProcess("--backend", "llamacpp", "--model", str(smollm2_path()),
                         "--max-concurrency", "1", "--queue-size", "8", env=agent_env())
    clients = 50
    try:
        agent.wait()
        pid = agent.proc.pid
        rss_start = 0
        answers: dict[str, list[str]] = {}
        totals: dict[str, int] = {}  # every answer of every round, counted as it came
        lock = threading.Lock()

        def one(n: int) -> None:
            rid = f"load-{n}"
            kind = "lost"
            try:
                with httpx.stream("POST", f"{agent.url}/v1/generate", headers=HEADERS,
                                  content=orjson.dumps({**payload(n), "request_id": rid}),
                                  timeout=300) as resp:
                    if resp.status_code == 503:
                        kind = "busy"
                    else:
                        finals = [e for e in (orjson.loads(x) for x in resp.iter_lines()
                                              if x.strip()) if e["event"] in ("result",
                                                                              "error")]
                        if len(finals) == 1:
                            kind = finals[0]["event"]
                            if kind == "result":
                                assert finals[0]["response"]["request_id"] == rid
                        else:
                            kind = f"{len(finals)} finals"
            except httpx.HTTPError as exc:
                kind = f"transport error {type(exc).__name__}"
            with lock:
                answers.setdefault(rid, []).append(kind)
                totals[kind] = totals.get(kind, 0) + 1

        for round_no in range(ROUNDS):
            if round_no == 1:  # after the first round: model loaded, caches warm
                rss_start = _rss_kib(pid)
            answers.clear()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                list(pool.map(one, range(clients)))
            assert len(answers) == clients
            assert all(len(v) == 1 and v[0] in ("result", "busy") for v in answers.values()), \
                {k: v for k, v in answers.items() if v[0] not in ("result", "busy")}
            served = sum(v[0] == "result" for v in answers.values())
            assert served >= 1 + 8 - 1  # the running one and the queue at least
        rss_end = _rss_kib(pid)
        rss_start = rss_start or rss_end
        report = Path(os.environ.get("DMC_STRESS_REPORT_DIR", tmp_path)) / "load.json"
        report.write_text(orjson.dumps({"clients": clients, "rounds": ROUNDS,
                                        "answers": {k: v[0] for k, v in answers.items()},
                                        "totals": totals,
                                        "rss_after_first_round_kib": rss_start,
                                        "rss_end_kib": rss_end}).decode())
    finally:
        agent.stop()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
