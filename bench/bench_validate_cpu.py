"""CPU seconds ``dmc validate`` needs for the 20 httpx files of bench_validate, cold caches.

Why: the cold goal of issue 13 is 3 s of wall time on 2 cores. Wall time cannot fall below
the CPU time the checkers need divided by the cores, so this measures that CPU time: the dmc
process (its own CPU through ``getrusage``) plus each warm checker's user+system time read
from ``/proc/PID/stat`` before and after one run with the caches removed (the checkers
already running, so no start-up is counted). Readings wait until the checkers are idle
before a run; the one after is taken when dmc exits (what the answer waited for), and the
clean-up a checker does after answering (forgetting the project's modules) is reported
apart, once the checkers are idle again. A run in which a checker was replaced (another
process id) is refused, since its CPU would be lost or a start-up counted. The usual way
(pylint, bandit, mypy as new processes, one after another) is measured beside it, and each
tool's cost on one trivial file, which is its start-up.

Writes bench/results/validate-cpu.json. Linux only (``/proc``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
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


def _worker_cpu(runtime: Path) -> dict[str, tuple[int, float]]:
    """(process id, CPU seconds so far) of each checker started under this runtime folder."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[int, float]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"dmc.validate.worker" not in cmd or not any(
                    str(runtime).encode() in part for part in cmd):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            tool = cmd[cmd.index(b"dmc.validate.worker") + 1].decode()
            out[tool] = (int(pid), (int(fields[11]) + int(fields[12])) / tick)  # utime+stime
        except (OSError, ValueError, IndexError):
            continue
    return out


def _idle(runtime: Path, quiet_s: float = 0.4,
          limit_s: float = 30.0) -> dict[str, tuple[int, float]]:
    """The checkers' readings once none of them has used CPU for ``quiet_s``."""
    last = _worker_cpu(runtime)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = _worker_cpu(runtime)
        if now == last:
            return now
        last = now
    return last


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
    try:
        return _measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(work: Path) -> dict[str, Any]:
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    files = _files(work)
    (work / "trivial.py").write_text("X = 1\n", encoding="utf-8")
    dmc = Dmc(work, files)
    runs: list[dict[str, float]] = []
    try:
        dmc.run()  # starts the checkers; not counted
        for _ in range(RUNS):
            dmc.forget_caches()
            before = _idle(dmc.runtime)
            cpu = _children_cpu()
            wall, _ = dmc.run()
            after = _worker_cpu(dmc.runtime)
            dmc_cpu = _children_cpu() - cpu
            settled = _idle(dmc.runtime)
            if {t: p for t, (p, _) in after.items()} != {t: p for t, (p, _) in before.items()}:
                raise SystemExit("a checker was started or replaced during the run: "
                                 f"{before} -> {after}; measure again")
            row: dict[str, Any] = {"wall_s": round(wall, 2), "dmc_process": round(dmc_cpu, 2)}
            row |= {tool: round(after[tool][1] - before[tool][1], 2) for tool in after}
            row["total_cpu_s"] = round(sum(v for k, v in row.items() if k != "wall_s"), 2)
            row["clean_up_after_answering_cpu_s"] = {
                tool: round(settled[tool][1] - after[tool][1], 2) for tool in settled
                if tool in after}
            runs.append(row)
    finally:
        dmc.close()
    py = sys.executable
    usual: dict[str, dict[str, float]] = {}
    for tool, args in (("pylint", [py, "-m", "pylint", "--output-format=json"]),
                       ("bandit", [py, "-m", "bandit", "-f", "json", "-q"]),
                       ("mypy", [py, "-m", "mypy", "--ignore-missing-imports"])):
        if tool == "mypy":  # a new cache each time (inside work, removed with it): cold
            cpu, wall = _process([*args, "--cache-dir=.mypy-a", *files], work)
            startup, _ = _process([*args, "--cache-dir=.mypy-b", "trivial.py"], work)
        else:
            cpu, wall = _process([*args, *files], work)
            startup, _ = _process([*args, "trivial.py"], work)
        usual[tool] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                       "one_trivial_file_cpu_s": round(startup, 2)}
    total = statistics.median(r["total_cpu_s"] for r in runs)
    cores = len(os.sched_getaffinity(0))
    result = {
        "files": len(files), "cores": cores, "load_1m_at_end": round(os.getloadavg()[0], 2),
        "dmc_warm_checkers_cold_caches": runs,
        "dmc_median_total_cpu_s": total,
        "wall_floor_s": round(total / cores, 2),
        "note": "wall time cannot fall below total CPU / cores (the CPU counted is what the "
                "answer waited for; the checkers' clean-up after answering is apart); a goal "
                "under that floor needs the checkers to do less work, not to run faster",
        "usual_way": usual,
    }
    path = write("validate-cpu", result)
    print(json.dumps({"median_total_cpu_s": total, "floor_s": result["wall_floor_s"],
                      "path": str(path)}))
    return result


if __name__ == "__main__":
    main()
