"""dmc validate's state and speed: the ``.dmc`` folder stays out of git, and the warm
checker processes (the fast path) report exactly what the tools run the usual way report."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.test_validate import BAD_PY, CLEAN_PY


def _status(repo: Path) -> list[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                         cwd=repo, capture_output=True, text=True, check=True).stdout
    return sorted(line[3:] for line in out.splitlines())


def test_cache_folder_carries_a_gitignore(dmc, make_repo) -> None:
    repo = make_repo({"a.py": CLEAN_PY, "b.py": BAD_PY})
    assert dmc("validate", "a.py", "b.py", cwd=repo).code == 1
    assert (repo / ".dmc/cache/validate.sqlite").is_file()
    assert (repo / ".dmc/.gitignore").read_text(encoding="utf-8") == "*\n"
    # the cache, mypy's cache and the rest of .dmc/ are invisible to git
    assert _status(repo) == ["a.py", "b.py"]
    # an ignore file the user wrote is left alone
    (repo / ".dmc/.gitignore").write_text("cache/\n", encoding="utf-8")
    dmc("validate", "a.py", cwd=repo)
    assert (repo / ".dmc/.gitignore").read_text(encoding="utf-8") == "cache/\n"


def test_no_cache_eslint_config_folder_is_ignored_too(dmc, make_repo) -> None:
    """Without the cache, ESLint's generated config goes to .dmc/eslint in the working
    folder: that folder gets the ignore file as well."""
    repo = make_repo({"m.js": "const x = 1;\nconsole.log(x);\n"})
    res = dmc("validate", "m.js", "--no-cache", cwd=repo)
    if res.doc["validation"]["tools"].get("eslint", {}).get("status") == "missing":
        assert not (repo / ".dmc").exists()
        return
    assert (repo / ".dmc/eslint/eslint.config.mjs").is_file()
    assert _status(repo) == ["m.js"]
