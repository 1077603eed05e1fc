"""``make stress``: the reliability suite with large budgets, and a summary we can quote.

Runs the fuzzing, attack-surface, load and fault tests with DMC_FUZZ_EXAMPLES and
DMC_STRESS_ROUNDS raised (bounded: loopback only, fixed counts), then writes
bench/results/stress.json: inputs tried, crashes found, requests sent/answered/lost,
faults injected and recovered from, and the agent's memory over the load rounds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write  # noqa: E402

FUZZ_EXAMPLES = int(os.environ.get("DMC_FUZZ_EXAMPLES", "150"))
ROUNDS = int(os.environ.get("DMC_STRESS_ROUNDS", "4"))
FAULT_TESTS = [
    "tests/test_agent.py::test_backend_killed_mid_generation",
    "tests/test_agent.py::test_agent_down_exits_3_after_retries",
    "tests/test_agent_security.py::test_read_timeout_when_the_backend_hangs",
    "tests/test_agent_security.py::test_client_retries_until_the_agent_restarts",
    "tests/test_rag.py::test_interrupted_index_recovers",
    "tests/test_rag.py::test_disk_full_during_indexing_keeps_the_index_consistent",
    "tests/test_rag.py::test_server_mode_against_chroma_run",
    "tests/test_style.py::test_kill_9_while_learning_leaves_a_consistent_profile",
    "tests/test_validate.py::test_damaged_cache_is_rebuilt",
    "tests/test_rag.py::test_damaged_index_is_a_clear_error_and_rebuild_fixes_it",
]


def pytest(args: list[str], env: dict[str, str]) -> tuple[int, int, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", tail)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", tail)) else 0
    if failed:
        print(proc.stdout[-3000:])
    return passed, failed, time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dmc-stress-") as reports:
        env = dict(os.environ, DMC_FUZZ_EXAMPLES=str(FUZZ_EXAMPLES),
                   DMC_STRESS_ROUNDS=str(ROUNDS), DMC_STRESS_REPORT_DIR=reports)
        fuzz = pytest(["tests/test_fuzz.py",
                       "tests/test_agent_security.py::test_openapi_schema_fuzzing_finds_no_"
                       "server_errors"], env)
        attack = pytest(["tests/test_agent_security.py", "-k", "not load and not openapi"],
                        env)
        load = pytest(["tests/test_agent_security.py::test_load_every_request_gets_exactly_"
                       "one_answer"], env)
        faults = pytest(FAULT_TESTS, env)
        load_report = Path(reports, "load.json")
        load_data = json.loads(load_report.read_text()) if load_report.exists() else {}
    answers = load_data.get("answers", {})
    commands = 7
    summary = {
        "fuzz": {"commands": commands, "examples_per_command": FUZZ_EXAMPLES,
                 "inputs_tried": commands * FUZZ_EXAMPLES + FUZZ_EXAMPLES * 4,
                 "tests_passed": fuzz[0], "crashes_found": fuzz[1],
                 "seconds": round(fuzz[2], 1)},
        "attack_surface": {"passed": attack[0], "failed": attack[1]},
        "load": {"clients": load_data.get("clients"), "rounds": load_data.get("rounds"),
                 "requests_sent": (load_data.get("clients") or 0) * (load_data.get("rounds")
                                                                     or 0),
                 "last_round": {"answered_result": sum(v == "result" for v in answers.values()),
                                "answered_busy": sum(v == "busy" for v in answers.values()),
                                "lost": sum(v not in ("result", "busy")
                                            for v in answers.values())},
                 "agent_rss_kib": {"after_first_round": load_data.get(
                     "rss_after_first_round_kib"), "end": load_data.get("rss_end_kib")},
                 "passed": load[0] == 1, "seconds": round(load[2], 1)},
        "faults": {"injected": len(FAULT_TESTS), "recovered": faults[0],
                   "failed": faults[1]},
    }
    path = write("stress", summary)
    print(json.dumps(summary, indent=2))
    print(f"-> {path}")
    if fuzz[1] or attack[1] or load[1] or faults[1]:
        sys.exit(1)


if __name__ == "__main__":
    main()
