"""Model backends behind one small interface: streaming chat, token counts, health.

- ``llamacpp``: in-process GGUF through llama-cpp-python (the embedded default, offline).
- ``openai``: any OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio, Ollama /v1).
- ``ollama``: the ``ollama`` client, with ``num_ctx`` set from the prompt size (Ollama's 2k
  default silently truncates) and explicit connect/read timeouts (the client has none).

Each backend turns its failures into ``DmcError`` with the shared exit codes: 3 when the
service or model is not there (with the command that fixes it), 4 for errors and timeouts.
Heavy imports (llama_cpp, ollama, httpx) happen inside the methods that need them.

Guarded decoding is the same for all three: ``on_token`` may raise :class:`StopGeneration`
(the stream guard saw a loop, or the one block asked for is complete); the backend then
closes the stream and returns what it has, with ``finish_reason`` saying why. Each backend's
own repetition control is set from configuration (llama.cpp and Ollama ``repeat_penalty``,
OpenAI-compatible ``frequency_penalty``), and ``stop`` sequences are passed through.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from dmc.contract import DmcError, Exit

Messages = list[dict[str, str]]
OnToken = Callable[[str], None]


class Cancelled(Exception):
    """Raised from an ``on_token`` callback to stop a generation (client went away)."""


class StopGeneration(Exception):
    """Raised from an ``on_token`` callback to end an answer early but keep it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ChatResult:
    """One completed chat turn."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    seconds: float
    finish_reason: str = "stop"  # stop | length | repetition | complete

    @property
    def tokens_per_second(self) -> float:
        """Generation speed of this turn."""
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


class Backend(ABC):
    """What generation needs from a model server or library."""

    kind: str = ""
    model: str = ""

    @property
    def label(self) -> str:
        """``kind:model`` as reported in ``metadata.model_used``."""
        return f"{self.kind}:{self.model}"

    @abstractmethod
    def chat(self, messages: Messages, *, max_tokens: int, temperature: float, top_p: float,
             on_token: OnToken | None = None, stop: list[str] | None = None) -> ChatResult:
        """Run one chat turn, streaming tokens to ``on_token``."""

    @abstractmethod
    def health(self) -> dict[str, Any]:
        """``{"ok": bool, "model": ..., "detail": ...}``; never raises."""


def _num_ctx(messages: Messages, max_tokens: int, window: int) -> int:
    prompt_chars = sum(len(m["content"]) for m in messages)
    need = prompt_chars // 3 + max_tokens + 256
    return min(max(2048, 1 << (need - 1).bit_length()), max(window, 2048))


class LlamaCppBackend(Backend):
    """In-process GGUF model; one generation at a time (llama.cpp contexts are not shared)."""

    kind = "llamacpp"

    def __init__(self, model_path: Path, *, n_ctx: int = 8192, n_threads: int | None = None,
                 name: str | None = None, repeat_penalty: float = 1.0) -> None:
        self.path = model_path
        self.model = name or model_path.stem
        self.n_ctx = n_ctx
        self.repeat_penalty = repeat_penalty
        self.n_threads = n_threads or os.cpu_count() or 2
        self._llm: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llm is None:
            try:
                import llama_cpp
            except ImportError:
                raise DmcError("llama-cpp-python is not installed", Exit.UNAVAILABLE,
                               hint="pip install 'dmc[llm]'") from None
            from dmc.tokens import quiet_llama_cpp

            quiet_llama_cpp()
            try:
                self._llm = llama_cpp.Llama(model_path=str(self.path), n_ctx=self.n_ctx,
                                            n_threads=self.n_threads, verbose=False)
            except (ValueError, OSError) as exc:
                raise DmcError(f"cannot load model {self.path}: {exc}", Exit.UNAVAILABLE) from None
        return self._llm

    def chat(self, messages: Messages, *, max_tokens: int, temperature: float, top_p: float,
             on_token: OnToken | None = None, stop: list[str] | None = None) -> ChatResult:
        with self._lock:
            llm = self._load()
            start = time.perf_counter()
            prompt = "".join(m["content"] for m in messages)
            prompt_tokens = len(llm.tokenize(prompt.encode("utf-8"), add_bos=False))
            if prompt_tokens + max_tokens > self.n_ctx:
                raise DmcError(f"prompt ({prompt_tokens} tokens) and answer ({max_tokens}) do "
                               f"not fit the model context ({self.n_ctx})", Exit.REMOTE,
                               hint="lower optimize.max_context_tokens or raise "
                                    "generation.context_window")
            parts: list[str] = []
            completion = 0
            finish = "stop"
            stream = llm.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                                temperature=temperature, top_p=top_p,
                                                repeat_penalty=self.repeat_penalty,
                                                stop=stop or None, stream=True)
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    delta = choice.get("delta", {}).get("content")
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
                    if delta:
                        completion += 1
                        parts.append(delta)
                        if on_token is not None:
                            on_token(delta)
            except StopGeneration as stop_early:
                finish = stop_early.reason
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            if finish == "stop" and completion >= max_tokens:
                finish = "length"
            return ChatResult("".join(parts), prompt_tokens, completion, self.model,
                              time.perf_counter() - start, finish)

    def health(self) -> dict[str, Any]:
        ok = self.path.is_file()
        return {"ok": ok, "kind": self.kind, "model": self.model, "path": str(self.path),
                "loaded": self._llm is not None,
                "detail": "model file present" if ok else "model file missing"}


class OpenAIBackend(Backend):
    """An OpenAI-compatible ``/v1/chat/completions`` server, streamed over SSE."""

    kind = "openai"

    def __init__(self, base_url: str, model: str, *, timeout: float = 300.0,
                 connect_timeout: float = 5.0, api_key: str | None = None,
                 frequency_penalty: float = 0.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.frequency_penalty = frequency_penalty
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.api_key = api_key or os.environ.get("DMC_OPENAI_API_KEY")

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    def chat(self, messages: Messages, *, max_tokens: int, temperature: float, top_p: float,
             on_token: OnToken | None = None, stop: list[str] | None = None) -> ChatResult:
        import httpx

        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "max_tokens": max_tokens, "temperature": temperature,
                                "top_p": top_p, "stream": True}
        if self.frequency_penalty:
            body["frequency_penalty"] = self.frequency_penalty
        if stop:
            body["stop"] = stop[:4]  # the OpenAI API takes at most four
        start = time.perf_counter()
        parts: list[str] = []
        chunks = 0
        finish = "stop"
        usage: dict[str, Any] = {}
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        try:
            with httpx.stream("POST", f"{self.base_url}/chat/completions",
                              content=orjson.dumps(body), headers=self._headers(),
                              timeout=timeout) as resp:
                if resp.status_code >= 400:
                    text = resp.read().decode("utf-8", "replace")[:300]
                    code = Exit.UNAVAILABLE if resp.status_code == 404 else Exit.REMOTE
                    raise DmcError(f"{self.base_url} answered HTTP {resp.status_code}: {text}",
                                   code)
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        continue
                    if event.get("usage"):
                        usage = event["usage"]
                    for choice in event.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if choice.get("finish_reason"):
                            finish = str(choice["finish_reason"])
                        if delta:
                            chunks += 1
                            parts.append(delta)
                            if on_token is not None:
                                on_token(delta)
        except StopGeneration as stop_early:
            finish = stop_early.reason
        except httpx.TimeoutException:
            raise DmcError(f"{self.base_url} did not answer within {self.timeout:g} s",
                           Exit.REMOTE) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            code = Exit.UNAVAILABLE if isinstance(exc, httpx.ConnectError) else Exit.REMOTE
            raise DmcError(f"{self.base_url}: {type(exc).__name__}: {exc}", code) from None
        text = "".join(parts)
        completion = int(usage.get("completion_tokens") or chunks)
        if finish == "stop" and completion >= max_tokens:
            finish = "length"
        return ChatResult(text, int(usage.get("prompt_tokens") or 0), completion, self.model,
                          time.perf_counter() - start, finish)

    def health(self) -> dict[str, Any]:
        import httpx

        try:
            resp = httpx.get(f"{self.base_url}/models", headers=self._headers(),
                             timeout=httpx.Timeout(5.0, connect=self.connect_timeout))
            ok = resp.status_code == 200
            detail = "reachable" if ok else f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            ok, detail = False, f"unreachable ({type(exc).__name__})"
        return {"ok": ok, "kind": self.kind, "model": self.model, "url": self.base_url,
                "detail": detail}


class OllamaBackend(Backend):
    """An Ollama server through the official client."""

    kind = "ollama"

    def __init__(self, host: str, model: str, *, timeout: float = 300.0,
                 connect_timeout: float = 5.0, context_window: int = 8192,
                 repeat_penalty: float = 1.0) -> None:
        self.host = host.rstrip("/")
        self.model = model
        self.repeat_penalty = repeat_penalty
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.context_window = context_window

    def _client(self) -> Any:
        try:
            import httpx
            import ollama
        except ImportError:
            raise DmcError("the ollama client is not installed", Exit.UNAVAILABLE,
                           hint="pip install 'dmc[llm]'") from None
        return ollama.Client(host=self.host,
                             timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout))

    def chat(self, messages: Messages, *, max_tokens: int, temperature: float, top_p: float,
             on_token: OnToken | None = None, stop: list[str] | None = None) -> ChatResult:
        import httpx
        import ollama

        options: dict[str, Any] = {
            "num_ctx": _num_ctx(messages, max_tokens, self.context_window),
            "num_predict": max_tokens, "temperature": temperature, "top_p": top_p,
            "repeat_penalty": self.repeat_penalty}
        if stop:
            options["stop"] = stop
        start = time.perf_counter()
        parts: list[str] = []
        prompt_tokens = completion = 0
        finish = "stop"
        stream = None
        try:
            stream = self._client().chat(model=self.model, messages=messages, stream=True,
                                         options=options)
            for part in stream:
                delta = part["message"]["content"] if part.get("message") else ""
                if delta:
                    parts.append(delta)
                    if on_token is not None:
                        on_token(delta)
                if part.get("done"):
                    prompt_tokens = int(part.get("prompt_eval_count") or 0)
                    completion = int(part.get("eval_count") or 0)
                    finish = str(part.get("done_reason") or "stop")
        except StopGeneration as stop_early:
            finish = stop_early.reason
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise DmcError(f"Ollama at {self.host} has no model '{self.model}'",
                               Exit.UNAVAILABLE, hint=f"run: ollama pull {self.model}") from None
            raise DmcError(f"Ollama error: {exc.error}", Exit.REMOTE) from None
        except httpx.TimeoutException:
            raise DmcError(f"Ollama at {self.host} did not answer within {self.timeout:g} s",
                           Exit.REMOTE) from None
        except (ConnectionError, httpx.ConnectError):
            raise DmcError(f"Ollama is not running at {self.host}", Exit.UNAVAILABLE,
                           hint="start it with `ollama serve`, or set generation.server") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise DmcError(f"Ollama stream broke: {type(exc).__name__}", Exit.REMOTE) from None
        completion = completion or len(parts)
        if finish == "stop" and completion >= max_tokens:
            finish = "length"
        return ChatResult("".join(parts), prompt_tokens, completion, self.model,
                          time.perf_counter() - start, finish)

    def health(self) -> dict[str, Any]:
        try:
            listed = self._client().list()
            names = {m.get("model") or m.get("name") for m in listed.get("models", [])}
            ok = self.model in names or f"{self.model}:latest" in names
            detail = "model available" if ok else f"model not pulled (ollama pull {self.model})"
        except Exception as exc:  # noqa: BLE001 - health must never raise
            ok, detail = False, f"unreachable ({type(exc).__name__})"
        return {"ok": ok, "kind": self.kind, "model": self.model, "url": self.host,
                "detail": detail}


def parse_server(spec: str) -> tuple[str, str]:
    """``ollama:URL`` or ``openai:URL`` (a bare URL ending in /v1 is OpenAI-compatible)."""
    if spec.startswith("ollama:"):
        return "ollama", spec[len("ollama:"):]
    if spec.startswith("openai:"):
        return "openai", spec[len("openai:"):]
    if spec.startswith(("http://", "https://")):
        return ("openai" if spec.rstrip("/").endswith("/v1") else "ollama"), spec
    raise DmcError(f"generation.server must be ollama:URL or openai:URL, not {spec!r}")


def _embeddable(model: str) -> bool:
    """Whether llama.cpp in-process can run ``model``: a packaged name or a GGUF file."""
    from dmc.models import PACKAGED

    return model in PACKAGED or model.endswith(".gguf")


def make_backend(*, kind: str, server: str | None, model: str, timeout: float,
                 connect_timeout: float, context_window: int,
                 notes: list[str] | None = None, repeat_penalty: float = 1.0,
                 frequency_penalty: float = 0.0, model_named: bool = False,
                 server_named: bool = False) -> Backend:
    """The backend configuration asks for; ``auto`` prefers a reachable server.

    ``auto`` falls back to the embedded model only for what the user did not name: a
    server or a model named for this run (``*_named``) that cannot be used is exit 3, never
    silently replaced by the packaged 0.5B model.
    """
    notes = notes if notes is not None else []
    if kind in ("ollama", "openai") or (kind == "auto" and server):
        if server is None:
            raise DmcError(f"generation.backend is {kind} but generation.server is not set",
                           hint="e.g. --set generation.server=ollama:http://127.0.0.1:11434")
        server_kind, url = parse_server(server)
        if kind != "auto" and kind != server_kind:
            server_kind = kind
        remote: Backend
        if server_kind == "ollama":
            remote = OllamaBackend(url, model, timeout=timeout, connect_timeout=connect_timeout,
                                   context_window=context_window,
                                   repeat_penalty=repeat_penalty)
        else:
            remote = OpenAIBackend(url, model, timeout=timeout, connect_timeout=connect_timeout,
                                   frequency_penalty=frequency_penalty)
        if kind != "auto":
            return remote
        health = remote.health()
        if health["ok"]:
            notes.append(f"using {remote.label} at {url}")
            return remote
        if server_named or (model_named and not _embeddable(model)):
            raise DmcError(f"{server_kind} server {url} is not usable for model {model!r} "
                           f"({health['detail']})", Exit.UNAVAILABLE,
                           hint="start the server (or pull the model), or leave out "
                                "generation.server to use the embedded model")
        notes.append(f"{server_kind} server {url} not usable ({health['detail']}); using the "
                     "embedded model")
    from dmc.models import PACKAGED, resolve

    if not _embeddable(model) and (model_named or kind == "llamacpp"):
        raise DmcError(f"the embedded backend cannot run model {model!r}: it is neither a "
                       "packaged model nor a GGUF file", Exit.UNAVAILABLE,
                       hint=f"packaged models: {', '.join(PACKAGED)}; a GGUF path; or a "
                            "server model with generation.server")
    embedded = model if _embeddable(model) else "qwen2.5-coder-0.5b"
    path = resolve(embedded)
    backend = LlamaCppBackend(path, n_ctx=context_window,
                              name=embedded if embedded in PACKAGED else None,
                              repeat_penalty=repeat_penalty)
    notes.append(f"using the embedded model {backend.label}")
    return backend
