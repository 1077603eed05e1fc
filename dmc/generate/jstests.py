"""The repository's own JavaScript/TypeScript tests as acceptance checks of a change.

The Python side (:func:`dmc.generate.checks.repository_tests`) runs the pytest files that
import a target module; this is the same for a JavaScript project: the test files git tracks
(``*.test.js``, ``*.spec.ts``, files under ``test/``, ``tests/`` or ``__tests__/``) that
``require``/``import`` a target file by a relative path, run with the project's runner —
Jest when the project has it installed (``node_modules/.bin/jest``), else Node's own runner
(``node --test``) for files that use ``node:test``. A test file that needs a runner the
project has not installed is reported ("run npm ci"), never counted as passed or failed.

Each test file is one check. They run in a scratch copy of the project's tracked files with
the generated files written over it (``node_modules`` linked read-only), under the same
isolation as the Python checks (:func:`dmc.validate.sandbox.isolation`: no network, and with
bubblewrap a read-only file system outside the scratch folder), one process per file, killed
at its time limit.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from dmc.generate.checks import Check, CheckRun
from dmc.generate.code import CodeFile

MAX_TEST_FILES = 5
MAX_COPIED = 3000
MAX_OUTPUT = 400
JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")
KIND = "js-test-file"

_TEST_NAME = re.compile(r"(?:^|/)(?:__tests__|tests?)/|\.(?:test|spec)\.[cm]?[jt]sx?$")
_SPECIFIER = re.compile(
    r"""(?:require\s*\(\s*|\bfrom\s+|\bimport\s*\(?\s*)['"](\.{1,2}/[^'"]+)['"]""")
_NODE_TEST = re.compile(r"""['"]node:test['"]""")


def is_js(path: str) -> bool:
    """A JavaScript or TypeScript source by its name."""
    return path.endswith(JS_SUFFIXES)


def _tracked(root: Path) -> list[str]:
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [p for p in out.decode("utf-8", "replace").split("\0")
            if p and not p.startswith("node_modules/")][:MAX_COPIED]


def _resolves_to(test: str, specifier: str, targets: set[str]) -> bool:
    """``specifier`` (``../routes/api``) from ``test`` names one of ``targets``, the way
    Node resolves it: as written, with an extension added, or as a folder's index."""
    base = posixpath.normpath(posixpath.join(posixpath.dirname(test), specifier))
    candidates = {base, *(base + s for s in JS_SUFFIXES),
                  *(base + "/index" + s for s in JS_SUFFIXES)}
    return bool(candidates & targets)


def find(repo: Any, targets: list[str]) -> list[Check]:
    """The tracked test files that import a JavaScript/TypeScript target (at most five)."""
    wanted = {t for t in targets if is_js(t)}
    if not wanted or repo is None:
        return []
    root = Path(repo)
    found: list[Check] = []
    for rel in _tracked(root):
        if not is_js(rel) or not _TEST_NAME.search(rel) or rel in wanted:
            continue
        real = root / rel
        try:
            if real.stat().st_size > 1_000_000:
                continue
            text = real.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if any(_resolves_to(rel, spec, wanted) for spec in _SPECIFIER.findall(text)):
            found.append(Check(f"repository-js-{len(found) + 1}", "repository", KIND, text,
                               rel, root=str(root)))
            if len(found) >= MAX_TEST_FILES:
                break
    return found


def runner(root: Path, test_text: str) -> tuple[list[str], str] | str:
    """The command that runs one test file of the project, and its name; or why none can."""
    jest = root / "node_modules" / ".bin" / "jest"
    if jest.exists():
        return [str(jest), "--ci", "--runTestsByPath"], "jest"
    node = shutil.which("node")
    if _NODE_TEST.search(test_text):
        if node is None:
            return "node is not installed"
        return [node, "--test"], "node --test"
    return ("no test runner installed for it (Jest is not in node_modules: run `npm ci` in "
            "the project)")


def _scratch(root: Path, files: list[CodeFile], scratch: Path) -> None:
    """The project's tracked files, the generated ones written over them."""
    from dmc.validate import safe_relative

    for rel in _tracked(root):
        src = root / rel
        if not src.is_file() or src.is_symlink():
            continue
        dest = scratch / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    for f in files:
        dest = scratch / safe_relative(f.path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(f.code, encoding="utf-8")
    modules = root / "node_modules"
    if modules.is_dir():
        (scratch / "node_modules").symlink_to(modules, target_is_directory=True)


def _first_failure(output: str) -> str:
    """The lines that say what failed: Jest's ``●`` block or Node's ``not ok`` and error."""
    lines = [ln.rstrip() for ln in output.splitlines()]
    for i, ln in enumerate(lines):
        if ln.lstrip().startswith(("●", "not ok")):
            block = [x.strip() for x in lines[i:i + 14] if x.strip()]
            text = " | ".join(block)
            return text[:MAX_OUTPUT]
    tail = " | ".join(x.strip() for x in lines[-8:] if x.strip())
    return tail[-MAX_OUTPUT:] or "failed without output"


def run(checks: list[Check], files: list[CodeFile], *, timeout: float = 60.0) -> CheckRun:
    """Run each JavaScript test file check against ``files``; never raises for bad tests."""
    from dmc.validate.sandbox import isolation

    start = time.perf_counter()
    mine = [c for c in checks if c.kind == KIND and c.root]
    if not mine:
        return CheckRun(0, 0)
    root = Path(str(mine[0].root))
    failures: list[dict[str, str]] = []
    errors: list[str] = []
    ran = 0
    with tempfile.TemporaryDirectory(prefix="dmc-jstests-") as tmp:
        scratch = Path(tmp) / "project"
        scratch.mkdir()
        _scratch(root, files, scratch)
        prefix, fence = isolation(scratch)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch),
               "CI": "1", "NODE_ENV": "test", "NO_COLOR": "1", "FORCE_COLOR": "0"}
        for c in mine:
            how = runner(root, c.code)
            if isinstance(how, str):
                errors.append(f"{c.id} ({c.path}): {how}; not run")
                continue
            cmd, name = how
            ran += 1
            try:
                proc = subprocess.run([*prefix, *cmd, str(c.path)], cwd=scratch, env=env,
                                      capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                failures.append({"check": c.id, "source": c.source, "check_text": str(c.path),
                                 "message": f"{name}: killed after {timeout:.0f} s"})
                continue
            except OSError as exc:
                errors.append(f"{c.id} ({c.path}): {name} could not start: {exc}")
                ran -= 1
                continue
            if proc.returncode != 0:
                failures.append({"check": c.id, "source": c.source, "check_text": str(c.path),
                                 "message": f"{name}: "
                                            + _first_failure(proc.stdout + "\n" + proc.stderr)})
    return CheckRun(ran, ran - len(failures), failures, errors, str(fence.get("method")),
                    time.perf_counter() - start)
