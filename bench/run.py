"""``make bench``: run every benchmark, write bench/results/*.json and bench/RESULTS.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_generate, bench_intent, bench_validate  # noqa: E402
from bench.common import RESULTS, ROOT  # noqa: E402


def render() -> str:
    out = ["# Benchmark results", "",
           "Written by `make bench` (bench/run.py); raw figures in bench/results/*.json.", ""]
    intent_path = RESULTS / "intent.json"
    if intent_path.exists():
        r = json.loads(intent_path.read_text())
        m = r["machine"]
        out += [f"## dmc intent ({m['date']}; {m['cores']} cores, {m['cpu']}, "
                f"Python {m['python']})", ""]
        s = r["single_request_wall"]
        out.append(f"- `{r['commands']['single']}`: median **{s['median_s']} s** "
                   f"(min {s['min_s']}, max {s['max_s']}; goal ≤ {s['goal_s']} s)")
        b = r["batch"]
        out.append(f"- `{r['commands']['batch']}`: {b['requests']} requests in {b['seconds']} s"
                   f" = **{b['requests_per_s']} requests/s**, {b['lines_out']} lines out")
        a = r["accuracy"]
        out += ["", "Accuracy, leave-one-project-out (fit on two projects, scored on the third):",
                "", "| held-out project | macro | accuracy | keyword baseline macro | "
                "per class (recall, n) |", "|---|---|---|---|---|"]
        for proj, rep in a["per_held_out_project"].items():
            mod = rep["model"]
            per = ", ".join(f"{k[:8]} {v} ({mod['support'][k]})"
                            for k, v in mod["per_class"].items())
            out.append(f"| {proj} | **{mod['macro_accuracy']}** | {mod['accuracy']} | "
                       f"{rep['keyword_baseline']['macro_accuracy']} | {per} |")
        out += ["", f"Mean macro accuracy on unseen projects: **{a['mean_macro_accuracy']}** "
                f"(keyword baseline {a['mean_keyword_baseline_macro']}).", ""]
    validate_path = RESULTS / "validate.json"
    if validate_path.exists():
        r = json.loads(validate_path.read_text())
        m = r["machine"]
        u = r["usual_way_s"]
        out += [f"## dmc validate ({m['date']}; {m['cores']} cores, {m['cpu']})", "",
                f"`{r['command']}`, tools {r['tools']}:", "",
                "| run | seconds | goal |", "|---|---|---|",
                f"| dmc validate, cold (empty cache) | **{r['dmc_cold_s']}** | "
                f"{r['goals']['cold_s']} |",
                f"| dmc validate, warm (nothing changed), median of 5 | "
                f"**{r['dmc_warm_median_s']}** | {r['goals']['warm_s']} |",
                f"| dmc validate, one file changed | {r['dmc_one_file_changed_s']} | |",
                f"| usual way: pylint + bandit + mypy one after another | "
                f"{r['usual_way_total_s']} (pylint {u['pylint']}, bandit {u['bandit']}, "
                f"mypy {u['mypy']}) | |", ""]
    generate_path = RESULTS / "generate.json"
    if generate_path.exists():
        r = json.loads(generate_path.read_text())
        m = r["machine"]
        t, q = r["throughput"], r["quality"]
        out += [f"## dmc generate ({m['date']}; {m['cores']} cores, {m['cpu']}; model "
                f"{r['model_file']})", "",
                f"- Throughput, {t['max_tokens']} tokens, median of {t['runs']}: raw llama.cpp "
                f"**{t['raw_tokens_per_s']} tok/s**, through the agent "
                f"**{t['agent_tokens_per_s']} tok/s** (overhead {t['overhead_percent']}%; "
                f"goal ≤ 5%). {t['note']}.",
                f"- Quality on {q['tasks']} programming tasks with unit tests: first pass "
                f"**{q['first_pass_rate']}**, after refinement by validate "
                f"**{q['after_refinement_rate']}**, after refinement with the tests in the "
                f"loop **{q['after_refinement_with_tests_rate']}** (seed: > 0.7 first pass, "
                f"> 0.9 refined). {q['note']}.", ""]
    return "\n".join(out) + "\n"


def main() -> None:
    bench_intent.main()
    bench_validate.main()
    bench_generate.main()
    (ROOT / "bench" / "RESULTS.md").write_text(render(), encoding="utf-8")
    print(f"wrote {ROOT / 'bench' / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
