"""Bearer-token checks shared by the desktop agent and the laptop service.

Both HTTP servers accept a token only in the ``Authorization`` header: a token in a URL ends
up in shell history, proxy logs and the browser's history, so a request that carries one in
its query string is refused outright rather than silently accepted.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

#: query parameters that look like a credential; their presence alone refuses a request
QUERY_TOKEN_NAMES: frozenset[str] = frozenset(
    {"token", "access_token", "api_key", "apikey", "auth"})


def bearer_matches(authorization: str, token: str | None) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` (no token set: open).

    The comparison runs in constant time (``hmac.compare_digest``) so that response timing
    does not reveal how many leading characters of a guess were right.
    """
    if token is None:
        return True
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def token_in_query(names: Iterable[str]) -> bool:
    """Whether any query parameter name looks like a credential."""
    return any(name.lower() in QUERY_TOKEN_NAMES for name in names)
