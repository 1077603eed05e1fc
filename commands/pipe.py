"""The stream side of the pipe contract: stdin in, stdout out, exit codes.

Every stage subcommand calls :func:`run_stage` with a function that turns one document into
the next. This module decides what the input is (argument text, plain text on stdin, one
JSON document, a JSON array, or NDJSON streamed line by line), passes error documents
through, turns expected failures into error documents and one-line messages, and maps the
outcome onto the shared exit codes.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

from dmc.commands import ui

from dmc.contract import (
    MAX_INPUT_BYTES,
    DmcError,
    Document,
    Exit,
    check_document,
    dumps,
    error_exit_code,
    is_error,
    new_document,
    parse_item,
    parse_json,
)

Transform = Callable[[Document], Document]
Item = Document | DmcError

#: Exit code when the reader of stdout went away (``dmc intent --batch | head -1``),
#: as for any Unix filter killed by SIGPIPE.
EXIT_BROKEN_PIPE = 141


def iter_input(stream: BinaryIO, *, batch: bool = False) -> Iterator[Item]:
    """Documents from a byte stream, one at a time, never reading ahead more than a line.

    - ``batch``: every non-blank line is one request (a JSON object or plain text).
    - otherwise the first non-blank character decides: ``{`` is one document or NDJSON
      (told apart by whether the first line parses alone and more lines follow), ``[`` an
      array of documents, anything else the request text.
    """
    if batch:
        yield from _iter_lines(stream)
        return
    first = _first_nonblank_line(stream)
    if first is None:
        yield DmcError("no input: pass the request as an argument or on stdin")
        return
    head = first.lstrip()
    if head.startswith(b"{"):
        yield from _iter_object_start(stream, first)
    elif head.startswith(b"["):
        rest = _read_rest(stream, len(first))
        if isinstance(rest, DmcError):
            yield rest
            return
        try:
            value = parse_json(first + rest)
            if not isinstance(value, list):
                raise DmcError("input is not valid JSON")
            items = value
        except DmcError as exc:
            yield exc
            return
        if not items:
            yield DmcError("empty JSON array: no documents to process")
        for item in items:
            yield _safe(parse_item, item)
    else:
        rest = _read_rest(stream, len(first))
        if isinstance(rest, DmcError):
            yield rest
            return
        yield _safe(_text_document, first + rest)


def _iter_object_start(stream: BinaryIO, first: bytes) -> Iterator[Item]:
    try:
        value = parse_json(first)
    except DmcError:
        # not a complete object on one line: a pretty-printed single document
        rest = _read_rest(stream, len(first))
        if isinstance(rest, DmcError):
            yield rest
            return
        yield _safe(lambda b: check_document(parse_json(b)), first + rest)
        return
    yield _safe(check_document, value)
    yield from _iter_lines(stream)


def _iter_lines(stream: BinaryIO) -> Iterator[Item]:
    for number, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        if len(line) > MAX_INPUT_BYTES:
            yield DmcError(f"line {number}: longer than {MAX_INPUT_BYTES} bytes")
            continue
        if line.startswith((b"{", b"[")):
            yield _safe(lambda b: parse_item(parse_json(b)), line)
        else:
            yield _safe(_text_document, line)


def _first_nonblank_line(stream: BinaryIO) -> bytes | None:
    for raw in stream:
        if raw.strip():
            return raw
    return None


def _read_rest(stream: BinaryIO, already: int) -> bytes | DmcError:
    rest = stream.read(MAX_INPUT_BYTES - already + 1)
    if already + len(rest) > MAX_INPUT_BYTES:
        return DmcError(f"input larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    return rest


def _text_document(data: bytes) -> Document:
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DmcError(f"input is not valid UTF-8 (byte {exc.start})") from None
    if not text:
        raise DmcError("empty request text")
    if "\x00" in text:
        raise DmcError("input looks binary (contains NUL bytes), not request text")
    return new_document(text)


def _safe(fn: Callable[[bytes], Document], arg: object) -> Item:
    try:
        return fn(arg)  # type: ignore[arg-type]
    except DmcError as exc:
        return exc


def run_stage(
    stage: str,
    transform: Transform,
    *,
    text_args: list[str] | None = None,
    batch: bool = False,
    pretty: bool = False,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    verdict: Callable[[Document], Exit] | None = None,
    render: Callable[[Document], bytes] | None = None,
) -> int:
    """Run one stage over its input; return the exit code for the process.

    The first failure decides the exit code, but a batch carries on so that every input
    line gets exactly one output line. ``verdict`` lets a stage fail a document it produced
    (validate: exit 1 on blocking issues); ``render`` replaces the JSON output (SARIF).
    """
    out = stdout if stdout is not None else sys.stdout.buffer
    if text_args:
        items: Iterator[Item] = iter([_safe(_text_document, " ".join(text_args).encode())])
    else:
        source = stdin if stdin is not None else sys.stdin.buffer
        if stdin is None and _stdin_is_tty():
            return report_error(stage, DmcError(
                "no request: give it as an argument or pipe text/JSON on stdin",
                hint=f"see: dmc {stage} --help"), out)
        items = iter_input(source, batch=batch)
    status = Exit.OK
    try:
        for item in items:
            doc, code = _process(stage, transform, item)
            if code == Exit.OK and verdict is not None:
                code = verdict(doc)
            if code != Exit.OK and status == Exit.OK:
                status = code
            if render is not None and not is_error(doc):
                out.write(render(doc))
            else:
                out.write(dumps(doc, pretty=pretty and not batch))
            out.flush()
            if not is_error(doc):
                ui.summary(stage, doc)
    except KeyboardInterrupt:
        ui.error(stage, "interrupted")
        return int(Exit.INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return int(status)


def report_error(stage: str, exc: DmcError, stdout: BinaryIO | None = None) -> int:
    """Fail before any document was read: the one-line message on stderr and the error
    document on stdout (so the next stage passes this error on instead of reporting "no
    input"); returns the exit code."""
    ui.error(stage, exc.message, exc.hint)
    try:
        out = stdout if stdout is not None else sys.stdout.buffer
        out.write(dumps(exc.to_document(stage)))
        out.flush()
    except (OSError, ValueError):  # the reader went away (EPIPE) or stdout is closed
        pass
    return int(exc.code)


def _process(stage: str, transform: Transform, item: Item) -> tuple[Document, Exit]:
    if isinstance(item, DmcError):
        ui.error(stage, item.message, item.hint)
        return item.to_document(stage), item.code
    if is_error(item):
        return item, error_exit_code(item)
    try:
        return transform(item), Exit.OK
    except DmcError as exc:
        ui.error(stage, exc.message, exc.hint)
        return exc.to_document(stage), exc.code
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:  # a bug: still one line and an error document, never a traceback
        if os.environ.get("DMC_DEBUG"):
            raise
        msg = f"internal error: {type(exc).__name__}: {exc}"
        ui.error(stage, msg, "set DMC_DEBUG=1 for a traceback and please report it")
        return DmcError(msg, Exit.INTERNAL).to_document(stage), Exit.INTERNAL


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def install_signal_handlers() -> None:
    """Ctrl-C raises KeyboardInterrupt (mapped to exit 130); SIGTERM does the same."""
    def _term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
    except (ValueError, OSError):  # not the main thread (tests calling in-process)
        pass
