"""Shared fixtures: run the real `dmc` entry point in a subprocess, make small repos."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

DMC = str(Path(sys.executable).with_name("dmc"))


class Result:
    """What a dmc process did: exit code, stdout lines parsed as JSON, stderr text."""

    def __init__(self, proc: subprocess.CompletedProcess[bytes]) -> None:
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr.decode("utf-8", "replace")

    @property
    def docs(self) -> list[dict]:
        return [orjson.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def doc(self) -> dict:
        docs = self.docs
        assert len(docs) == 1, f"expected one document, got {len(docs)}: {self.stdout[:300]!r}"
        return docs[0]


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no user config and no DMC_* settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture
def dmc(isolated_env: dict[str, str], tmp_path: Path) -> Callable[..., Result]:
    """Run ``dmc ARGS`` with bytes on stdin; cwd defaults to a folder outside any repo."""
    workdir = tmp_path / "work"
    workdir.mkdir()

    def run(*args: str, stdin: bytes | str = b"", cwd: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> Result:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        full_env = dict(isolated_env, **(env or {}))
        proc = subprocess.run([DMC, *args], input=data, capture_output=True,
                              cwd=cwd or workdir, env=full_env, timeout=timeout)
        return Result(proc)

    return run


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """A git repository with the given files (path -> text)."""
    def build(files: dict[str, str], name: str = "repo") -> Path:
        root = tmp_path / name
        root.mkdir()
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    return build


@pytest.fixture(scope="session")
def smol_server():
    """A real llama.cpp OpenAI-compatible server with SmolLM2-135M, shared by the tests."""
    from tests.support.servers import LlamaServer, smollm2_path

    server = LlamaServer(smollm2_path())
    try:
        server.wait()
        yield server
    finally:
        server.stop()
