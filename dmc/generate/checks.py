"""Acceptance checks: what shows that generated code does what was asked, and running them.

Linters pass wrong code; only running it tells. Before generating, the checks are gathered
from what the user and the project already said, each with where it came from:

- ``request``: examples stated in the request — ``assert`` lines, ``>>>`` doctest lines with
  their expected output, and ``f(3) == 9`` / ``f(3) returns 9`` / ``f(3) -> 9`` written in
  prose or backticks;
- ``target file``: doctests in the existing code of the files being changed;
- ``payload``: tests the payload carries (``task.tests``: the repository's own tests the
  laptop found for the files being changed, or tests the user gave);
- ``model``: when none of the above exists, asserts the model writes for the request after
  its first answer (:func:`tests_prompt`, :func:`parse_generated`). They can be wrong
  themselves, so they only rank candidates and point at failures: they never outrank a
  stated example, and their failures are shown to the model as possibly the test's fault.

After each pass they run in the validate sandbox (time and memory limits, no network) as one
pytest file; a failure comes back as the assertion or the last lines of the traceback, trimmed,
which is what the refinement prompt shows the model. A check that cannot run (its test does
not even parse) is reported as such and never counts against the code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from dmc.generate.code import CodeFile

MAX_CHECKS = 20
MAX_MESSAGE = 400
CHECK_FILE = "test_dmc_acceptance.py"

_ASSERT = re.compile(r"^[ \t>]*(assert\s+[^\n]+)$", re.M)
# ">>> expr" (with "..." continuations) and one line of expected output: in a request, prose
# usually follows the example directly, and doctest would read it as more output.
_DOCTEST = re.compile(r"^[ \t]*>>>[^\n]*\n(?:[ \t]*\.\.\.[^\n]*\n)*"
                      r"(?:[ \t]*(?!>>>)\S[^\n]*(?:\n|\Z))?", re.M)
_CALL = r"[A-Za-z_][\w.]*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"
_PROSE = re.compile(rf"(?P<call>{_CALL})`?\s*(?:==|->|→|=>|should\s+(?:return|give|be)|returns?"
                    rf"|gives?|is|equals?)\s+`?(?=(?P<expected>[^\n`]+))", re.I)
# "returns [] for an empty list": a value for the empty input of the request's one function
_EMPTY = re.compile(r"\b(?:returns?|gives?|should\s+(?:return|give|be)|is|yields?)\s+`?(?P<value>"
                    r"\[\]|\(\)|\{\}|''|\"\"|0|0\.0|None|True|False|-1|set\(\))`?\s+(?:for|on|"
                    r"when\s+given|given|if\s+(?:given|passed))\s+(?:an?\s+|the\s+)?empty\s+"
                    r"(?P<kind>list|array|string|str|text|dict|dictionary|mapping|tuple|set)\b"
                    # the sentence's own end: "an empty list of numbers" names another input
                    r"(?=\s*(?:[.,;:!)]|$|\s(?:and|or|but|so|as|because|instead|too)\b))",
                    re.I | re.M)
# "should not return None for an empty list", "rather than 0": the value is what not to do
_NEGATED = re.compile(r"(?:\bnot|\bnever|n't|\brather\s+than|\binstead\s+of|\bunlike|"
                      r"\bother\s+than|\bexcept)\W+(?:\w+\W+){0,3}$", re.I)
_EMPTY_ARG = {"list": "[]", "array": "[]", "string": "''", "str": "''", "text": "''",
              "dict": "{}", "dictionary": "{}", "mapping": "{}", "tuple": "()", "set": "set()"}
_SIGNATURE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(([^()]*)\)")


@dataclass
class Check:
    """One acceptance check: a pytest test body, and where it came from."""

    id: str
    source: str  # request | target file | payload | model
    kind: str  # assert | doctest | test-file
    code: str  # the assert, the doctest text, or a whole test file
    path: str | None = None  # for test files: their path
    root: str | None = None  # for a repository's JavaScript tests: the repository

    def describe(self) -> str:
        """A short line for people and prompts."""
        first = self.code.strip().split("\n", 1)[0]
        return first if not self.kind.endswith("test-file") else f"tests in {self.path}"


@dataclass
class CheckRun:
    """What running the checks against one pass's code showed."""

    total: int
    passed: int
    failures: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # checks that could not run
    isolation: str | None = None
    seconds: float = 0.0

    @property
    def all_passed(self) -> bool:
        """Every check ran and passed."""
        return self.total > 0 and self.passed == self.total

    def to_dict(self) -> dict[str, Any]:
        """The form in pass records and events."""
        return {"run": self.total, "passed": self.passed, "failed": self.total - self.passed,
                "failures": self.failures, "errors": self.errors,
                "isolation": self.isolation, "seconds": round(self.seconds, 3)}


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


def _is_statement(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def from_text(text: str, source: str) -> list[Check]:
    """Examples stated in ``text``: asserts, doctests, and ``call == value`` in prose."""
    checks: list[Check] = []
    seen: set[str] = set()

    def add(kind: str, code: str) -> None:
        key = re.sub(r"\s+", "", code)
        if key not in seen and len(checks) < MAX_CHECKS:
            seen.add(key)
            checks.append(Check(f"{source.split()[0]}-{len(checks) + 1}", source, kind, code))

    for m in _ASSERT.finditer(text):
        stmt = m.group(1).strip().rstrip(".;")
        if _is_statement(stmt):
            add("assert", stmt)
    for m in _DOCTEST.finditer(text):
        block = "\n".join(ln.strip() for ln in m.group(0).strip("\n").split("\n"))
        add("doctest", block + "\n")
    stripped = _ASSERT.sub("", text)
    stripped = _DOCTEST.sub("", stripped)
    for m in _PROSE.finditer(stripped):
        call = m.group("call")
        expected = _literal_prefix(m.group("expected"))
        if expected is not None and _literal_call(call):
            add("assert", f"assert {call} == {expected}")
    name = _one_function(text)
    if name is not None:
        for m in _EMPTY.finditer(stripped):
            if _NEGATED.search(stripped[max(0, m.start() - 40):m.start()] + " "):
                continue
            value = m.group("value")
            expected = f"is {value}" if value in ("None", "True", "False") else f"== {value}"
            add("assert", f"assert {name}({_EMPTY_ARG[m.group('kind').lower()]}) {expected}")
    return checks


def _arity(args: str) -> int:
    """How many arguments ``args`` (the inside of a call or signature) holds: a list literal
    with commas is one argument."""
    try:
        node = ast.parse(f"f({args})", mode="eval").body
    except (SyntaxError, ValueError):
        return len([a for a in args.split(",") if a.strip()])
    assert isinstance(node, ast.Call)
    return len(node.args) + len(node.keywords)


def _one_function(text: str) -> str | None:
    """The request's one function of one argument (``flatten(xs)``, ``assert f([1]) == 1``);
    None when it names none, several, or one that takes more: then "returns [] for an empty
    list" cannot be turned into a call without guessing."""
    found: dict[str, set[int]] = {}
    for name, args in _SIGNATURE.findall(text):
        if name in {"assert", "print", "len", "str", "int", "list", "dict", "set", "tuple",
                    "range", "sorted", "sum", "min", "max", "abs", "type", "isinstance"}:
            continue
        found.setdefault(name, set()).add(_arity(args))
    if len(found) != 1:
        return None
    [(name, arities)] = found.items()
    return name if arities == {1} else None


def _literal_call(call: str) -> bool:
    """A call whose arguments are all values the user wrote (``f(3, "a")``), not names:
    "find(lst, x) returns -1" describes, it does not give an example to run."""
    try:
        node = ast.parse(call, mode="eval").body
    except (SyntaxError, ValueError):
        return False
    if not isinstance(node, ast.Call):
        return False
    args = list(node.args) + [k.value for k in node.keywords]
    return all(_literal(ast.unparse(a)) for a in args)


def _literal_prefix(text: str) -> str | None:
    """The longest start of ``text`` that is a Python literal ("[1, 2, 3] for ..." -> the
    list; "'A B' when..." -> the string); None when it does not start with one."""
    words = text.strip().split(" ")
    for end in range(len(words), 0, -1):
        candidate = " ".join(words[:end]).rstrip(".,;:")
        if candidate.lower() in ("true", "false", "none"):
            candidate = candidate.capitalize()
        if candidate and _literal(candidate):
            return candidate
    return None


def _literal(text: str) -> bool:
    """A value the user wrote (a number, string, list...), not a word of prose."""
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def gather(payload: dict[str, Any]) -> list[Check]:
    """Every acceptance check for a payload, stated examples first."""
    task = payload.get("task") or {}
    checks = from_text(str(task.get("description") or ""), "request")
    targets = set(task.get("target_files") or [])
    existing = (payload.get("context") or {}).get("existing_code") or {}
    for path, code in existing.items():
        if path in targets and str(path).endswith(".py"):
            for c in from_text(str(code), "target file"):
                if c.kind == "doctest":
                    c.id = f"doctest-{len(checks) + 1}"
                    checks.append(c)
    for i, test in enumerate(task.get("tests") or []):
        checks.append(Check(f"payload-{i + 1}", "payload", "test-file", str(test["code"]),
                            str(test["path"])))
    return checks[:MAX_CHECKS]


MAX_GENERATED = 5


def tests_prompt(description: str, files: list[CodeFile]) -> list[dict[str, str]]:
    """The chat asking the model for asserts that check the request (not its own code)."""
    import ast as ast_mod

    names: list[str] = []
    for f in files:
        if f.language != "python":
            continue
        try:
            tree = ast_mod.parse(f.code)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast_mod.FunctionDef | ast_mod.ClassDef) and \
                    not node.name.startswith("_"):
                args = ""
                if isinstance(node, ast_mod.FunctionDef):
                    args = ", ".join(a.arg for a in node.args.args)
                names.append(f"{node.name}({args})")
    user = (f"Request: {description}\n\nThe code defines: {', '.join(names) or 'nothing'}.\n\n"
            f"Write up to {MAX_GENERATED} `assert` statements that check what the request asks "
            "for, calling the code as defined, with expected values you work out from the "
            "request itself (include an edge case). Answer with one python code block holding "
            "only the assert lines.")
    return [{"role": "system", "content": "You write precise unit checks."},
            {"role": "user", "content": user}]


def parse_generated(answer: str) -> list[Check]:
    """The asserts of the model's answer to :func:`tests_prompt`, as ``model`` checks."""
    checks = [c for c in from_text(answer, "model") if c.kind == "assert"][:MAX_GENERATED]
    for i, c in enumerate(checks):
        c.id = f"model-{i + 1}"
    return checks


def _module_of(path: str) -> str | None:
    if not path.endswith(".py"):
        return None
    parts = path[:-3].replace("\\", "/").strip("/").split("/")
    if not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def render_test_file(checks: list[Check], files: list[CodeFile]) -> str:
    """One pytest file running the stated examples against the generated modules.

    Every public name of every generated Python module is imported, as the user's example
    would call it; each check is its own test so one failure does not hide the others.
    """
    imports = []
    for n, f in enumerate(files):
        if f.language != "python":
            continue
        module = _module_of(f.path)
        if module:
            imports.append(f"from {module} import *  # noqa: F401,F403")
        else:  # "my-script.py": not importable by name, so by where it is
            imports += [
                f"_spec_{n} = importlib.util.spec_from_file_location("
                f"'dmc_generated_{n}', os.path.join(os.path.dirname(__file__), {f.path!r}))",
                f"_mod_{n} = importlib.util.module_from_spec(_spec_{n})",
                f"_spec_{n}.loader.exec_module(_mod_{n})",
                f"globals().update({{k: v for k, v in vars(_mod_{n}).items() "
                f"if not k.startswith('_')}})"]
    lines = ['"""Acceptance checks gathered by dmc from the request."""', "import doctest",
             "import importlib.util", "import os", *imports, ""]
    for c in checks:
        if c.kind == "assert":
            lines += [f"def test_{c.id.replace('-', '_')}():", f"    {c.code}", ""]
        elif c.kind == "doctest":
            lines += [f"def test_{c.id.replace('-', '_')}():",
                      f"    text = {c.code!r}",
                      "    test = doctest.DocTestParser().get_doctest(text, dict(globals()), "
                      f"{c.id!r}, None, 0)",
                      "    out = []",
                      "    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | "
                      "doctest.NORMALIZE_WHITESPACE)",
                      "    runner.run(test, out=out.append)",
                      "    assert runner.failures == 0, ''.join(out)[-600:]", ""]
    return "\n".join(lines) + "\n"


def run(checks: list[Check], files: list[CodeFile], *, timeout: float = 30.0,
        support: list[tuple[str, Any]] | None = None) -> CheckRun:
    """Run the checks against ``files`` in the sandbox; never raises for bad checks.

    ``support``: (path, real path) of the repository's other Python files, copied beside the
    generated ones so the repository's own tests can import what they need. A repository's
    JavaScript test files (:mod:`dmc.generate.jstests`) run with its own runner beside them.
    """
    from dmc.generate import jstests

    js = [c for c in checks if c.kind == jstests.KIND]
    python = _run_python([c for c in checks if c.kind != jstests.KIND], files,
                         timeout=timeout, support=support)
    if not js:
        return python
    other = jstests.run(js, files, timeout=max(timeout, 60.0))
    if python.total == 0:
        python.errors = [e for e in python.errors if "Python code only" not in e]
    return CheckRun(python.total + other.total, python.passed + other.passed,
                    python.failures + other.failures, python.errors + other.errors,
                    python.isolation or other.isolation, python.seconds + other.seconds)


def _run_python(checks: list[Check], files: list[CodeFile], *, timeout: float,
                support: list[tuple[str, Any]] | None) -> CheckRun:
    """The Python checks: one pytest file for the inline ones, the test files beside it."""
    import time

    start = time.perf_counter()
    python = [f for f in files if f.language == "python"]
    if not checks:
        return CheckRun(0, 0)
    if not python and not support:
        # the checks run Python only: for other code they are not run, and not counted
        return CheckRun(0, 0, errors=["the checks run Python code only; none ran for "
                                      "this answer"], seconds=time.perf_counter() - start)
    inline = [c for c in checks if c.kind in ("assert", "doctest")]
    test_files = [c for c in checks if c.kind == "test-file"]
    errors: list[str] = []
    runnable_files = []
    for c in test_files:
        if _is_statement(c.code):
            runnable_files.append(c)
        else:
            errors.append(f"{c.id} ({c.path}): the test file does not parse; not run")
    from dmc.validate import Settings, Source

    sources = [Source(f.path, text=f.code, language="python") for f in python]
    names = {f.path for f in python}
    if inline:
        sources.append(Source(CHECK_FILE, text=render_test_file(inline, python),
                              language="python"))
    for c in runnable_files:
        if c.path not in names:
            sources.append(Source(str(c.path), text=c.code, language="python"))
            names.add(str(c.path))
    for rel, real in support or []:
        if rel not in names:
            sources.append(Source(rel, real=real, language="python"))
    settings = Settings(run_tests=True, test_timeout=timeout)
    if hasattr(settings, "measure_coverage"):
        settings.measure_coverage = False  # type: ignore[attr-defined]
    outcome = _run_sources(sources, settings)
    total = len(inline) + len(runnable_files)
    failures = _failures(outcome, inline, runnable_files)
    failed_ids = {f["check"] for f in failures}
    passed = total - len(failed_ids)
    summary = outcome.get("summary") or {}
    ran = int(summary.get("passed") or 0) + int(summary.get("failed") or 0)
    if summary.get("outcome") not in ("passed", "failed") or ran == 0:
        # collection error, timeout, killed: nothing can be said to have passed
        passed = 0
        if not failures:
            reason = _first_issue(outcome) or str(summary.get("outcome") or "did not run")
            failures = [{"check": c.id, "source": c.source, "check_text": c.describe(),
                         "message": reason} for c in inline + runnable_files]
    return CheckRun(total, max(passed, 0), failures, errors,
                    summary.get("isolation"), time.perf_counter() - start)


def _run_sources(sources: list[Any], settings: Any) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    from dmc.validate import safe_relative
    from dmc.validate.sandbox import run_tests

    with tempfile.TemporaryDirectory(prefix="dmc-checks-") as tmp:
        for s in sources:
            if s.text is None:
                continue  # a file of the repository: copied from where it is
            dest = Path(tmp) / safe_relative(s.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(s.text or "", encoding="utf-8")
            s.real = dest
        return run_tests(sources, settings)


def _first_issue(outcome: dict[str, Any]) -> str | None:
    for issue in outcome.get("issues") or []:
        issue = issue.to_dict() if hasattr(issue, "to_dict") else issue
        return _trim(str(issue.get("message") or ""))
    return None


def _trim(message: str) -> str:
    message = message.strip()
    if len(message) > MAX_MESSAGE:
        message = "…" + message[-MAX_MESSAGE:]
    return message


def _failures(outcome: dict[str, Any], inline: list[Check],
              files: list[Check]) -> list[dict[str, str]]:
    by_test = {f"test_{c.id.replace('-', '_')}": c for c in inline}
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for issue in outcome.get("issues") or []:
        issue = issue.to_dict() if hasattr(issue, "to_dict") else issue
        if issue.get("rule") not in ("test-failed",):
            continue
        message = str(issue.get("message") or "")
        nodeid = message.split(" failed", 1)[0]
        path, _, name = nodeid.partition("::")
        name = name.split("[", 1)[0]
        check = by_test.get(name) if path.endswith(CHECK_FILE) else next(
            (c for c in files if str(c.path).endswith(path) or path.endswith(str(c.path))), None)
        if check is None or (check.id in seen and check.kind != "test-file"):
            continue
        seen.add(check.id)
        detail = message.split(": ", 1)[1] if ": " in message else message
        out.append({"check": check.id, "source": check.source,
                    "check_text": check.describe() if check.kind != "test-file" else nodeid,
                    "message": _trim(detail)})
    return out


MAX_REPO_TEST_FILES = 5
MAX_SUPPORT_FILES = 2000


def repository_tests(repo: Any, targets: list[str]) -> tuple[list[Check], list[tuple[str, Any]]]:
    """The repository's own pytest files that exercise the target files, and its other
    Python files (for their imports).

    A test file counts when it imports a target's module (``import pkg.mod``,
    ``from pkg.mod import``, ``from pkg import mod``) or is named after it (``test_mod.py``).
    Only Python targets; files git does not track are left out.
    """
    import subprocess
    from pathlib import Path

    from dmc.validate.sandbox import is_test_file

    root = Path(repo)
    modules = {}
    for t in targets:
        module = _module_of(t)
        if module:
            modules[module] = t.rsplit("/", 1)[-1][:-3]
    if not modules:
        return [], []
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", "*.py"],
                                capture_output=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return [], []
    paths = [p for p in listed.decode("utf-8", "replace").split("\0") if p][:MAX_SUPPORT_FILES]
    tests: list[Check] = []
    support: list[tuple[str, Any]] = []
    for rel in paths:
        real = root / rel
        if not real.is_file() or real.stat().st_size > 1_000_000:
            continue
        if not is_test_file(rel):
            support.append((rel, real))
            continue
        if len(tests) >= MAX_REPO_TEST_FILES:
            continue
        try:
            text = real.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        name = rel.rsplit("/", 1)[-1]
        for module, stem in modules.items():
            parent, _, leaf = module.rpartition(".")
            imports = re.search(rf"^\s*(?:import\s+{re.escape(module)}\b|from\s+"
                                rf"{re.escape(module)}\s+import\b"
                                + (rf"|from\s+{re.escape(parent)}\s+import\s+[^\n]*\b"
                                   rf"{re.escape(leaf)}\b" if parent else "") + ")",
                                text, re.M)
            if imports or name in (f"test_{stem}.py", f"{stem}_test.py"):
                tests.append(Check(f"repository-{len(tests) + 1}", "repository", "test-file",
                                   text, rel))
                break
    return tests, support
