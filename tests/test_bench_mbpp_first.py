"""bench_mbpp_first: each variant changes only what it says, on the payload dmc builds."""

from __future__ import annotations

from bench.bench_mbpp import laptop_payload, load_tasks, request_of
from bench.bench_mbpp_first import VARIANTS, document, variant_payload
from bench.run import _first_answer_table
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
        assert gen["temperature"] == (0.2 if variant.endswith("_t02") else 0.0)


def test_lean_prompt_drops_the_sections_and_keeps_the_task() -> None:
    payload = _payload()
    full = initial_messages(variant_payload(payload, "dmc_t0"))[1]["content"]
    lean = initial_messages(variant_payload(payload, "dmc_lean_t0"))[1]["content"]
    for section in ("Security:", "Quality:", "Documentation:"):
        assert section in full
        assert section not in lean
    assert lean.startswith(full.split("\n\n", 1)[0])  # the task line, the shown example
    assert payload["generation"]["max_iterations"] != 1  # the original was not changed


def test_rates_and_points_come_from_counts_not_rounded_rates() -> None:
    rows = [{"task_id": i, "raw": i < 19, "dmc_t02": i < 21, "dmc_t0": i < 20,
             "dmc_lean_t0": i < 20, "dmc_t0_samples": i < 27} for i in range(60)]
    doc = document("m", [{"task_id": i} for i in range(60)], rows, complete=True,
                   variants=("dmc_t02", "dmc_t0", "dmc_lean_t0", "dmc_t0_samples"))
    assert doc["passed"] == {"raw": 19, "dmc_t02": 21, "dmc_t0": 20, "dmc_lean_t0": 20,
                             "dmc_t0_samples": 27}
    assert doc["pass_rate"]["dmc_t0"] == 0.333
    assert doc["points_over_raw"]["dmc_t0"] == 1.7  # (20 - 19) / 60, not 0.333 - 0.317


def test_results_md_table_shows_every_variant_run_beside_the_raw_baseline() -> None:
    lines = _first_answer_table()
    headers = [i for i, line in enumerate(lines) if line.startswith("| raw model (baseline)")]
    assert headers  # the committed results render
    for at in headers:
        names = lines[at].strip("|").split("|")
        cells = lines[at + 2].strip("|").split("|")
        assert len(cells) == len(names) >= 2
        assert all(cell.strip().replace(".", "", 1).isdigit() for cell in cells)


def test_results_md_table_leaves_out_variants_a_run_did_not_cover(tmp_path, monkeypatch) -> None:
    import bench.run

    rows = [{"task_id": i, "raw": i < 3, "dmc_t02": i < 4} for i in range(10)]
    doc = document("m", [{"task_id": i} for i in range(10)], rows, complete=True,
                   variants=("dmc_t02",))
    doc["machine"] = {"date": "d", "cores": 2, "cpu": "c"}
    (tmp_path / "mbpp-first-dev-x.json").write_text(__import__("json").dumps(doc))
    monkeypatch.setattr(bench.run, "RESULTS", tmp_path)
    lines = _first_answer_table()
    assert "| raw model (baseline) | dmc, temperature 0.2 |" in lines
    assert "| 0.3 | 0.4 |" in lines
