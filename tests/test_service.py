"""The laptop service: a real `dmc serve` subprocess on 127.0.0.1, a real indexed
repository, the Ollama TEST DOUBLE as the generation backend (no Ollama server can run
here; see tests/support/servers.py). Checked: the API (drafts, runs, reconnect, sessions),
`dmc run` giving the same output through the service and in-process, and the guards."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.serve import ServeProcess
from tests.support.servers import OllamaDouble, free_port
from tests.support.web import committed_repo

pytestmark = pytest.mark.slow  # a real index and a served model double

ANSWER = ('File: textutil/lines.py\n```python\ndef count_lines(text: str) -> int:\n'
          '    """How many lines text has."""\n    return len(text.splitlines())\n```\n')
REQUEST = "write a function count_lines(text) in textutil/lines.py"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An indexed, committed repository with `dmc serve` running in it (flags: the
    Ollama double as backend, one pass, no generated tests)."""
    import os
    import sys

    tmp = tmp_path_factory.mktemp("service")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg")
    env["NO_COLOR"] = "1"
    repo = committed_repo(tmp / "repo", env)
    dmc = str(Path(sys.executable).with_name("dmc"))
    double = OllamaDouble(ANSWER)
    flags = ["--set", "generation.backend=ollama", "--set",
             f"generation.server=ollama:{double.url}", "--set",
             "models.generation=qwen2.5-coder", "--set", "generation.generated_tests=false",
             "--set", "validation.max_iterations=1"]
    server = ServeProcess(repo, *flags, env=env)
    try:
        server.wait()
        yield {"repo": repo, "url": server.url, "port": server.port, "flags": flags,
               "env": env, "dmc": dmc, "server": server}
    finally:
        server.stop()
        double.stop()


def _events(url: str, body: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
    """POST /v1/runs and read its NDJSON events (all, or the first ``limit`` and then
    hang up)."""
    out = []
    with httpx.stream("POST", url + "/v1/runs", content=orjson.dumps(body), headers=JSON,
                      timeout=120) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.strip():
                out.append(orjson.loads(line))
                if limit is not None and len(out) >= limit:
                    break
    return out


def _dmc(served: dict[str, Any], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([served["dmc"], *args], cwd=served["repo"], env=served["env"],
                          capture_output=True, timeout=300)


def test_run_output_is_identical_through_the_service_and_in_process(served) -> None:
    flags = [*served["flags"], "--set", f"serve.port={served['port']}"]
    cold = _dmc(served, "run", *flags, REQUEST)
    warm = _dmc(served, "run", "--service", *flags, REQUEST)
    assert cold.returncode == warm.returncode == 0, (cold.stderr, warm.stderr)
    assert warm.stdout == cold.stdout and b"def count_lines" in cold.stdout
    assert b"running here" not in warm.stderr  # it did go through the service
    for text in (cold.stderr, warm.stderr):
        for stage in (b"intent", b"extract", b"retrieve", b"optimize", b"generate",
                      b"validate"):
            assert b"dmc run: " + stage + b": " in text
    cold_doc = orjson.loads(_dmc(served, "run", "--json", *flags, REQUEST).stdout)
    warm_doc = orjson.loads(_dmc(served, "run", "--json", "--service", *flags,
                                 REQUEST).stdout)
    assert _steady(warm_doc) == _steady(cold_doc)


VOLATILE = {"run", "request_id", "timestamp", "seconds", "tokens_per_second", "cached",
            "generation_time", "check_seconds"}


def _steady(value: Any) -> Any:
    """A document without what differs between any two runs: ids, clocks, timings."""
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def test_run_falls_back_to_in_process_without_a_service(served) -> None:
    res = _dmc(served, "run", "--service", "--stop-after", "intent", "--set",
               f"serve.port={free_port()}", REQUEST)
    assert res.returncode == 0
    assert b"no service at" in res.stderr and b"running here" in res.stderr
    assert orjson.loads(res.stdout)["intent"]["task_type"] == "feature_implementation"


def test_a_request_cannot_redirect_where_code_goes_or_the_index_lives(served) -> None:
    """desktop.url, generation.server, models.ollama_url, rag.chroma_url, rag.index_dir:
    refused per request unless at the service's own value (what `dmc run --service` sends
    when the user gave the same flags as the service)."""
    url = served["url"]
    for key, value in (("desktop.url", "http://attacker.example:8765"),
                       ("generation.server", "ollama:http://attacker.example:11434"),
                       ("models.ollama_url", "http://attacker.example:11434"),
                       ("rag.chroma_url", "http://attacker.example:8000"),
                       ("rag.index_dir", "/tmp/elsewhere")):
        res = httpx.post(url + "/v1/runs", json={"text": "x", "stop_after": "intent",
                                                  "settings": {key: value}}, timeout=30)
        assert res.status_code == 400 and f"setting '{key}' cannot be changed" in res.text
    own = served["flags"][served["flags"].index("--set") + 3].split("=", 1)[1]
    same = httpx.post(url + "/v1/runs", json={"text": REQUEST, "stop_after": "intent",
                                               "settings": {"generation.server": own}},
                      timeout=60)
    assert same.status_code == 200, same.text


def test_run_with_another_destination_runs_here_and_says_why(served) -> None:
    res = _dmc(served, "run", "--service", "--stop-after", "intent", "--set",
               f"serve.port={served['port']}", "--set",
               "generation.server=ollama:http://127.0.0.1:9", REQUEST)
    assert res.returncode == 0, res.stderr
    assert b"runs with another generation.server" in res.stderr
    assert b"running here" in res.stderr
    assert orjson.loads(res.stdout)["intent"]["task_type"] == "feature_implementation"


def test_draft_prepares_the_payload_and_the_run_takes_it_from_the_cache(served) -> None:
    url = served["url"]
    text = "add a function count_chars(text) to textutil/words.py"
    short = httpx.post(url + "/v1/draft", json={"text": "add a func"}, timeout=30)
    assert short.json()["state"] == "too_short"
    started = httpx.post(url + "/v1/draft", json={"text": text}, timeout=30).json()
    state = httpx.get(f"{url}/v1/draft/{started['draft_id']}?wait=20", timeout=30).json()
    assert state["state"] == "ready", state
    assert "textutil/words.py" in state["context_files"]
    events = _events(url, {"text": text, "stop_after": "optimize"})
    stages = [e for e in events if e["event"] == "stage_finished"]
    assert [e["stage"] for e in stages] == ["intent", "extract", "retrieve", "optimize"]
    assert all(e.get("cached") for e in stages)  # prepared by the draft, not again
    done = events[-1]
    assert done["event"] == "done" and done["document"]["run"]["cached"] is True
    assert "payload" in done["document"] and "result" not in done["document"]
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_a_client_that_disconnects_reconnects_and_gets_every_event(served) -> None:
    url = served["url"]
    head = _events(url, {"text": REQUEST}, limit=2)
    run_id = head[0]["run_id"]
    assert head[0]["event"] == "run_started"
    # the run goes on without the client; reconnecting after seq 1 gives the rest
    rest = []
    with httpx.stream("GET", f"{url}/v1/runs/{run_id}/events?after=1", timeout=120) as r:
        rest = [orjson.loads(x) for x in r.iter_lines() if x.strip()]
    assert rest[0]["seq"] == 2 and rest[-1]["event"] == "done"
    assert [e["seq"] for e in head + rest] == list(range(len(head) + len(rest)))
    # watched again from the start, as SSE, once it is over
    with httpx.stream("GET", f"{url}/v1/runs/{run_id}/events",
                      headers={"accept": "text/event-stream", "last-event-id": "3"},
                      timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    assert body.startswith("id: 4\n") and "event: done" in body
    info = httpx.get(f"{url}/v1/runs/{run_id}", timeout=30).json()
    assert info["status"] == "done" and info["document"]["result"]["status"] == "success"


def test_sessions_keep_runs_and_dmc_run_continue_reads_them(served) -> None:
    url = served["url"]
    session = httpx.post(url + "/v1/sessions", json={"title": "lines"}, timeout=30).json()
    events = _events(url, {"text": REQUEST, "session_id": session["id"]})
    assert events[-1]["event"] == "done"
    listed = httpx.get(f"{url}/v1/sessions/{session['id']}", timeout=30).json()
    assert [r["text"] for r in listed["runs"]] == [REQUEST]
    assert listed["runs"][0]["files"][0]["path"] == "textutil/lines.py"
    follow = _dmc(served, "run", "--json", "--stop-after", "intent", "--continue",
                  "also count empty lines")
    assert b"continuing from: " + REQUEST.encode() in follow.stderr
    assert orjson.loads(follow.stdout)["input"]["previous"] == REQUEST
    unknown = httpx.post(url + "/v1/runs", json={"text": "x", "session_id": "nope"},
                         timeout=30)
    assert unknown.status_code == 400 and "no session" in unknown.json()["error"]["message"]


def test_guards_host_origin_cross_site_json_size_query_token(served) -> None:
    url = served["url"]
    port = served["port"]
    ok = httpx.get(url + "/v1/status", timeout=30)
    assert ok.status_code == 200 and ok.json()["repo"] == str(served["repo"])
    # DNS rebinding: a name that resolves here but is not this service
    rebound = httpx.get(url + "/v1/status", headers={"host": f"evil.example:{port}"})
    assert rebound.status_code == 421
    assert httpx.get(url + "/v1/status", headers={"host": f"localhost:{port}"}
                     ).status_code == 200
    page = httpx.post(url + "/v1/draft", json={"text": "x" * 20},
                      headers={"origin": "https://evil.example"})
    assert page.status_code == 403 and page.json()["error"]["code"] == "bad_origin"
    own = httpx.post(url + "/v1/draft", json={"text": "short"},
                     headers={"origin": f"http://127.0.0.1:{port}"})
    assert own.status_code == 200
    cross = httpx.get(url + "/v1/sessions", headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    form = httpx.post(url + "/v1/runs", content=b"text=rm -rf",
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    big = httpx.post(url + "/v1/draft", content=b'{"text": "' + b"a" * (2 << 20) + b'"}',
                     headers=JSON)
    assert big.status_code == 413
    assert httpx.get(url + "/v1/status?token=abc").status_code == 401
    bad = httpx.post(url + "/v1/runs", content=b"{not json", headers=JSON)
    assert bad.status_code == 400
    fixed = httpx.post(url + "/v1/runs", json={"text": "x", "settings": {
        "desktop.token_file": "/etc/shadow"}})
    assert fixed.status_code == 400 and "cannot be changed" in fixed.text


def test_token_required_off_loopback_and_checked(served, tmp_path: Path) -> None:
    refused = _dmc(served, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2
    assert b"refusing to listen on 0.0.0.0 without a token" in refused.stderr
    token = tmp_path / "serve.token"
    token.write_text("s3cret-token-value\n")
    with ServeProcess(served["repo"], "--token-file", str(token), "--no-warm",
                      env=served["env"]) as server:
        server.wait()
        assert httpx.get(server.url + "/health").status_code == 200  # liveness for all
        assert httpx.get(server.url + "/v1/status").status_code == 401
        wrong = httpx.get(server.url + "/v1/status",
                          headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = httpx.get(server.url + "/v1/status",
                          headers={"authorization": "Bearer s3cret-token-value"})
        assert right.status_code == 200


def test_auth_bypass_attempts_are_refused(served, tmp_path: Path) -> None:
    """The agent's variants of a wrong or misplaced token, against the service."""
    token = "s3cret-token-value"
    (tmp_path / "serve.token").write_text(token + "\n")
    variants: list[dict[str, str]] = [
        {}, {"authorization": ""}, {"authorization": "Bearer"}, {"authorization": token},
        {"authorization": f"Basic {token}"}, {"authorization": f"Bearer {token} extra"},
        {"authorization": f"Bearer {token[:-1]}"}, {"authorization": f"Bearer {token}x"},
        {"authorization": f"Bearer {token.upper()}"}, {"x-api-key": token},
        {"cookie": f"session={token}"}]
    with ServeProcess(served["repo"], "--token-file", str(tmp_path / "serve.token"),
                      "--no-warm", env=served["env"]) as server:
        server.wait()
        for headers in variants:
            for method, path in (("GET", "/v1/status"), ("POST", "/v1/runs"),
                                 ("POST", "/v1/draft"), ("GET", "/v1/runs")):
                resp = httpx.request(method, server.url + path, content=b"{}",
                                     headers={**JSON, **headers})
                assert resp.status_code == 401, (headers, path, resp.status_code)
        assert httpx.get(server.url + "/health").status_code == 200


def test_a_chunked_body_over_the_limit_is_refused_while_read(served) -> None:
    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"text": "'
        for _ in range(3):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    resp = httpx.post(served["url"] + "/v1/draft", content=chunked(), headers=JSON, timeout=30)
    assert resp.status_code == 413


def test_slow_clients_do_not_block_others(served) -> None:
    import socket
    import time

    host, port = "127.0.0.1", served["port"]
    slow = []
    for _ in range(20):  # slowloris-style: half a request each, then silence
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(f"POST /v1/draft HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Content-Length: 100\r\n".encode())
        slow.append(s)
    try:
        start = time.monotonic()
        resp = httpx.get(served["url"] + "/v1/status", timeout=10)
        assert resp.status_code == 200 and time.monotonic() - start < 5
    finally:
        for s in slow:
            s.close()


def test_openapi_schema_fuzzing_finds_no_server_errors(served) -> None:
    """schemathesis against the service's own OpenAPI document, as for the agent. Runs
    are cut short after intent (a whole generation per example would take minutes); the
    bodies are otherwise what the schema allows and beyond."""
    import os

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{served['url']}/openapi.json")
    budget = int(os.environ.get("DMC_FUZZ_EXAMPLES", "12"))
    failures: list[str] = []
    calls: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=budget, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:  # noqa: ANN001 - schemathesis' Case
            if operation.label == "POST /v1/runs" and isinstance(case.body, dict):
                case.body["stop_after"] = "intent"
            response = case.call(timeout=120)
            calls.append(operation.label)
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                failures.append(f"{operation.label}: {str(exc)[:300]}")

        run()
    folder = os.environ.get("DMC_STRESS_REPORT_DIR")  # for `make stress`: what really ran
    if folder:
        Path(folder, "fuzz-service-openapi.json").write_text(orjson.dumps(
            {"inputs": len(calls), "failures": len(failures)}).decode())
    assert not failures, failures[:3]
    assert {"GET /health", "POST /v1/draft", "POST /v1/runs", "GET /v1/runs/{run_id}/events",
            "POST /v1/sessions"} <= set(calls)
