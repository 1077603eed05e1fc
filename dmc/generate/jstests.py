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

import contextlib
import os
import posixpath
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from dmc.contract import DmcError
from dmc.generate.checks import Check, CheckRun
from dmc.generate.code import CodeFile

MAX_TEST_FILES = 5
MAX_COPIED = 3000
MAX_OUTPUT = 400
JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")
KIND = "js-test-file"

# Jest's default testMatch; files under test/ or tests/ count too when they use node:test
# (Node's own runner), never helpers and fixtures that sit beside tests
_TEST_NAME = re.compile(r"(?:^|/)__tests__/|\.(?:test|spec)\.[cm]?[jt]sx?$")
_TEST_DIR = re.compile(r"(?:^|/)tests?/")
# an environment failure, not the code's: a package that is not installed, no tests found
_ENVIRONMENT = re.compile(r"Cannot find module '(?![./])[^']+'|Cannot find package '|"
                          r"No tests found|ERR_MODULE_NOT_FOUND.*?package")
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
        if not is_js(rel) or rel in wanted or not (_TEST_NAME.search(rel)
                                                    or _TEST_DIR.search(rel)):
            continue
        real = root / rel
        try:
            if real.stat().st_size > 1_000_000:
                continue
            text = real.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not _TEST_NAME.search(rel) and not _NODE_TEST.search(text):
            continue  # under test/ but not a test: a helper or a fixture
        if any(_resolves_to(rel, spec, wanted) for spec in _SPECIFIER.findall(text)):
            found.append(Check(f"repository-js-{len(found) + 1}", "repository", KIND, text,
                               rel, root=str(root)))
            if len(found) >= MAX_TEST_FILES:
                break
    return found


def runner(root: Path, test_text: str, scratch: Path | None = None) -> tuple[list[str], str] | str:
    """The command that runs one test file of the project, and its name; or why none can.
    Jest runs from the scratch copy's ``node_modules`` (the project's, mounted there)."""
    jest = root / "node_modules" / ".bin" / "jest"
    if jest.exists():
        where = (scratch or root) / "node_modules" / ".bin" / "jest"
        return [str(where), "--ci", "--runTestsByPath"], "jest"
    node = shutil.which("node")
    if _NODE_TEST.search(test_text):
        if node is None:
            return "node is not installed"
        return [node, "--test"], "node --test"
    return ("no test runner installed for it (Jest is not in node_modules: run `npm ci` in "
            "the project)")


def _scratch(root: Path, files: list[CodeFile], scratch: Path, *, mount: bool) -> None:
    """The project's tracked files, the generated ones written over them; ``node_modules``
    an empty folder for bubblewrap to mount read-only (``mount``), else a link."""
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
        if mount:
            (scratch / "node_modules").mkdir(exist_ok=True)  # bubblewrap mounts it here
        else:
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
        prefix, fence = isolation(scratch)
        bwrap = fence.get("method") == "bubblewrap"
        try:
            _scratch(root, files, scratch, mount=bwrap)
        except (OSError, DmcError) as exc:
            return CheckRun(0, 0, errors=[f"the project could not be copied to run its "
                                          f"tests: {exc}"])
        if bwrap:
            prefix = prefix[:-1] + _mounts(root, scratch) + ["--"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch),
               "CI": "1", "NODE_ENV": "test", "NO_COLOR": "1", "FORCE_COLOR": "0"}
        for c in mine:
            how = runner(root, c.code, scratch)
            if isinstance(how, str):
                errors.append(f"{c.id} ({c.path}): {how}; not run")
                continue
            cmd, name = how
            outcome = _run_one([*prefix, *cmd, str(c.path)], scratch, env, timeout)
            if outcome is None:
                failures.append({"check": c.id, "source": c.source, "check_text": str(c.path),
                                 "message": f"{name}: killed after {timeout:.0f} s"})
                ran += 1
                continue
            code, output = outcome
            if output.startswith("could not start"):
                errors.append(f"{c.id} ({c.path}): {name} {output}")
            elif code == 0:
                ran += 1
            elif (missing := _ENVIRONMENT.search(output)) is not None:
                errors.append(f"{c.id} ({c.path}): {name} could not run it here "
                              f"({missing.group(0)}); install the project's dependencies "
                              "(npm ci)")
            else:
                ran += 1
                failures.append({"check": c.id, "source": c.source, "check_text": str(c.path),
                                 "message": f"{name}: " + _first_failure(output)})
    return CheckRun(ran, ran - len(failures), failures, errors,
                    str(fence.get("method") or "none"), time.perf_counter() - start)


def _mounts(root: Path, scratch: Path) -> list[str]:
    """bubblewrap arguments that show the project's ``node_modules`` inside the scratch copy
    (read-only) and Node itself when it lives where the sandbox hides (under the home)."""
    out: list[str] = []
    modules = root / "node_modules"
    if modules.is_dir():
        out += ["--ro-bind", str(modules.resolve()), str(scratch / "node_modules")]
    node = shutil.which("node")
    if node:
        home = os.path.realpath(os.path.expanduser("~"))
        real = Path(os.path.realpath(node))
        if home not in ("/", "") and str(real).startswith(home + os.sep):
            out += ["--ro-bind", str(real.parent.parent), str(real.parent.parent)]
    return out


def _run_one(cmd: list[str], cwd: Path, env: dict[str, str],
             timeout: float) -> tuple[int, str] | None:
    """Run one test command in its own process group; None when it was killed at its limit
    (the whole group: a server or worker the tests started goes too)."""
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    except OSError as exc:
        return 127, f"could not start: {exc}"
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    return proc.returncode, out or ""
