"""``dmc run --service``: the same run, through a running ``dmc serve``.

The CLI sends the request with the settings it was given on the command line and in
``DMC_*`` variables (files it shares with the service), reads the event stream and hands
each event to the same renderer as the in-process path, so what it prints is the same.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from dmc.config import Config
from dmc.contract import DmcError, Exit


class NoService(DmcError):
    """No usable service: none answers, it refused us, or it serves another repository."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, Exit.UNAVAILABLE, hint=hint)


def read_token(cfg: Config) -> str | None:
    """The service token: ``DMC_SERVE_TOKEN``, else the file in ``serve.token_file``."""
    env = os.environ.get("DMC_SERVE_TOKEN")
    if env:
        return env.strip()
    token_file = cfg.get("serve.token_file")
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


def base_url(cfg: Config) -> str:
    """Where this configuration's service listens (loopback for a bind-all address)."""
    host = cfg.get("serve.host")
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - an address to connect to
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{cfg.get('serve.port')}"


def request_settings(cfg: Config) -> dict[str, Any]:
    """The settings this command was given beyond the files the service reads too.

    Settings the service does not take from a request (where code is sent, where the index
    lives) are sent too: the service accepts them at its own value and refuses another
    (then the run goes in-process), rather than running with its own value silently.
    """
    from dmc.service.core import allowed_override, only_in_process

    given = {k: v for k, v in cfg.values.items()
             if cfg.sources.get(k) == "flag" or cfg.sources.get(k, "").startswith("env DMC_")}
    # the service takes a fixed setting only at its own value, and refuses another one
    return {k: v for k, v in given.items() if allowed_override(k) or only_in_process(k)}


def run_via_service(cfg: Config, text: str, *, stop_after: str | None, refresh: bool,
                    local: bool, remote: bool, follow_up: bool,
                    on_event: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Run the request on the service; each event to ``on_event``; the final document.

    Raises :class:`NoService` when no usable service answers (the caller then runs
    in-process), and the run's own error when it failed.
    """
    import httpx

    token = read_token(cfg)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = {"text": text, "stop_after": stop_after, "refresh": refresh, "local": local,
            "remote": remote, "continue": follow_up, "settings": request_settings(cfg)}
    url = base_url(cfg)
    try:
        with httpx.Client(timeout=httpx.Timeout(None, connect=2.0)) as client:
            health = client.get(url + "/v1/status", headers=headers)
            if health.status_code != 200:
                raise NoService(f"the service at {url} refused ({health.status_code})")
            served = health.json().get("repo")
            if served != (str(cfg.repo) if cfg.repo else None):
                raise NoService(f"the service at {url} serves {served}, not this "
                                "repository")
            with client.stream("POST", url + "/v1/runs", content=orjson.dumps(body),
                               headers=headers) as resp:
                if resp.status_code != 200:
                    detail = orjson.loads(resp.read()).get("error", {}).get("message", "")
                    fixed = re.search(r"setting '([^']+)' cannot be changed per request", detail)
                    if resp.status_code == 400 and fixed:
                        raise NoService(f"the service at {url} runs with another "
                                        f"{fixed.group(1)}")
                    raise DmcError(f"the service refused the run: {detail}",
                                   Exit.USAGE if resp.status_code == 400 else Exit.REMOTE)
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    kind = event.get("event")
                    if kind == "done":
                        return dict(event["document"])
                    if kind == "error":
                        err = event.get("error") or {}
                        try:
                            code = Exit(int(err.get("code", Exit.REMOTE)))
                        except ValueError:
                            code = Exit.REMOTE
                        raise DmcError(str(err.get("message", "the run failed")), code,
                                       hint=err.get("hint"))
                    on_event(event)
    except httpx.TransportError as exc:
        raise NoService(f"no service at {url} ({type(exc).__name__})",
                        hint="start it with `dmc serve`") from None
    raise DmcError("the service ended the run without a result", Exit.REMOTE)
