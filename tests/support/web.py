"""The web UI under a real browser: Debian's Chromium driven by Playwright, against a real
``dmc serve`` on a committed, indexed repository. Shared by tests/test_web_ui.py and
bench/bench_web.py.

Playwright's own browser download cannot be used here (and is not wanted in CI): the
browser is the distribution's ``chromium`` package, launched through ``executable_path``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.serve import ServeProcess

INSTALL = "apt-get install -y chromium"

#: a tiny project: the requests name its files, so retrieval and extraction have work
PROJECT = {
    "textutil/__init__.py": '"""Text helpers."""\n',
    "textutil/words.py": ('"""Word helpers."""\n\n\ndef count_words(text: str) -> int:\n'
                          '    """How many whitespace-separated words text has."""\n'
                          "    return len(text.split())\n"),
    "README.md": "# textutil\n\nSmall text helpers.\n",
}


def chromium_path() -> str:
    """Where Debian's Chromium is; a RuntimeError naming the install command if nowhere."""
    for candidate in (os.environ.get("DMC_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError(f"no Chromium found for the web UI tests: install it with "
                       f"`{INSTALL}` (as root; .ci/run does) or set DMC_CHROMIUM")


def committed_repo(root: Path, env: dict[str, str]) -> Path:
    """The project above, committed and indexed, in ``root``."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "i"],
                   cwd=root, check=True)
    dmc = str(Path(sys.executable).with_name("dmc"))
    subprocess.run([dmc, "index"], cwd=root, check=True, capture_output=True, env=env)
    return root


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment without the developer's DMC_* settings and configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg")
    env["NO_COLOR"] = "1"
    return env


def model_flags(model: str, max_tokens: int, *, lint: bool = True,
                context_tokens: int = 400) -> list[str]:
    """``dmc serve`` flags: the in-process llama.cpp backend with ``model`` (a packaged
    name or a GGUF path), one pass, one sample, no generated tests."""
    flags = ["--set", "generation.backend=llamacpp", "--set", f"models.generation={model}",
             "--set", f"generation.max_tokens={max_tokens}", "--set",
             "generation.generated_tests=false", "--set", "validation.max_iterations=1",
             "--set", "generation.samples=1", "--set", "generation.context_window=2048",
             "--set", f"optimize.max_context_tokens={context_tokens}"]
    if not lint:  # syntax only: the browser tests are about the page, not the linters
        flags += ["--set", "validation.enable_linting=false", "--set",
                  "validation.enable_type_checking=false", "--set",
                  "validation.enable_security_scan=false"]
    return flags


def serve(repo: Path, flags: list[str], env: dict[str, str]) -> ServeProcess:
    server = ServeProcess(repo, *flags, env=env)
    server.wait(180)
    return server


def wait_js(page: Any, expression: str, timeout: float = 60.0, every: float = 0.02) -> Any:
    """Poll a JavaScript expression until it is truthy (``page.evaluate`` is not subject
    to the page's Content-Security-Policy; Playwright's wait_for_function is, and the page
    forbids eval)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout} s: {expression}")
        time.sleep(every)


def type_request(page: Any, text: str, prefilled: bool = True, timeout: float = 90) -> None:
    """Type a request as a person would and wait for its preview (and, with
    ``prefilled``, for the prompt evaluated ahead, as happens while one reads it)."""
    page.fill("#request", "")
    page.type("#request", text, delay=15)
    page.wait_for_selector("#intent-type", timeout=timeout * 1000)
    if prefilled:
        wait_js(page, "document.getElementById('draft-state').textContent"
                      ".includes('prompt evaluated')", timeout)


def first_token_ms(page: Any, timeout: float = 120) -> float:
    """Send the request box with Ctrl+Enter and return the milliseconds from the key press to the
    first token on screen (the page's own performance.now() marks)."""
    page.focus("#request")
    page.keyboard.press("Control+Enter")
    wait_js(page, "window.dmcPerf.firstTokenAt !== null", timeout)
    return float(page.evaluate("window.dmcPerf.firstTokenAt - window.dmcPerf.sentAt"))
