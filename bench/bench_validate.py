"""Benchmark ``dmc validate`` on 20 Python files of a real package (httpx, as installed),
cold, warm, after one file changed and after a module the others import changed, next to
pylint + bandit + mypy run one after another the usual way and ruff (a fast single pass),
on the same files, all in one run.

The machine's load average is recorded at the start and the end: on a shared machine the
absolute seconds move with it, while the ratios within one run stay comparable.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DMC, write  # noqa: E402

PACKAGE = "httpx"
N_FILES = 20
WARM_RUNS = 5


def _files(dest: Path) -> list[str]:
    import httpx

    src = Path(httpx.__file__).parent
    chosen = sorted(p for p in src.rglob("*.py") if p.stat().st_size > 500)[:N_FILES]
    names = []
    for p in chosen:
        rel = p.relative_to(src.parent)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dest / rel)
        names.append(str(rel))
    return names


def _time(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def _validate(files: list[str], cwd: Path) -> tuple[float, dict[str, Any]]:
    """Wall time of one ``dmc validate`` process and what its tools did."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    start = time.perf_counter()
    proc = subprocess.run([DMC, "validate", "--format", "json", *files], cwd=cwd,
                          capture_output=True, check=False, env=env)
    seconds = time.perf_counter() - start
    doc = json.loads(proc.stdout)
    if "validation" not in doc:
        raise SystemExit(f"dmc validate failed: {proc.stderr.decode()[-500:]}")
    tools = {name: {k: t.get(k) for k in ("status", "files", "cached", "seconds")}
             for name, t in doc["validation"]["tools"].items()}
    return seconds, {"exit": proc.returncode, "issues": len(doc["validation"]["issues"]),
                     "tools": tools}


def _leaf_and_shared(files: list[str], cwd: Path) -> tuple[str, str]:
    """A module no other chosen file imports, and the one most of them import."""
    from dmc.validate.deps import Graph

    base = str(cwd)
    graph = Graph(os.path.isfile, lambda p: Path(p).read_bytes(), extra_roots=[base])
    users: dict[str, int] = {f: 0 for f in files}
    for f in files:
        for dep in graph.closure(os.path.join(base, f)):
            rel = os.path.relpath(dep, base)
            if rel in users:
                users[rel] += 1
    ranked = sorted(files, key=lambda f: (users[f], f))
    shared = max((f for f in files if not f.endswith("__init__.py")),
                 key=lambda f: (users[f], f))
    return ranked[0], shared


def main() -> dict[str, Any]:
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dmc-bench-validate-") as tmp:
        work = Path(tmp)
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        files = _files(work)
        py = sys.executable
        usual = {
            "pylint": _time([py, "-m", "pylint", "--output-format=json", *files], work),
            "bandit": _time([py, "-m", "bandit", "-f", "json", "-q", *files], work),
            "mypy": _time([py, "-m", "mypy", "--ignore-missing-imports",
                           "--cache-dir=/dev/null", *files], work),
        }
        ruff = _time([py, "-m", "ruff", "check", "--no-cache", "--output-format", "json",
                      *files], work)
        cold, cold_info = _validate(files, work)
        warm_runs = [_validate(files, work) for _ in range(WARM_RUNS)]
        warm = sorted(s for s, _ in warm_runs)
        leaf, shared = _leaf_and_shared(files, work)
        (work / leaf).write_text((work / leaf).read_text() + "\n# touched\n")
        one_changed, one_info = _validate(files, work)
        (work / shared).write_text((work / shared).read_text() + "\n# touched\n")
        shared_changed, shared_info = _validate(files, work)
    load_end = os.getloadavg()
    result = {
        "command": f"{DMC} validate <{N_FILES} files of {PACKAGE} {version(PACKAGE)}>",
        "files": N_FILES,
        "usual_way_s": {k: round(v, 3) for k, v in usual.items()},
        "usual_way_total_s": round(sum(usual.values()), 3),
        "ruff_single_pass_s": round(ruff, 3),
        "dmc_cold_s": round(cold, 3),
        "dmc_cold_tools": cold_info["tools"],
        "dmc_warm_median_s": round(statistics.median(warm), 3),
        "dmc_warm_runs_s": [round(s, 3) for s in warm],
        "dmc_one_file_changed_s": round(one_changed, 3),
        "one_file_changed": {"file": leaf, "tools": one_info["tools"]},
        "dmc_imported_module_changed_s": round(shared_changed, 3),
        "imported_module_changed": {
            "file": shared, "tools": shared_info["tools"],
            "note": "mypy and pylint re-check every file that imports the changed module, "
                    "directly or not (their results depend on it); syntax, bandit and custom "
                    "rules re-check only the changed file"},
        "same_verdict_cold_warm": cold_info["exit"] == warm_runs[0][1]["exit"] and
        cold_info["issues"] == warm_runs[0][1]["issues"],
        "goals": {"cold_s": 3.0, "warm_s": 0.3, "one_changed_s": 1.0},
        "load_average_1m": {"start": round(load_start[0], 2), "end": round(load_end[0], 2)},
        "tools": {t: version(t) for t in ("pylint", "bandit", "mypy", "ruff")},
    }
    path = write("validate", result)
    print(f"validate: cold {result['dmc_cold_s']}s, warm {result['dmc_warm_median_s']}s, one "
          f"changed {result['dmc_one_file_changed_s']}s, imported module changed "
          f"{result['dmc_imported_module_changed_s']}s; usual way "
          f"{result['usual_way_total_s']}s, ruff {result['ruff_single_pass_s']}s (load "
          f"{result['load_average_1m']}) -> {path}")
    return result


if __name__ == "__main__":
    main()
