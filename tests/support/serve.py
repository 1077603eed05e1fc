"""``dmc serve`` as a real subprocess on a free loopback port, for the service tests and
the benchmark."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.servers import free_port


class ServeProcess:
    """``dmc serve --port P ARGS`` in ``repo``, logging to a file, ready once /health
    answers."""

    def __init__(self, repo: Path, *args: str, env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        dmc = str(Path(sys.executable).with_name("dmc"))
        self.proc = subprocess.Popen([dmc, "serve", "--port", str(self.port), *args],
                                     cwd=repo, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)

    def wait(self, timeout: float = 120) -> ServeProcess:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dmc serve exited: " + self.output())
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("dmc serve did not start in time: " + self.output())

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
