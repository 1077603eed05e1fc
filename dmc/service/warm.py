"""What the service keeps warm beyond the pipeline's own :class:`dmc.pipeline.Warm`: the
generation backend with its tokens teed to the run generating, as ``tokens`` events.

Why here and not in ``dmc.generate``: generate reports passes, not tokens; the browser
wants each token as it comes, and only the service has a run to send it to. The tee
changes nothing in what generate sees (its own callback runs first and may still stop the
answer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from dmc.pipeline import Warm

#: the token batcher of the run generating on this thread (runs generate one at a time)
SINK = threading.local()


class TokenBatcher:
    """A run's generated text as ``tokens`` events: the first token at once (what the
    user waits for), then at most one event every ``interval`` seconds, so a fast model
    does not write an event per token into the history."""

    def __init__(self, emit: Callable[[dict[str, Any]], None], interval: float = 0.1) -> None:
        self.emit = emit
        self.interval = interval
        self.parts: list[str] = []
        self.last: float | None = None

    def add(self, delta: str) -> None:
        self.parts.append(delta)
        now = time.perf_counter()
        if self.last is None or now - self.last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.emit({"event": "tokens", "text": "".join(self.parts), "n": len(self.parts)})
            self.parts = []
        self.last = time.perf_counter()


class TokenTee:
    """The generation backend, with each token also handed to the run generating on this
    thread. ``dmc.generate`` reports passes, not tokens; the browser shows tokens as they
    come, so the service listens on the backend's own token callback (and changes nothing
    in what generate sees: its callback runs first and may still stop the answer)."""

    def __init__(self, backend: Any) -> None:
        self.inner = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def chat(self, messages: Any, *, on_token: Callable[[str], None] | None = None,
             **kwargs: Any) -> Any:
        sink: TokenBatcher | None = getattr(SINK, "sink", None)
        if sink is None:
            return self.inner.chat(messages, on_token=on_token, **kwargs)

        def tee(delta: str) -> None:
            if on_token is not None:
                on_token(delta)
            sink.add(delta)

        try:
            return self.inner.chat(messages, on_token=tee, **kwargs)
        finally:
            sink.flush()


class ServiceWarm(Warm):
    """The pipeline's warm pieces, with the generation backend's tokens teed to the run."""

    def backend(self, notes: list[str]) -> Any:
        inner = super().backend(notes)
        return self._once("backend_tee", lambda: TokenTee(inner))

    def loaded_backend(self) -> Any:
        """The generation backend if it is loaded already, else None (never loads it:
        for health figures)."""
        made = self._values.get("backend")  # (backend, notes), as Warm.backend keeps it
        return made[0] if made else None
