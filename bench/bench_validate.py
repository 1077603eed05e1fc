"""Benchmark ``dmc validate`` on 20 Python files of a real package (httpx, as installed),
cold and with a warm cache, next to pylint + bandit + mypy run one after another the usual
way on the same files, all in one run."""

from __future__ import annotations

import shutil
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


def main() -> dict[str, Any]:
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
        cold = _time([DMC, "validate", *files], work)
        warm = [_time([DMC, "validate", *files], work) for _ in range(5)]
        (work / files[0]).write_text((work / files[0]).read_text() + "\n# touched\n")
        one_changed = _time([DMC, "validate", *files], work)
    warm.sort()
    result = {
        "command": f"{DMC} validate <{N_FILES} files of {PACKAGE} {version(PACKAGE)}>",
        "files": N_FILES,
        "usual_way_s": {k: round(v, 3) for k, v in usual.items()},
        "usual_way_total_s": round(sum(usual.values()), 3),
        "dmc_cold_s": round(cold, 3),
        "dmc_warm_median_s": round(warm[len(warm) // 2], 3),
        "dmc_one_file_changed_s": round(one_changed, 3),
        "goals": {"cold_s": 3.0, "warm_s": 0.3},
        "tools": {t: version(t) for t in ("pylint", "bandit", "mypy")},
    }
    path = write("validate", result)
    print(f"validate: cold {result['dmc_cold_s']}s, warm {result['dmc_warm_median_s']}s, one "
          f"changed {result['dmc_one_file_changed_s']}s; usual way "
          f"{result['usual_way_total_s']}s -> {path}")
    return result


if __name__ == "__main__":
    main()
