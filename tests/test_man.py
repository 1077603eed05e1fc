"""Man pages are generated from the CLI; the checked-in copies must match it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import typer.main
from dmc.commands.main import app
from dmc.commands.manpage import render_all

MAN = Path(__file__).resolve().parent.parent / "man"


def test_checked_in_pages_match_the_cli() -> None:
    pages = render_all()
    for name, text in pages.items():
        path = MAN / name
        assert path.exists(), f"{name} missing: run `make man`"
        assert path.read_text(encoding="utf-8") == text, f"{name} is stale: run `make man`"
    stray = {p.name for p in MAN.glob("*.1")} - set(pages)
    assert not stray, f"man pages for commands that no longer exist: {stray}"


def test_every_subcommand_and_option_is_documented() -> None:
    group = typer.main.get_command(app)
    pages = render_all()
    for name, cmd in group.commands.items():
        page = pages[f"dmc-{name}.1"]
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("-"):
                    assert opt.replace("-", "\\-") in page, f"{opt} of dmc {name} undocumented"
        assert f"dmc {name}".replace("-", "\\-") in pages["dmc.1"]


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
def test_pages_render_without_warnings() -> None:
    for path in MAN.glob("*.1"):
        proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stderr.strip(), (path.name, proc.stderr)
