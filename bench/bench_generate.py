"""Benchmark the agent's overhead, on one model file, in one run: raw backend tokens/s
(llama.cpp in-process) next to tokens/s through the agent (the same model behind
``dmc agent serve`` on 127.0.0.1, timed at the client from sending the request to the
``validating`` event, which comes when the answer is complete).

Quality (pass rates, the lift of refinement) is measured on MBPP by ``bench_mbpp.py``; the
fifteen hand-written tasks that used to live here were too few to tell anything apart.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.common import write  # noqa: E402
from dmc.generate.backends import LlamaCppBackend  # noqa: E402
from dmc.generate.prompt import initial_messages  # noqa: E402
from dmc.models import assemble  # noqa: E402
from tests.support.servers import AgentProcess  # noqa: E402

MODEL = os.environ.get("DMC_BENCH_MODEL", "qwen2.5-coder-0.5b")
CTX = 4096


def payload(request: str, max_iterations: int, max_tokens: int = 300) -> dict[str, Any]:
    p = {
        "request_id": f"bench-{abs(hash(request)) % 10**8}", "timestamp": "2026-11-26T00:00:00",
        "task": {"type": "feature_implementation", "language": "python",
                 "description": request + ". Put it in solution.py.",
                 "target_files": ["solution.py"]},
        "context": {}, "requirements": {}, "style": {},
        "quality_criteria": {"max_complexity": 10, "security_scan": True, "type_check": True},
        "generation": {"max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0,
                       "max_iterations": max_iterations, "generated_tests": False},
    }
    return p


def throughput(backend: LlamaCppBackend, model_path: Path) -> dict[str, Any]:
    request = "write a python module with functions to parse, validate and format dates"
    p = payload(request, 1, 256)
    messages = initial_messages(p)
    backend.chat(messages, max_tokens=16, temperature=0.0, top_p=1.0)  # load and warm up
    raw = []
    for _ in range(3):
        r = backend.chat(messages, max_tokens=256, temperature=0.0, top_p=1.0)
        raw.append((r.completion_tokens, r.seconds))
    token = "bench-token"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMC_")}
    env["DMC_AGENT_TOKEN"] = token
    agent = AgentProcess("--backend", "llamacpp", "--model", str(model_path), "--set",
                         f"generation.context_window={CTX}", env=env)
    via = []
    try:
        agent.wait()
        headers = {"authorization": f"Bearer {token}"}
        body = orjson.dumps(p)
        with httpx.stream("POST", f"{agent.url}/v1/generate", content=body, headers=headers,
                          timeout=300) as resp:  # warm-up: loads the model in the agent
            for _ in resp.iter_lines():
                pass
        for _ in range(3):
            start = time.perf_counter()
            tokens = None
            with httpx.stream("POST", f"{agent.url}/v1/generate", content=body,
                              headers=headers, timeout=300) as resp:
                elapsed = None
                for line in resp.iter_lines():
                    event = orjson.loads(line)
                    # the answer is complete when validation starts: stop the clock there
                    if event.get("event") == "validating" and elapsed is None:
                        elapsed = time.perf_counter() - start
                    if event.get("event") == "iteration" and tokens is None:
                        tokens = event["tokens"]
            assert elapsed is not None, "the agent never reported validating"
            via.append((tokens or 0, elapsed))
    finally:
        agent.stop()
    raw_tps = statistics.median(t / s for t, s in raw)
    via_tps = statistics.median(t / s for t, s in via)
    return {"prompt": request, "max_tokens": 256, "runs": 3,
            "raw_tokens_per_s": round(raw_tps, 2), "agent_tokens_per_s": round(via_tps, 2),
            "overhead_percent": round((raw_tps - via_tps) / raw_tps * 100, 1),
            "raw_runs": raw, "agent_runs": via,
            "note": "agent time runs from sending the request to the 'validating' event at "
                    "the client: HTTP, schema check, queueing, prompt processing, generation "
                    "and streaming included; validation excluded"}


def main() -> dict[str, Any]:
    model_path = assemble(MODEL)
    backend = LlamaCppBackend(model_path, n_ctx=CTX, name=MODEL)
    result = {"model": MODEL, "model_file": model_path.name, "throughput":
              throughput(backend, model_path)}
    path = write("generate", result)
    t = result["throughput"]
    print(f"generate: raw {t['raw_tokens_per_s']} tok/s, via agent {t['agent_tokens_per_s']} "
          f"tok/s (overhead {t['overhead_percent']}%) -> {path}")
    return result


if __name__ == "__main__":
    main()
