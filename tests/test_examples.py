"""The examples in examples/ run as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
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


def test_desktop_config_is_valid(tmp_path: Path) -> None:
    env = {"DMC_CONFIG": str(EXAMPLES / "desktop.yaml"), "XDG_CONFIG_HOME": str(tmp_path)}
    cfg = load(repo=tmp_path, env=env)
    assert cfg.get("server.max_concurrency") == 1
    assert cfg.get("generation.server") == "ollama:http://127.0.0.1:11434"


def test_makefile_targets(isolated_env, make_repo) -> None:
    repo = make_repo({"src/ok.py": '"""Fine."""\n', "src/bad.py": "def f(:\n"})
    env = _env(isolated_env)
    ok = subprocess.run(["make", "-f", str(EXAMPLES / "Makefile"), "lint-dmc", "SRC=src/ok.py"],
                        cwd=repo, env=env, capture_output=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["make", "-f", str(EXAMPLES / "Makefile"), "lint-dmc", "SRC=src"],
                         cwd=repo, env=env, capture_output=True, timeout=120)
    assert bad.returncode != 0 and b"bad.py" in bad.stderr
    sarif = subprocess.run(["make", "-f", str(EXAMPLES / "Makefile"), "sarif", "SRC=src"],
                           cwd=repo, env=env, capture_output=True, timeout=120)
    assert sarif.returncode == 0
    assert json.loads((repo / "dmc.sarif").read_text())["version"] == "2.1.0"


def test_ci_workflow_commands(isolated_env, make_repo) -> None:
    workflow = yaml.safe_load((EXAMPLES / "ci-validate.yml").read_text())
    steps = workflow["jobs"]["validate"]["steps"]
    commands = [s["run"] for s in steps if "run" in s and s["run"].startswith("dmc ")]
    assert any("--format sarif" in c for c in commands)
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in steps)
    repo = make_repo({"src/app.py": '"""App."""\n\nVALUE = 1\n'})
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=repo, env=_env(isolated_env),
                              capture_output=True, timeout=120)
        assert proc.returncode == 0, (command, proc.stderr)
    assert json.loads((repo / "dmc.sarif").read_text())["runs"][0]["results"] == []


def test_systemd_unit_flags_exist() -> None:
    unit = (EXAMPLES / "dmc-agent.service").read_text()
    exec_start = unit.split("ExecStart=", 1)[1].split("\n\n")[0].replace("\\\n", " ")
    flags = {w for w in exec_start.split() if w.startswith("--")}
    helped = subprocess.run([str(Path(sys.executable).with_name("dmc")), "agent", "serve",
                             "--help"], capture_output=True, text=True, timeout=60)
    for flag in flags:
        assert flag in helped.stdout, flag
    assert "--token-file" in flags and "token" not in exec_start.replace("--token-file", "")\
        .replace("agent.token", "")


@pytest.mark.slow
def test_pre_commit_config_example(isolated_env, make_repo, tmp_path: Path) -> None:
    root = EXAMPLES.parent
    config = yaml.safe_load((EXAMPLES / "pre-commit-config.yaml").read_text())
    config["repos"][0]["repo"] = str(root)
    config["repos"][0]["rev"] = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                               capture_output=True, text=True,
                                               check=True).stdout.strip()
    repo = make_repo({"bad.py": "import subprocess\n\n\ndef run(cmd):\n"
                                "    return subprocess.call(cmd, shell=True)\n"})
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    env = dict(isolated_env, PRE_COMMIT_HOME=str(tmp_path / "pc"))
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1 and "B602" in proc.stdout + proc.stderr, proc.stdout
