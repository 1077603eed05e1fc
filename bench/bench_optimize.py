"""Benchmark ``dmc optimize`` on a document with 50 retrieved chunks (both token counters),
and style learning throughput on a real package."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from bench.common import DMC, write  # noqa: E402
from tests.test_optimize import doc_with, real_chunks  # noqa: E402


def main() -> dict[str, Any]:
    doc = orjson.dumps(doc_with(real_chunks(50)))
    rows = []
    for counter in ("bytes", "model"):
        times = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run([DMC, "optimize", "--set", f"optimize.token_counter={counter}"],
                           input=doc, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        rows.append({"chunks": 50, "counter": counter,
                     "median_s": round(statistics.median(times), 3)})
    import starlette

    package = Path(starlette.__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "init", "-q", tmp], check=True)
        start = time.perf_counter()
        out = subprocess.run([DMC, "style", "learn", str(package)], cwd=tmp,
                             capture_output=True, check=True)
        wall = time.perf_counter() - start
    learned = orjson.loads(out.stdout)["style"]
    style = {"package": f"starlette ({package})", "files": learned["learned"],
             "files_per_s": round(learned["learned"] / wall, 1), "wall_s": round(wall, 3)}
    result = {"optimize": rows, "style": style}
    path = write("optimize", result)
    print(f"optimize: {rows}; style {style['files_per_s']} files/s -> {path}")
    return result


if __name__ == "__main__":
    main()
