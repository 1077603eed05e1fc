"""Writing a generated result into the working tree, safely.

A change to an existing file is applied as its edit blocks, replayed on the file as it is
on disk: only the lines the edits touch change, and a redaction made for the payload is
never written back. An existing file is never replaced whole, a file with uncommitted
changes is never touched, and every file is checked before any is written, so a refusal
leaves the tree as it was. ``dmc run --apply`` and the service's apply both come here.
"""

from __future__ import annotations

import difflib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmc.contract import DmcError


@dataclass(frozen=True)
class Planned:
    """One file to write: where, its name in the repository, what it held, what it gets."""

    target: Path
    rel: str
    old: str
    new: str

    def diff(self) -> list[str]:
        """The unified diff lines (without line ends) from the old text to the new."""
        return [line.rstrip("\n") for line in difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            f"a/{self.rel}", f"b/{self.rel}")]


def plan(repo: Path | None, files: list[dict[str, Any]]) -> list[Planned]:
    """Check every file and compute its new content; raise on the first refusal."""
    from dmc.repo import resolve_inside

    if repo is None:
        raise DmcError("--apply needs a git repository")
    planned: list[Planned] = []
    for f in files:
        target = resolve_inside(repo, f["path"])
        if target is None:
            raise DmcError(f"refusing to write {f['path']}: outside the repository")
        rel = target.relative_to(repo.resolve()).as_posix()
        if rel.split("/", 1)[0] == ".git":
            raise DmcError(f"refusing to write {rel}: inside .git")
        if f.get("truncated"):
            raise DmcError(f"refusing to write {rel}: the answer was cut off and the code is "
                           "incomplete")
        old = target.read_text(encoding="utf-8") if target.is_file() else ""
        if target.is_file():
            status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--",
                                     rel], capture_output=True, text=True, timeout=30)
            if status.stdout.strip():
                raise DmcError(f"refusing to overwrite {rel}: it has uncommitted changes",
                               hint="commit or stash them first")
        planned.append(Planned(target, rel, old, new_content(rel, target, old, f)))
    return planned


def apply_files(repo: Path | None, files: list[dict[str, Any]],
                show: Callable[[str], None] | None = None) -> list[str]:
    """Write the result into the tree, each file's diff shown (``show``, a line at a time)
    just before it is written; returns the paths written. Nothing is written when any
    file is refused."""
    written = []
    for p in plan(repo, files):
        if show is not None:
            for line in p.diff():
                show(line)
        p.target.parent.mkdir(parents=True, exist_ok=True)
        p.target.write_text(p.new, encoding="utf-8")
        written.append(p.rel)
    return written


def new_content(rel: str, target: Path, old: str, f: dict[str, Any]) -> str:
    """What the file becomes: its edits replayed on disk, or the whole text of a new file."""
    from dmc.generate.edits import EditBlock, apply_edits, strip_markers

    edits = f.get("edits")
    if edits is None:
        if target.is_file():
            raise DmcError(f"refusing to replace {rel} whole: dmc changes existing files only "
                           "through edit blocks", hint="ask again; the answer had no edits "
                           "for it")
        return strip_markers(str(f["code"]))
    blocks = [EditBlock(rel, str(e["search"]), str(e["replace"]), i + 1)
              for i, e in enumerate(edits)]
    result = apply_edits(old if target.is_file() else None, blocks, path=rel)
    if not result.ok:
        detail = "; ".join(x.describe() for x in result.failures)
        raise DmcError(f"refusing to write {rel}: the edits no longer apply to the file on "
                       f"disk ({detail})", hint="it changed since the request; ask again")
    return str(result.content)
