"""What the cache key of a Python file covers: the project modules it imports, found the way
mypy and pylint find them (absolute and relative imports, packages, stubs, src layouts)."""

from __future__ import annotations

import os
from pathlib import Path

from dmc.validate.deps import Graph, imported_modules, package_of


def tree(root: Path, files: dict[str, str]) -> Graph:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    base = str(root)
    return Graph(os.path.isfile, lambda p: Path(p).read_bytes(), extra_roots=[base],
                 label=lambda p: os.path.relpath(p, base))


def rel(graph_paths: list[str], root: Path) -> set[str]:
    return {os.path.relpath(p, root) for p in graph_paths}


def test_relative_and_absolute_imports_resolve_transitively(tmp_path: Path) -> None:
    g = tree(tmp_path, {
        "src/app/__init__.py": "",
        "src/app/core/__init__.py": "from .models import Model\n",
        "src/app/core/models.py": "from ..util import helper\n",
        "src/app/util.py": "import json\nfrom app import settings\n",
        "src/app/settings.py": "",
        "src/app/core/views.py": "from . import models\nfrom .. import util\n",
        "src/app/unused.py": "",
    })
    views = str(tmp_path / "src/app/core/views.py")
    assert rel(g.closure(views), tmp_path) == {
        "src/app/__init__.py", "src/app/core/__init__.py", "src/app/core/models.py",
        "src/app/util.py", "src/app/settings.py"}


def test_package_root_is_found_like_mypy(tmp_path: Path) -> None:
    for f in ("src/pkg/__init__.py", "src/pkg/sub/__init__.py", "src/pkg/sub/m.py"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
    root, package, is_pkg = package_of(str(tmp_path / "src/pkg/sub/m.py"), os.path.isfile)
    assert (root, package, is_pkg) == (str(tmp_path / "src"), "pkg.sub", False)


def test_imports_in_functions_type_checking_and_stubs_count(tmp_path: Path) -> None:
    g = tree(tmp_path, {
        "a.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import b\n"
                 "def f():\n    import c\n    return c\n"),
        "b.pyi": "x: int\n", "c.py": "", "d.py": ""})
    assert rel(g.closure(str(tmp_path / "a.py")), tmp_path) == {"b.pyi", "c.py"}


def test_digest_moves_with_any_dependency_and_with_a_new_module(tmp_path: Path) -> None:
    files = {"a.py": "import b\nimport later\n", "b.py": "import c\n", "c.py": "X = 1\n"}
    before = tree(tmp_path, files).digest(str(tmp_path / "a.py"))
    assert tree(tmp_path, files).digest(str(tmp_path / "a.py")) == before  # stable
    (tmp_path / "c.py").write_text("X = 2\n")
    after_c = tree(tmp_path, {}).digest(str(tmp_path / "a.py"))
    assert after_c != before
    (tmp_path / "later.py").write_text("")
    with_later = tree(tmp_path, {}).digest(str(tmp_path / "a.py"))
    assert with_later != after_c
    (tmp_path / "d.py").write_text("")  # not imported: no effect
    assert tree(tmp_path, {}).digest(str(tmp_path / "a.py")) == with_later


def test_digest_does_not_depend_on_where_the_tree_lives(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "Y = 1\n"}
    one = tree(tmp_path / "one", files).digest(str(tmp_path / "one/pkg/a.py"))
    two = tree(tmp_path / "two", files).digest(str(tmp_path / "two/pkg/a.py"))
    assert one == two  # temporary folders (generated code, staged snapshots) share entries


def test_broken_source_and_relative_imports_outside_packages() -> None:
    assert imported_modules(b"def f(:\n", None, False) == set()
    assert imported_modules(b"from . import x\n", None, False) == set()
    assert imported_modules(b"from ...deep import x\n", "a", False) == set()
    assert imported_modules(b"import a.b.c\n", None, False) == {"a", "a.b", "a.b.c"}
    assert imported_modules(b"from .m import n\n", "p.q", False) == {
        "p", "p.q", "p.q.m", "p.q.m.n"}
