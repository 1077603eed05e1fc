"""Client for the desktop agent: picks an agent, retries what is safe to retry, streams.

With several agents configured (``desktop.url`` as a list), the client asks each one's
``/health`` and tries the least busy healthy one first, failing over to the next on a
connection failure or a 503 "busy". Connection failures and 503 are retried with
exponential backoff and jitter (honouring Retry-After) up to ``retry_attempts`` rounds;
nothing else is retried, since a generation that started may have used the GPU already.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from dmc.contract import DmcError, Exit

OnEvent = Callable[[dict[str, Any]], None]


def read_token(token_file: str | None) -> str | None:
    """The agent token from ``DMC_AGENT_TOKEN`` or a file (never from argv)."""
    env = os.environ.get("DMC_AGENT_TOKEN")
    if env:
        return env.strip()
    if not token_file:
        return None
    path = Path(token_file).expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DmcError(f"cannot read token file {path}: {exc.strerror}") from None
    if not token:
        raise DmcError(f"token file {path} is empty")
    return token


@dataclass
class ClientSettings:
    """Where the agents are and how patient to be."""

    urls: list[str]
    token: str | None = None
    timeout: float = 300.0
    connect_timeout: float = 5.0
    retry_attempts: int = 3
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    backoff_base: float = 0.5
    backoff_max: float = 8.0


class AgentClient:
    """Talks to one or more agents."""

    def __init__(self, settings: ClientSettings) -> None:
        import httpx

        self.s = settings
        headers = {"user-agent": "dmc-client"}
        if settings.token:
            headers["authorization"] = f"Bearer {settings.token}"
        verify: Any = settings.ca_file or True
        cert = None
        if settings.client_cert:
            cert = (settings.client_cert, settings.client_key) if settings.client_key \
                else settings.client_cert
        if cert is not None or settings.ca_file:
            import ssl

            ctx = ssl.create_default_context(cafile=settings.ca_file)
            if cert is not None:
                if isinstance(cert, tuple):
                    ctx.load_cert_chain(cert[0], cert[1])
                else:
                    ctx.load_cert_chain(cert)
            verify = ctx
        self.http = httpx.Client(headers=headers, verify=verify,
                                 timeout=httpx.Timeout(settings.timeout,
                                                       connect=settings.connect_timeout))

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def health(self, url: str) -> dict[str, Any] | None:
        """An agent's /health, or None when it does not answer."""
        import httpx

        try:
            resp = self.http.get(f"{url.rstrip('/')}/health",
                                 timeout=httpx.Timeout(min(5.0, self.s.timeout),
                                                       connect=self.s.connect_timeout))
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        try:
            data = resp.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def ordered_agents(self) -> list[str]:
        """Agents by load (least busy healthy first); one agent needs no probing."""
        if len(self.s.urls) == 1:
            return list(self.s.urls)
        scored = []
        for n, url in enumerate(self.s.urls):
            h = self.health(url)
            if h is None:
                scored.append((3, 0.0, n, url))
                continue
            q = h.get("queue") or {}
            cap = max(int(q.get("max_concurrency") or 1), 1)
            load = (int(q.get("running") or 0) + int(q.get("waiting") or 0)) / cap
            healthy = 0 if h.get("status") == "ok" else 1
            scored.append((healthy, load, n, url))
        return [url for *_, url in sorted(scored)]

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        delay = min(self.s.backoff_base * (2 ** attempt), self.s.backoff_max)
        delay = delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        if retry_after is not None:
            delay = max(delay, min(retry_after, 30.0))
        time.sleep(delay)

    def _post(self, path: str, body: bytes, *, stream: bool) -> Any:
        """POST to the first agent that takes it; the open response is returned."""
        import httpx

        last_error = "no agent configured"
        last_code = Exit.UNAVAILABLE
        for attempt in range(self.s.retry_attempts + 1):
            retry_after: float | None = None
            for url in self.ordered_agents():
                request = self.http.build_request(
                    "POST", f"{url.rstrip('/')}{path}", content=body,
                    headers={"content-type": "application/json"})
                try:
                    resp = self.http.send(request, stream=stream)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    last_error, last_code = f"agent {url} unreachable ({type(exc).__name__})", \
                        Exit.UNAVAILABLE
                    continue
                except httpx.TimeoutException:
                    raise DmcError(f"agent {url} did not answer within {self.s.timeout:g} s",
                                   Exit.REMOTE) from None
                except httpx.HTTPError as exc:
                    raise DmcError(f"agent {url}: {type(exc).__name__}: {exc}",
                                   Exit.REMOTE) from None
                if resp.status_code == 503:
                    ra = resp.headers.get("retry-after", "")
                    retry_after = float(ra) if ra.replace(".", "", 1).isdigit() else None
                    resp.close()
                    last_error, last_code = f"agent {url} is busy", Exit.UNAVAILABLE
                    continue
                if resp.status_code >= 400:
                    self._raise_for(url, resp)
                return resp
            if attempt < self.s.retry_attempts:
                self._backoff(attempt, retry_after)
        raise DmcError(f"{last_error} after {self.s.retry_attempts + 1} attempt(s)", last_code,
                       hint="is `dmc agent serve` running there? check desktop.url")

    @staticmethod
    def _raise_for(url: str, resp: Any) -> None:
        try:
            resp.read()
            err = resp.json().get("error", {})
            message = err.get("message") or resp.text[:300]
        except ValueError:
            message = resp.text[:300]
        finally:
            resp.close()
        if resp.status_code == 401:
            raise DmcError(f"agent {url} refused the request: {message}", Exit.UNAVAILABLE,
                           hint="set DMC_AGENT_TOKEN or desktop.token_file to the agent's token")
        if resp.status_code in (400, 413, 422):
            raise DmcError(f"agent {url} rejected the request: {message}", Exit.USAGE)
        raise DmcError(f"agent {url} failed with HTTP {resp.status_code}: {message}",
                       Exit.REMOTE)

    def generate(self, payload: dict[str, Any], on_event: OnEvent | None = None
                 ) -> dict[str, Any]:
        """Send a payload; stream progress to ``on_event``; return the final response."""
        import httpx

        resp = self._post("/v1/generate", orjson.dumps(payload), stream=True)
        try:
            for line in resp.iter_lines():
                if not line.strip():
                    continue
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise DmcError("agent sent a line that is not JSON", Exit.REMOTE) from None
                kind = event.get("event")
                if kind == "result":
                    return dict(event["response"])
                if kind == "error":
                    err = event.get("error") or {}
                    code = err.get("code", Exit.REMOTE)
                    try:
                        exit_code = Exit(int(code))
                    except (TypeError, ValueError):
                        exit_code = Exit.REMOTE
                    if exit_code in (Exit.OK, Exit.USAGE, Exit.BLOCKING):
                        exit_code = Exit.REMOTE
                    raise DmcError(f"agent: {err.get('message', 'generation failed')}",
                                   exit_code, hint=err.get("hint"))
                if on_event is not None:
                    on_event(event)
        except httpx.TimeoutException:
            raise DmcError(f"the agent stopped answering for {self.s.timeout:g} s",
                           Exit.REMOTE) from None
        except httpx.HTTPError as exc:
            raise DmcError(f"connection to the agent broke: {type(exc).__name__}",
                           Exit.REMOTE) from None
        finally:
            resp.close()
        raise DmcError("the agent closed the stream without a result", Exit.REMOTE)

    def validate(self, files: list[dict[str, Any]], criteria: dict[str, Any]) -> dict[str, Any]:
        """Validate files on the agent."""
        resp = self._post("/v1/validate", orjson.dumps({"files": files,
                                                       "quality_criteria": criteria}),
                          stream=False)
        try:
            return dict(resp.json()["validation"])
        except (ValueError, KeyError) as exc:
            raise DmcError(f"agent gave an unusable validate answer ({exc})", Exit.REMOTE) \
                from None
