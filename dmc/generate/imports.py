"""Add the standard-library imports an answer uses but forgot.

Small models often write ``heapq.heapify(xs)`` or ``Counter(words)`` and leave out the
import: the code is right and fails with a NameError on its first line. Which import is
meant is not a guess when the name is bound nowhere in the code and is either a standard
module used as a module (``heapq.…``) or one of a few names that mean one thing in the
standard library (``Counter``, ``defaultdict``, ``reduce``, ``List``). Anything else is left
for the checks and refinement to find: a wrong import would hide the real mistake.

Only code the model writes whole (a new file) is completed this way; an edit to an existing
file changes only what its blocks say.
"""

from __future__ import annotations

import ast
import builtins
import sys

# names that mean one thing in the standard library, and where they come from
FROM_IMPORTS: dict[str, str] = {
    **dict.fromkeys(("Counter", "defaultdict", "deque", "OrderedDict", "namedtuple"),
                    "collections"),
    **dict.fromkeys(("reduce", "lru_cache", "cmp_to_key", "partial"), "functools"),
    **dict.fromkeys(("permutations", "combinations", "combinations_with_replacement",
                     "accumulate", "groupby", "zip_longest", "islice"), "itertools"),
    **dict.fromkeys(("heappush", "heappop", "heapify", "heappushpop", "nlargest",
                     "nsmallest"), "heapq"),
    **dict.fromkeys(("bisect_left", "bisect_right", "insort"), "bisect"),
    **dict.fromkeys(("gcd", "sqrt", "factorial", "isqrt", "comb"), "math"),
    **dict.fromkeys(("List", "Dict", "Tuple", "Set", "FrozenSet", "Optional", "Union", "Any",
                     "Callable", "Iterable", "Iterator", "Sequence", "Mapping"), "typing"),
    "Decimal": "decimal", "Fraction": "fractions",
}
# standard modules whose name is as likely a variable the model forgot to define
# (``datetime.now()`` means the class; ``queue.append(x)`` a list)
_AMBIGUOUS_MODULES = frozenset({"datetime", "array", "code", "queue", "select", "site",
                                "test", "this", "token", "types"})
_BUILTINS = frozenset(dir(builtins))


def _bound(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere (any scope: being generous only means adding
    fewer imports)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def missing_imports(code: str) -> list[str]:
    """The import lines ``code`` needs for standard names it uses and never binds."""
    try:
        return _needed(ast.parse(code))
    except (SyntaxError, ValueError):
        return []


def _needed(tree: ast.Module) -> list[str]:
    bound = _bound(tree) | _BUILTINS
    as_module = {n.value.id for n in ast.walk(tree)
                 if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)} - bound
    modules: list[str] = []
    names: list[str] = []
    for name in sorted(used):
        if name in as_module and name in sys.stdlib_module_names \
                and name not in _AMBIGUOUS_MODULES and not name.startswith("_"):
            modules.append(f"import {name}")
        elif name in FROM_IMPORTS:
            names.append(f"from {FROM_IMPORTS[name]} import {name}")
    return modules + names


def _insert_at(tree: ast.Module) -> int:
    """The line after the module docstring and ``from __future__`` imports (0-based)."""
    at = 0
    for i, node in enumerate(tree.body):
        docstring = i == 0 and isinstance(node, ast.Expr) and \
            isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            break
        at = node.end_lineno or at
    return at


def add_missing_imports(code: str) -> tuple[str, list[str]]:
    """``code`` with the standard imports it lacks, and the lines added (none: unchanged)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, []
    needed = _needed(tree)
    if not needed:
        return code, []
    lines = code.splitlines(keepends=True)
    at = _insert_at(tree)
    block = "".join(f"{line}\n" for line in needed)
    if at:
        block = "\n" + block
    if at < len(lines) and lines[at].strip():
        block += "\n"
    return "".join(lines[:at]) + block + "".join(lines[at:]), needed
