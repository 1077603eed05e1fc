"""bench/stress.py counts what ran: pytest's own report, so a fixture error or a skip is
never read as "0 crashes"."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stress import pytest as run_group  # noqa: E402

MIXED = '''
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("fixture fails")


def test_passes():
    assert True


def test_fails():
    assert False


def test_errors(broken):
    pass


@pytest.mark.skip(reason="not run")
def test_skipped():
    pass
'''


def test_every_outcome_is_counted_and_only_all_passed_is_ok(tmp_path: Path) -> None:
    tests = tmp_path / "test_mixed.py"
    tests.write_text(MIXED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    got = run_group("mixed", [str(tests), "--rootdir", str(tmp_path)],
                    env, tmp_path)
    assert {k: got[k] for k in ("tests", "passed", "failed", "errors", "skipped")} == \
        {"tests": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1}
    assert got["ok"] is False and got["exit_status"] != 0

    clean = tmp_path / "test_clean.py"
    clean.write_text("def test_one():\n    assert True\n")
    assert run_group("clean", [str(clean), "--rootdir", str(tmp_path)], env, tmp_path)["ok"]


def test_nothing_collected_is_not_ok(tmp_path: Path) -> None:
    empty = tmp_path / "test_empty.py"
    empty.write_text("")
    got = run_group("empty", [str(empty), "--rootdir", str(tmp_path)], dict(os.environ),
                    tmp_path)
    assert got["tests"] == 0 and got["ok"] is False
