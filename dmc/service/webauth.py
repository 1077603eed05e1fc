"""How a browser page gets into a ``dmc serve`` that has a token.

A page cannot be given the bearer token itself: a token in a URL lands in the browser's
history, and a token kept by the page's script is readable by any script that ever runs
there. So the service hands out **one-time login codes** instead: ``dmc serve`` prints
``http://127.0.0.1:3000/#login=CODE`` (and ``dmc serve --login-url`` asks a running
service for a fresh one, with the token). The code sits in the URL's fragment, which the
browser never sends to the server (no logs, no Referer); the page posts it to
``/v1/auth/login`` and gets back an ``HttpOnly; SameSite=Strict`` cookie naming a random
browser session, then removes the fragment from the address bar. A code works once and
only for a few minutes, so the URL left in the history is dead. The cookie is no bearer
token either: it is a random value valid in this service process only, and sent by the
browser only on same-site requests (the service's Origin, JSON-only and Host checks
still apply to every request).
"""

from __future__ import annotations

import secrets
import threading
import time

COOKIE = "dmc_session"
CODE_TTL_S = 600.0
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 64


class WebLogins:
    """One-time codes and the browser sessions they opened (in memory: a restarted
    service asks for a new login)."""

    def __init__(self) -> None:
        self._codes: dict[str, float] = {}
        self._sessions: dict[str, float] = {}
        self._lock = threading.Lock()

    def new_code(self) -> str:
        """A code that opens one browser session, within ``CODE_TTL_S`` seconds."""
        code = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._codes = {c: t for c, t in self._codes.items() if t > now}
            self._codes[code] = now + CODE_TTL_S
        return code

    def redeem(self, code: str) -> str | None:
        """The new session's cookie value, or None for an unknown, used or expired code."""
        with self._lock:
            expires = self._codes.pop(code, None)  # used once, even when it has expired
            if expires is None or expires < time.monotonic():
                return None
            session = secrets.token_urlsafe(32)
            self._sessions[session] = time.monotonic() + SESSION_TTL_S
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        with self._lock:
            # constant time is not needed for a dict lookup of a 256-bit random value
            expires = self._sessions.get(session)
            if expires is not None and expires < time.monotonic():
                del self._sessions[session]
                return False
            return expires is not None

    def end(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._sessions.pop(session, None)
