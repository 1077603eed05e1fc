"""``make bench``: run every benchmark, write bench/results/*.json and bench/RESULTS.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (  # noqa: E402
    bench_generate,
    bench_intent,
    bench_mbpp,
    bench_optimize,
    bench_rag,
    bench_run,
    bench_service,
    bench_validate,
    bench_validate_cpu,
    bench_web,
)
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
                   f"(min {s['min_s']}, max {s['max_s']}; goal ≤ {s['goal_s']} s)"
                   + (f"; load average {r['load_average_before'][0]} before the run, "
                      f"model loaded in {r['model_load_in_process_s']} s in process"
                      if "load_average_before" in r else ""))
        b = r["batch"]
        out.append(f"- `{r['commands']['batch']}`: {b['requests']} requests in {b['seconds']} s"
                   f" = **{b['requests_per_s']} requests/s**, {b['lines_out']} lines out")
        a = r["accuracy"]
        out += ["", f"Accuracy, {a.get('protocol', 'leave-one-project-out')}; baselines "
                "measured in the same run on the same rows (keyword rules; the previous "
                "model, the sparse linear model alone with its old fixed settings):", "",
                "| held-out project | macro | accuracy | previous model macro | keyword rules "
                "macro | settings chosen on the other projects | per class (recall, n) |",
                "|---|---|---|---|---|---|---|"]
        for proj, rep in a["per_held_out_project"].items():
            mod = rep["model"]
            per = ", ".join(f"{k[:8]} {v} ({mod['support'][k]})"
                            for k, v in mod["per_class"].items())
            prev = rep.get("previous_model", {}).get("macro_accuracy", "")
            chosen = ", ".join(f"{k} {v}" for k, v in rep.get("chosen", {}).items())
            out.append(f"| {proj} | **{mod['macro_accuracy']}** | {mod['accuracy']} | "
                       f"{prev} | {rep['keyword_baseline']['macro_accuracy']} | {chosen} | "
                       f"{per} |")
        out += ["", f"Mean macro accuracy on unseen projects: **{a['mean_macro_accuracy']}** "
                f"(previous model {a.get('mean_previous_model_macro', '')}, keyword rules "
                f"{a['mean_keyword_baseline_macro']}; goal "
                f"{a.get('goal_macro_each_project', '')} on each project).", ""]
    validate_path = RESULTS / "validate.json"
    if validate_path.exists():  # the benchmark renders its own section (one table, one place)
        out += bench_validate.render(json.loads(validate_path.read_text()))
    cpu_path = RESULTS / "validate-cpu.json"
    if cpu_path.exists():
        c = json.loads(cpu_path.read_text())
        u = c["usual_way"]
        out += [f"CPU the checkers need for the same {c['files']} files, cold caches, warm "
                f"checkers (validate-cpu.json; {c['machine']['date']}; load "
                f"{c['load_1m_at_end']}): **{c['dmc_median_total_cpu_s']} CPU s** in all, so "
                f"no less than **{c['wall_floor_s']} s** of wall time on {c['cores']} cores "
                "whatever the scheduling; the usual way: "
                + ", ".join(f"{t} {v['cpu_s']} CPU s ({v['one_trivial_file_cpu_s']} of it "
                            "start-up)" for t, v in u.items()) + ".", ""]
    generate_path = RESULTS / "generate.json"
    if generate_path.exists():
        r = json.loads(generate_path.read_text())
        m = r["machine"]
        t = r["throughput"]
        out += [f"## dmc generate: the agent's overhead ({m['date']}; {m['cores']} cores, "
                f"{m['cpu']}; model {r['model_file']})", "",
                f"- Throughput, {t['max_tokens']} tokens, median of {t['runs']}: raw llama.cpp "
                f"**{t['raw_tokens_per_s']} tok/s**, through the agent "
                f"**{t['agent_tokens_per_s']} tok/s** (overhead {t['overhead_percent']}%; "
                f"goal ≤ 5%). {t['note']}.", ""]
    out += render_mbpp()
    out += render_changes()
    out += render_service()
    rag_path = RESULTS / "rag.json"
    if rag_path.exists():
        r = json.loads(rag_path.read_text())
        m, q, sp = r["machine"], r["quality"], r["speed"]
        out += [f"## dmc index / dmc retrieve ({m['date']}; {m['cores']} cores, {m['cpu']})", "",
                f"Quality: docstring -> code on {q['queries']} functions of real wheels "
                f"({', '.join(q['wheels'])}), docstrings blanked in the index "
                f"({q['chunks']} chunks). Every constant of the retrieval was chosen on "
                "other packages (the development set below); this test set is reported once "
                "after choosing, never used to choose:", "",
                "| retrieval | file-recall@5 | symbol-hit@5 |", "|---|---|---|"]
        names = {"hybrid": "dmc (dense + name vectors + BM25 + names' BM25, weighted RRF, "
                           "boosts)",
                 "hybrid_previous": "dmc before (constants before re-selection, no names' "
                                    "BM25)",
                 "lexical": "plain BM25 (SQLite FTS5, stemmed)",
                 "dense": "plain dense (MiniLM)"}
        for mode, vals in q["by_mode"].items():
            out.append(f"| {names[mode]} | {vals['file_recall_at_5']} | "
                       f"{vals['symbol_hit_at_5']} |")
        out += [f"| goal | {q['goals']['file_recall_at_5']} | {q['goals']['symbol_hit_at_5']} |",
                ""]
        dev = r.get("quality_dev")
        if dev:
            out += [f"Development set ({', '.join(dev['wheels'])}; {dev['queries']} queries, "
                    f"{dev['chunks']} chunks), where the weights were chosen: "
                    + "; ".join(f"{names[mode]} {v['file_recall_at_5']} / "
                                f"{v['symbol_hit_at_5']}" for mode, v in dev["by_mode"].items())
                    + ".", ""]
        speed_on = r.get("speed_measured_on")
        out += [f"Speed ({sp['index_corpus']}: {sp['index_files']} files, "
                f"{sp['index_chunks']} chunks)"
                + (f", measured {speed_on['date']} by an earlier run (this run measured "
                   "quality only)" if speed_on else "") + ":", "",
                f"- embedding throughput on real function chunks: "
                f"**{sp['embed_chunks_per_s_function_chunks']} chunks/s** (ONNX, "
                f"length-sorted batches; goal ≥ {sp['goals']['embed_chunks_per_s']}); "
                f"{sp.get('embed_chunks_per_s_with_name_vectors', '?')} chunks/s counting "
                f"each chunk's name vector too, as `dmc index` does; whole "
                f"`dmc index` end to end {sp['index_chunks_per_s_end_to_end']} chunks/s "
                f"({sp['index_wall_s']} s, peak RSS {sp['index_peak_rss_mib']} MiB)",
                f"- no-change re-index: this repository **{sp['noop_reindex_this_repo_s']} s**, "
                f"the {sp['index_chunks']}-chunk corpus {sp['noop_reindex_big_s']} s (goal ≤ 1 s)",
                f"- `dmc retrieve` one query on the {sp['index_chunks']}-chunk index: median "
                f"**{sp['retrieve_median_s']} s** (goal ≤ 0.5 s), peak RSS "
                f"{sp['retrieve_peak_rss_mib']} MiB",
                f"- `dmc intent | dmc extract | dmc retrieve | dmc optimize`: median "
                f"**{sp['pipeline_intent_extract_retrieve_optimize_median_s']} s** (goal ≤ 1 s)",
                ""]
    opt_path = RESULTS / "optimize.json"
    if opt_path.exists():
        r = json.loads(opt_path.read_text())
        m = r["machine"]
        out += [f"## dmc optimize and dmc style ({m['date']}; {m['cores']} cores)", ""]
        for row in r["optimize"]:
            out.append(f"- `dmc optimize` on a document with {row['chunks']} retrieved chunks, "
                       f"token counter {row['counter']}: median **{row['median_s']} s** "
                       f"(goal ≤ 0.2 s)")
        st = r["style"]
        out += [f"- `dmc style learn` on {st['package']} ({st['files']} files): "
                f"**{st['files_per_s']} files/s**", ""]
    run_path = RESULTS / "run.json"
    if run_path.exists():
        r = json.loads(run_path.read_text())
        m = r["machine"]
        stages = ", ".join(f"{k} {v} s" for k, v in r["median_stage_s"].items())
        out += [f"## dmc run ({m['date']}; {m['cores']} cores, {m['cpu']})", "",
                f"- `dmc run \"{r['request']}\"` on a small indexed project, {r['model']}: "
                f"median **{r['median_wall_s']} s** end to end (seed target {r['goal_s']} s); "
                f"by stage: {stages}. The dominant stage is **{r['dominant_stage']}**.", ""]
    web_path = RESULTS / "web.json"
    if web_path.exists():
        r = json.loads(web_path.read_text())
        m = r["machine"]
        a, b = r["after the preview"], r["at once"]
        out += [f"## dmc serve: the web UI's first token ({m['date']}; {m['cores']} cores, "
                f"{m['cpu']}; load average {r['load_average_before'][0]} before, "
                f"{r['load_average_after'][0]} after)", "",
                f"From Send (Ctrl+Enter) to the first streamed token on screen, in "
                f"{r['browser']}, {r['model']}, warm service (`{r['command']}`; goal "
                f"≤ {r['goal_ms']:.0f} ms):", "",
                "| sent | runs | median ms | min | max |", "|---|---|---|---|---|",
                f"| after the preview (the prompt evaluated ahead while it is read) | "
                f"{a['runs']} | **{a['median_ms']}** | {a['min_ms']} | {a['max_ms']} |",
                f"| at once (nothing prepared) | {b['runs']} | **{b['median_ms']}** | "
                f"{b['min_ms']} | {b['max_ms']} |", ""]
        if "prompt_evaluated_ahead_median_s" in a:
            out += [f"The first row needs the prompt evaluated before Send: that took "
                    f"{a['prompt_evaluated_ahead_median_s']} s (median) after the preview "
                    f"appeared, while the request was read; the second row is the same work "
                    f"done after Send.", ""]
    stress_path = RESULTS / "stress.json"
    if stress_path.exists():
        r = json.loads(stress_path.read_text())
        f, lo, fa = r["fuzz"], r["load"], r["faults"]
        if "inputs_run" not in f:  # a report from before the counts were counted
            out += [f"## make stress ({r['machine']['date']})", "",
                    "- an old report (figures computed from settings): run `make stress`", ""]
        else:
            verdict = "passed" if r.get("passed") else "FAILED: " + "; ".join(r["problems"])
            out += [f"## make stress ({r['machine']['date']}): {verdict}", "",
                    f"- fuzzing: {f['inputs_run']} inputs run (counted) over "
                    f"{len(f['inputs_run_by_target'])} targets (the stage commands, the "
                    f"agent's API and, from this version, the service's); crashes found: "
                    f"**{f['crashes_found']}**",
                    f"- attack surface: {r['attack_surface']['passed']} of "
                    f"{r['attack_surface']['tests']} tests passed (the agent)"
                    + (f"; the service: {r['service_attack_surface']['passed']} of "
                       f"{r['service_attack_surface']['tests']}"
                       if r.get("service_attack_surface") else ""),
                    f"- load: {lo['requests_sent']} requests sent ({lo['clients']} concurrent "
                    f"clients x {lo['rounds']} rounds): {lo['answered_result']} answered, "
                    f"{lo['answered_busy']} busy (503), **{lo['lost']} lost**; agent RSS "
                    f"after the first round {lo['agent_rss_kib']['after_first_round']} KiB, "
                    f"at the end {lo['agent_rss_kib']['end']} KiB",
                    f"- faults injected: {fa['injected']}, recovered: **{fa['recovered']}**",
                    ""]
    return "\n".join(out) + "\n"


def render_mbpp() -> list[str]:
    """The MBPP tables: the raw model beside dmc, per model and split, each from one run."""
    out: list[str] = []
    for split, what in (("dev", "development split: settings were chosen on it"),
                        ("test", "test split: reported once, after choosing; never tuned on")):
        # mbpp-SPLIT.json, and mbpp-SPLIT-MODEL.json for a model run on its own
        for path in sorted(RESULTS.glob(f"mbpp-{split}*.json")):
            out += _mbpp_table(json.loads(path.read_text()), what)
        if split == "dev":
            out += _first_answer_table()
    return out


_FIRST_COLUMNS = {"raw": "raw model (baseline)", "dmc_t02": "dmc, temperature 0.2",
                  "dmc_t0": "dmc, greedy", "dmc_lean_t0": "dmc, greedy, lean prompt",
                  "dmc_t0_samples": "dmc, greedy + samples while the example fails",
                  "dmc_approach_t02": "dmc, 0.2, approach sentence before the code"}


def _first_answer_table() -> list[str]:
    """bench_mbpp_first: the first answer alone under each setting tried, on dev only."""
    out: list[str] = []
    for path in sorted(RESULTS.glob("mbpp-first-dev*.json")):
        r = json.loads(path.read_text())
        m = r["machine"]
        rates = r["pass_rate"]
        ran = [k for k in _FIRST_COLUMNS if k in rates]  # a run may cover some variants
        out += [f"## The first answer alone, MBPP development split ({path.name}; {m['date']}; "
                f"{m['cores']} cores, {m['cpu']})", "",
                f"{r['model']}, {r['tasks_done']} tasks. Protocol: {r['protocol']}."
                + (f" {r['note']}" if r.get("note") else "")
                + ("" if r.get("complete", True) else " **Incomplete run.**"), "",
                "| " + " | ".join(_FIRST_COLUMNS[k] for k in ran) + " |",
                "|" + "---|" * len(ran),
                "| " + " | ".join(str(rates[k]) for k in ran) + " |", ""]
    return out


def render_service() -> list[str]:
    """The laptop service (bench_service): each figure beside the baseline of the same run."""
    out: list[str] = []
    for path in sorted(RESULTS.glob("service*.json")):
        r = json.loads(path.read_text())
        m, c, h = r["machine"], r["corpus"], r["laptop_half"]
        cache, draft, soak, ch = r["cache"], r["draft"], r["soak"], r["chroma"]
        samples = soak["samples_s_rss_mib_cache_entries"]
        last_third = [s for s in samples if s[0] >= samples[-1][0] * 2 / 3]
        out += [f"## dmc serve, the laptop service ({path.name}; {m['date']}; {m['cores']} "
                f"cores, {m['cpu']}; load average {r['load_average_at_start'][0]:.1f} at the "
                "start)", "",
                f"Corpus: {', '.join(c['packages'])} ({c['files']} files, {c['chunks']} chunks, "
                f"indexed in {c['index_s']} s). A real `dmc serve` process.", "",
                "| figure | service | baseline, same run | goal |", "|---|---|---|---|",
                f"| laptop half (intent → optimize), nothing cached, median | "
                f"**{h['warm_service_uncached_median_s']} s** | four-process pipe "
                f"{h['four_process_pipe_median_s']} s; one-process `dmc run` "
                f"{h['one_process_dmc_run_median_s']} s | ≤ {h['goal_s']} s |",
                f"| a second identical request, median | "
                f"**{cache['second_identical_request_median_s']} s** | the first: "
                f"{cache['first_request_median_s']} s | ≤ {cache['goal_s']} s |",
                f"| payload ready after the last keystroke (a draft per keystroke, "
                f"{draft['keystroke_gap_s']} s apart), median | "
                f"**{draft['payload_ready_after_last_keystroke_median_s']} s** | four-process "
                f"pipe {draft['baseline_four_process_pipe_median_s']} s | ≤ {draft['goal_s']} s |",
                f"| resident memory over a {soak['seconds']:.0f}-s soak of mixed requests "
                f"({soak['requests']['runs']} runs, {soak['requests']['repeated_runs']} "
                f"repeated, {soak['requests']['drafts']} drafts) | grew "
                f"{soak['growth_mib']} MiB ({soak['rss_start_mib']} → {soak['rss_end_mib']}); "
                f"over the last third ({last_third[0][0]:.0f}–{last_third[-1][0]:.0f} s) "
                f"{soak['last_third_slope_mib_per_hour']} MiB/h; over the whole soak "
                f"**{soak['slope_mib_per_hour']} MiB/h** (the context cache full throughout: "
                f"{soak['slope_measured_over'] == 'cache full'}) | after warm-up "
                f"{soak['rss_after_warm_up_mib']} MiB | < {soak['goal_mib_per_hour']} MiB/h |",
                f"| Chroma's HNSW search against the exact search dmc uses, "
                f"{ch['queries']} queries: recall of the 100 candidates | "
                f"{ch['hnsw_recall_at_100_mean']} (min {ch['hnsw_recall_at_100_min']}) | exact "
                f"| ≥ {ch['goal_recall']} |", ""]
    return out


def render_changes() -> list[str]:
    """The change benchmark: edit blocks beside the whole-file baseline (and the planner),
    per model, each from one run."""
    out: list[str] = []
    for path in sorted(RESULTS.glob("changes*.json")):
        r = json.loads(path.read_text())
        m = r["machine"]
        out += [f"## Changes to existing code ({path.name}; {m['date']}; {m['cores']} cores, "
                f"{m['cpu']})", "", f"Protocol: {r['protocol']}. Tasks: "
                + ", ".join(f"{t['name']} ({t['source']})" for t in r["tasks"]) + "."
                + ("" if r.get("complete", True) else
                   " **Incomplete run**: the figures cover the rows measured before it "
                   "stopped.") + (f" **Note**: {r['note']}." if r.get("note") else ""), "",
                "| model | mode | runs | first pass success | final success | check passed "
                "| code deleted outside the region | any change outside (strict) | markers "
                "| seconds |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, x in r["models"].items():
            for mode in ("edit", "plan", "whole"):
                y = x.get(mode) or {}
                if not y.get("runs"):
                    continue
                label = {"edit": "edit blocks (dmc)", "plan": "planner + edit blocks",
                         "whole": "whole file (baseline)"}[mode]
                out.append(f"| {name} | {label} | {y['runs']} | {y['first_success']} | "
                           f"**{y['final_success']}** | {y['check_passed']} | "
                           f"{y.get('deleted_outside_region', 'n/a')} | "
                           f"{y['changed_outside_region']} | {y['markers_written']} | "
                           f"{y['seconds_total']} |")
        out.append("")
    return out


def _mbpp_table(r: dict, what: str) -> list[str]:
    m = r["machine"]
    sub = r["subset"]
    out = [f"## dmc generate on MBPP, {what} ({m['date']}; {m['cores']} cores, {m['cpu']})",
           "", f"{len(sub['task_ids'])} tasks ("
           + (f"chosen ids {', '.join(map(str, sub['task_ids']))}" if sub.get("ids") else
              f"every {sub['stride']}th of the split; ids {sub['task_ids'][0]}…"
              f"{sub['task_ids'][-1]}")
           + f"). Protocol: {r['protocol']}." + (f" {r['note']}" if r.get("note") else "")
           + " Raw and "
           "dmc ran in the same process, task by task"
           + (f"; overrides: {r['overrides']}" if r.get("overrides") else "") + "."
           + ("" if r.get("complete", True) else
              " **Incomplete run**: the figures cover the tasks measured before it was "
              "stopped (the rows in the JSON), not the whole subset."), "",
           "| model | raw pass | raw, definitions only | dmc first pass | dmc final | lift "
           "(points) | median s raw / dmc | p95 s raw / dmc | median tokens raw / dmc | max "
           "dmc answer | loops stopped | fences in code raw / dmc |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, x in r["models"].items():
        out.append(
            f"| {name} ({x['tasks']} tasks) | {x['raw_pass_rate']} | "
            f"{x.get('raw_definitions_pass_rate')} | "
            f"{x['dmc_first_pass_rate']} | "
            f"**{x['dmc_final_pass_rate']}** | {x['lift_over_raw_points']:+} | "
            f"{x['raw_seconds']['median']} / {x['dmc_seconds']['median']} | "
            f"{x['raw_seconds']['p95']} / {x['dmc_seconds']['p95']} | "
            f"{x['raw_tokens']['median']} / {x['dmc_tokens']['median']} | "
            f"{x['dmc_max_answer_tokens']} | {x['dmc_degenerate_stops']} | "
            f"{x['raw_fence_in_code']} / {x['dmc_fence_in_code']} |")
    ran = {name: x["dmc_settings"] for name, x in r["models"].items() if x.get("dmc_settings")}
    if ran:  # results from before the settings were recorded have none
        out += [""] + [f"- {name}: dmc ran with " + ", ".join(f"{k} {v}" for k, v in s.items())
                       + f"; raw up to {r['models'][name].get('raw_max_tokens', '?')} tokens, "
                       "greedy" for name, s in ran.items()]
    return out + [""]


def main() -> None:
    bench_intent.main()
    bench_validate.main()
    bench_validate_cpu.main()
    bench_generate.main()
    bench_mbpp.main(["--split", "dev"])
    bench_mbpp.main(["--split", "test"])
    bench_optimize.main()
    bench_rag.main()
    bench_run.main()
    bench_web.main([])
    bench_service.main([])
    (ROOT / "bench" / "RESULTS.md").write_text(render(), encoding="utf-8")
    print(f"wrote {ROOT / 'bench' / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
