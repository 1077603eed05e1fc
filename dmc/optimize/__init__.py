"""Stage ``optimize``: turn the document into the request payload the desktop receives.

Gathers what the earlier stages found (intent, extraction, retrieved chunks, files the
request names), removes secrets, fits the context into a token budget, derives requirements
and quality criteria from the intent and configuration, and writes the payload of the
seed's message protocol (``dmc/payload.schema.json``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from dmc.contract import DmcError, Document, request_text
from dmc.optimize.pack import Item, context_marker, pack
from dmc.optimize.secrets import Redaction, redact
from dmc.payload import NETWORK_BUDGET_BYTES
from dmc.repo import resolve_inside

MAX_MENTIONED_FILE_BYTES = 200_000
DOC_LANGUAGES = {"markdown", "rst", "text", "md"}
_STOP = {"the", "and", "for", "with", "that", "this", "from", "into", "when", "add", "fix",
         "make", "use", "using", "our", "all", "new", "should", "update", "keep", "keeping"}
_SECURITY = {
    "authentication": ["hash stored passwords (never store or log them in clear)",
                       "verify token signature and expiry on every request"],
    "authorization": ["check permissions on every protected route, deny by default"],
    "validation": ["validate and sanitise all external input"],
    "file_upload": ["limit upload size and type; never trust client file names"],
    "api": ["return errors without internal details (no stack traces to clients)"],
}
_TEST_FRAMEWORKS = {"pytest": ("python",), "unittest": ("python",),
                    "vitest": ("javascript", "typescript"), "jest": ("javascript", "typescript"),
                    "mocha": ("javascript", "typescript")}
_COVERAGE = {"testing": 90.0, "feature_implementation": None, "bug_fix": None,
             "refactoring": None, "optimization": None}


@dataclass
class Options:
    """Budget and defaults (from config and flags)."""

    max_context_tokens: int = 6000
    min_test_coverage: float = 80.0
    max_complexity: int = 10
    security_scan: bool = True
    type_check: bool = True
    max_tokens: int = 2048
    temperature: float = 0.2
    top_p: float = 0.95
    max_iterations: int = 3
    repo: Path | None = None
    style: dict[str, Any] = field(default_factory=dict)


def optimize(doc: Document, opts: Options, count: Callable[[str], int],
             counter_name: str = "byte-bound") -> tuple[Document, list[str]]:
    """Add ``payload`` to the document; returns it and notes for the user."""
    text = request_text(doc)
    notes: list[str] = []
    intent = doc.get("intent") or {}
    extraction = doc.get("extraction") or {}
    chunks = (doc.get("context") or {}).get("chunks") or []
    if not isinstance(chunks, list):
        raise DmcError("context.chunks must be a list")
    terms = _terms(text, extraction)
    items, redactions = _items(chunks, extraction, opts.repo)
    task = _task(text, intent, extraction)
    fixed = count(orjson.dumps(task).decode())
    budget = max(opts.max_context_tokens - fixed, 0)
    packed = pack(items, budget, count, terms)
    existing: dict[str, list[str]] = {}
    docs: list[str] = []
    for item, body, how in sorted(packed.items, key=lambda x: (x[0].path, x[0].start)):
        if item.kind == "doc":
            docs.append(f"{item.path}:{item.start}-{item.end}\n{body}")
            continue
        # a marker line, not a comment: see dmc.optimize.pack (models echoed comment headers)
        header = context_marker(item.path, item.start, item.end, item.symbol, how)
        existing.setdefault(item.path, []).append(f"{header}\n{body}")
    payload: dict[str, Any] = {
        "request_id": f"dmc-{uuid.uuid4().hex[:20]}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": task,
        "context": {
            "existing_code": {p: "\n\n".join(parts) for p, parts in existing.items()},
            "files": _target_files(task, opts.repo, redactions),
            "relevant_docs": docs,
            "examples": [],
            "frameworks": sorted(set(extraction.get("frameworks", []))
                                 | set(extraction.get("repo_frameworks", []))),
            "dependencies": sorted(set(extraction.get("libraries", []))
                                   | set(extraction.get("repo_libraries", []))),
        },
        "requirements": _requirements(intent, extraction),
        "style": opts.style,
        "quality_criteria": _criteria(intent, task.get("language"), opts),
        "generation": {"max_tokens": opts.max_tokens, "temperature": opts.temperature,
                       "top_p": opts.top_p, "max_iterations": opts.max_iterations},
    }
    size = len(orjson.dumps(payload))
    payload["metrics"] = {
        "context_tokens": packed.tokens + fixed,
        "budget_tokens": opts.max_context_tokens,
        "token_counter": counter_name,
        "bytes": size,
        "network_budget_bytes": NETWORK_BUDGET_BYTES,
        "chunks_in": len(chunks),
        "items_sent": {how: sum(1 for _, _, h in packed.items if h == how)
                       for how in ("full", "compressed", "cut")},
        "dropped": [{"path": i.path, "start_line": i.start, "end_line": i.end,
                     "score": round(i.score, 4)} for i in packed.dropped],
        "redactions": [{"path": r.path, "line": r.line, "kind": r.kind} for r in redactions],
    }
    if size > NETWORK_BUDGET_BYTES:
        raise DmcError(f"payload is {size} bytes, over the {NETWORK_BUDGET_BYTES}-byte network "
                       "budget", hint="lower --max-context-tokens")
    if redactions:
        kinds = sorted({r.kind for r in redactions})
        notes.append(f"redacted {len(redactions)} secret(s) ({', '.join(kinds)}) from the "
                     "context")
    if packed.dropped:
        notes.append(f"{len(packed.dropped)} context item(s) did not fit the "
                     f"{opts.max_context_tokens}-token budget and were left out")
    out = dict(doc)
    out["payload"] = payload
    return out, notes


def _terms(text: str, extraction: dict[str, Any]) -> set[str]:
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", text)}
    words |= {s.lower() for s in extraction.get("mentioned_symbols", [])}
    return {w for w in words if w not in _STOP}


def _items(chunks: list[Any], extraction: dict[str, Any],
           repo: Path | None) -> tuple[list[Item], list[Redaction]]:
    items: list[Item] = []
    redactions: list[Redaction] = []
    for n, c in enumerate(chunks):
        if not isinstance(c, dict) or not isinstance(c.get("text"), str) or \
                not isinstance(c.get("path"), str):
            raise DmcError(f"context.chunks[{n}] needs string 'path' and 'text'")
        body, found = redact(c["path"], c["text"])
        redactions += found
        start = int(c.get("start_line") or 1)
        end = int(c.get("end_line") or start + body.count("\n"))
        lang = str(c.get("language") or "")
        items.append(Item(c["path"], start, end, body, float(c.get("score") or 0.0), lang,
                          str(c.get("symbol") or ""),
                          "doc" if lang in DOC_LANGUAGES else "code", ["retrieved"]))
    if repo is not None:
        for f in extraction.get("mentioned_files", []):
            if not isinstance(f, dict) or not f.get("exists"):
                continue
            real = resolve_inside(repo, str(f.get("path")))
            if real is None or not real.is_file() or \
                    real.stat().st_size > MAX_MENTIONED_FILE_BYTES:
                continue
            try:
                raw = real.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            body, found = redact(str(f["path"]), raw)
            redactions += found
            ext = os.path.splitext(real.name)[1].lower()
            from dmc.languages import EXTENSIONS

            lang = EXTENSIONS.get(ext, "markdown" if ext in (".md", ".rst", ".txt") else "")
            # the files a request names outrank anything retrieval found
            items.append(Item(str(f["path"]), 1, max(body.count("\n"), 1), body, 2.0, lang,
                              "", "doc" if lang == "markdown" else "code", ["mentioned"]))
    return items, redactions


# a target file larger than this is not sent whole (it would not fit a small model's window)
MAX_TARGET_FILE_BYTES = 60_000


def _target_files(task: dict[str, Any], repo: Path | None,
                  redactions: list[Redaction]) -> dict[str, str]:
    """The whole current text of each target file that exists, for edits made against it.

    Packing may compress a file to fit the budget; an edit quotes lines exactly, so the
    generator needs the real text. Redacted like the rest of the context (``dmc run --apply``
    replays the edits on the file on disk, so a redaction is never written back).
    """
    out: dict[str, str] = {}
    if repo is None:
        return out
    for path in task.get("target_files") or []:
        real = resolve_inside(repo, str(path))
        if real is None or not real.is_file() or real.stat().st_size > MAX_TARGET_FILE_BYTES:
            continue
        try:
            raw = real.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        body, found = redact(str(path), raw)
        redactions += [r for r in found if (r.path, r.line) not in
                       {(x.path, x.line) for x in redactions}]
        out[str(path)] = body
    return out


def _task(text: str, intent: dict[str, Any], extraction: dict[str, Any]) -> dict[str, Any]:
    task: dict[str, Any] = {
        "type": intent.get("task_type", "feature_implementation"),
        "description": text,
        "complexity": intent.get("complexity", "medium"),
        "domain": intent.get("domain", "general"),
    }
    languages = extraction.get("languages") or []
    if languages:
        task["language"] = languages[0]
    components = (list(extraction.get("frameworks", [])) + list(extraction.get("libraries", []))
                  + list(extraction.get("mentioned_symbols", [])))
    task["components"] = list(dict.fromkeys(components))[:30]
    task["target_files"] = [f["path"] for f in extraction.get("mentioned_files", [])
                            if isinstance(f, dict) and not f.get("outside_repo")][:30]
    return task


def _requirements(intent: dict[str, Any], extraction: dict[str, Any]) -> dict[str, list[str]]:
    reqs = list(extraction.get("requirements", []))
    constraints = list(extraction.get("constraints", []))
    security = ["no secrets in code; read them from the environment or a file",
                "no shell=True, eval or exec on data from outside"]
    for r in reqs:
        security += _SECURITY.get(r, [])
    task_type = intent.get("task_type", "feature_implementation")
    libs = set(extraction.get("libraries", [])) | set(extraction.get("repo_libraries", []))
    language = (extraction.get("languages") or [None])[0]
    framework = next((t for t, langs in _TEST_FRAMEWORKS.items()
                      if t in libs and (language is None or language in langs)), None)
    testing: list[str] = []
    if task_type == "testing" or "testing" in reqs or "tests_required" in constraints:
        testing.append("write unit tests" + (f" with {framework}" if framework else ""))
    if task_type in ("feature_implementation", "bug_fix"):
        testing.append("cover the new or fixed behaviour with a test"
                       + (f" ({framework})" if framework else ""))
    documentation = ["docstrings or comments that say why for public functions"]
    if task_type == "documentation" or "documentation" in reqs:
        documentation.append("update the user-facing documentation")
    return {
        "security": list(dict.fromkeys(security)),
        "testing": testing,
        "documentation": documentation,
        "functional": reqs,
        "constraints": [c.replace("_", " ") for c in constraints],
    }


def _criteria(intent: dict[str, Any], language: str | None, opts: Options) -> dict[str, Any]:
    task_type = intent.get("task_type", "feature_implementation")
    coverage = 0.0
    if task_type in _COVERAGE:
        coverage = _COVERAGE[task_type] or opts.min_test_coverage
    return {
        "min_test_coverage": coverage,
        "max_complexity": opts.max_complexity,
        "security_scan": opts.security_scan and task_type not in ("documentation",
                                                                   "explanation"),
        "type_check": opts.type_check and (language in (None, "python", "typescript")),
        "fail_on": "error",
    }

