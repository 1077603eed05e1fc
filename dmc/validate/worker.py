"""Warm checker processes: pylint, bandit and mypy kept running between ``dmc validate`` runs.

Why: on two cores a new ``python -m pylint`` spends most of its time starting and building
astroid trees of the standard library and installed packages the project imports (for 20
files of httpx, about 150 modules); bandit and mypy spend 0.5-1.5 s each just starting. A
worker keeps one tool imported and, for pylint, keeps astroid's trees of *library*
modules, so a run only pays for the project's own files.

Results must be exactly what ``python -m TOOL ARGS`` prints in a new process (a warm
process may make the gate faster, never different), so a worker:

- runs the tool through its own command-line entry point with the caller's arguments,
  working folder, environment, ``sys.argv`` and ``sys.path`` (as ``python -m`` sets it),
  and returns its stdout, stderr and exit status; the caller parses them as before;
- is keyed (its socket name) on the Python executable, the tool's version, this file, the
  installed distributions and the environment variables read when Python or the tool
  starts (:data:`ENV_KEYS`): when any of them changes a new worker is started, and the old
  one exits when idle. Every request runs under the caller's whole environment;
- after every pylint run forgets every astroid tree that is not a library module (a file
  under the standard library or site-packages, or a compiled module built from the live
  interpreter) and every library module a project module could shadow (a top-level name
  present in the working folder, a checked file's package root or a non-library
  ``sys.path`` entry). astroid's builder records ``obj.attr = ...`` on obj's class or
  module, which may be a kept library tree; it only appends, so the nodes whose module was
  forgotten are removed from the kept trees, leaving them as if that module had never been
  built. A kept library module that recorded nodes on another kept module is forgotten
  too (with its recordings): a new process has them only when it builds that module,
  which it does only when the project needs it. astroid's inference and look-up caches
  and pylint's node caches are cleared, as
  ``clear-cache-post-run`` does, so only trees of unchanged library files survive;
- removes modules a run imported from outside the library (plug-ins named in a project's
  config), so an edited plug-in is imported again;
- serves one request at a time (tools keep global state), with the caller's time limit
  enforced by an alarm, after which it answers "timed out" and exits (its state is then
  unknown).

Anything that goes wrong on the way to a worker (no socket folder of our own, a worker that
does not start, a broken connection) makes the caller run the tool the usual way, which
gives the same answer, slower. Workers listen on a Unix socket in a folder only this user
can enter (``$XDG_RUNTIME_DIR/dmc`` or ``/tmp/dmc-UID``) and exit after
:data:`IDLE_S` seconds without a request; at most :data:`MAX_WORKERS` run per user.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import sysconfig
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

TOOLS = ("pylint", "bandit", "mypy")
IDLE_S = 600.0
#: live workers per user at most (each holds 200-400 MB); beyond it tools run in new
#: processes rather than start another
MAX_WORKERS = 6
START_TIMEOUT_S = 20.0
#: astroid trees kept at most; beyond it the worker starts again from empty
MAX_MODULES = 4000
#: environment variables read when Python or a tool *starts* (the module search path, the
#: user site folder, pylint's home): a worker started under other values would differ. The
#: ones read while a tool runs (MYPYPATH, PYLINTRC, XDG_CONFIG_HOME, ...) need no key: a
#: worker runs every request under the caller's whole environment.
ENV_KEYS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "PYTHONNOUSERSITE",
            "PYTHONUSERBASE", "PYTHONPLATLIBDIR", "PYLINTHOME", "HOME", "XDG_CACHE_HOME")


class Unavailable(Exception):
    """No worker could answer; the caller runs the tool the usual way."""


class TimedOut(BaseException):
    """The worker's alarm stopped the tool after the caller's time limit.

    A BaseException, like KeyboardInterrupt: tools catch Exception around checkers and
    would report the alarm as a finding and go on, instead of stopping.
    """


# -- the client side ---------------------------------------------------------------------

def _socket_folder() -> Path:
    """A folder only this user can enter (created if missing), or Unavailable."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) / "dmc" if runtime else Path(f"/tmp/dmc-{os.getuid()}")  # noqa: S108
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError as exc:
        raise Unavailable(f"no socket folder: {exc}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or \
            info.st_mode & 0o077:
        raise Unavailable(f"{folder} is not a private folder of this user")
    return folder


def worker_key(tool: str, environment: str) -> str:
    """What a worker must share with its caller to answer as a new process would."""
    try:
        tool_version = version(tool)
    except PackageNotFoundError:
        tool_version = "?"
    h = hashlib.sha256()
    for part in (sys.executable, sys.version, tool, tool_version, environment,
                 hashlib.sha256(Path(__file__).read_bytes()).hexdigest()):
        h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    for name in ENV_KEYS:
        h.update(f"{name}={os.environ.get(name)}\x00".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:24]


def socket_path(tool: str, environment: str) -> Path:
    """Where the worker for this tool and environment listens."""
    path = _socket_folder() / f"{tool}-{worker_key(tool, environment)}.sock"
    if len(str(path).encode()) > 100:  # sockaddr_un holds 108 bytes
        raise Unavailable(f"socket path too long: {path}")
    return path


def running(folder: Path | None = None) -> list[int]:
    """Process ids of this user's live workers (each writes its id into its lock file)."""
    found = []
    try:
        locks = sorted((folder or _socket_folder()).glob("*.sock.lock"))
    except (OSError, Unavailable):
        return []
    for lock in locks:
        try:
            with open(lock, encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            continue  # nobody holds it: no worker behind this file
        except OSError:
            pass
        try:
            found.append(int(lock.read_text(encoding="utf-8").strip()))
        except (OSError, ValueError):
            continue
    return found


def run(tool: str, argv: list[str], cwd: Path, timeout: float,
        environment: str) -> tuple[int, str, str]:
    """``python -m TOOL ARGV`` in ``cwd`` through the warm worker: (status, stdout, stderr).

    Starts the worker when none answers. Raises :class:`TimedOut` when the tool ran past
    ``timeout``, :class:`Unavailable` when no worker could run it.
    """
    if tool not in TOOLS:
        raise Unavailable(f"no worker for {tool}")
    path = socket_path(tool, environment)
    conn = _connect(path)
    if conn is None:
        if len(running(path.parent)) >= MAX_WORKERS:
            raise Unavailable(f"{MAX_WORKERS} warm checkers are running already")
        _start(tool, path)
        deadline = time.monotonic() + START_TIMEOUT_S
        while conn is None and time.monotonic() < deadline:
            time.sleep(0.02)
            conn = _connect(path)
        if conn is None:
            raise Unavailable(f"the {tool} worker did not start")
    request = {"argv": argv, "cwd": str(cwd), "timeout": timeout,
               "env": dict(os.environ)}
    try:
        with conn:
            conn.settimeout(timeout + 30)
            _send(conn, request)
            answer = _receive(conn)
    except (OSError, ValueError) as exc:
        raise Unavailable(f"the {tool} worker failed: {exc}") from None
    if answer.get("timed_out"):
        raise TimedOut(tool)
    if "error" in answer:
        raise Unavailable(f"the {tool} worker failed: {answer['error']}")
    return int(answer["returncode"]), str(answer["stdout"]), str(answer["stderr"])


def _connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


def _start(tool: str, path: Path) -> None:
    """Start a worker in its own session (it outlives this process)."""
    try:
        subprocess.Popen([sys.executable, "-m", "dmc.validate.worker", tool, str(path)],  # noqa: S603
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd="/", start_new_session=True,
                         close_fds=True)
    except OSError as exc:
        raise Unavailable(f"cannot start the {tool} worker: {exc}") from None


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    data = orjson.dumps(message)
    conn.sendall(struct.pack(">I", len(data)) + data)


def _receive(conn: socket.socket) -> dict[str, Any]:
    head = _exactly(conn, 4)
    (size,) = struct.unpack(">I", head)
    answer = orjson.loads(_exactly(conn, size))
    if not isinstance(answer, dict):
        raise ValueError("not a message")
    return answer


def _exactly(conn: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = conn.recv(min(size, 1 << 20))
        if not chunk:
            raise ValueError("connection closed early")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# -- the worker side -----------------------------------------------------------------------

def _library_folders() -> tuple[str, ...]:
    """Folders whose files do not change while a worker lives (stdlib, installed packages);
    a pip install changes the installed distributions and so the worker's key."""
    paths = sysconfig.get_paths()
    folders = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    return tuple(sorted(os.path.realpath(f) + os.sep for f in folders if f))


LIBRARY = _library_folders()


def _in_library(file: str | None) -> bool:
    return bool(file) and os.path.realpath(str(file)).startswith(LIBRARY)


def _python_m(tool: str, argv: list[str]) -> int:
    """The tool's ``python -m`` entry point, its exit status."""
    if tool == "mypy":
        from mypy import api

        out, err, status = api.run(argv)  # clean_exit: never os._exit in a worker
        sys.stdout.write(out)
        sys.stderr.write(err)
        return status
    try:
        if tool == "pylint":
            import pylint

            pylint.modify_sys_path()
            pylint.run_pylint(argv)
        else:
            from bandit.cli import main as bandit_main

            bandit_main.main()
    except SystemExit as done:
        code = done.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return 1
    return 0


def _top_names(folders: set[str]) -> set[str]:
    """Top-level module names a project folder provides (they shadow library modules)."""
    names: set[str] = set()
    for folder in folders:
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in entries:
            names.add(entry.split(".", 1)[0] if entry.endswith((".py", ".pyi", ".so",
                                                               ".pyd")) else entry)
    return names


def _project_roots(argv: list[str], cwd: str, path: list[str]) -> set[str]:
    """Folders a run may have found project modules in."""
    from dmc.validate.deps import package_of

    roots = {cwd}
    roots.update(p for p in path if p and not (os.path.realpath(p) + os.sep).startswith(
        LIBRARY))
    for arg in argv:
        if arg.startswith("-") or not arg.endswith((".py", ".pyi")):
            continue
        full = os.path.normpath(os.path.join(cwd, arg))
        roots.add(package_of(full, os.path.isfile)[0])
    return roots


def _scopes(module: Any) -> list[Any]:
    """The module and every class and function defined in it, at any depth."""
    from astroid import nodes

    out = []
    seen: set[int] = set()
    stack = [module]
    while stack:
        scope = stack.pop()
        if id(scope) in seen:
            continue
        seen.add(id(scope))
        out.append(scope)
        for values in scope.locals.values():
            for value in values:
                if isinstance(value, (nodes.ClassDef, nodes.FunctionDef)) and \
                        value.root() is module:
                    stack.append(value)
    return out


def _strip(module: Any, gone: set[int]) -> int:
    """Remove from the module's scopes the nodes that forgotten modules put there.

    astroid's builder records ``obj.attr = value`` in module M on obj's class or module,
    which may live in another, kept module; it only ever appends, so removing the nodes
    whose module is forgotten leaves the kept tree as if M had never been built.
    """
    removed = 0
    for scope in _scopes(module):
        tables = [scope.locals]
        if hasattr(scope, "instance_attrs"):
            tables.append(scope.instance_attrs)
        for table in tables:
            for name, values in list(table.items()):
                kept = [v for v in values if id(v.root()) not in gone]
                if len(kept) != len(values):
                    removed += len(values) - len(kept)
                    if kept:
                        table[name] = kept
                    else:
                        del table[name]
    return removed


def _recorders(cache: dict[str, Any], gone: set[str]) -> set[str]:
    """Kept modules that recorded nodes on *another* kept module.

    A new process has those recordings only if it builds the recording module, which it
    does only when the project needs it: forgetting the recorder (and, with it, its
    recordings) keeps a later run from seeing attributes a new process would not.
    """
    ids = {id(module): name for name, module in cache.items() if name not in gone}
    found: set[str] = set()
    for name, module in cache.items():
        if name in gone:
            continue
        for scope in _scopes(module):
            tables = [scope.locals]
            if hasattr(scope, "instance_attrs"):
                tables.append(scope.instance_attrs)
            for table in tables:
                for values in table.values():
                    for value in values:
                        root = value.root()
                        if root is not module and id(root) in ids:
                            found.add(ids[id(root)])
    found.discard("builtins")
    return found


def _library_module(name: str, module: Any, shadowed: set[str]) -> bool:
    """A tree no project edit can change: a library file, or a compiled module built from
    the live interpreter, whose top-level name no project folder provides."""
    if not name or name.split(".", 1)[0] in shadowed:
        return False
    file = getattr(module, "file", None)
    if file is None:
        return not getattr(module, "pure_python", True)
    return _in_library(file)


def forget_project(argv: list[str], cwd: str, path: list[str]) -> dict[str, int]:
    """Drop every astroid tree a later run could not get the same from (see the module
    docstring); returns how many trees were kept and dropped, and nodes removed."""
    from astroid import MANAGER

    cache = MANAGER.astroid_cache
    shadowed = _top_names(_project_roots(argv, cwd, path))
    gone = {name for name, module in cache.items()
            if name != "builtins" and not _library_module(name, module, shadowed)}
    if "builtins" in shadowed or len(cache) - len(gone) > MAX_MODULES:
        dropped = len(cache)
        MANAGER.clear_cache()
        _clear_pylint_caches()
        return {"kept": 0, "dropped": dropped, "stripped": 0}
    gone |= _recorders(cache, gone)
    forgotten = [cache.pop(name) for name in gone]  # held: ids stay unique while used
    roots = {id(module) for module in forgotten}
    stripped = sum(_strip(module, roots) for module in cache.values()) if roots else 0
    del forgotten
    _clear_lookup_caches()
    return {"kept": len(cache), "dropped": len(gone), "stripped": stripped}


def _clear_lookup_caches() -> None:
    """What ``MANAGER.clear_cache()`` clears besides the trees, the brain transforms and the
    builtins module (kept trees refer to those), and pylint's node caches."""
    from astroid import MANAGER
    from astroid.context import _invalidate_cache
    from astroid.inference_tip import clear_inference_tip_cache
    from astroid.interpreter._import import spec
    from astroid.interpreter._import import util as import_util
    from astroid.interpreter._import.spec import _find_spec, _is_setuptools_namespace
    from astroid.interpreter.objectmodel import ObjectModel
    from astroid.modutils import _cache_normalize_path_, _has_init, cached_os_path_isfile
    from astroid.nodes._base_nodes import LookupMixIn
    from astroid.nodes.scoped_nodes import ClassDef

    clear_inference_tip_cache()
    _invalidate_cache()
    MANAGER._mod_file_cache.clear()
    for cached in (LookupMixIn.lookup, _cache_normalize_path_, _has_init,
                   cached_os_path_isfile, import_util.is_namespace, ObjectModel.attributes,
                   ClassDef._metaclass_lookup_attribute, _find_spec,
                   _is_setuptools_namespace):
        cached.cache_clear()
    for finder in spec._SPEC_FINDERS:
        finder.find_module.cache_clear()
    _clear_pylint_caches()


def _clear_pylint_caches() -> None:
    from pylint.checkers.clear_lru_cache import clear_lru_caches

    clear_lru_caches()


class _Output(io.StringIO):
    """Captured stdout/stderr; named as the real streams (bandit compares the name)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def close(self) -> None:
        """Kept open: bandit closes its output file when done, before we read it."""


class _Alarm:
    """The caller's time limit, enforced inside the tool (SIGALRM raises TimedOut)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(seconds, 0.1)

    def __enter__(self) -> None:
        def ring(signum: int, frame: Any) -> None:
            raise TimedOut

        signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def execute(tool: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run one request as ``python -m TOOL`` would, then put the process back as it was.

    For pylint the answer carries ``forget``: the arguments of :func:`forget_project`,
    which the server calls once the answer is sent and before it takes the next request.
    """
    argv = [str(a) for a in request["argv"]]
    cwd = str(request["cwd"])
    saved_env, saved_path, saved_argv = dict(os.environ), list(sys.path), list(sys.argv)
    before = set(sys.modules)
    out, err = _Output("<stdout>"), _Output("<stderr>")
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        sys.argv = [_main_path(tool), *argv]  # what `python -m` puts first (usage lines)
        sys.path[:] = [cwd, *BASE_PATH]  # as `python -m` sets it up in cwd
        with _Alarm(float(request["timeout"])), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            status = _python_m(tool, argv)
        run_path = list(sys.path)
    finally:
        os.chdir("/")
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        sys.path[:] = saved_path
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None)
            if isinstance(file, str) and not _in_library(file):
                del sys.modules[name]
    answer: dict[str, Any] = {"returncode": status, "stdout": out.getvalue(),
                              "stderr": err.getvalue()}
    if tool == "pylint":
        answer["forget"] = (argv, cwd, run_path)
    return answer


BASE_PATH: list[str] = []


def _main_path(tool: str) -> str:
    """The file ``python -m TOOL`` runs, which it puts in ``sys.argv[0]``."""
    import importlib.util

    spec = importlib.util.find_spec(f"{tool}.__main__")
    return spec.origin if spec is not None and spec.origin else tool


def serve(tool: str, path: Path, idle: float = IDLE_S) -> None:
    """Answer requests on ``path`` until ``idle`` seconds pass without one."""
    lock = open(str(path) + ".lock", "a+")  # noqa: SIM115 - held for the process's life
    deadline = time.monotonic() + 5
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            # another worker holds it: serving (our caller will reach it) or exiting
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    BASE_PATH[:] = [p for p in sys.path[1:]]  # without `python -m`'s own folder
    # import the tool before listening: the first caller then waits on the socket
    if tool == "pylint":
        import pylint.lint  # noqa: F401
    elif tool == "bandit":
        import bandit.cli.main  # noqa: F401
    else:
        import mypy.main  # noqa: F401
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(16)
    server.settimeout(idle)
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return
            with conn:
                conn.settimeout(None)
                try:
                    request = _receive(conn)
                except (OSError, ValueError):
                    continue
                stop = False
                try:
                    answer = execute(tool, request)
                except TimedOut:
                    answer, stop = {"timed_out": True}, True
                except Exception as exc:  # noqa: BLE001 - answer, then start afresh
                    answer, stop = {"error": f"{type(exc).__name__}: {exc}"}, True
                forget = answer.pop("forget", None)
                with contextlib.suppress(OSError):
                    _send(conn, answer)
                if stop:
                    return
            if forget is not None:
                # after answering, before the next request: off the caller's wait
                try:
                    forget_project(*forget)
                except Exception:  # noqa: BLE001 - state unknown: let a new worker start
                    return
    finally:
        server.close()
        with contextlib.suppress(OSError):
            path.unlink()


def main(args: list[str]) -> None:
    """``python -m dmc.validate.worker TOOL SOCKET``."""
    if len(args) != 2 or args[0] not in TOOLS:
        sys.stderr.write("usage: python -m dmc.validate.worker {pylint|bandit|mypy} SOCKET\n")
        raise SystemExit(2)
    serve(args[0], Path(args[1]))

if __name__ == "__main__":
    main(sys.argv[1:])
