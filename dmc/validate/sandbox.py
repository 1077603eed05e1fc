"""``validate --run-tests``: run generated pytest tests in a sandbox, with coverage.

This is the only place dmc executes the code it checks, so it is fenced in:

- a fresh temporary folder holding copies of the Python files, used as HOME and TMPDIR;
- a scrubbed environment (no tokens, proxies or user configuration leak in);
- isolation by the strongest means that works here, for root and ordinary users alike, and
  named in the result (``tests.isolation``):

  1. ``bubblewrap`` (``bwrap``, Debian package ``bubblewrap``): no network, the whole file
     system read-only except the scratch folder, a private /tmp, /dev and /proc, its own
     PID namespace, the user's home hidden unless Python lives there;
  2. ``unshare -rn`` (util-linux): a user and network namespace, so no network, without
     root; the file system keeps the user's own permissions (not read-only);
  3. as root without bubblewrap, ``unshare --net``: no network, file system writable;
  4. nothing of the above: only the socket guard;

- always a socket guard loaded before the tests that refuses every non-Unix connection;
- limits: wall time (the whole process group is killed), CPU time, address space, file size,
  open files, no core dumps.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from dmc.validate.issues import Issue

MEMORY_LIMIT = 2 * 1024**3
FILE_SIZE_LIMIT = 64 * 1024**2

_GUARD = '''"""dmc sandbox: refuse network access from the code under test."""
import socket as _socket

_real_socket = _socket.socket


class _GuardedSocket(_real_socket):
    def connect(self, address):
        if self.family != getattr(_socket, "AF_UNIX", None):
            raise OSError(101, "network access is disabled in the dmc sandbox")
        return super().connect(address)

    def connect_ex(self, address):
        if self.family != getattr(_socket, "AF_UNIX", None):
            return 101
        return super().connect_ex(address)

    def sendto(self, *args):
        raise OSError(101, "network access is disabled in the dmc sandbox")


def _no_dns(*args, **kwargs):
    raise OSError(101, "network access is disabled in the dmc sandbox")


_socket.socket = _GuardedSocket
_socket.getaddrinfo = _no_dns
_socket.create_connection = lambda *a, **k: _no_dns()
'''

_PLUGIN = '''"""dmc sandbox: write each test's outcome as JSON lines."""
import json
import os

_OUT = os.environ["DMC_SANDBOX_REPORT"]


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        line = None
        if report.longrepr is not None and hasattr(report.longrepr, "reprcrash"):
            crash = report.longrepr.reprcrash
            line = getattr(crash, "lineno", None)
            message = getattr(crash, "message", "")
        else:
            message = str(report.longrepr or "")[-500:]
        with open(_OUT, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"nodeid": report.nodeid, "when": report.when,
                                 "outcome": report.outcome, "line": line,
                                 "message": message[-500:]}) + "\\n")
'''


def is_test_file(path: str) -> bool:
    """pytest's default discovery names."""
    name = os.path.basename(path)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_bwrap() -> str | None:
    """bubblewrap's path when it is installed and can create its namespaces here."""
    return _probe_bwrap(shutil.which("bwrap"))


@lru_cache(maxsize=4)
def _probe_bwrap(tool: str | None) -> str | None:
    if tool is None:
        return None
    ok = _works([tool, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                 "--unshare-net", "--unshare-pid", "--die-with-parent", "true"])
    return tool if ok else None


@lru_cache(maxsize=1)
def network_namespace_available() -> bool:
    """Whether ``unshare --net`` works here (as root, or user namespaces allowed)."""
    tool = shutil.which("unshare")
    if tool is None:
        return False
    if os.geteuid() != 0:
        return _works([tool, "--map-root-user", "--net", "true"])
    return _works([tool, "--net", "true"])


def tool_paths() -> list[str]:
    """Folders that hold pytest and coverage for this interpreter.

    The sandbox gets its own HOME (and bubblewrap hides the real one), so tools installed
    with ``pip install --user`` or found through the caller's PYTHONPATH would vanish; their
    folders are put on the sandbox's PYTHONPATH explicitly.
    """
    from importlib.util import find_spec

    out = []
    for name in ("pytest", "_pytest", "pluggy", "iniconfig", "coverage"):
        spec = find_spec(name)
        if spec is None or not spec.origin:
            continue
        folder = os.path.dirname(os.path.dirname(spec.origin))
        if folder not in out:
            out.append(folder)
    return out


def isolation(scratch: Path) -> tuple[list[str], dict[str, Any]]:
    """The command prefix that fences the tests in, and what it guarantees.

    ``scratch`` is the only folder the tests may write to (with bubblewrap).
    """
    bwrap = find_bwrap()
    if bwrap is not None:
        prefix = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                  "--tmpfs", "/tmp",  # noqa: S108 - a private, empty /tmp inside
                  "--bind", str(scratch), str(scratch),
                  "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                  "--die-with-parent", "--new-session", "--chdir", str(scratch)]
        home = os.path.realpath(os.path.expanduser("~"))
        needed = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.executable,
                                                str(scratch), *tool_paths())]
        if home not in ("/", "") and os.path.isdir(home) and not any(
                p == home or p.startswith(home + os.sep) for p in needed):
            prefix += ["--tmpfs", home]  # tokens, keys and config stay out of reach
        return [*prefix, "--"], {"method": "bubblewrap", "network": False,
                                 "filesystem": "read-only outside the scratch folder",
                                 "pid_namespace": True}
    unshare = shutil.which("unshare") or "unshare"
    if network_namespace_available():
        if os.geteuid() != 0:
            return [unshare, "--map-root-user", "--net", "--"], {
                "method": "unshare -rn", "network": False,
                "filesystem": "the user's own permissions (not read-only)",
                "pid_namespace": False}
        return [unshare, "--net", "--"], {
            "method": "unshare --net", "network": False,
            "filesystem": "writable (root without bubblewrap)", "pid_namespace": False}
    return [], {"method": "socket guard only", "network": "guarded in Python only",
                "filesystem": "the user's own permissions", "pid_namespace": False}


def _limits(cpu_seconds: int) -> None:  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_tests(sources: list[Any], settings: Any) -> dict[str, Any]:
    """Run the tests among ``sources``; returns summary, issues and the tool entry."""
    from dmc.validate import safe_relative

    python = [s for s in sources if str(s.path).endswith(".py")]
    tests = [s for s in python if is_test_file(s.path)]
    tool: dict[str, Any] = {"version": _pytest_version(), "status": "ran"}
    if not tests:
        tool["status"] = "skipped"
        issues = []
        if settings.min_test_coverage:
            issues.append(Issue(python[0].path if python else "-", 1, 0, "warning",
                                "no-tests", "pytest", "no test files (test_*.py) to run, so "
                                f"coverage {settings.min_test_coverage:g}% cannot be shown"))
        return {"summary": {"ran": False, "reason": "no test files"}, "issues": issues,
                "tool": tool}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dmc-sandbox-") as tmp:
        root = Path(tmp) / "work"
        guard = Path(tmp) / "guard"
        for folder in (root, guard, root / ".tmp"):
            folder.mkdir(parents=True)
        (guard / "sitecustomize.py").write_text(_GUARD, encoding="utf-8")
        (guard / "dmc_sandbox_plugin.py").write_text(_PLUGIN, encoding="utf-8")
        for s in python:
            dest = root / safe_relative(s.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s.real, dest)
        report = Path(tmp) / "report.jsonl"
        cov_data = Path(tmp) / "coverage.dat"
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root),
               "TMPDIR": str(root / ".tmp"), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
               "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": os.pathsep.join([str(guard), str(root), *tool_paths()]),
               "DMC_SANDBOX_REPORT": str(report), "COVERAGE_FILE": str(cov_data),
               # only the plugins named on the command line: the ones a venv happens to
               # have (hypothesis, schemathesis...) cost ~3 s of start-up per run
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        measure = bool(getattr(settings, "measure_coverage", True))
        pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                       "dmc_sandbox_plugin", "--rootdir", str(root), str(root)]
        if measure:
            omit = ",".join(str(root / safe_relative(t.path)) for t in tests)
            cmd = [sys.executable, "-m", "coverage", "run", "--branch", f"--source={root}",
                   f"--omit={omit}", *pytest_args]
        else:
            cmd = [sys.executable, *pytest_args]
        fence, detail = isolation(Path(tmp))
        cmd = [*fence, *cmd]
        mode = detail["method"] + ("+socket-guard" if fence else "")
        timeout = float(settings.test_timeout)
        outcome, output = _run(cmd, root, env, timeout)
        results = _read_report(report)
        coverage = None
        if measure and outcome != "timeout":
            coverage = _coverage(cov_data, root, env)
    issues = _issues(results, tests, outcome, output, timeout)
    passed = sum(1 for r in results if r["when"] == "call" and r["outcome"] == "passed")
    failed = sum(1 for r in results if r["outcome"] == "failed")
    summary: dict[str, Any] = {"ran": True, "passed": passed, "failed": failed,
                               "outcome": outcome, "coverage": coverage,
                               "isolation": mode, "isolation_detail": detail,
                               "seconds": round(time.perf_counter() - start, 3)}
    needed = settings.min_test_coverage
    if needed is not None and coverage is not None and coverage < needed:
        issues.append(Issue(tests[0].path, 1, 0, "error", "coverage", "pytest",
                            f"test coverage {coverage:.1f}% is below the required {needed:g}%"))
    summary["min_coverage"] = needed
    tool["seconds"] = summary["seconds"]
    tool["isolation"] = mode
    return {"summary": summary, "issues": issues, "tool": tool}


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[str, str]:
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: _limits(int(timeout) + 5))  # noqa: PLW1509
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return "timeout", out.decode("utf-8", "replace")[-2000:]
    text = out.decode("utf-8", "replace")[-2000:]
    if proc.returncode < 0:
        return f"killed by signal {-proc.returncode}", text
    if proc.returncode == 5:
        return "no tests collected", text
    return ("passed" if proc.returncode == 0 else "failed"), text


def _read_report(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "nodeid" in row:
            out.append(row)
    return out


def _coverage(data: Path, root: Path, env: dict[str, str]) -> float | None:
    if not data.is_file():
        return None
    out = root.parent / "coverage.json"
    proc = subprocess.run([sys.executable, "-m", "coverage", "json", "-q", "-o", str(out)],
                          cwd=root, env=env, capture_output=True, timeout=60, check=False)
    if proc.returncode != 0 or not out.is_file():
        return None
    try:
        return round(float(json.loads(out.read_text())["totals"]["percent_covered"]), 1)
    except (ValueError, KeyError, TypeError):
        return None


def _issues(results: list[dict[str, Any]], tests: list[Any], outcome: str, output: str,
            timeout: float) -> list[Issue]:
    issues = []
    for r in results:
        if r["outcome"] != "failed":
            continue
        path = r["nodeid"].split("::", 1)[0]
        issues.append(Issue(path, int(r.get("line") or 1), 0, "error", "test-failed",
                            "pytest", f"{r['nodeid']} failed ({r['when']}): "
                                      f"{(r.get('message') or '').strip()[:300]}"))
    first = tests[0].path
    if outcome == "timeout":
        issues.append(Issue(first, 1, 0, "error", "test-timeout", "pytest",
                            f"tests did not finish within {timeout:g} s and were killed"))
    elif outcome.startswith("killed"):
        issues.append(Issue(first, 1, 0, "error", "test-killed", "pytest",
                            f"the test process was {outcome} (a resource limit?)"))
    elif outcome == "failed" and not issues:
        issues.append(Issue(first, 1, 0, "error", "test-error", "pytest",
                            "pytest failed before running tests: " + output.strip()[-300:]))
    return issues


def _pytest_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest")
    except PackageNotFoundError:
        return None
