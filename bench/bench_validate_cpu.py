"""CPU seconds ``dmc validate`` needs for the 20 httpx files of bench_validate, cold caches.

Why: the cold goal of issue 13 is 3 s of wall time on 2 cores. Wall time cannot fall below
the CPU time the checkers need divided by the cores, so this measures that CPU time: the dmc
process (its own CPU through ``getrusage``) plus each warm checker's user+system time read
from ``/proc/PID/stat`` before and after one run with the caches removed (the checkers
already running, so no start-up is counted). The usual way (pylint, bandit, mypy as new
processes, one after another) is measured beside it, and each tool's cost on one trivial
file, which is its start-up.

Writes bench/results/validate-cpu.json. Linux only (``/proc``).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_validate import Dmc, _files  # noqa: E402
from bench.common import write  # noqa: E402

RUNS = 3


def _worker_cpu(runtime: Path) -> dict[str, float]:
    """CPU seconds so far of each checker started under this runtime folder."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"dmc.validate.worker" not in cmd or not any(
                    str(runtime).encode() in part for part in cmd):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            tool = cmd[cmd.index(b"dmc.validate.worker") + 1].decode()
            out[tool] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        except (OSError, ValueError, IndexError):
            continue
    return out


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _process(args: list[str], cwd: Path) -> tuple[float, float]:
    """(CPU s, wall s) of one new process."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    return _children_cpu() - cpu, time.perf_counter() - start


def main() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dmc-bench-cpu-"))
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    files = _files(work)
    (work / "trivial.py").write_text("X = 1\n", encoding="utf-8")
    dmc = Dmc(work, files)
    runs: list[dict[str, float]] = []
    try:
        dmc.run()  # starts the checkers; not counted
        for _ in range(RUNS):
            dmc.forget_caches()
            before, cpu = _worker_cpu(dmc.runtime), _children_cpu()
            wall, _ = dmc.run()
            after = _worker_cpu(dmc.runtime)
            row = {"wall_s": round(wall, 2), "dmc_process": round(_children_cpu() - cpu, 2)}
            row |= {tool: round(after[tool] - before.get(tool, 0.0), 2) for tool in after}
            row["total_cpu_s"] = round(sum(v for k, v in row.items() if k != "wall_s"), 2)
            runs.append(row)
    finally:
        dmc.stop_workers()
    py = sys.executable
    usual: dict[str, dict[str, float]] = {}
    for tool, args in (("pylint", [py, "-m", "pylint", "--output-format=json"]),
                       ("bandit", [py, "-m", "bandit", "-f", "json", "-q"]),
                       ("mypy", [py, "-m", "mypy", "--ignore-missing-imports"])):
        if tool == "mypy":  # a new cache each time: cold, as the 20 files were
            cpu, wall = _process([*args, f"--cache-dir={tempfile.mkdtemp()}", *files], work)
            startup, _ = _process([*args, f"--cache-dir={tempfile.mkdtemp()}", "trivial.py"],
                                  work)
        else:
            cpu, wall = _process([*args, *files], work)
            startup, _ = _process([*args, "trivial.py"], work)
        usual[tool] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                       "one_trivial_file_cpu_s": round(startup, 2)}
    total = statistics.median(r["total_cpu_s"] for r in runs)
    cores = os.cpu_count() or 1
    result = {
        "files": len(files), "cores": cores, "load_1m_at_end": round(os.getloadavg()[0], 2),
        "dmc_warm_checkers_cold_caches": runs,
        "dmc_median_total_cpu_s": total,
        "wall_floor_s": round(total / cores, 2),
        "note": "wall time cannot fall below total CPU / cores; a goal under that floor needs "
                "the checkers to do less work, not to run faster",
        "usual_way": usual,
    }
    path = write("validate-cpu", result)
    print(json.dumps({"median_total_cpu_s": total, "floor_s": result["wall_floor_s"],
                      "path": str(path)}))
    return result


if __name__ == "__main__":
    main()
