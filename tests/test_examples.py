"""The examples in examples/ run as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import yaml

from dmc.config import load

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _env(isolated_env: dict[str, str]) -> dict[str, str]:
    env = dict(isolated_env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_pipeline_script(isolated_env) -> None:
    proc = subprocess.run([str(EXAMPLES / "pipeline.sh")], capture_output=True,
                          env=_env(isolated_env), timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = orjson.loads(proc.stdout)
    assert doc["intent"]["task_type"] == "feature_implementation"
    assert doc["extraction"]["repo_frameworks"] == ["express"]


def test_batch_script_keeps_order(isolated_env) -> None:
    proc = subprocess.run([str(EXAMPLES / "batch.sh")], capture_output=True,
                          env=_env(isolated_env), timeout=60)
    assert proc.returncode == 0, proc.stderr
    docs = [orjson.loads(line) for line in proc.stdout.splitlines()]
    requests = (EXAMPLES / "requests.txt").read_text().splitlines()
    assert [d["input"]["text"] for d in docs] == requests
    assert all("intent" in d and "extraction" in d for d in docs)


def test_sample_config_is_valid(tmp_path: Path, make_repo) -> None:
    repo = make_repo({".dmc.yaml": (EXAMPLES / "dmc.yaml").read_text()})
    cfg = load(repo=repo, env={"XDG_CONFIG_HOME": str(tmp_path / "none")})
    assert cfg.get("desktop.url") == ["http://gpu-box.lan:8765"]
    assert yaml.safe_load((EXAMPLES / "dmc.yaml").read_text())["models"]["intent"] == "local"
