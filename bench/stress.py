"""``make stress``: the reliability suite with large budgets, and a summary we can quote.

Runs the fuzzing, attack-surface, load and fault tests with DMC_FUZZ_EXAMPLES and
DMC_STRESS_ROUNDS raised (bounded: loopback only, fixed counts), then writes
bench/results/stress.json. Every figure is counted from what ran, never computed from the
settings: pytest's JUnit report gives the tests that passed, failed, errored or were
skipped; the tests themselves report the inputs they ran (hypothesis' shrinking included)
and every request of the load test with its answer. Any failure, error, skip or missing
report makes the run fail (exit 1): a fixture that breaks is not "0 crashes".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # noqa: S405 - our own pytest's report
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write  # noqa: E402

FUZZ_EXAMPLES = int(os.environ.get("DMC_FUZZ_EXAMPLES", "150"))
ROUNDS = int(os.environ.get("DMC_STRESS_ROUNDS", "4"))
FUZZ_TESTS = ["tests/test_fuzz.py",
              "tests/test_agent_security.py::test_openapi_schema_fuzzing_finds_no_server_errors",
              # the laptop service's API, as the agent's
              "tests/test_service.py::test_openapi_schema_fuzzing_finds_no_server_errors"]
LOAD_TEST = "tests/test_agent_security.py::test_load_every_request_gets_exactly_one_answer"
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


def pytest(name: str, args: list[str], env: dict[str, str], reports: Path) -> dict[str, Any]:
    """Run one group of tests; what ran, counted from pytest's JUnit XML report."""
    junit = reports / f"{name}.xml"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={junit}", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    counts: dict[str, Any] = {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    if junit.is_file():
        for suite in ET.parse(junit).getroot().iter("testsuite"):  # noqa: S314 - ours
            tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in
                                                ("tests", "failures", "errors", "skipped"))
            counts["tests"] += tests
            counts["failed"] += failures
            counts["errors"] += errors
            counts["skipped"] += skipped
            counts["passed"] += tests - failures - errors - skipped
    counts["exit_status"] = proc.returncode
    counts["seconds"] = round(time.perf_counter() - start, 1)
    counts["ok"] = (proc.returncode == 0 and counts["tests"] > 0
                    and counts["passed"] == counts["tests"])
    if not counts["ok"]:
        print(f"--- {name}: {counts}\n{proc.stdout[-3000:]}{proc.stderr[-1500:]}")
    return counts


def read_report(reports: Path, name: str) -> dict[str, Any] | None:
    path = reports / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dmc-stress-") as tmp:
        reports = Path(tmp)
        env = dict(os.environ, DMC_FUZZ_EXAMPLES=str(FUZZ_EXAMPLES),
                   DMC_STRESS_ROUNDS=str(ROUNDS), DMC_STRESS_REPORT_DIR=str(reports))
        fuzz = pytest("fuzz", FUZZ_TESTS, env, reports)
        attack = pytest("attack", ["tests/test_agent_security.py", "-k",
                                   "not load and not openapi"], env, reports)
        # the laptop service's guards: Host, Origin, cross-site, JSON only, size, tokens,
        # per-request settings, and the agent's attack cases
        service_attack = pytest("attack-service", [
            "tests/test_service.py", "-k",
            "guards or token or redirect or bypass or chunked or slow_clients"], env, reports)
        load = pytest("load", [LOAD_TEST], env, reports)
        faults = pytest("faults", FAULT_TESTS, env, reports)
        inputs = {p.stem.removeprefix("fuzz-"): json.loads(p.read_text())["inputs"]
                  for p in sorted(reports.glob("fuzz-*.json"))}
        load_data = read_report(reports, "load") or {}
    totals: dict[str, int] = load_data.get("totals") or {}
    last = load_data.get("answers") or {}
    summary: dict[str, Any] = {
        "fuzz": {"examples_per_command_budget": FUZZ_EXAMPLES,
                 "inputs_run": sum(inputs.values()), "inputs_run_by_target": inputs,
                 "tests": fuzz, "crashes_found": fuzz["failed"] + fuzz["errors"]},
        "attack_surface": attack,
        "service_attack_surface": service_attack,
        "load": {"clients": load_data.get("clients"), "rounds": load_data.get("rounds"),
                 "requests_sent": sum(totals.values()),
                 "answered_result": totals.get("result", 0),
                 "answered_busy": totals.get("busy", 0),
                 "lost": sum(n for kind, n in totals.items() if kind not in ("result", "busy")),
                 "last_round": {"answered_result": sum(v == "result" for v in last.values()),
                                "answered_busy": sum(v == "busy" for v in last.values())},
                 "agent_rss_kib": {"after_first_round": load_data.get(
                     "rss_after_first_round_kib"), "end": load_data.get("rss_end_kib")},
                 "tests": load},
        "faults": {"injected": len(FAULT_TESTS), "recovered": faults["passed"],
                   "tests": faults},
    }
    problems = [name for name, group in (("fuzz", fuzz), ("attack surface", attack),
                                         ("service attack surface", service_attack),
                                         ("load", load), ("faults", faults))
                if not group["ok"]]
    if fuzz["ok"] and not inputs:
        problems.append("fuzz: the tests reported no inputs")
    if load["ok"] and not totals:
        problems.append("load: the test wrote no report")
    if faults["tests"] != len(FAULT_TESTS):
        problems.append(f"faults: {faults['tests']} of {len(FAULT_TESTS)} tests collected")
    summary["passed"] = not problems
    summary["problems"] = problems
    path = write("stress", summary)
    print(json.dumps(summary, indent=2))
    print(f"-> {path}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
