"""Benchmark ``dmc run`` end to end on the embedded defaults, split by stage, for a simple
request against a small real project (indexed first)."""

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

PROJECT = {
    "textutil/__init__.py": '"""Text helpers."""\n',
    "textutil/words.py": ('"""Word helpers."""\n\n\ndef count_words(text: str) -> int:\n'
                          '    """How many whitespace-separated words text has."""\n'
                          "    return len(text.split())\n"),
    "README.md": "# textutil\n\nSmall text helpers.\n",
}
REQUEST = "add a function count_lines(text) to textutil/words.py"


def main() -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="dmc-bench-run-") as tmp:
        repo = Path(tmp)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        for rel, text in PROJECT.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        subprocess.run([DMC, "index"], cwd=repo, check=True, capture_output=True)
        for _ in range(3):
            start = time.perf_counter()
            proc = subprocess.run([DMC, "run", "--json", "--set", "generation.max_tokens=256",
                                   REQUEST], cwd=repo, capture_output=True)
            wall = time.perf_counter() - start
            doc = orjson.loads(proc.stdout)
            runs.append({"wall_s": round(wall, 2), "timings": doc["run"]["timings"],
                         "passes": doc.get("result", {}).get("validation", {}).get(
                             "iterations"),
                         "tokens": doc.get("result", {}).get("metadata", {}).get(
                             "tokens_generated")})
    stages = runs[0]["timings"].keys()
    median = {s: round(statistics.median(r["timings"][s] for r in runs), 2) for s in stages}
    result = {"request": REQUEST, "model": "qwen2.5-coder-0.5b (embedded, llama.cpp)",
              "median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
              "median_stage_s": median, "dominant_stage": max(median, key=median.get),
              "runs": runs, "goal_s": "10-15"}
    path = write("run", result)
    print(f"run: {result['median_wall_s']} s, by stage {median} -> {path}")
    return result


if __name__ == "__main__":
    main()
