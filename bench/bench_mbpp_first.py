"""The first answer only, under several settings, on MBPP's development split.

Why: on MBPP's test slices the 0.5B's dmc first pass came out below the raw model's one plain
prompt on one slice (0.40 vs 0.525) while dmc's refinement lifted the final rate. Before
changing the first pass, this measures on the development split which of its differences
from the raw call cost quality: sampling at ``generation.temperature`` (0.2) instead of
greedy, and the prompt's extra sections (security, documentation, quality bullets and the
system prompt). Each variant is one pass of ``generate()`` (guard, extraction, the shown
example as a check), scored with every assert of the task as :mod:`bench.bench_mbpp` does.

Variants (every task, one loaded model, the raw answer as the baseline in the same run):

- ``raw``: the request as the only user message, greedy (bench_mbpp's raw column);
- ``dmc_t02``: dmc's first answer as configured before this benchmark (temperature 0.2);
- ``dmc_t0``: the same prompt, greedy;
- ``dmc_lean_t0``: greedy, without the security/documentation/quality sections (the quality
  section comes from the payload's criteria, so this variant also validates without the
  complexity limit and the security scan);
- ``dmc_t0_samples``: greedy first answer, then up to three more at the sample temperature
  while the shown example fails (the first pass as ``generation.samples`` draws it).
- ``dmc_approach_t02``: temperature 0.2, the prompt asking for a sentence or two on how the
  code will work before the block, and a system prompt without "code only" (the raw answers
  start that way; see ``APPROACH_FORMAT``).

Times are not comparable between variants: they run in a fixed order on one loaded model,
and llama.cpp reuses the cached prompt prefix of the variant before (the same prompt for all
but ``raw``), so the first dmc variant pays for the prompt and the next ones mostly do not.
The same reuse can change a greedy answer slightly (batched evaluation), so two greedy
variants on one prompt may differ.

Development data only: settings are chosen here, and the test split is reported once by
``bench_mbpp.py --split test`` afterwards.

Usage: ``bench_mbpp_first.py [--model M] [--limit N] [--offset N] [--stride N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from bench.bench_mbpp import (  # noqa: E402
    CTX,
    RAW_MAX_TOKENS,
    laptop_payload,
    load_tasks,
    loaded_backend,
    raw_code,
    request_of,
    score,
)
from bench.common import RESULTS, write  # noqa: E402

VARIANTS = ("dmc_t02", "dmc_t0", "dmc_lean_t0", "dmc_t0_samples", "dmc_approach_t02")
# dmc_approach_t02: the raw answers start with a sentence on how the code will work, then
# the code; dmc's prompt asks for code only. This variant lets the model say its approach
# first (dropped with everything outside the block; the guard still stops at the block's end)
APPROACH_SYSTEM = ("You are a careful senior software engineer. Write complete, working, "
                   "secure code that follows the project's style.")
APPROACH_FORMAT = ("First say in one or two sentences how the code will work. Then answer "
                   "with one fenced code block holding the complete code, tagged with its "
                   "language. No tests or usage examples.")


def variant_payload(payload: dict[str, Any], variant: str) -> dict[str, Any]:
    """The payload of one variant: one pass, its temperature, its prompt sections."""
    p = copy.deepcopy(payload)
    gen = p["generation"]
    gen.update({"max_iterations": 1, "samples": 1, "generated_tests": False})
    gen["temperature"] = 0.2 if variant.endswith("_t02") else 0.0
    if variant == "dmc_t0_samples":
        gen["samples"] = 4
    if variant == "dmc_lean_t0":
        reqs = p.get("requirements") or {}
        for key in ("security", "documentation", "constraints"):
            reqs.pop(key, None)
        p["quality_criteria"] = {**(p.get("quality_criteria") or {}), "max_complexity": None,
                                 "security_scan": False}
    return p


@contextlib.contextmanager
def prompt_of(variant: str) -> Iterator[None]:
    """The prompt texts of one variant, put back afterwards."""
    from dmc.generate import prompt

    saved = prompt.SYSTEM, prompt.SINGLE_FORMAT
    if variant.startswith("dmc_approach"):
        prompt.SYSTEM, prompt.SINGLE_FORMAT = APPROACH_SYSTEM, APPROACH_FORMAT
    try:
        yield
    finally:
        prompt.SYSTEM, prompt.SINGLE_FORMAT = saved


def run(model: str, tasks: list[dict[str, Any]], name: str,
        variants: tuple[str, ...] = VARIANTS, keep_code: bool = False) -> dict[str, Any]:
    """Every variant on every task with one loaded model; results written as they come."""
    from dmc.config import load
    from dmc.generate import generate

    cfg = load(repo=None, overrides={"models.generation": model,
                                     "generation.context_window": CTX,
                                     "generation.backend": "llamacpp"})
    backend = loaded_backend(model, cfg)
    rows: list[dict[str, Any]] = []
    for task in tasks:
        text = request_of(task)
        start = time.perf_counter()
        raw = backend.chat([{"role": "user", "content": text}], max_tokens=RAW_MAX_TOKENS,
                           temperature=0.0, top_p=1.0)
        code = raw_code(raw.text)
        row: dict[str, Any] = {"task_id": task["task_id"], "raw": score(code, task),
                               "raw_seconds": round(time.perf_counter() - start, 2),
                               "raw_tokens": raw.completion_tokens}
        if keep_code:  # to read why one side failed (development data only)
            row["raw_answer"] = raw.text
        payload = laptop_payload(text, cfg)
        for variant in variants:
            start = time.perf_counter()
            with prompt_of(variant):
                result = generate(variant_payload(payload, variant), backend)
            row[variant] = bool(result["code"]) and score(result["code"], task)
            row[f"{variant}_seconds"] = round(time.perf_counter() - start, 2)
            row[f"{variant}_tokens"] = result["metadata"]["tokens_generated"]
            if keep_code:
                row[f"{variant}_code"] = result["code"]
                row[f"{variant}_finish"] = [p.get("finish_reason") for p in
                                            result["metadata"]["iterations"]]
            row[f"{variant}_shown_passed"] = \
                result["checks"].get("passed", 0) == result["checks"].get("run", -1)
        rows.append(row)
        write(name, document(model, tasks, rows, complete=False, variants=variants))
        print(f"  task {task['task_id']}: " + " ".join(
            f"{k}={int(row[k])}" for k in ("raw", *variants)), file=sys.stderr)
    out = document(model, tasks, rows, complete=True, variants=variants)
    write(name, out)
    return out


def document(model: str, tasks: list[dict[str, Any]], rows: list[dict[str, Any]],
             complete: bool, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    """The results file: rates per variant, each beside the raw baseline of the same run."""
    n = len(rows) or 1
    passed = {v: sum(bool(r[v]) for r in rows) for v in ("raw", *variants)}
    rates = {v: round(k / n, 3) for v, k in passed.items()}
    return {"complete": complete, "model": model, "split": "dev",
            "task_ids": [t["task_id"] for t in tasks], "tasks_done": len(rows),
            "passed": passed, "pass_rate": rates,
            "points_over_raw": {v: round((passed[v] - passed["raw"]) * 100 / n, 1)
                                for v in variants},
            "protocol": "first pass only (one pass of generate(), no refinement); "
                        "request + first assert shown; all asserts scored; seconds not "
                        "comparable between variants (fixed order, prompt-prefix cache)",
            "rows": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--offset", type=int, default=1)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--variant", action="append", choices=VARIANTS,
                        help="variants to run (repeatable; default all)")
    parser.add_argument("--keep-code", action="store_true",
                        help="store every answer's code in the rows (to read failures)")
    parser.add_argument("--name", default=None, help="results file name")
    parser.add_argument("--skip-done", metavar="NAME",
                        help="leave out the tasks of results/NAME.json (a second, disjoint run)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DMC_QUIET", "1")
    tasks = load_tasks(args.limit, args.offset, args.stride, "dev")
    if args.skip_done:
        done = set(orjson.loads((RESULTS / f"{args.skip_done}.json").read_bytes())["task_ids"])
        tasks = [t for t in tasks if t["task_id"] not in done]
    name = args.name or f"mbpp-first-dev-{args.model.rsplit('-', 1)[-1]}"
    out = run(args.model, tasks, name, tuple(args.variant or VARIANTS), args.keep_code)
    print(f"{args.model} first pass on {len(tasks)} dev tasks: {out['pass_rate']}",
          file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
