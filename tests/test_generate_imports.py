"""Standard imports an answer uses but forgot are added; nothing else is."""

from __future__ import annotations

import ast
from typing import Any

from dmc.generate.imports import add_missing_imports, missing_imports
from tests.test_generate_checks import PAYLOAD, run_script


def test_a_standard_module_used_as_a_module_is_imported() -> None:
    code = "def top(xs, n):\n    return heapq.nlargest(n, xs)\n"
    fixed, added = add_missing_imports(code)
    assert added == ["import heapq"]
    namespace: dict[str, Any] = {}
    exec(compile(fixed, "<answer>", "exec"), namespace)  # noqa: S102 - our own test code
    assert namespace["top"]([3, 1, 2], 2) == [3, 2]


def test_names_with_one_meaning_come_from_their_module_after_plain_imports() -> None:
    code = "def f(words: List[str]):\n    return Counter(words), math.sqrt(4)\n"
    assert missing_imports(code) == ["import math", "from collections import Counter",
                                     "from typing import List"]


def test_a_name_bound_anywhere_is_left_alone() -> None:
    assert missing_imports("import heapq as hq\n\ndef f(x):\n    return hq.heapify(x)\n") == []
    assert missing_imports("def f(math):\n    return math.floor(2)\n") == []
    assert missing_imports("def Counter(x):\n    return x\n\nprint(Counter(1))\n") == []
    assert missing_imports("for re in range(3):\n    print(re.real)\n") == []
    assert missing_imports("try:\n    pass\nexcept Exception as json:\n    json.x\n") == []


def test_unknown_and_ambiguous_names_are_left_for_the_checks() -> None:
    # datetime.now() means the class: importing the module would hide the real mistake
    assert missing_imports("def f():\n    return datetime.now()\n") == []
    assert missing_imports("def f():\n    return numpy.zeros(3)\n") == []  # not standard
    assert missing_imports("def f():\n    return helper(3)\n") == []
    assert missing_imports("def f(:\n    heapq.x\n") == []  # does not parse: unchanged


def test_imports_go_after_the_docstring_and_future_imports() -> None:
    code = '"""Doc."""\nfrom __future__ import annotations\n\n\ndef f():\n    return re.I\n'
    fixed, added = add_missing_imports(code)
    assert added == ["import re"]
    tree = ast.parse(fixed)
    assert isinstance(tree.body[0], ast.Expr) and ast.get_docstring(tree) == "Doc."
    assert isinstance(tree.body[1], ast.ImportFrom) and tree.body[1].module == "__future__"
    assert isinstance(tree.body[2], ast.Import) and tree.body[2].names[0].name == "re"
    assert add_missing_imports(fixed) == (fixed, [])  # nothing left to add


def test_generate_completes_the_imports_and_records_them() -> None:
    """A right answer that forgot `import math` passes its check (Ollama TEST DOUBLE)."""
    payload = {**PAYLOAD, "task": {**PAYLOAD["task"],
                                   "description": "write root(x) in sq.py. "
                                                  "assert root(9) == 3"},
               "generation": {**PAYLOAD["generation"], "samples": 1}}
    answer = ('```python\n"""Roots."""\n\n\ndef root(x: float) -> float:\n    """Root."""\n'
              '    return math.sqrt(x)\n```\n')
    response, _, _ = run_script([answer], payload)
    assert response["status"] == "success", response.get("reason")
    assert "import math" in response["code"]
    first = response["metadata"]["iterations"][0]
    assert first["imports_added"] == ["sq.py: import math"]
    assert first["checks"] == {"run": 1, "passed": 1}
