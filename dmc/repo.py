"""Where the repository is, and safe resolution of paths inside it.

Found by walking up to a ``.git`` entry instead of running ``git``: start-up matters, and a
subprocess costs more than the whole intent classifier.
"""

from __future__ import annotations

import os
from pathlib import Path


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git`` (folder or worktree file)."""
    try:
        here = start.resolve()
    except OSError:
        return None
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def resolve_inside(root: Path, candidate: str) -> Path | None:
    """``candidate`` as a path inside ``root``, or None if it would leave the repository.

    Both ``..`` tricks and symlinks that point outside are refused: the resolved real path
    must stay under the real root.
    """
    if not candidate or "\x00" in candidate:
        return None
    real_root = Path(os.path.realpath(root))
    path = Path(candidate)
    joined = path if path.is_absolute() else real_root / path
    try:
        real = Path(os.path.realpath(joined))
    except (OSError, ValueError):
        return None
    if real == real_root or real_root in real.parents:
        return real
    return None


def mark_state_dir(folder: Path) -> None:
    """Create dmc's per-project folder (``.dmc/``) with a ``.gitignore`` holding ``*``.

    The index, the style profile and the caches are machine state, not project files: the
    ``.gitignore`` keeps the whole folder (itself included) out of ``git status`` without
    asking the user to edit the project's own ignore file. One that exists is left alone.
    Best effort: a read-only folder must not stop the stage that wanted its state there.
    """
    ignore = folder / ".gitignore"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
    except OSError:
        pass
