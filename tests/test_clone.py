"""A clone works as the README says: everything it needs is inside it, one version, man
pages where man looks, dmc on PATH, a token command, and project state kept out of git."""

from __future__ import annotations

import collections
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from dmc import __version__

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                         check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_nothing_refers_outside_the_repository() -> None:
    """No link, default path or script reaches for the sibling folder the team shared."""
    pattern = re.compile(r"\.\./shared|parent\s*/\s*[\"']shared[\"']")
    me = Path(__file__).resolve()
    found = []
    for path in tracked_files():
        if path == me or path.suffix in (".jsonl", ".gguf") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(ROOT)}:{n}" for n, line in
                  enumerate(text.splitlines(), 1) if pattern.search(line)]
    assert not found, found


def test_readme_links_resolve_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)\)", readme)
    local = [link for link in links if "://" not in link]
    assert "docs/ARCHITECTURE.md" in local
    for link in local:
        target = (ROOT / link).resolve()
        assert target.exists() and ROOT in target.parents, link


def test_data_sets_are_in_the_repository_as_their_readme_describes() -> None:
    readme = " ".join((ROOT / "data/README.md").read_text(encoding="utf-8").split())
    assert "CC BY 4.0" in readme and "Google Research" in readme
    rows = [json.loads(line) for line in (ROOT / "data/intent-dev.jsonl").open()]
    assert rows and all({"text", "label", "source"} <= row.keys() for row in rows)
    for source, n in collections.Counter(r["source"] for r in rows).items():
        assert re.search(rf"\| {re.escape(source)} \| {n} \|", readme), (source, n)
    for label, n in collections.Counter(r["label"] for r in rows).items():
        assert f"{label} {n}" in readme, (label, n)
    assert f"{len(rows):,} lines" in readme
    tasks = [json.loads(line) for line in (ROOT / "data/mbpp-sanitized.jsonl").open()]
    assert all({"task_id", "text", "test_list"} <= t.keys() and t["test_list"] for t in tasks)
    assert f"{len(tasks)} short tasks" in readme


def test_one_version_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("dmc") == __version__
    out = subprocess.run([str(VENV_BIN / "dmc"), "--version"], capture_output=True, text=True)
    assert out.stdout == f"dmc {__version__}\n"
    example = yaml.safe_load((ROOT / "examples/pre-commit-config.yaml").read_text())
    assert example["repos"][0]["rev"] == f"v{__version__}"
    assert f'"dmc {__version__}"' in (ROOT / "man/dmc.1").read_text().splitlines()[0]


def test_sentence_transformers_is_for_the_tests_only() -> None:
    """It pulls torch, scikit-learn and scipy for one parity test: not for users of rag."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]

    def names(extra: str) -> set[str]:
        return {re.split(r"[<>=~\[ ]", req, maxsplit=1)[0] for req in extras[extra]}

    assert "sentence-transformers" not in names("rag")
    assert "sentence-transformers" in names("dev")


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_finds_the_pages_through_the_venv(tmp_path: Path) -> None:
    """`man dmc-run` works for whoever has the venv's bin on PATH: man-db derives the
    manual path from PATH (bin/ -> share/man), so nothing else may point at the pages."""
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C"}
    for page in ("dmc", "dmc-run", "dmc-validate"):
        found = subprocess.run(["man", "-w", page], capture_output=True, text=True, env=env,
                               cwd=tmp_path)
        assert found.returncode == 0, (page, found.stderr)
        assert Path(found.stdout.strip()).read_text() == (ROOT / f"man/{page}.1").read_text()
    installed = Path(sys.prefix) / "share/man/man1"
    assert {p.name for p in installed.glob("dmc*.1")} == {p.name for p in
                                                          (ROOT / "man").glob("*.1")}


@pytest.mark.slow
def test_a_wheel_installs_the_man_pages_as_data_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "dmc", "commands", "remote", "man"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", str(src), "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("dmc-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    pages = {n.rsplit("/", 1)[1] for n in names if "/data/share/man/man1/" in n}
    assert pages == {p.name for p in (ROOT / "man").glob("*.1")}
    # every package of the source tree is in the wheel (a package missing from pyproject's
    # list works in an editable install and breaks every real one)
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "dmc").rglob("__init__.py")}
    packages |= {"commands", "remote"}
    shipped = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    expected = {("dmc/" + p if p in ("commands", "remote") else p) for p in packages}
    assert expected <= shipped, sorted(expected - shipped)
    assert "dmc/plan.schema.json" in names and "dmc/service/web/index.html" in names


def test_make_install_user_links_dmc_and_its_man_pages(tmp_path: Path) -> None:
    bindir, mandir = tmp_path / "bin", tmp_path / "man1"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["PATH"] = "/usr/bin:/bin"
    proc = subprocess.run(["make", "-s", "-o", ".venv/.installed", "install-user",
                           f"BINDIR={bindir}", f"MANDIR={mandir}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (bindir / "dmc").resolve() == (VENV_BIN / "dmc").resolve()
    out = subprocess.run([str(bindir / "dmc"), "-V"], capture_output=True, text=True)
    assert out.stdout == f"dmc {__version__}\n"
    assert (mandir / "dmc-run.1").read_text() == (ROOT / "man/dmc-run.1").read_text()
    assert f"{bindir} is not on PATH" in proc.stderr  # and it says what to do about it


def test_agent_token_create(dmc, isolated_env) -> None:
    res = dmc("agent", "token", "create")
    assert res.code == 0, res.stderr
    path = Path(res.doc["token_file"])
    assert path == Path(isolated_env["XDG_CONFIG_HOME"]) / "dmc" / "agent.token"
    token = path.read_text().strip()
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert token not in res.stderr and token.encode() not in res.stdout
    assert str(path) in res.stderr and "--token-file" in res.stderr
    again = dmc("agent", "token", "create")
    assert again.code == 2 and "--force" in again.stderr
    assert path.read_text().strip() == token  # kept
    forced = dmc("agent", "token", "create", "--force")
    assert forced.code == 0 and path.read_text().strip() != token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_dmc_state_folder_keeps_itself_out_of_git(dmc, make_repo) -> None:
    repo = make_repo({"app.py": "def handler(event):\n    return event\n"})
    assert dmc("style", "learn", cwd=repo).code == 0
    assert (repo / ".dmc/.gitignore").read_text() == "*\n"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=repo, capture_output=True, text=True, check=True).stdout
    assert ".dmc" not in status and "app.py" in status
    assert dmc("index", cwd=repo).code == 0
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=repo, capture_output=True, text=True, check=True).stdout
    assert ".dmc" not in status
