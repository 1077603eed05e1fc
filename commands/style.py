"""``dmc style``: learn, show, reset and check the project's coding conventions."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, fail, load_config

from dmc.contract import DmcError, Exit, dumps
from dmc.wiring import project_style_path, style_profile, user_style_path

app = typer.Typer(help="The style profile: conventions learned from approved code.",
                  no_args_is_help=True)
SKIP = {".git", "node_modules", ".venv", "venv", "__pycache__", ".dmc", "dist", "build"}


# where the profiles live and how they merge: one definition, in the library
user_db_path = user_style_path
project_db_path = project_style_path
load_profile = style_profile


def _db(repo: Path | None, user: bool) -> Any:
    from dmc.style.profile import StyleDB

    path = user_db_path() if user else project_db_path(repo)
    if path is None:
        raise DmcError("not inside a repository", hint="use --user for your own profile, or "
                       "run inside the project")
    if not user:
        from dmc.repo import mark_state_dir

        mark_state_dir(path.parent)
    return StyleDB(path)


def _files(paths: list[Path]) -> list[Path]:
    from dmc.languages import EXTENSIONS

    out = []
    for p in paths:
        if p.is_dir():
            for folder, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d not in SKIP)
                out += [Path(folder) / n for n in sorted(names)
                        if EXTENSIONS.get(Path(n).suffix.lower()) in
                        ("python", "javascript", "typescript", "tsx")]
        elif p.is_file():
            out.append(p)
        else:
            raise DmcError(f"no such file or folder: {p}")
    return out


def _git_added(repo: Path, rev: str) -> list[tuple[str, str]]:
    """(path, content at REV) for the files the commit REV added or changed."""
    import subprocess

    try:
        names = subprocess.run(["git", "-C", str(repo), "diff-tree", "--no-commit-id",
                                "--name-only", "-r", "--diff-filter=AM", "--root", rev],
                               capture_output=True, text=True, timeout=60, check=True)
    except subprocess.CalledProcessError as exc:
        raise DmcError(f"git cannot read {rev}: {exc.stderr.strip()[:200]}") from None
    out = []
    for name in names.stdout.split("\n"):
        if not name:
            continue
        show = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{name}"],
                              capture_output=True, timeout=60)
        if show.returncode == 0 and b"\x00" not in show.stdout[:8192]:
            out.append((name, show.stdout.decode("utf-8", "replace")))
    return out


@app.command("learn")
def learn(
    paths: list[Path] = typer.Argument(None, help="Files or folders of approved code "
                                       "(default: the repository)."),
    from_git: str = typer.Option(None, "--from-git", metavar="REV", help="Learn the files "
                                 "commit REV added or changed (for a post-commit hook)."),
    user: bool = typer.Option(False, "--user", help="Learn into your personal profile."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Learn naming, async, error handling, type hints, docstrings, quotes, indentation,
    test framework and preferred libraries. Re-learning a file does not double-count."""
    from dmc.languages import EXTENSIONS
    from dmc.style.observe import observe

    cfg = load_config("style", repo=repo, sets=sets)
    start = time.perf_counter()
    try:
        db = _db(cfg.repo, user)
        if from_git:
            if cfg.repo is None:
                raise DmcError("--from-git needs a git repository")
            items = _git_added(cfg.repo, from_git)
        else:
            targets = _files(paths or ([cfg.repo] if cfg.repo else []))
            if not targets:
                raise DmcError("nothing to learn from", hint="give files or folders")
            items = []
            for p in targets:
                try:
                    text = p.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                key = str(p.resolve())
                if cfg.repo is not None and not user:
                    try:
                        key = p.resolve().relative_to(cfg.repo).as_posix()
                    except ValueError:
                        pass
                items.append((key, text))
    except DmcError as exc:
        fail("style", exc)
    learned = unchanged = 0
    try:
        for key, text in items:
            language = EXTENSIONS.get(Path(key).suffix.lower())
            if language not in ("python", "javascript", "typescript", "tsx"):
                continue
            if db.learn(key, text, language, observe(key, text, language)):
                learned += 1
            else:
                unchanged += 1
    except KeyboardInterrupt:
        ui.error("style", "interrupted; what was learned so far is kept")
        raise typer.Exit(int(Exit.INTERRUPTED)) from None
    finally:
        profile = db.profile()
        db.close()
    seconds = time.perf_counter() - start
    out = {"style": {"learned": learned, "unchanged": unchanged, "files": profile["files"],
                     "seconds": round(seconds, 3),
                     "files_per_s": round((learned + unchanged) / seconds, 1) if seconds else 0,
                     "profile": "user" if user else "project"}}
    typer.get_binary_stream("stdout").write(dumps(out, pretty=pretty))


@app.command("show")
def show(pretty: bool = PRETTY, repo: Path = REPO, sets: list[str] = SET) -> None:
    """Print the profile (preferred value, confidence and evidence per feature)."""
    cfg = load_config("style", repo=repo, sets=sets)
    try:
        profile = load_profile(cfg.repo)
    except DmcError as exc:
        fail("style", exc)
    if profile is None:
        fail("style", DmcError("no style profile yet", Exit.UNAVAILABLE,
                               hint="dmc style learn"))
    assert profile is not None
    typer.get_binary_stream("stdout").write(dumps({"style": profile}, pretty=pretty))
    rows = [(lang, feat, str(e.get("preferred", ", ".join(e.get("top", [])[:5]))),
             f"{e.get('confidence', '')}", str(e["evidence"]))
            for lang, feats in profile["languages"].items() for feat, e in sorted(feats.items())]
    ui.table("dmc style", rows, ("language", "feature", "preferred", "confidence", "evidence"))


@app.command("reset")
def reset(user: bool = typer.Option(False, "--user", help="Reset your personal profile."),
          repo: Path = REPO, sets: list[str] = SET) -> None:
    """Forget everything learned (the project profile, or yours with --user)."""
    cfg = load_config("style", repo=repo, sets=sets)
    try:
        db = _db(cfg.repo, user)
        db.reset()
        db.close()
    except DmcError as exc:
        fail("style", exc)
    typer.get_binary_stream("stdout").write(dumps({"style": {"reset": True}}))


@app.command("check")
def check(
    files: list[Path] = typer.Argument(..., help="Files to score."),
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Score how well files follow the profile (0-1) and list the deviations."""
    from dmc.languages import EXTENSIONS
    from dmc.style.observe import observe
    from dmc.style.profile import score

    cfg = load_config("style", repo=repo, sets=sets)
    profile = load_profile(cfg.repo)
    if profile is None:
        fail("style", DmcError("no style profile yet", Exit.UNAVAILABLE,
                               hint="dmc style learn"))
    assert profile is not None
    results = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail("style", DmcError(f"cannot read {f}: {exc}"))
        language = EXTENSIONS.get(f.suffix.lower()) or ""
        results.append({"path": str(f), **score(profile, language,
                                                 observe(str(f), text, language))})
    typer.get_binary_stream("stdout").write(dumps({"style_check": results}, pretty=pretty))
