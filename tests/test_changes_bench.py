"""The change benchmark (bench/bench_changes.py): its results carry no context marker, and
its tasks judge what they claim to judge.

The harness is tested without a model: each task's check fails on the broken repository
and passes with the original piece put back as an edit block; an edit outside the task's
region, or a whole-file rewrite that drops code, is not a success. One run goes through
``run_mode`` with the Ollama TEST DOUBLE as the coder (scripted answers, no server), so the
judging of a real generate result is exercised too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_changes as bench  # noqa: E402

MARKERS = ("\u27e6dmc", "[[dmc")


def test_no_context_marker_in_any_benchmark_result() -> None:
    """Every stored result (applied diffs included) is free of dmc's context markers."""
    results = sorted((ROOT / "bench" / "results").glob("*.json"))
    assert results, "no benchmark results to check"
    found = {p.name: sum(p.read_text(encoding="utf-8").count(m) for m in MARKERS)
             for p in results}
    assert {k: v for k, v in found.items() if v} == {}


def _task(name: str) -> bench.Task:
    return next(t for t in bench.tasks() if t.name == name)


def _restore_edits(task: bench.Task, repo: Path) -> list[dict[str, Any]]:
    """Edit blocks that put the original pieces back: broken region -> original text."""
    import subprocess

    files = []
    for path in task.targets:
        broken = (repo / path).read_text()
        if path.endswith(".py"):
            source = {"dotenv/variables.py": bench.SITE / "dotenv" / "variables.py",
                      "idna/intranges.py": bench.SITE / "idna" / "intranges.py",
                      "mccabe.py": bench.SITE / "mccabe.py"}[path]
            original = source.read_text()
        else:
            original = subprocess.run(["git", "show", f"HEAD:examples/demo-app/{path}"],
                                      cwd=ROOT, capture_output=True, text=True,
                                      check=True).stdout
        files.append({"path": path, "code": original,
                      "edits": [{"search": broken, "replace": original}]})
    return files


@pytest.mark.parametrize("name", [t.name for t in bench.tasks()])
def test_each_task_fails_broken_and_passes_restored(tmp_path: Path, name: str) -> None:
    task = _task(name)
    repo, regions = bench.make_repo(task, tmp_path)
    assert set(regions) == set(task.targets)
    passed, detail = task.check(repo)
    assert not passed, detail
    verdict = bench.judge(task, repo, regions, _restore_edits(task, repo), whole=False)
    assert verdict["check"], verdict["why"]
    assert verdict["other_files"] == [] and verdict["markers"] == 0


def test_an_edit_outside_the_region_is_not_a_success(tmp_path: Path) -> None:
    task = _task("dotenv-resolve")
    repo, regions = bench.make_repo(task, tmp_path)
    files = _restore_edits(task, repo)
    files[0]["edits"].append({"search": "import re\n", "replace": ""})  # outside the piece
    verdict = bench.judge(task, repo, regions, files, whole=False)
    assert verdict["deleted_outside"] == ["dotenv/variables.py: import re"]
    assert verdict["outside"] and not verdict["success"]


def test_an_addition_outside_the_region_is_part_of_the_change(tmp_path: Path) -> None:
    """An import added at the top is no loss: a success, though the strict measure (the
    untouched stretches kept whole) counts it."""
    task = _task("dotenv-resolve")
    repo, regions = bench.make_repo(task, tmp_path)
    files = _restore_edits(task, repo)
    files[0]["edits"].append({"search": "import re\n", "replace": "import re\nimport os\n"})
    verdict = bench.judge(task, repo, regions, files, whole=False)
    assert verdict["success"] and verdict["deleted_outside"] == [] and verdict["outside"]


def test_a_new_route_that_replaces_an_old_one_is_not_a_success(tmp_path: Path) -> None:
    """The demo app's region is empty: the GET route may go anywhere, but turning the POST
    route into it (what the 1.5B once did) loses code, and the POST check fails too."""
    task = _task("demo-route")
    repo, regions = bench.make_repo(task, tmp_path)
    broken = (repo / "routes" / "api.js").read_text()
    post = broken[broken.index('router.post("/users"'):broken.index("module.exports")]
    get = ('router.get("/users/:id", async (req, res) => {\n'
           "  const user = await User.findById(req.params.id);\n"
           '  if (!user) {\n    return res.status(404).json({ error: "not found" });\n  }\n'
           "  res.json(user);\n});\n\n")
    files = [{"path": "routes/api.js", "code": broken.replace(post, get),
              "edits": [{"search": post, "replace": get}]}]
    verdict = bench.judge(task, repo, regions, files, whole=False)
    assert not verdict["success"] and not verdict["check"]
    assert "POST /users" in verdict["why"] and verdict["deleted_outside"]
    kept = [{"path": "routes/api.js", "code": broken.replace(post, get + post),
             "edits": [{"search": post, "replace": get + post}]}]
    assert bench.judge(task, repo, regions, kept, whole=False)["success"]


def test_a_whole_file_that_drops_code_is_caught(tmp_path: Path) -> None:
    """The baseline writes files whole: a rewrite that loses a function outside the region
    is counted as changing it, even when the task's own check still passes."""
    task = _task("mccabe-complexity")
    repo, regions = bench.make_repo(task, tmp_path)
    original = (bench.SITE / "mccabe.py").read_text()
    shorter = original.replace("def _read(filename):", "def _gone(filename):", 1)
    verdict = bench.judge(task, repo, regions, [{"path": "mccabe.py", "code": shorter}],
                          whole=True)
    assert verdict["check"] and not verdict["success"]
    assert verdict["deleted_outside"] == ["mccabe.py: def _read(filename):"]


def test_run_mode_judges_a_generate_result(tmp_path: Path) -> None:
    """`edit` mode through generate() with the Ollama TEST DOUBLE answering the right edit
    block: first pass and final are judged a success, and the diff is stored."""
    from dmc.generate.backends import OllamaBackend
    from tests.support.servers import OllamaDouble

    task = _task("dotenv-resolve")
    repo, regions = bench.make_repo(task, tmp_path)
    payload = bench.laptop_payload(repo, task.request)
    assert list(payload["context"]["files"]) == ["dotenv/variables.py"]
    payload["generation"]["generated_tests"] = False
    answer = ("File: dotenv/variables.py\n```python\n<<<<<<< SEARCH\n"
              "    def resolve(self, env: Mapping[str, Optional[str]]) -> str:\n"
              "        raise NotImplementedError\n=======\n"
              "    def resolve(self, env: Mapping[str, Optional[str]]) -> str:\n"
              "        default = self.default if self.default is not None else \"\"\n"
              "        result = env.get(self.name, default)\n"
              "        return result if result is not None else \"\"\n"
              ">>>>>>> REPLACE\n```\n")
    double = OllamaDouble([answer])
    try:
        row = bench.run_mode("edit", task, repo, regions, payload,
                             OllamaBackend(double.url, "qwen2.5-coder", timeout=30), None)
    finally:
        double.stop()
    assert row["final"]["success"], row
    assert row["first"]["success"]
    assert "+        result = env.get(self.name, default)" in row["final"]["diff"]


def test_lost_lines_sees_a_line_moved_into_the_new_piece_and_a_swap() -> None:
    before = "a()\nb()\nres.json(user);\nend()\n"
    # the old res.json line deleted where it was, the same text added in the new piece
    after = "a()\nb()\nend()\nnew()\nres.json(user);\n"
    assert bench.lost_lines(before, after, (5, 4)) != []  # one of the two moved lines
    assert bench.lost_lines(before, "b()\na()\nres.json(user);\nend()\n", (5, 4)) != []
    assert bench.lost_lines(before, "import x\n" + before + "more()\n", (5, 4)) == []
