"""Whole-file answers and snippets for existing files, turned into edit blocks
(dmc.generate.rewrites) and applied as `dmc run --apply` applies blocks."""

from __future__ import annotations

from dmc.generate.edits import LineRange, apply_edits, changes_outside
from dmc.generate.rewrites import blocks_from_rewrite, blocks_from_snippet

# a module shaped like python-dotenv's variables.py: three classes share a method name
MODULE = '''import re
from typing import Mapping, Optional


class Atom:
    def resolve(self, env: Mapping[str, Optional[str]]) -> str:
        raise NotImplementedError


class Literal(Atom):
    def __init__(self, value: str) -> None:
        self.value = value

    def resolve(self, env: Mapping[str, Optional[str]]) -> str:
        return self.value


class Variable(Atom):
    def __init__(self, name: str, default: Optional[str]) -> None:
        self.name = name
        self.default = default

    def resolve(self, env: Mapping[str, Optional[str]]) -> str:
        raise NotImplementedError


def parse(value: str) -> list[Atom]:
    return [Literal(value)]
'''
RESOLVED = '''    def resolve(self, env: Mapping[str, Optional[str]]) -> str:
        default = self.default if self.default is not None else ""
        result = env.get(self.name, default)
        return result if result is not None else ""
'''
LAST_RESOLVE = MODULE.rindex("    def resolve")
REGION = LineRange(MODULE[:LAST_RESOLVE].count("\n") + 1, MODULE[:LAST_RESOLVE].count("\n") + 2)


def applied(blocks: tuple) -> str:
    result = apply_edits(MODULE, list(blocks), path="variables.py")
    assert not result.failures, result.failures
    return result.content


def test_a_rewrite_keeps_only_the_change_and_drops_spacing_noise() -> None:
    body = MODULE[LAST_RESOLVE:].split("\n\n\n")[0] + "\n"
    rewritten = MODULE[:LAST_RESOLVE] + MODULE[LAST_RESOLVE:].replace(body, RESOLVED)
    rewritten = rewritten.replace("\n\n\nclass Literal", "\n\nclass Literal")  # model's noise
    conv = blocks_from_rewrite("variables.py", MODULE, rewritten)
    assert conv.refused is None and len(conv.blocks) == 1
    assert conv.blocks[0].notes == ("made from a whole-file answer",)
    out = applied(conv.blocks)
    assert "env.get(self.name, default)" in out
    assert "\n\n\nclass Literal" in out  # the original spacing stays
    assert changes_outside(MODULE, out, [REGION]) == []
    ns: dict = {}
    exec(compile(out, "variables.py", "exec"), ns)  # noqa: S102 - our own fixture
    var = ns["Variable"]
    assert var("a", None).resolve({"a": "1"}) == "1"
    assert var("a", "d").resolve({}) == "d" and var("a", None).resolve({"a": None}) == ""


def test_a_rewrite_that_drops_a_definition_or_uses_a_placeholder_is_refused() -> None:
    dropped = MODULE.replace("def parse(value: str) -> list[Atom]:\n"
                             "    return [Literal(value)]\n", "")
    conv = blocks_from_rewrite("variables.py", MODULE, dropped)
    assert conv.blocks == () and "drops parse" in (conv.refused or "")
    # asked to remove it: the same rewrite is a change
    asked = blocks_from_rewrite("variables.py", MODULE, dropped, named="remove parse()")
    assert asked.refused is None and "def parse" not in applied(asked.blocks)
    lazy = MODULE.replace("class Literal(Atom):", "# ... existing code ...\n\nclass Literal(Atom):")
    assert "placeholder" in (blocks_from_rewrite("variables.py", MODULE, lazy).refused or "")
    assert blocks_from_rewrite("variables.py", MODULE, MODULE).blocks == ()


def test_a_method_snippet_goes_to_the_class_it_names_never_a_guess() -> None:
    bare = blocks_from_snippet("variables.py", MODULE, RESOLVED)
    assert bare.blocks == () and "3 classes" in (bare.refused or "")
    wrapped = "class Variable(Atom):\n" + RESOLVED
    conv = blocks_from_snippet("variables.py", MODULE, wrapped)
    assert conv.refused is None, conv.refused
    out = applied(conv.blocks)
    assert out.count("raise NotImplementedError") == 1  # Atom's stays, Variable's replaced
    assert changes_outside(MODULE, out, [REGION]) == []


def test_a_function_snippet_replaces_its_namesake_or_is_added_with_its_imports() -> None:
    new_parse = "def parse(value: str) -> list[Atom]:\n    return [Literal(value.strip())]\n"
    out = applied(blocks_from_snippet("variables.py", MODULE, new_parse).blocks)
    assert "value.strip()" in out and out.count("def parse") == 1
    added = "import os\n\n\ndef home() -> str:\n    return os.environ.get('HOME', '')\n"
    out = applied(blocks_from_snippet("variables.py", MODULE, added).blocks)
    assert out.startswith("import re\nfrom typing import Mapping, Optional\nimport os\n")
    assert out.rstrip().endswith("return os.environ.get('HOME', '')")
    compile(out, "variables.py", "exec")
    assert "other than definitions" in (
        blocks_from_snippet("variables.py", MODULE, "print(parse('x'))\n").refused or "")


def test_a_copy_of_the_file_beside_its_blocks_is_not_a_second_change() -> None:
    from dmc.generate.changes import FileState, from_answer

    block = ("File: variables.py\n```python\n<<<<<<< SEARCH\ndef parse(value: str) -> "
             "list[Atom]:\n    return [Literal(value)]\n=======\ndef parse(value: str) -> "
             "list[Atom]:\n    return [Literal(value.strip())]\n>>>>>>> REPLACE\n```\n")
    copy = "File: variables.py\n```python\n" + MODULE + "```\n"  # the old text again
    edit = from_answer(block + "\n" + copy, {"variables.py": FileState("variables.py", MODULE)},
                       language="python", cut_off=None)
    [f] = edit.files
    assert "value.strip()" in f.code and f.code.count("def parse") == 1
    assert edit.ignored == ["variables.py: a whole copy beside its SEARCH/REPLACE blocks (the "
                            "blocks are applied, the copy is not)"]
    assert edit.converted == []


def test_lost_definitions_names_routes_and_functions_the_request_does_not() -> None:
    from dmc.generate.rewrites import lost_definitions

    api = ('router.post("/users", async (req, res) => {\n  res.status(201).end();\n});\n'
           "function helper() {}\n")
    swapped = ('router.get("/users/:id", async (req, res) => {\n  res.json({});\n});\n'
               "function helper() {}\n")
    assert lost_definitions(api, swapped, "add a GET /users/:id route") == ["POST /users"]
    assert lost_definitions(api, swapped, "replace the POST /users route with GET "
                                          "/users/:id") == []
    assert lost_definitions(MODULE, MODULE.replace("def parse", "def parse_all"),
                            "tidy up") == ["parse"]
    assert lost_definitions(MODULE, MODULE.replace("def parse", "def parse_all"),
                            "rename parse to parse_all") == []
