"""The desktop agent and dmc generate, with real parts: a real agent on 127.0.0.1, real
models through llama.cpp, real certificates. The Ollama server is a labelled test double."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from dmc.contract import DmcError, Exit
from dmc.generate.backends import OllamaBackend, OpenAIBackend
from dmc.generate.code import extract_files
from tests.support.certs import make_pki
from tests.support.servers import AgentProcess, LlamaServer, OllamaDouble, free_port, smollm2_path

TOKEN = "test-token-5f2a9c"
REQUEST = "write a python function is_even(n) that returns True for even numbers, in even.py"


def agent_env(isolated_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = dict(isolated_env)
    env.update(extra)
    return env


def payload_for(dmc, text: str = REQUEST, max_tokens: int = 160) -> bytes:
    res = dmc("optimize", "--set", f"generation.max_tokens={max_tokens}",
              "--set", "validation.max_iterations=1", text)
    assert res.code == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def qwen_agent(tmp_path_factory):
    """An agent with the embedded llamacpp backend and the packaged Qwen2.5-Coder 0.5B."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["DMC_AGENT_TOKEN"] = TOKEN
    env["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg"))
    agent = AgentProcess("--backend", "llamacpp", "--model", "qwen2.5-coder-0.5b",
                         "--set", "generation.context_window=4096", env=env)
    try:
        agent.wait()
        yield agent
    finally:
        agent.stop()


@pytest.mark.slow
def test_optimize_generate_through_agent_returns_code_that_parses(dmc, qwen_agent) -> None:
    res = dmc("generate", "--set", f"desktop.url={qwen_agent.url}",
              "--set", "validation.max_iterations=2", stdin=payload_for(dmc),
              env={"DMC_AGENT_TOKEN": TOKEN})
    assert res.code == 0, res.stderr + qwen_agent.output()
    result = res.doc["result"]
    assert result["status"] in ("success", "partial")
    assert result["metadata"]["model_used"] == "llamacpp:qwen2.5-coder-0.5b"
    assert result["metadata"]["tokens_generated"] > 0
    assert result["validation"]["iterations"] >= 1
    compile(result["code"], result["files"][0]["path"], "exec")
    assert "pass 1" in res.stderr  # progress streamed to stderr


@pytest.mark.slow
def test_agent_auth(qwen_agent) -> None:
    url = qwen_agent.url
    assert httpx.post(f"{url}/v1/generate", content=b"{}").status_code == 401
    assert httpx.post(f"{url}/v1/generate", content=b"{}",
                      headers={"authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(f"{url}/v1/generate", content=b"{}",
                      headers={"authorization": "Bearer"}).status_code == 401
    assert httpx.post(f"{url}/v1/generate", content=b"{}",
                      headers={"authorization": TOKEN}).status_code == 401
    assert httpx.post(f"{url}/v1/generate", content=b"{}",
                      headers={"authorization": f"Bearer {TOKEN.upper()}"}).status_code == 401
    assert httpx.get(f"{url}/health?token={TOKEN}").status_code == 401
    # the scheme is case-insensitive (RFC 7235); the token is not
    ok = httpx.post(f"{url}/v1/generate", content=b"{}",
                    headers={"authorization": f"bearer {TOKEN}"})
    assert ok.status_code == 400 and ok.json()["error"]["code"] == "bad_payload"
    public = httpx.get(f"{url}/health").json()
    assert public == {"status": "ok"}
    full = httpx.get(f"{url}/health", headers={"authorization": f"Bearer {TOKEN}"}).json()
    assert full["backend"]["kind"] == "llamacpp" and "queue" in full


@pytest.mark.slow
def test_agent_rejects_bad_requests(qwen_agent) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    url = qwen_agent.url
    bad_json = httpx.post(f"{url}/v1/generate", content=b"{nope", headers=headers)
    assert bad_json.status_code == 400
    big = httpx.post(f"{url}/v1/generate", content=b"x" * (6 * 1024 * 1024), headers=headers)
    assert big.status_code == 413
    schema = httpx.post(f"{url}/v1/generate", headers=headers, content=orjson.dumps(
        {"request_id": "../../etc", "timestamp": "t", "task": {"type": "dance",
                                                             "description": "x"},
         "context": {}, "requirements": {}, "style": {}, "quality_criteria": {}}))
    assert schema.status_code == 400
    assert "task/type" in schema.json()["error"]["message"]
    validated = httpx.post(f"{url}/v1/validate", headers=headers, content=orjson.dumps(
        {"files": [{"path": "a.py", "code": "def f(:\n"}]}))
    assert validated.status_code == 200
    assert validated.json()["validation"]["passed"] is False


@pytest.mark.slow
def test_validate_remote_uses_the_agent(dmc, qwen_agent, tmp_path) -> None:
    (tmp_path / "work" / "bad.py").write_text("import subprocess\n\n\ndef run(cmd: str) -> int:"
                                              "\n    return subprocess.call(cmd, shell=True)\n")
    res = dmc("validate", "--remote", "--set", f"desktop.url={qwen_agent.url}", "bad.py",
              env={"DMC_AGENT_TOKEN": TOKEN})
    assert res.code == 1
    assert any(i["rule"] == "B602" for i in res.doc["validation"]["issues"])


@pytest.mark.slow
def test_busy_agent_answers_503_and_client_retries(dmc, isolated_env, tmp_path) -> None:
    env = agent_env(isolated_env, DMC_AGENT_TOKEN=TOKEN)
    agent = AgentProcess("--backend", "llamacpp", "--model", str(smollm2_path()),
                         "--max-concurrency", "1", "--queue-size", "0", env=env)
    try:
        agent.wait()
        payload = orjson.loads(payload_for(dmc, "write a long python module with many helper "
                                                "functions for string handling", 400))["payload"]
        headers = {"authorization": f"Bearer {TOKEN}"}

        def send() -> int:
            with httpx.stream("POST", f"{agent.url}/v1/generate", content=orjson.dumps(payload),
                              headers=headers, timeout=120) as resp:
                status = resp.status_code
                if status == 503:
                    assert resp.headers["retry-after"]
                for _ in resp.iter_lines():
                    pass
                return status

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            first = pool.submit(send)
            time.sleep(0.5)
            others = [pool.submit(send) for _ in range(2)]
            statuses = sorted([first.result()] + [o.result() for o in others])
        assert statuses[0] == 200 and 503 in statuses
        # dmc generate's client waits (backoff, Retry-After) and gets through afterwards
        res = dmc("generate", "--set", f"desktop.url={agent.url}", "--set",
                  "desktop.retry_attempts=4", stdin=payload_for(dmc, max_tokens=60),
                  env={"DMC_AGENT_TOKEN": TOKEN})
        assert res.code == 0, res.stderr
    finally:
        agent.stop()


def test_non_loopback_bind_without_token_is_refused(dmc) -> None:
    res = dmc("agent", "serve", "--host", "0.0.0.0", "--port", str(free_port()))  # noqa: S104
    assert res.code == 2
    assert "without a token" in res.stderr


def test_agent_down_exits_3_after_retries(dmc) -> None:
    port = free_port()
    start = time.monotonic()
    res = dmc("generate", "--set", f"desktop.url=http://127.0.0.1:{port}",
              "--set", "desktop.retry_attempts=2", stdin=payload_for(dmc))
    assert res.code == 3
    assert "after 3 attempt(s)" in res.doc["error"]["message"]
    assert time.monotonic() - start < 30


class DiesAfterItsHealthCheck:
    """An agent that answers one /health as idle and healthy, then dies (its port closes),
    as a desktop does that crashes between the client's probe and its request."""

    def __init__(self) -> None:
        import http.server
        import threading

        health = {"status": "ok", "queue": {"running": 0, "waiting": 0, "max_concurrency": 1}}
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.requests.append(f"GET {self.path}")
                body = orjson.dumps(health)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self._serve_one_then_die, daemon=True)
        self.thread.start()

    def _serve_one_then_die(self) -> None:
        self.server.handle_request()
        self.server.server_close()


@pytest.mark.slow
def test_failover_to_the_next_agent(dmc, qwen_agent) -> None:
    """The first agent looks best (healthy, idle, listed first) but is gone by the time the
    request comes: the client tries it first, then fails over within the same attempt."""
    from dmc.remote.client import AgentClient, ClientSettings

    dying = DiesAfterItsHealthCheck()
    client = AgentClient(ClientSettings(urls=[dying.url, qwen_agent.url], token=TOKEN,
                                        retry_attempts=0, timeout=300))
    sent: list[str] = []
    real_send = client.http.send

    def recording_send(request, **kwargs):  # the real transport, with a note of each try
        if request.method == "POST":  # GET /health probes are not tries
            sent.append(str(request.url))
        return real_send(request, **kwargs)

    client.http.send = recording_send  # type: ignore[method-assign]
    payload = orjson.loads(payload_for(dmc, max_tokens=60))["payload"]
    failed: DmcError | None = None
    try:
        response = client.generate(payload)
    except DmcError as exc:  # checked below, after the order of the tries
        failed, response = exc, {}
    finally:
        client.close()
    assert dying.requests == ["GET /health"]  # it was probed, and looked like the best pick
    assert sent == [f"{dying.url}/v1/generate", f"{qwen_agent.url}/v1/generate"]
    assert failed is None, f"failed over, but the live agent did not answer: {failed}"
    assert response["request_id"] == payload["request_id"]  # the live agent answered it


@pytest.mark.slow
def test_tls_and_mutual_tls(dmc, isolated_env, tmp_path) -> None:
    pki = make_pki(tmp_path)
    env = agent_env(isolated_env, DMC_AGENT_TOKEN=TOKEN)
    tls = AgentProcess("--tls-cert", str(pki["server"]), "--tls-key", str(pki["server_key"]),
                       "--model", str(smollm2_path()), "--backend", "llamacpp", env=env,
                       scheme="https")
    mtls = AgentProcess("--tls-cert", str(pki["server"]), "--tls-key", str(pki["server_key"]),
                        "--client-ca", str(pki["ca"]), "--model", str(smollm2_path()),
                        "--backend", "llamacpp", env=env, scheme="https")
    try:
        import ssl

        trust = ssl.create_default_context(cafile=str(pki["ca"]))
        tls.wait(verify=trust)
        headers = {"authorization": f"Bearer {TOKEN}"}
        ok = httpx.get(f"{tls.url}/health", headers=headers, verify=trust)
        assert ok.json()["backend"]["kind"] == "llamacpp"
        with pytest.raises(httpx.ConnectError):  # an unknown CA is refused
            httpx.get(f"{tls.url}/health")
        if shutil.which("curl"):
            curl = subprocess.run(["curl", "-sS", "--cacert", str(pki["ca"]), "-H",
                                   f"Authorization: Bearer {TOKEN}", f"{tls.url}/health"],
                                  capture_output=True, timeout=30)
            assert b'"queue"' in curl.stdout, curl.stderr
        ctx = ssl.create_default_context(cafile=str(pki["ca"]))
        ctx.load_cert_chain(str(pki["client"]), str(pki["client_key"]))
        deadline = time.monotonic() + 60
        while True:
            try:
                good = httpx.get(f"{mtls.url}/health", headers=headers, verify=ctx)
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert good.status_code == 200
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(f"{mtls.url}/health", headers=headers, verify=trust)
        if shutil.which("curl"):
            curl = subprocess.run(["curl", "-sS", "--cacert", str(pki["ca"]), "--cert",
                                   str(pki["client"]), "--key", str(pki["client_key"]), "-H",
                                   f"Authorization: Bearer {TOKEN}", f"{mtls.url}/health"],
                                  capture_output=True, timeout=30)
            assert b'"queue"' in curl.stdout, curl.stderr
        # dmc generate as a client of the mTLS agent, with the CA and its certificate
        res = dmc("generate", "--set", f"desktop.url={mtls.url}",
                  "--set", f"desktop.ca_file={pki['ca']}",
                  "--set", f"desktop.client_cert={pki['client']}",
                  "--set", f"desktop.client_key={pki['client_key']}",
                  stdin=payload_for(dmc, max_tokens=40), env={"DMC_AGENT_TOKEN": TOKEN})
        assert res.code == 0, res.stderr
    finally:
        tls.stop()
        mtls.stop()


@pytest.mark.slow
def test_openai_backend_against_real_llama_cpp_server(smol_server) -> None:
    backend = OpenAIBackend(smol_server.url, "smollm2", timeout=60)
    seen: list[str] = []
    result = backend.chat([{"role": "user", "content": "Say hello in one word."}],
                          max_tokens=16, temperature=0.0, top_p=1.0, on_token=seen.append)
    assert result.text and "".join(seen) == result.text
    assert result.completion_tokens > 0
    assert backend.health()["ok"] is True


@pytest.mark.slow
def test_backend_killed_mid_generation(dmc, isolated_env) -> None:
    """The model server dies while the agent streams: a clean error, a healthy agent."""
    server = LlamaServer(smollm2_path())
    server.wait()
    env = agent_env(isolated_env, DMC_AGENT_TOKEN=TOKEN)
    agent = AgentProcess("--backend", "openai", "--set",
                         f"generation.server=openai:{server.url}", "--model", "smollm2", env=env)
    try:
        agent.wait()
        payload = payload_for(dmc, "write a python list named NUMBERS with every whole number "
                                   "from 1 to 2000 written out, one per line", 1800)
        proc = subprocess.Popen([str(Path(sys.executable).with_name("dmc")), "generate",
                                 "--set", f"desktop.url={agent.url}", "--set",
                                 "desktop.timeout=60"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(env, DMC_AGENT_TOKEN=TOKEN))
        proc.stdin.write(payload)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill the model server once generation runs
            queue = httpx.get(f"{agent.url}/health", headers={
                "authorization": f"Bearer {TOKEN}"}).json()["queue"]
            if queue["running"]:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        server.proc.kill()
        proc.wait(timeout=90)
        out = proc.stdout.read()  # type: ignore[union-attr]
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert proc.returncode == Exit.REMOTE, err
        assert orjson.loads(out)["error"]["stage"] == "generate"
        health = httpx.get(f"{agent.url}/health", headers={"authorization": f"Bearer {TOKEN}"})
        assert health.status_code == 200 and health.json()["queue"]["running"] == 0
    finally:
        agent.stop()
        server.stop()


class TestOllamaBackend:
    """Against a TEST DOUBLE of Ollama's HTTP API (no Ollama server can run here)."""

    def test_streams_and_sets_num_ctx(self) -> None:
        double = OllamaDouble("File: a.py\n```python\nprint('hi')\n```\n")
        try:
            backend = OllamaBackend(double.url, "qwen2.5-coder", timeout=10,
                                    context_window=8192)
            chunks: list[str] = []
            long_prompt = "x " * 6000
            result = backend.chat([{"role": "user", "content": long_prompt}], max_tokens=512,
                                  temperature=0.1, top_p=0.9, on_token=chunks.append)
            assert backend.health()["ok"] is True
        finally:
            double.stop()
        assert "print('hi')" in result.text and len(chunks) > 1
        sent = double.requests[0]
        assert sent["stream"] is True
        assert sent["options"]["num_ctx"] >= 4096  # sized from the prompt, not Ollama's 2k
        assert sent["options"]["num_predict"] == 512
        assert result.completion_tokens == len(chunks) and result.prompt_tokens == 11
        assert extract_files(result.text)[0].path == "a.py"

    def test_model_not_pulled(self) -> None:
        double = OllamaDouble("x", models=())
        try:
            with pytest.raises(DmcError) as err:
                OllamaBackend(double.url, "missing", timeout=10).chat(
                    [{"role": "user", "content": "hi"}], max_tokens=5, temperature=0, top_p=1)
        finally:
            double.stop()
        assert err.value.code == Exit.UNAVAILABLE and "ollama pull missing" in err.value.hint

    def test_not_running(self) -> None:
        backend = OllamaBackend(f"http://127.0.0.1:{free_port()}", "m", timeout=5,
                                connect_timeout=1)
        with pytest.raises(DmcError) as err:
            backend.chat([{"role": "user", "content": "hi"}], max_tokens=5, temperature=0,
                         top_p=1)
        assert err.value.code == Exit.UNAVAILABLE and "ollama serve" in err.value.hint
        assert backend.health()["ok"] is False

    def test_read_timeout(self) -> None:
        double = OllamaDouble("x", delay=3)
        try:
            backend = OllamaBackend(double.url, "qwen2.5-coder", timeout=0.5)
            with pytest.raises(DmcError) as err:
                backend.chat([{"role": "user", "content": "hi"}], max_tokens=5, temperature=0,
                              top_p=1)
        finally:
            double.stop()
        assert err.value.code == Exit.REMOTE
