"""The pipe contract: the request document, its schema version, error documents, exit codes.

Every subcommand reads and writes the same JSON document (see DESIGN.md, "The pipe
contract"). This module is the one place that knows its shape; it holds no I/O, so the CLI
layer, the agent and tests all share it. The stream handling (stdin, NDJSON, stdout) lives in
``dmc.commands.pipe``, which builds on the parsers here.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import orjson

#: Version of the request document this dmc writes. Older versions are read; newer refused.
SCHEMA_VERSION = 1

#: Top-level keys a stage may own, in pipeline order. Any other key is passed through.
STAGE_KEYS: tuple[str, ...] = (
    "input", "intent", "extraction", "context", "payload", "plan", "result", "validation",
)

#: Largest document or request text accepted on stdin, in bytes. Far above any real request;
#: it exists so a runaway producer gets a clear error instead of exhausting memory.
MAX_INPUT_BYTES = 64 * 1024 * 1024

Document = dict[str, Any]


class Exit(IntEnum):
    """Exit codes shared by every subcommand (documented in dmc(1))."""

    OK = 0
    BLOCKING = 1
    USAGE = 2
    UNAVAILABLE = 3
    REMOTE = 4
    INTERNAL = 70
    INTERRUPTED = 130


class DmcError(Exception):
    """An expected failure: reported as an error document and a one-line message."""

    def __init__(self, message: str, code: Exit = Exit.USAGE, *, stage: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.stage = stage
        self.hint = hint

    def to_document(self, stage: str) -> Document:
        """The error document a stage writes in place of its output."""
        err: dict[str, Any] = {
            "stage": self.stage or stage,
            "code": int(self.code),
            "message": self.message,
        }
        if self.hint:
            err["hint"] = self.hint
        return {"dmc": SCHEMA_VERSION, "error": err}


def new_document(text: str, repo: str | None = None) -> Document:
    """A fresh request document for plain request text."""
    doc: Document = {"dmc": SCHEMA_VERSION, "input": {"text": text}}
    if repo is not None:
        doc["input"]["repo"] = repo
    return doc


def is_error(doc: Document) -> bool:
    """True for an error document, which stages pass through untouched."""
    return isinstance(doc.get("error"), dict)


def error_exit_code(doc: Document) -> Exit:
    """The exit code a stage uses when it passes an error document through."""
    code = doc.get("error", {}).get("code")
    try:
        exit_code = Exit(int(code))
    except (TypeError, ValueError):
        return Exit.REMOTE
    return exit_code if exit_code != Exit.OK else Exit.REMOTE


def check_document(value: Any) -> Document:
    """Check the envelope of a parsed document; raise :class:`DmcError` (exit 2) if wrong.

    Only the envelope is checked here: each stage checks the keys it reads. A document
    without ``dmc`` is accepted as the current version, since people write them by hand.
    """
    if not isinstance(value, dict):
        raise DmcError(f"expected a JSON object (a dmc document), got {_kind(value)}")
    if is_error(value):
        return value
    version = value.get("dmc", SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DmcError(f"document field 'dmc' must be a positive integer, got {version!r:.40}")
    if version > SCHEMA_VERSION:
        raise DmcError(
            f"document schema version {version} is newer than this dmc understands "
            f"({SCHEMA_VERSION}); upgrade dmc"
        )
    for key in STAGE_KEYS:
        if key in value and not isinstance(value[key], dict):
            raise DmcError(f"document key '{key}' must be an object, got {_kind(value[key])}")
    inp = value.get("input")
    if inp is not None:
        if "text" in inp and not isinstance(inp["text"], str):
            raise DmcError(f"input.text must be a string, got {_kind(inp['text'])}")
        if inp.get("repo") is not None and not isinstance(inp["repo"], str):
            raise DmcError(f"input.repo must be a string, got {_kind(inp['repo'])}")
    value["dmc"] = version
    return value


def parse_json(data: bytes | str) -> Any:
    """Parse JSON, turning every decoder complaint into a one-line usage error."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DmcError(f"input is not valid JSON: {exc}") from None
    except RecursionError:  # pragma: no cover - orjson limits depth itself
        raise DmcError("input is not valid JSON: nested too deeply") from None


def parse_item(item: Any) -> Document:
    """A document from one element of a JSON array or NDJSON stream (object or string)."""
    if isinstance(item, str):
        text = item.strip()
        if not text:
            raise DmcError("empty request text")
        return new_document(text)
    return check_document(item)


def request_text(doc: Document) -> str:
    """The request text a stage works from; exit 2 if the document has none."""
    text = doc.get("input", {}).get("text")
    if not isinstance(text, str) or not text.strip():
        raise DmcError("document has no input.text to work from")
    return text


def dumps(doc: Document, *, pretty: bool = False) -> bytes:
    """Serialise one document as a line of JSON (indented with ``pretty``)."""
    option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
    if pretty:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(doc, option=option)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
