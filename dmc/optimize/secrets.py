"""Recognise and redact secrets in code before it leaves the laptop.

Two layers, both always on:

- ``detect-secrets`` (Yelp's scanner) is the detector: its plug-ins know the formats of
  dozens of providers (AWS, Azure storage keys, GitHub, GitLab, Slack tokens and webhooks,
  SendGrid, PyPI, npm, Stripe, Twilio, Mailchimp, JWTs, private keys, basic-auth URLs, ...)
  and flag high-entropy base64 and hex strings, with its own false-positive filters.
- dmc's own rules on top, for what it misses or reports too narrowly: whole private key
  blocks (detect-secrets flags only the BEGIN line), Google API keys, OpenAI-style keys,
  credentials in URLs, values assigned to names that say secret/password/token/key, and every
  value in a .env file.

detect-secrets is imported only when some line could hold a secret (a long token with
letters and digits, a key block, a URL with credentials, a secret-looking name), so most
code and every command that never redacts pays nothing for it. Each redaction is reported
(path, line, kind), never the secret itself.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z0-9 ]+ )?PRIVATE KEY-----[\s\S]*?"
                               r"(?:-----END (?:[A-Z0-9 ]+ )?PRIVATE KEY-----|\Z)")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github_token",
     re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b")),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("stripe_key", re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("openai_key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b")),
    ("url_credentials", re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]{3,}(?=@)")),
)
_ASSIGNED = re.compile(
    r"""(?ix)
    (?P<name>(?:[A-Za-z_][A-Za-z0-9_.-]*?)?(?:secret|passw(?:or)?d|passwd|token|api[_-]?key|
        access[_-]?key|private[_-]?key|auth[_-]?key|client[_-]?secret|credentials?)
        [A-Za-z0-9_]*)
    ["']?\s*(?::|=|:=|=>)\s*
    (?P<quote>["'`])(?P<value>[^"'`\n]{6,})(?P=quote)
    """
)
_ENV_LINE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.+)$", re.M)
_PLACEHOLDERS = re.compile(r"(?i)^(?:x+|\*+|\.\.\.|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|"
                           r"changeme|your[-_ ].*|example.*|dummy.*|test.*|placeholder|none|"
                           r"null|redacted.*|process\.env\..*|os\.environ.*)$")


@dataclass(frozen=True)
class Redaction:
    """Where a secret was removed (never what it was)."""

    path: str
    line: int
    kind: str


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


#: A line worth handing to detect-secrets: a long token mixing letters and digits (checked
#: in :func:`_candidate`), a key block, credentials in a URL, or a name that says secret
#: given a value.
_TOKEN = re.compile(r"[A-Za-z0-9+/=_.~-]{16,}")
_HINTS = re.compile(
    r"""(?ix)
    -----BEGIN | ://[^\s/@]+@ | AccountKey | hooks\.slack\.com
    | (?:secret|passw|token|api.?key|access.?key|credential)[\w."'\]-]*\s*(?:=|:|=>|:=)\s*
      (?:["'`]|\S{6,})
    """)
#: Cheap test before :data:`_ASSIGNED`, whose lazy name prefix is slow on long texts.
_KEYWORD = re.compile(r"(?i)secret|passw|token|api[_-]?key|access[_-]?key|private[_-]?key|"
                      r"auth[_-]?key|credential")


def _candidate(line: str) -> bool:
    if _HINTS.search(line):
        return True
    for m in _TOKEN.finditer(line):
        token = m.group()
        if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
            return True
    return False


@lru_cache(maxsize=1)
def _scanner() -> Any:
    """detect-secrets' per-line scanner, as its ``scan`` command runs it on a file: every
    plug-in, then its filters (line, secret and context). Imported on first use (~0.12 s)."""
    from detect_secrets.core import scan
    from detect_secrets.settings import default_settings, get_plugins
    from detect_secrets.util.code_snippet import get_code_snippet

    def lines_scan(path: str, lines: list[str], numbers: list[int]) -> Any:
        """Findings on the given 1-based line numbers (the others are context only)."""
        for n in numbers:
            line = lines[n - 1].rstrip()
            snippet = get_code_snippet(lines=lines, line_number=n)
            if scan._is_filtered_out(required_filter_parameters=["line"], filename=path,
                                     line=line, context=snippet):
                continue
            for plugin in get_plugins():
                for secret in scan._scan_line(plugin=plugin, filename=path, line=line,
                                              line_number=n, context=snippet):
                    if not scan._is_filtered_out(
                            required_filter_parameters=["context"], filename=path,
                            secret=secret.secret_value, plugin=plugin, line=line,
                            context=snippet):
                        yield secret

    return lines_scan, default_settings


def _kind_of(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", secret_type.lower()).strip("_")


#: detect-secrets kinds that say only "this looks secret", named after a specific kind when
#: both match the same text
GENERIC = {"base64_high_entropy_string", "hex_high_entropy_string", "secret_keyword",
           "assigned_secret", "env_value"}


def _detect_secrets(path: str, text: str) -> list[tuple[int, int, str]]:
    """Spans detect-secrets reports, scanning as its ``scan`` command scans a file.

    Only candidate lines are scanned (and detect-secrets is imported only when there is
    one); the whole text is there for the filters, which look at the lines around a line.
    """
    lines = text.split("\n")
    offsets = [0]
    for line in lines[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    # only lines that could hold a secret are scanned (27 plug-ins a line is the cost);
    # the others still give the filters their context
    numbers = [n for n, line in enumerate(lines, 1)
               if len(line) <= 4000 and _candidate(line)]
    if not numbers:
        return []
    scan, default_settings = _scanner()
    found: list[tuple[int, int, str]] = []
    with default_settings():
        for secret in scan(path, lines, numbers):
            value = secret.secret_value
            if not value or secret.line_number is None:
                continue
            kind = _kind_of(secret.type)
            if kind == "secret_keyword" and _PLACEHOLDERS.match(value.strip()):
                continue
            n = secret.line_number - 1
            line = lines[n]
            start = line.find(value)
            while start != -1:
                found.append((offsets[n] + start, offsets[n] + start + len(value), kind))
                start = line.find(value, start + len(value))
    return found


def redact(path: str, text: str) -> tuple[str, list[Redaction]]:
    """``text`` with recognised secrets replaced by ``<redacted:KIND>``."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            found.append((m.start(), m.end(), kind))
    offset = 0
    for line in text.split("\n"):
        if _KEYWORD.search(line):
            for m in _ASSIGNED.finditer(line):
                value = m.group("value")
                if _PLACEHOLDERS.match(value.strip()) or (len(value) < 12 and
                                                          _entropy(value) < 2.5):
                    continue
                found.append((offset + m.start("value"), offset + m.end("value"),
                              "assigned_secret"))
        offset += len(line) + 1
    name = path.rsplit("/", 1)[-1]
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        for m in _ENV_LINE.finditer(text):
            value = m.group("value").strip().strip("'\"")
            if value and not _PLACEHOLDERS.match(value):
                found.append((m.start("value"), m.end("value"), "env_value"))
    found.extend(_detect_secrets(path, text))
    if not found:
        return text, []
    found.sort(key=lambda f: (f[0], -f[1]))
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in found:
        if merged and start < merged[-1][1]:
            prev = merged[-1]
            # overlapping findings become one redaction, named by the most specific kind
            name = kind if prev[2] in GENERIC and kind not in GENERIC else prev[2]
            merged[-1] = (prev[0], max(prev[1], end), name)
        else:
            merged.append((start, end, kind))
    out = []
    cursor = 0
    redactions = []
    for start, end, kind in merged:
        out.append(text[cursor:start])
        out.append(f"<redacted:{kind}>")
        redactions.append(Redaction(path, _line_of(text, start), kind))
        cursor = end
    out.append(text[cursor:])
    return "".join(out), redactions
