"""Recognise and redact secrets in code before it leaves the laptop.

Covers what can be recognised with confidence: private key blocks, well-known token formats
(AWS, GitHub, GitLab, Slack, Stripe, Google, OpenAI-style keys, JWTs), credentials in URLs,
values assigned to names that say secret/password/token/key, and every value in a .env file.
Each redaction is reported (path, line, kind), never the secret itself.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

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


def redact(path: str, text: str) -> tuple[str, list[Redaction]]:
    """``text`` with recognised secrets replaced by ``<redacted:KIND>``."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            found.append((m.start(), m.end(), kind))
    for m in _ASSIGNED.finditer(text):
        value = m.group("value")
        if _PLACEHOLDERS.match(value.strip()) or (len(value) < 12 and _entropy(value) < 2.5):
            continue
        found.append((m.start("value"), m.end("value"), "assigned_secret"))
    name = path.rsplit("/", 1)[-1]
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        for m in _ENV_LINE.finditer(text):
            value = m.group("value").strip().strip("'\"")
            if value and not _PLACEHOLDERS.match(value):
                found.append((m.start("value"), m.end("value"), "env_value"))
    if not found:
        return text, []
    found.sort()
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in found:
        if merged and start < merged[-1][1]:
            prev = merged[-1]
            merged[-1] = (prev[0], max(prev[1], end), prev[2])
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
