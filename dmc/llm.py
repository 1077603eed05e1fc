"""Small structured-output client for the laptop stages (intent, extract).

Asks an Ollama server or any OpenAI-compatible server (llama.cpp, vLLM, LM Studio) for an
answer constrained by a JSON schema. httpx is imported only when a model is asked for.
Failures are typed so the caller can fall back to the embedded classifier: an unreachable
service raises ``DmcError`` with exit code 3, a bad or late answer exit code 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from dmc.contract import DmcError, Exit


@dataclass(frozen=True)
class ModelSpec:
    """Where and what to ask: ``ollama:NAME`` or ``http(s)://host:port/v1#MODEL``."""

    kind: str  # "ollama" or "openai"
    model: str
    base_url: str

    @property
    def label(self) -> str:
        """How the model is named in documents (``method``, ``model_used``)."""
        return f"{self.kind}:{self.model}@{self.base_url}"


def parse_spec(spec: str, *, ollama_url: str) -> ModelSpec | None:
    """None for ``local``; a :class:`ModelSpec` otherwise; exit 2 for nonsense."""
    spec = spec.strip()
    if spec in ("", "local"):
        return None
    if spec.startswith("ollama:"):
        name = spec[len("ollama:"):]
        if not name:
            raise DmcError("--model ollama:NAME needs a model name, e.g. ollama:qwen2.5-coder")
        return ModelSpec("ollama", name, ollama_url.rstrip("/"))
    if spec.startswith(("http://", "https://")):
        base, _, model = spec.partition("#")
        return ModelSpec("openai", model or "default", base.rstrip("/"))
    raise DmcError(f"unknown model '{spec}': use local, ollama:NAME or http://HOST:PORT/v1#MODEL")


def ask_json(spec: ModelSpec, system: str, user: str, schema: dict[str, Any], *,
             timeout: float, max_tokens: int = 300) -> dict[str, Any]:
    """One chat turn whose answer must be a JSON object matching ``schema``."""
    import httpx

    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if spec.kind == "ollama":
        url = f"{spec.base_url}/api/chat"
        body: dict[str, Any] = {
            "model": spec.model, "messages": messages, "format": schema, "stream": False,
            # Ollama's 2k default context silently truncates; set it from the prompt size
            "options": {"temperature": 0, "num_ctx": _num_ctx(system + user, max_tokens),
                        "num_predict": max_tokens},
        }
    else:
        url = f"{spec.base_url}/chat/completions"
        body = {
            "model": spec.model, "messages": messages, "temperature": 0,
            "max_tokens": max_tokens,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "answer", "schema": schema,
                                                "strict": True}},
        }
    limits = httpx.Timeout(timeout, connect=min(timeout, 3.0))
    resp = _post(httpx, url, body, limits, spec, timeout)
    if spec.kind == "openai" and resp.status_code in (400, 422, 500) and \
            ("response_format" in resp.text or "json_schema" in resp.text):
        # llama-cpp-python's server knows only {"type": "json_object", "schema": ...}
        body["response_format"] = {"type": "json_object", "schema": schema}
        resp = _post(httpx, url, body, limits, spec, timeout)
    if resp.status_code == 404 and spec.kind == "ollama":
        raise DmcError(f"Ollama has no model '{spec.model}'", Exit.UNAVAILABLE,
                       hint=f"run: ollama pull {spec.model}")
    if resp.status_code >= 400:
        raise DmcError(f"{spec.label} answered HTTP {resp.status_code}: {resp.text[:200]}",
                       Exit.REMOTE)
    try:
        data = resp.json()
        content = (data["message"]["content"] if spec.kind == "ollama"
                   else data["choices"][0]["message"]["content"])
        answer = orjson.loads(content)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise DmcError(f"{spec.label} gave an answer that is not the JSON asked for ({exc})",
                       Exit.REMOTE) from None
    if not isinstance(answer, dict):
        raise DmcError(f"{spec.label} answered {type(answer).__name__}, not an object",
                       Exit.REMOTE)
    return answer


def _post(httpx: Any, url: str, body: dict[str, Any], limits: Any, spec: ModelSpec,
          timeout: float) -> Any:
    try:
        return httpx.post(url, content=orjson.dumps(body), timeout=limits,
                          headers={"content-type": "application/json"})
    except httpx.TimeoutException:
        raise DmcError(f"{spec.label} did not answer within {timeout:g} s", Exit.REMOTE) from None
    except httpx.HTTPError as exc:
        raise DmcError(f"{spec.label} is unreachable ({type(exc).__name__})",
                       Exit.UNAVAILABLE) from None


def _num_ctx(prompt: str, max_tokens: int) -> int:
    """A context that fits prompt and answer (4 chars a token is generous for English)."""
    need = len(prompt) // 3 + max_tokens + 256
    return max(2048, 1 << (need - 1).bit_length())
