"""Token counting for the payload budget.

The exact count comes from the target model's own tokenizer: llama.cpp loads just the
vocabulary of a GGUF file (a few tens of milliseconds). Where that is not possible (a light
laptop install without llama-cpp-python, or no model file), the count falls back to a bound
that always holds: the UTF-8 byte count. Byte-level BPE tokenizers (Qwen, Llama 3, GPT)
never emit a token shorter than one byte, so a budget the bound approves always fits. It is
loose (real code averages about 4 bytes a token; measured over 35,000 chunks of installed
packages, the densest chunk reached 0.99 tokens a byte, which rules out anything tighter
that is not the tokenizer itself).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any


def byte_bound(text: str) -> int:
    """An upper bound on the token count of any byte-level BPE tokenizer."""
    return len(text.encode("utf-8", "surrogatepass"))


_LOG_SINK: list[Any] = []


def quiet_llama_cpp() -> None:
    """Silence llama.cpp's own logging (it writes to stderr even with verbose=False)."""
    if _LOG_SINK:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def _sink(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        return None

    _LOG_SINK.append(_sink)  # keep the callback alive as long as the process
    llama_cpp.llama_log_set(_sink, ctypes.c_void_p(0))


@lru_cache(maxsize=4)
def _vocab(path: str) -> Any:
    import atexit

    import llama_cpp

    quiet_llama_cpp()
    vocab = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    # free it while the interpreter is whole: llama_cpp's own finaliser fails at shutdown
    atexit.register(vocab.close)
    return vocab


def counter(model_path: Path | None) -> tuple[Callable[[str], int], str]:
    """A counting function and its name: the model's tokenizer when loadable, else the
    byte bound."""
    if model_path is not None and model_path.is_file():
        try:
            vocab = _vocab(str(model_path))
        except Exception:  # noqa: BLE001 - llama_cpp missing or file unreadable: the bound
            return byte_bound, "byte-bound"

        def exact(text: str) -> int:
            return len(vocab.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=False,
                                      special=False))

        return exact, f"tokenizer:{model_path.name}"
    return byte_bound, "byte-bound"


def model_counter(spec: str, mode: str = "auto") -> tuple[Callable[[str], int], str]:
    """The counter for a configured generation model (name or GGUF path), never assembling
    a packaged model just to count. ``mode``: auto (the model's tokenizer when loadable),
    model (the same, and it must load), bytes (the bound, no model needed)."""
    from dmc.contract import DmcError, Exit
    from dmc.models import PACKAGED, model_dir

    if mode == "bytes":
        return byte_bound, "byte-bound"
    if mode == "model":
        count, name = model_counter(spec, "auto")
        if name == "byte-bound":
            raise DmcError(f"cannot load the tokenizer of {spec}", Exit.UNAVAILABLE,
                           hint="install dmc[llm] and the model, or use "
                                "optimize.token_counter=bytes")
        return count, name
    if spec in PACKAGED:
        return counter(model_dir() / PACKAGED[spec].filename)
    return counter(Path(spec).expanduser())
