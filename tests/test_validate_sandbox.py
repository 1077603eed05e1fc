"""The ``--run-tests`` sandbox, for root and for an ordinary user, with the real bubblewrap
and unshare: no network (a raw socket, past the Python guard, still cannot connect), no
writes outside the scratch folder, and the result says which isolation was in force."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmc.validate import Settings, Source
from dmc.validate import sandbox as sandbox_mod

TEST_USER = "dmc-sandbox-test"
VENV_PYTHON = sys.executable


def _need(condition: bool, reason: str) -> None:
    """Skip with a reason on a developer machine; in CI a missing piece is a failure."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on the host's loopback; the sandbox must not reach it."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def _probe_tests(port: int, outside: Path) -> str:
    """A test module that tries to escape: raw sockets (not the guarded ones) and writes."""
    return f'''import _socket
import os


def test_raw_socket_cannot_reach_the_host():
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", {port}))
    except OSError:
        return
    raise AssertionError("reached the host loopback from the sandbox")


def test_write_outside_the_scratch_folder():
    try:
        with open({str(outside / "escaped.txt")!r}, "w") as fh:
            fh.write("escaped")
    except OSError:
        return
    raise AssertionError("wrote outside the scratch folder")


def test_scratch_is_writable():
    with open("here.txt", "w") as fh:
        fh.write("ok")
    assert os.path.exists("here.txt")
'''


def _run_in_process(folder: Path, text: str, **settings) -> dict:
    path = folder / "test_probe.py"
    path.write_text(text)
    result = sandbox_mod.run_tests([Source("test_probe.py", real=path)],
                                   Settings(run_tests=True, **settings))
    return result


def test_bubblewrap_as_the_current_user(tmp_path: Path, listener: int) -> None:
    _need(shutil.which("bwrap") is not None, "bubblewrap is not installed (apt install "
          "bubblewrap)")
    _need(sandbox_mod.find_bwrap() is not None, "bubblewrap cannot create namespaces here")
    outside = tmp_path / "outside"
    outside.mkdir()
    result = _run_in_process(tmp_path, _probe_tests(listener, outside))
    summary = result["summary"]
    assert summary["isolation"] == "bubblewrap+socket-guard"
    assert summary["isolation_detail"]["filesystem"] == "read-only outside the scratch folder"
    assert summary["failed"] == 0 and summary["passed"] == 3, result["issues"]
    assert not (outside / "escaped.txt").exists()
    assert result["tool"]["isolation"] == summary["isolation"]


def test_without_bubblewrap_root_gets_a_network_namespace(tmp_path: Path, listener: int,
                                                          monkeypatch) -> None:
    _need(sandbox_mod.network_namespace_available(), "unshare cannot create a network "
          "namespace here")
    monkeypatch.setattr(sandbox_mod, "find_bwrap", lambda: None)
    outside = tmp_path / "outside"
    outside.mkdir()
    result = _run_in_process(tmp_path, _probe_tests(listener, outside))
    summary = result["summary"]
    expected = "unshare --net" if os.geteuid() == 0 else "unshare -rn"
    assert summary["isolation"] == f"{expected}+socket-guard"
    assert summary["isolation_detail"]["network"] is False
    # the raw socket is stopped by the namespace; the write is not (and the result says so)
    messages = " ".join(i.message for i in result["issues"])
    assert "test_raw_socket_cannot_reach_the_host" not in messages
    if os.geteuid() == 0:
        assert "test_write_outside_the_scratch_folder" in messages
        assert "not read-only" in summary["isolation_detail"]["filesystem"] or \
            "writable" in summary["isolation_detail"]["filesystem"]


def test_measure_coverage_off_runs_plain_pytest(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n"
                                           "    assert add(1, 2) == 3\n\n\ndef test_bad():\n"
                                           "    assert add(1, 1) == 3\n")
    sources = [Source("calc.py", real=tmp_path / "calc.py"),
               Source("test_calc.py", real=tmp_path / "test_calc.py")]
    off = sandbox_mod.run_tests(sources, Settings(run_tests=True, measure_coverage=False,
                                                  min_test_coverage=90))
    assert off["summary"]["coverage"] is None
    assert off["summary"]["passed"] == 1 and off["summary"]["failed"] == 1
    assert {i.rule for i in off["issues"]} == {"test-failed"}  # no coverage verdict without it
    on = sandbox_mod.run_tests(sources, Settings(run_tests=True, min_test_coverage=90))
    assert on["summary"]["coverage"] == 100.0
    # the whole validate() call the generation loop makes
    from dmc.validate import validate

    report = validate(sources, Settings(run_tests=True, measure_coverage=False,
                                        cache_path=None))
    assert report["tests"]["coverage"] is None and report["tests"]["failed"] == 1


# -- as an ordinary user ---------------------------------------------------------------------

_AS_USER = r'''
import json, sys
from pathlib import Path
from dmc.validate import Settings, Source
from dmc.validate import sandbox
if sys.argv[2] == "no-bwrap":
    sandbox.find_bwrap = lambda: None
folder = Path(sys.argv[1])
r = sandbox.run_tests([Source("test_probe.py", real=folder / "test_probe.py")],
                      Settings(run_tests=True))
print(json.dumps({"summary": r["summary"], "issues": [i.message for i in r["issues"]]}))
'''


@pytest.fixture(scope="module")
def ordinary_user() -> Iterator[list[str]]:
    """The command prefix that runs as an unprivileged user (created when we are root)."""
    if os.geteuid() != 0:
        yield []
        return
    _need(shutil.which("runuser") is not None and shutil.which("useradd") is not None,
          "runuser/useradd are needed to test as an ordinary user")
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run([shutil.which("useradd") or "useradd", "--system", "--no-create-home",
                        "--shell", "/bin/sh", TEST_USER], check=True, capture_output=True)
    yield [shutil.which("runuser") or "runuser", "-u", TEST_USER, "--"]


def _user_python(prefix: list[str]) -> tuple[str, list[str]]:
    """An interpreter the ordinary user may run, and the import path that finds dmc.

    This venv's interpreter may live where the user cannot go (pyenv under /root); then the
    system Python of the same version runs dmc from this venv's site-packages, which is how
    a ``pip install --user`` or PYTHONPATH setup looks to the sandbox.
    """
    import site
    import sysconfig

    repo = str(Path(__file__).resolve().parent.parent)
    if not prefix or subprocess.run([*prefix, "test", "-x", VENV_PYTHON]).returncode == 0:
        return VENV_PYTHON, [repo]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    _need(system is not None and subprocess.run([*prefix, "test", "-x", system]).returncode
          == 0, f"no {version} the unprivileged user can run")
    assert system is not None
    return system, [repo, sysconfig.get_paths()["purelib"], *site.getsitepackages()]


@pytest.mark.parametrize("variant, expected", [("bwrap", "bubblewrap"),
                                               ("no-bwrap", "unshare -rn")])
def test_as_an_ordinary_user(ordinary_user: list[str], listener: int, variant: str,
                             expected: str) -> None:
    if variant == "bwrap":
        _need(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    folder = Path(tempfile.mkdtemp(prefix="dmc-sandbox-user-"))
    outside = Path(tempfile.mkdtemp(prefix="dmc-sandbox-outside-"))
    try:
        (folder / "test_probe.py").write_text(_probe_tests(listener, outside))
        (folder / "run.py").write_text(_AS_USER)
        if ordinary_user:
            user = pwd.getpwnam(TEST_USER)
            for p in (folder, outside, folder / "test_probe.py", folder / "run.py"):
                os.chown(p, user.pw_uid, user.pw_gid)
        python, path = _user_python(ordinary_user)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(folder), "LANG": "C.UTF-8",
               "PYTHONPATH": os.pathsep.join(path)}
        proc = subprocess.run([*ordinary_user, python, str(folder / "run.py"),
                               str(folder), variant], capture_output=True, text=True,
                              env=env, timeout=120, cwd=folder)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        summary = out["summary"]
        if variant == "no-bwrap" and summary["isolation"] == "socket guard only":
            _need(False, "user namespaces are not allowed for ordinary users here")
        assert summary["isolation"] == f"{expected}+socket-guard", summary
        messages = " ".join(out["issues"])
        assert "test_raw_socket_cannot_reach_the_host" not in messages  # no network
        if variant == "bwrap":
            assert summary["passed"] == 3, out["issues"]
            assert not (outside / "escaped.txt").exists()
        else:
            # unshare -rn keeps the user's own permissions: the user's folder is writable,
            # and the result says the file system is not read-only
            assert "test_write_outside_the_scratch_folder" in messages
            assert "not read-only" in summary["isolation_detail"]["filesystem"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)
