"""bench_mbpp records the generation settings dmc ran with, and RESULTS.md shows them (with
the service figures, rendered by the same module)."""

from __future__ import annotations

from bench.bench_mbpp import (
    RAW_MAX_TOKENS,
    laptop_payload,
    load_tasks,
    ran_with,
    request_of,
    summarise,
)
from bench.run import _mbpp_table
from dmc.config import load


def test_settings_are_those_of_the_payload_and_the_backend_guards() -> None:
    cfg = load(repo=None, overrides={"models.generation": "qwen2.5-coder-0.5b",
                                     "generation.temperature": 0.35})
    payload = laptop_payload(request_of(load_tasks(1, 0, 1, "dev")[0]), cfg)
    settings = ran_with(payload, cfg)
    assert settings["temperature"] == 0.35  # an override reaches the record
    assert settings["samples"] == cfg.get("generation.samples")
    assert settings["repeat_penalty"] == cfg.get("generation.repeat_penalty")
    assert settings["max_tokens"] == payload["generation"]["max_tokens"]


def test_the_table_says_what_dmc_ran_with() -> None:
    row = {"task_id": 1, "raw_pass": True, "raw_definitions_pass": True, "raw_seconds": 1.0,
           "raw_tokens": 10, "raw_hit_limit": False, "raw_fence_in_code": False,
           "dmc_first_pass": True, "dmc_final_pass": True, "dmc_seconds": 2.0,
           "dmc_tokens": 20, "dmc_max_answer_tokens": 20, "dmc_degenerate": 0,
           "dmc_fence_in_code": False}
    summary = summarise("m", [row], {"temperature": 0.2, "samples": 4})
    assert summary["raw_max_tokens"] == RAW_MAX_TOKENS
    doc = {"machine": {"date": "d", "cores": 2, "cpu": "c"}, "protocol": "p",
           "subset": {"task_ids": [1], "stride": 1}, "models": {"m": summary}}
    lines = _mbpp_table(doc, "dev")
    assert f"- m: dmc ran with temperature 0.2, samples 4; raw up to {RAW_MAX_TOKENS} " \
           "tokens, greedy" in lines


def test_a_run_on_chosen_ids_says_so_and_why() -> None:
    doc = {"machine": {"date": "d", "cores": 2, "cpu": "c"}, "protocol": "p",
           "note": "Tasks an earlier run failed.", "subset": {"ids": True, "task_ids": [574, 579]},
           "models": {}}
    text = "\n".join(_mbpp_table(doc, "dev"))
    assert "2 tasks (chosen ids 574, 579). Protocol: p. Tasks an earlier run failed." in text
    assert "every" not in text  # not described as a stride over the split


def test_results_md_has_the_service_figures_beside_their_baselines() -> None:
    from bench.run import render_service

    text = "\n".join(render_service())
    assert "## dmc serve, the laptop service (service.json" in text  # the committed run
    for figure in ("four-process pipe", "a second identical request", "soak", "HNSW"):
        assert figure in text


def test_the_committed_results_md_has_the_service_section() -> None:
    """RESULTS.md is rendered from the results files: a service.json must show up in it."""
    from bench.common import ROOT

    assert (ROOT / "bench" / "results" / "service.json").exists()
    assert "## dmc serve, the laptop service (service.json" in \
        (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
