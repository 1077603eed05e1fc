"""``dmc hook``: a plain git pre-commit hook that runs ``dmc validate --staged``, which
checks the staged content (the git index), not the working tree.

For the pre-commit framework, use the hook definition in ``.pre-commit-hooks.yaml`` instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from dmc.commands.common import fail

from dmc.contract import DmcError, dumps

MARKER = "# installed by: dmc hook install"

app = typer.Typer(help="Install or remove a git pre-commit hook that runs dmc validate.",
                  no_args_is_help=True)


def _hooks_dir() -> Path:
    import subprocess

    try:
        proc = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], capture_output=True,
                              text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        raise DmcError("not inside a git repository") from None
    return Path(proc.stdout.strip()).resolve()


def _dmc_command() -> str:
    """This dmc, by absolute path when it is not the one on PATH (a venv, for instance)."""
    import shlex
    import shutil

    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    on_path = shutil.which("dmc")
    if here is not None and here.name == "dmc" and (on_path is None or
                                                    Path(on_path).resolve() != here):
        return shlex.quote(str(here))
    return "dmc"


@app.command("install")
def install(
    force: bool = typer.Option(False, "--force", help="Replace a pre-commit hook that dmc "
                               "did not write."),
    fail_on: str = typer.Option("error", "--fail-on", help="Severity that blocks the commit."),
) -> None:
    """Write .git/hooks/pre-commit running `dmc validate --staged`."""
    try:
        hook = _hooks_dir() / "pre-commit"
        if hook.exists() and MARKER not in hook.read_text(errors="replace") and not force:
            raise DmcError(f"{hook} exists and was not written by dmc",
                           hint="use --force to replace it, or call `dmc validate --staged` "
                                "from it")
        if fail_on not in ("error", "warning", "info"):
            raise DmcError("--fail-on must be error, warning or info")
    except DmcError as exc:
        fail("hook", exc)
    hook.parent.mkdir(parents=True, exist_ok=True)
    # --staged reads the index (what the commit will hold); the text view lists the issues
    # (git shows a hook's output on the terminal) without colour codes in logs
    hook.write_text(f"#!/bin/sh\n{MARKER}\nexec {_dmc_command()} validate --staged "
                    f"--fail-on {fail_on} --format text\n", encoding="utf-8")
    hook.chmod(0o755)
    sys.stdout.buffer.write(dumps({"installed": str(hook)}))


@app.command("uninstall")
def uninstall() -> None:
    """Remove the hook if dmc wrote it."""
    try:
        hook = _hooks_dir() / "pre-commit"
        if not hook.exists():
            sys.stdout.buffer.write(dumps({"removed": None}))
            return
        if MARKER not in hook.read_text(errors="replace"):
            raise DmcError(f"{hook} was not written by dmc; leaving it alone")
    except DmcError as exc:
        fail("hook", exc)
    os.unlink(hook)
    sys.stdout.buffer.write(dumps({"removed": str(hook)}))
