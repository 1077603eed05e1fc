"""Guarded decoding: stop an answer while it streams when going on cannot help.

Small models sometimes fall into a loop (the same ``assert`` line a hundred times) and run to
the token limit: minutes of a two-core laptop for an answer whose useful part ended long
before. :class:`StreamGuard` watches the text as it arrives, backend-independent (llama.cpp,
Ollama and OpenAI-compatible servers all stream through ``on_token``), and says *why* to stop:

- ``repetition``: the same non-trivial line keeps coming back, a block of lines repeats, or
  a line grows without end out of a repeated phrase;
- ``complete``: only one file was asked for and its code block has been closed — whatever
  follows (usage notes, tests that repeat) is never used, so it is not waited for.

A guard stop is not an error: the text so far is kept and repaired like any answer cut short.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

# A line must carry this many non-space characters before its repeats mean anything:
# "}", "return", "pass", "else:" repeat legitimately in code.
MIN_LINE_CHARS = 10
# The same non-trivial line this many times in a row is a loop...
MAX_CONSECUTIVE = 4
# ...or most of the recent lines, interleaved with others ("if x is None:" in thirty similar
# functions is ordinary code; the same assert in 12 of the last 20 lines is not).
WINDOW_LINES = 20
WINDOW_SHARE = 0.6
# A block of up to this many lines repeated this many times back to back.
MAX_PERIOD_LINES = 8
MIN_PERIOD_REPEATS = 4
# A single line longer than this is checked for compressibility (a phrase repeated in place).
LONG_LINE_CHARS = 800
LONG_LINE_RATIO = 0.12
# Lines that are only data (a row of a board literal, "<li></li>", "0, 0, 0,") legitimately
# repeat: they need this many times the repeats before they count as a loop.
DATA_LINE_FACTOR = 4
_DATA_LINE = re.compile(r"^[\s\d.,;:+\-*/()\[\]{}'\"<>=|#]*(?:(?:True|False|None|li|td|tr|"
                        r"br|p|div|span|item)[\s\d.,;:+\-*/()\[\]{}'\"<>=|#]*)*$")
# What a code block must hold before "complete" may stop the answer: a usage example such as
# "print(is_even(4))" shown before the implementation is not the answer.
_DEFINES = re.compile(r"^\s*(?:async\s+)?(?:def|class|function|const|let|var|export|import|"
                      r"from|fn|func|pub|public|interface|type|struct|impl)\b|=>", re.M)

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([^\s`]*)")


@dataclass
class StreamGuard:
    """Feed it the deltas of one answer; ``feed`` returns a stop reason or None.

    ``single_block``: stop once the first code block of ``language`` (or untagged) closes.
    """

    single_block: bool = False
    language: str | None = None
    reason: str | None = None
    _text: list[str] = field(default_factory=list)
    _partial: str = ""
    _lines: list[str] = field(default_factory=list)
    _in_fence: bool = False
    _fence_ok: bool = False
    _fence_body: int = 0
    _fence_defines: bool = False

    def feed(self, delta: str) -> str | None:
        """Take the next piece of the answer; the reason to stop now, if there is one."""
        if self.reason is not None:
            return self.reason
        self._text.append(delta)
        self._partial += delta
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self.reason = self._on_line(line)
            if self.reason:
                return self.reason
        if len(self._partial) > LONG_LINE_CHARS and len(self._partial) % 200 < len(delta):
            if _compressed_ratio(self._partial) < LONG_LINE_RATIO:
                self.reason = "repetition"
        return self.reason

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return "".join(self._text)

    def _on_line(self, line: str) -> str | None:
        fence = _FENCE.match(line)
        if fence:
            if not self._in_fence:
                tag = fence.group(2).lower()
                self._in_fence = True
                self._fence_ok = not tag or self.language is None or _same_language(
                    tag, self.language)
                self._fence_body = 0
                self._fence_defines = False
            else:
                self._in_fence = False
                if self.single_block and self._fence_ok and self._fence_defines:
                    return "complete"
            return None
        if self._in_fence and line.strip():
            self._fence_body += 1
            self._fence_defines = self._fence_defines or bool(_DEFINES.search(line))
        self._lines.append(line.strip())
        return "repetition" if _repeating(self._lines) else None


def _same_language(tag: str, language: str) -> bool:
    aliases = {"py": "python", "python3": "python", "js": "javascript", "ts": "typescript",
               "jsx": "javascript", "sh": "bash", "shell": "bash"}
    return aliases.get(tag, tag) == language.lower()


def _repeating(lines: list[str]) -> bool:
    last = lines[-1]
    factor = DATA_LINE_FACTOR if _DATA_LINE.match(last) else 1
    if len(last.replace(" ", "")) >= MIN_LINE_CHARS:
        run = 0
        for previous in reversed(lines):
            if previous != last:
                break
            run += 1
        if run >= MAX_CONSECUTIVE * factor:
            return True
        window = [ln for ln in lines[-WINDOW_LINES:] if len(ln.replace(" ", "")) >=
                  MIN_LINE_CHARS]
        if factor == 1 and len(window) >= WINDOW_LINES // 2 and \
                Counter(window)[last] >= WINDOW_SHARE * len(window):
            return True
    for period in range(2, MAX_PERIOD_LINES + 1):
        span = period * MIN_PERIOD_REPEATS
        if len(lines) < span:
            break
        tail = lines[-span:]
        block = tail[:period]
        if sum(len(ln) for ln in block) < MIN_LINE_CHARS * 2 or \
                all(_DATA_LINE.match(ln) for ln in block):
            continue
        if all(tail[i] == block[i % period] for i in range(span)):
            return True
    return False


def _compressed_ratio(text: str) -> float:
    data = text.encode("utf-8", "replace")
    return len(zlib.compress(data, 6)) / max(len(data), 1)


def repeated_tail(text: str) -> str | None:
    """The line a degenerate answer repeated (for telling the model what went wrong)."""
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= MIN_LINE_CHARS]
    if not lines:
        return None
    line, n = Counter(lines[-WINDOW_LINES:]).most_common(1)[0]
    return line if n >= 3 else None
