"""MBPP through ``dmc generate`` beside the raw model with one plain prompt, in one run.

The protocol (the same text for both): the task's one-sentence request, then its first
``assert`` as an example of the call ("Your code should pass this test: ..."), which fixes the
function's name and argument order. The remaining asserts are hidden from both and used only
to score; a task passes when every one of its asserts passes (the shown one included).

- **raw**: the request as the only user message, greedy, up to ``RAW_MAX_TOKENS`` tokens; the
  code is the first fenced block of the answer (the whole answer when there is none). This is
  what a user gets from the same model with one plain prompt.
- **dmc**: the request through the laptop stages as ``dmc run`` calls them (intent, extract,
  optimize; no repository, as ``dmc generate`` in an empty folder) and ``generate()`` with the
  configuration defaults (guards, acceptance checks from the request, refinement, budgets).
  ``first`` is the code of the first pass, ``final`` what the user receives.

Which tasks: MBPP's own split, kept inside the sanitized file — task ids 11-510 are its test
split (257 tasks here), the rest (1-10 prompt, 511-600 validation, 601+ train; 170 tasks)
are the development split. dmc's settings were chosen on ``--split dev`` only; ``--split
test`` is reported once, after choosing, and never looked at to tune anything. A third
column scores the raw answer with only its definitions (imports, functions, classes,
assignments), as a user copying the function would: a raw answer's demo code or own
asserts should not count against the model.

Usage: ``bench_mbpp.py [--split dev|test] [--model M]... [--limit N] [--stride N]``.
``make bench`` runs 20 tasks of each split for both packaged models.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from bench.common import ROOT, write  # noqa: E402

DATA = ROOT / "data" / "mbpp-sanitized.jsonl"
RAW_MAX_TOKENS = 1024
CTX = 4096
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:\n```|\Z)", re.S)


def in_split(task_id: int, split: str) -> bool:
    """MBPP's split by task id: test 11-510; dev = prompt 1-10, validation and train."""
    is_test = 11 <= task_id <= 510
    return is_test if split == "test" else not is_test


def load_tasks(limit: int, offset: int, stride: int, split: str = "dev") -> list[dict[str, Any]]:
    """Tasks of one split, every ``stride``-th from ``offset``, at most ``limit``."""
    rows = [orjson.loads(line) for line in DATA.read_bytes().splitlines() if line.strip()]
    rows = [r for r in rows if in_split(int(r["task_id"]), split)]
    return rows[offset::stride][:limit]


def request_of(task: dict[str, Any]) -> str:
    """What the user types: the request and the first assert as an example."""
    return f"{task['text']}\nYour code should pass this test:\n{task['test_list'][0]}"


def score(code: str, task: dict[str, Any], timeout: float = 10.0) -> bool:
    """Every assert of the task (the shown one included) passes against ``code``."""
    program = "\n".join([code, task.get("test_setup_code") or "", *task["test_list"]]) + "\n"

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    with tempfile.TemporaryDirectory(prefix="dmc-mbpp-") as tmp:
        path = Path(tmp, "check.py")
        path.write_text(program, encoding="utf-8")
        try:
            proc = subprocess.run([sys.executable, str(path)], cwd=tmp, capture_output=True,
                                  timeout=timeout, preexec_fn=limits,  # noqa: PLW1509
                                  stdin=subprocess.DEVNULL,
                                  env={"PATH": "/usr/bin:/bin", "HOME": tmp})
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0


def definitions_only(code: str) -> str:
    """Imports, functions, classes and assignments of ``code``: what a user copies."""
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
            ast.Assign, ast.AnnAssign)
    return "\n\n".join(ast.get_source_segment(code, n) or "" for n in tree.body
                        if isinstance(n, keep)) + "\n"


def raw_code(answer: str) -> str:
    """The first fenced block of a plain answer, else the answer."""
    m = _FENCE.search(answer)
    return m.group(1) if m else answer


def laptop_payload(text: str, cfg: Any) -> dict[str, Any]:
    """The payload ``dmc intent | dmc extract | dmc optimize`` builds outside a repository."""
    from dmc.commands.optimize import options_from

    from dmc.contract import new_document
    from dmc.extract import analyze as extract
    from dmc.intent import analyze as intent
    from dmc.optimize import optimize
    from dmc.tokens import model_counter

    doc = new_document(text, None)
    doc, _ = intent(doc, min_confidence=cfg.get("preprocessing.min_confidence"))
    doc, _ = extract(doc, repo=None)
    count, name = model_counter(cfg.get("models.generation"), cfg.get("optimize.token_counter"))
    doc, _ = optimize(doc, options_from(cfg), count, name)
    payload = dict(doc["payload"])
    # what `dmc generate` adds from this machine's configuration (with_generation_settings)
    payload["generation"] = {**payload["generation"],
                             "max_iterations": cfg.get("validation.max_iterations"),
                             "samples": cfg.get("generation.samples"),
                             "refine_samples": cfg.get("generation.refine_samples"),
                             "sample_temperature": cfg.get("generation.sample_temperature"),
                             "time_budget_s": cfg.get("generation.time_budget_s"),
                             "generated_tests": cfg.get("generation.generated_tests")}
    return payload


def run_model(model: str, tasks: list[dict[str, Any]],
              partial: Any = None) -> dict[str, Any]:
    """Raw and dmc on every task with one loaded model."""
    from dmc.config import load
    from dmc.generate import generate

    overrides: dict[str, Any] = {"models.generation": model, "generation.context_window": CTX,
                                 "generation.backend": "llamacpp"}
    budget = os.environ.get("DMC_BENCH_TIME_BUDGET")
    if budget:  # development runs on a loaded machine: rates without the clock's say
        overrides["generation.time_budget_s"] = float(budget)
    cfg = load(repo=None, overrides=overrides)
    backend = loaded_backend(model, cfg)
    rows = []
    settings: dict[str, Any] = {}
    for task in tasks:
        text = request_of(task)
        start = time.perf_counter()
        raw = backend.chat([{"role": "user", "content": text}], max_tokens=RAW_MAX_TOKENS,
                           temperature=0.0, top_p=1.0)
        raw_s = time.perf_counter() - start
        code = raw_code(raw.text)
        row: dict[str, Any] = {
            "task_id": task["task_id"], "raw_pass": score(code, task),
            "raw_definitions_pass": score(definitions_only(code), task),
            "raw_seconds": round(raw_s, 3), "raw_tokens": raw.completion_tokens,
            "raw_hit_limit": raw.completion_tokens >= RAW_MAX_TOKENS,
            "raw_fence_in_code": "```" in code}
        events: list[dict[str, Any]] = []
        answers: list[str] = []
        start = time.perf_counter()
        payload = laptop_payload(text, cfg)
        settings = ran_with(payload, cfg)
        result = generate(payload, _Recording(backend, answers), on_event=events.append)
        dmc_s = time.perf_counter() - start
        passes = result["metadata"]["iterations"]
        first_code = _first_pass_code(events, result, answers, payload)
        final_code = result["code"]
        row.update({
            "dmc_first_pass": score(first_code, task) if first_code else False,
            "dmc_final_pass": score(final_code, task) if final_code else False,
            "dmc_status": result["status"], "dmc_seconds": round(dmc_s, 3),
            "dmc_tokens": result["metadata"]["tokens_generated"],
            "dmc_passes": len(passes),
            "dmc_max_answer_tokens": max((p.get("tokens", 0) for p in passes), default=0),
            "dmc_degenerate": sum(1 for p in passes if p.get("finish_reason") == "repetition"),
            "dmc_fence_in_code": "```" in final_code or "~~~" in final_code,
            "dmc_checks": [(p.get("checks") or {}).get("passed") for p in passes],
            "dmc_finish": [p.get("finish_reason") for p in passes],
            "dmc_reason": result.get("reason"),
            "dmc_failure": next((f["message"][:160] for f in
                                 (result.get("checks") or {}).get("failures") or []), None),
        })
        rows.append(row)
        if partial is not None:  # a long run leaves what it has measured so far
            partial(summarise(model, rows, settings))
        print(f"  {model} task {task['task_id']}: raw {row['raw_pass']} dmc first "
              f"{row['dmc_first_pass']} final {row['dmc_final_pass']} "
              f"({row['raw_seconds']:.1f} s / {row['dmc_seconds']:.1f} s)", file=sys.stderr)
    return summarise(model, rows, settings)


def ran_with(payload: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """The generation settings dmc ran with: the payload's and the backend's guard options.

    Recorded in the results so that a figure says what produced it, code defaults included
    (an environment override list misses a default changed in the code).
    """
    return {**payload.get("generation", {}), **_guard_options(cfg)}


def loaded_backend(model: str, cfg: Any) -> Any:
    """The packaged model through llama.cpp, its weights loaded outside the timings."""
    from dmc.generate.backends import make_backend

    backend = make_backend(kind="llamacpp", server=None, model=model, timeout=600,
                           connect_timeout=5, context_window=CTX,
                           **_guard_options(cfg))
    threads = os.environ.get("DMC_BENCH_THREADS")
    if threads:  # on a shared machine one thread avoids llama.cpp's spin-waiting collapse
        backend.n_threads = int(threads)  # type: ignore[attr-defined]
    backend.chat([{"role": "user", "content": "hi"}], max_tokens=1, temperature=0.0,
                 top_p=1.0)
    return backend


class _Recording:
    """The backend, keeping each answer's text (to score an older dmc's first pass)."""

    def __init__(self, backend: Any, answers: list[str]) -> None:
        self._backend = backend
        self._answers = answers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def chat(self, *args: Any, **kwargs: Any) -> Any:
        result = self._backend.chat(*args, **kwargs)
        self._answers.append(result.text)
        return result


def _guard_options(cfg: Any) -> dict[str, Any]:
    """Backend options the configuration sets (absent in older versions of dmc)."""
    import inspect

    from dmc.generate.backends import make_backend

    params = inspect.signature(make_backend).parameters
    out: dict[str, Any] = {}
    for key, setting in (("repeat_penalty", "generation.repeat_penalty"),
                         ("frequency_penalty", "generation.frequency_penalty")):
        if key in params:
            out[key] = cfg.get(setting)
    return out


def _first_pass_code(events: list[dict[str, Any]], result: dict[str, Any],
                     answers: list[str], payload: dict[str, Any]) -> str:
    """The code the first pass produced (from its event; older dmc: from its answer)."""
    for e in events:
        if e.get("event") == "iteration" and e.get("files") is not None:
            files = e["files"]
            return str(files[0]["code"]) if files else ""
    if len(result["metadata"]["iterations"]) == 1:
        return str(result["code"])
    if answers:
        from dmc.generate.code import extract_files

        task = payload["task"]
        files = extract_files(answers[0], language=task.get("language"),
                              target_files=task.get("target_files"))
        return files[0].code if files else ""
    return ""


def summarise(model: str, rows: list[dict[str, Any]],
              settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rates, times and tokens, raw beside dmc, and the settings dmc ran with."""
    n = len(rows)

    def rate(key: str) -> float:
        return round(sum(bool(r[key]) for r in rows) / n, 3) if n else 0.0

    def dist(key: str) -> dict[str, float]:
        values = sorted(float(r[key]) for r in rows)
        if not values:
            return {"median": 0.0, "p95": 0.0}
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        return {"median": round(statistics.median(values), 3), "p95": round(p95, 3)}

    return {
        "model": model, "tasks": n, "dmc_settings": settings or {},
        "raw_max_tokens": RAW_MAX_TOKENS,
        "raw_pass_rate": rate("raw_pass"),
        "raw_definitions_pass_rate": rate("raw_definitions_pass"),
        "dmc_first_pass_rate": rate("dmc_first_pass"),
        "dmc_final_pass_rate": rate("dmc_final_pass"),
        "lift_over_raw_points": round((rate("dmc_final_pass") - rate("raw_pass")) * 100, 1),
        "raw_seconds": dist("raw_seconds"), "dmc_seconds": dist("dmc_seconds"),
        "raw_tokens": dist("raw_tokens"), "dmc_tokens": dist("dmc_tokens"),
        "dmc_max_answer_tokens": max((r["dmc_max_answer_tokens"] for r in rows), default=0),
        "raw_hit_token_limit": sum(r["raw_hit_limit"] for r in rows),
        "dmc_degenerate_stops": sum(r["dmc_degenerate"] for r in rows),
        "raw_fence_in_code": sum(r["raw_fence_in_code"] for r in rows),
        "dmc_fence_in_code": sum(r["dmc_fence_in_code"] for r in rows),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", action="append", help="packaged model (repeatable)")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--stride", type=int, default=None,
                        help="every Nth task (default: 20 spread over the split)")
    parser.add_argument("--name", default=None, help="results file (default mbpp-SPLIT)")
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--ids", help="comma-separated task ids (instead of the subset)")
    parser.add_argument("--note", help="what the run is for (shown in RESULTS.md); say how "
                                       "--ids were chosen")
    args = parser.parse_args(argv)
    models = args.model or ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    size = len(load_tasks(10_000, 0, 1, args.split))
    stride = args.stride or max(1, size // max(args.limit, 1))
    args.stride = stride
    tasks = load_tasks(args.limit, args.offset, stride, args.split)
    if args.ids:
        wanted = {int(i) for i in args.ids.split(",")}
        tasks = [t for t in load_tasks(10_000, 0, 1, args.split) if t["task_id"] in wanted]
    os.environ.setdefault("DMC_QUIET", "1")
    results: dict[str, Any] = {}
    name = args.name or f"mbpp-{args.split}"

    def document(complete: bool) -> dict[str, Any]:
        return {
            "complete": complete,
            "protocol": "request + first assert shown; all asserts scored; temperature 0 for "
                        "raw, dmc with its configuration defaults",
            "split": args.split,
            "subset": ({"ids": True} if args.ids else
                       {"offset": args.offset, "stride": args.stride, "limit": args.limit})
            | {"task_ids": [t["task_id"] for t in tasks]},
            **({"note": args.note} if args.note else {}),
            "data": "data/mbpp-sanitized.jsonl; MBPP's own split: test = ids 11-510, dev = "
                    "the others; settings chosen on dev only",
            "overrides": {k: v for k, v in os.environ.items() if k.startswith(
                ("DMC_BENCH_", "DMC_GENERATION__", "DMC_VALIDATION__"))},
            "models": results}

    def keep(model: str, summary: dict[str, Any]) -> None:
        results[model] = summary
        write(name, document(False))

    for m in models:
        results[m] = run_model(m, tasks, partial=lambda r, m=m: keep(m, r))
    out = document(True)
    path = write(name, out)
    for m, r in results.items():
        print(f"mbpp {m}: raw {r['raw_pass_rate']}, dmc first {r['dmc_first_pass_rate']}, "
              f"final {r['dmc_final_pass_rate']} ({r['tasks']} tasks); median s raw "
              f"{r['raw_seconds']['median']} dmc {r['dmc_seconds']['median']} -> {path}")
    return out


if __name__ == "__main__":
    main()
