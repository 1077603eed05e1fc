"""bench_mbpp_first: each variant changes only what it says, on the payload dmc builds."""

from __future__ import annotations

from bench.bench_mbpp import laptop_payload, load_tasks, request_of
from bench.bench_mbpp_first import VARIANTS, variant_payload
from dmc.config import load
from dmc.generate.prompt import initial_messages


def _payload() -> dict:
    cfg = load(repo=None, overrides={"models.generation": "qwen2.5-coder-0.5b"})
    task = load_tasks(1, 0, 1, "dev")[0]
    return laptop_payload(request_of(task), cfg)


def test_every_variant_is_one_pass_without_generated_tests() -> None:
    payload = _payload()
    for variant in VARIANTS:
        gen = variant_payload(payload, variant)["generation"]
        assert gen["max_iterations"] == 1
        assert gen["generated_tests"] is False
        assert gen["samples"] == (4 if variant == "dmc_t0_samples" else 1)
        assert gen["temperature"] == (0.2 if variant == "dmc_t02" else 0.0)


def test_lean_prompt_drops_the_sections_and_keeps_the_task() -> None:
    payload = _payload()
    full = initial_messages(variant_payload(payload, "dmc_t0"))[1]["content"]
    lean = initial_messages(variant_payload(payload, "dmc_lean_t0"))[1]["content"]
    assert "Security:" in full and "Security:" not in lean
    assert "Quality:" not in lean and "Documentation:" not in lean
    assert lean.startswith(full.split("\n\n", 1)[0])  # the task line, the shown example
    assert payload["generation"]["max_iterations"] != 1  # the original was not changed
