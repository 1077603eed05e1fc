"""Whole-file answers and snippets for existing files, turned into edit blocks
(dmc.generate.rewrites) and applied as `dmc run --apply` applies blocks."""

from __future__ import annotations

from dmc.generate.edits import LineRange, apply_edits, changes_outside
from dmc.generate.rewrites import Conversion, blocks_from_rewrite, blocks_from_snippet

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


def test_a_rewrite_that_drops_a_definition_keeps_it_and_a_placeholder_is_refused() -> None:
    dropped = MODULE.replace("def parse(value: str) -> list[Atom]:\n"
                             "    return [Literal(value)]\n", "")
    # dropping parse() is all it does: nothing is left to change
    assert blocks_from_rewrite("variables.py", MODULE, dropped) == Conversion(())
    # with the change asked for beside it, the change lands and parse() stays
    body = MODULE[LAST_RESOLVE:].split("\n\n\n")[0] + "\n"
    both = MODULE[:LAST_RESOLVE] + MODULE[LAST_RESOLVE:].replace(body, RESOLVED)
    both = both.replace("def parse(value: str) -> list[Atom]:\n    return [Literal(value)]\n",
                        "")
    conv = blocks_from_rewrite("variables.py", MODULE, both,
                               named="implement Variable.resolve()")
    assert conv.refused is None and "kept parse" in conv.blocks[0].notes[0]
    out = applied(conv.blocks)
    assert "env.get(self.name, default)" in out and out.endswith(
        "def parse(value: str) -> list[Atom]:\n    return [Literal(value)]\n")
    assert changes_outside(MODULE, out, [REGION]) == []
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


# --------------------------------------------------------------- what a review found

SCRIPT = '''import os
import sys

LIMIT = 10


def run(args):
    total = 0
    for a in args:
        total += len(a)
    return total


def main():
    print(run(sys.argv[1:]), os.getcwd(), LIMIT)
'''


def test_a_rewrite_that_leaves_out_imports_and_constants_keeps_them() -> None:
    """A snippet long enough to take for the whole file, without the imports and LIMIT:
    what it left out stays (the change is the function), unless removing is asked for."""
    forgot = SCRIPT.split("\n\n\n", 1)[1].replace("total += len(a)", "total += len(a) * 2")
    conv = blocks_from_rewrite("s.py", SCRIPT, forgot)
    assert conv.refused is None and "left out were kept" in conv.blocks[0].notes[0]
    out = apply_edits(SCRIPT, list(conv.blocks), path="s.py").content
    assert out.startswith("import os\nimport sys\n\nLIMIT = 10\n") and "len(a) * 2" in out
    asked = blocks_from_rewrite("s.py", SCRIPT, SCRIPT.replace("import os\n", ""),
                                named="remove the unused import")
    assert "import os" not in apply_edits(SCRIPT, list(asked.blocks), path="s.py").content


def test_a_rewrite_or_snippet_with_an_elision_note_is_refused() -> None:
    elided = SCRIPT.replace("    total = 0\n    for a in args:\n        total += len(a)\n",
                            "    ⟦dmc: 3 lines elided⟧\n")
    assert "elision" in (blocks_from_rewrite("s.py", SCRIPT, elided).refused or "")
    assert "placeholder" in (blocks_from_snippet(
        "s.py", SCRIPT, "def run(args):\n    # ... existing code ...\n    return 0\n")
        .refused or "")


def test_a_snippet_of_a_changed_method_and_a_new_one_lands_whole_and_in_order() -> None:
    snippet = ("class Literal(Atom):\n" + "    def resolve(self, env):\n        return "
               "self.value.strip()\n\n    def first(self):\n        return self.value[:1]\n\n"
               "    def last(self):\n        return self.value[-1:]\n")
    conv = blocks_from_snippet("variables.py", MODULE, snippet)
    assert conv.refused is None, conv.refused
    out = applied(conv.blocks)
    assert "return self.value.strip()" in out
    assert out.index("def first") < out.index("def last") < out.index("class Variable")
    compile(out, "variables.py", "exec")


def test_a_class_snippet_that_changes_an_attribute_is_refused() -> None:
    snippet = "class Literal(Atom):\n    LIMIT = 5\n\n" + \
        "    def resolve(self, env):\n        return self.value[:self.LIMIT]\n"
    assert "other than methods" in (blocks_from_snippet("variables.py", MODULE, snippet)
                                    .refused or "")


def test_snippet_imports_are_compared_as_imports_not_text() -> None:
    snippet = "import requests\n\n\ndef fetch(url):\n    return requests.get(url)\n"
    text = "import requests_toolbelt\nimport re\n\n\ndef parse():\n    return re\n"
    out = apply_edits(text, list(blocks_from_snippet("f.py", text, snippet).blocks),
                      path="f.py").content
    assert "import requests\n" in out and "def fetch" in out


def test_a_method_snippet_never_replaces_a_function_of_the_same_name() -> None:
    text = "def top():\n    return 1\n\n\nclass A:\n    def top(self):\n        return 2\n"
    out = apply_edits(text, list(blocks_from_snippet(
        "t.py", text, "def top(self):\n    return 3\n").blocks), path="t.py").content
    assert "def top():\n    return 1" in out and "return 3" in out and "return 2" not in out


def test_kept_beside_only_for_a_whole_neighbour_overwritten() -> None:
    from dmc.generate.changes import kept_beside
    from dmc.generate.edits import EditBlock

    route = ('router.post("/users", async (req, res) => {\n  const user = await '
             'User.create(req.body);\n  res.status(201).json(user);\n});\n')
    new = ('router.get("/users/:id", async (req, res) => {\n  res.json(await '
           'User.findById(req.params.id));\n});\n')
    swapped = kept_beside(EditBlock("api.js", route, new), "add a GET /users/:id route")
    assert swapped.replace.startswith(route) and swapped.replace.endswith(new)
    # a rename of a signature line only: left as written (the deletion check reports it)
    rename = EditBlock("m.py", "def total(xs):\n", "def compute_total(xs):\n")
    assert kept_beside(rename, "tidy up") == rename
    # a move that keeps the body: lines shared, left as written
    moved = route.replace('"/users"', '"/api/users"')
    assert kept_beside(EditBlock("api.js", route, moved), "move it under /api").replace == moved


def test_a_plain_word_is_named_only_as_code_or_the_object_of_removing() -> None:
    from dmc.generate.rewrites import named_in

    assert not named_in("add", "add a mul function")  # the verb, not the function
    assert named_in("add", "remove add()") and named_in("add", "delete the add function")
    assert named_in("add", "make `add` faster")
    assert named_in("parse_all", "speed up parse_all") and not named_in("parse", "tidy up")


def test_definitions_of_js_ts_go_and_rust() -> None:
    from dmc.generate.rewrites import definitions

    src = ("export const find = async (id: string): Promise<User> => {\n"
           "class User {\n  static async findById(id) {\n    if (x) {\n"
           "    for (const a of b) {\n  get name(): string {\n"
           "func (r *Repo) Save(u User) error {\npub(crate) fn helper() {\n"
           'router.delete("/users/:id", async (req, res) => {\n')
    assert definitions(src.splitlines()) == ["find", "User", "findById", "name", "Save",
                                             "helper", "DELETE /users/:id"]


# ------------------------------------------- the rewrite keeps to what the request names

API = '''const express = require("express");
const User = require("../models/User");

const router = express.Router();

router.post("/users", async (req, res) => {
  const user = await User.create(req.body);
  res.status(201).json(user);
});

module.exports = router;
'''


def test_a_route_written_over_its_neighbour_lands_beside_it() -> None:
    """The packaged 1.5B's answer to "add a GET route": the file again, with the new route
    in place of the POST route. The POST route stays, after the new one."""
    get = ('router.get("/users/:id", async (req, res) => {\n'
           "  const user = await User.findById(req.params.id);\n"
           '  if (!user) return res.status(404).json({ error: "not found" });\n'
           "  res.json(user);\n});\n")
    post = API[API.index("router.post"):API.index("module.exports")]
    answer = API.replace(post, get + "\n")
    conv = blocks_from_rewrite("routes/api.js", API, answer,
                               named="add a GET /users/:id route to routes/api.js")
    assert conv.refused is None and "kept POST /users" in conv.blocks[0].notes[0]
    out = apply_edits(API, list(conv.blocks), path="routes/api.js").content
    assert out == API.replace(post, get + "\n" + post)


STUBBED = '''"""Ranges of integers.

Lists of integers are stored as sorted runs, and answer the question
"was x present in the original list?" in time O(log(# runs)).
"""

import bisect


def intranges_contain(value, ranges):
    """Whether value is in one of the ranges."""
    pos = bisect.bisect_left(ranges, _encode_range(value, 0))
    return pos > 0


def _encode_range(start, end):
    raise NotImplementedError
'''


def test_lines_changed_outside_the_named_definition_are_put_back() -> None:
    """Asked to implement ``_encode_range``, the model also reflowed the module docstring
    and reworded another function's docstring: only the named function changes; an added
    import stays."""
    answer = STUBBED.replace('"was x present in the original list?" in time O(log(# runs)).',
                             '"was x present in the original list?"\nin time O(log(# runs)).')
    answer = answer.replace('"""Whether value is in one of the ranges."""',
                            '"""Return True if value is in one of the ranges."""')
    answer = answer.replace("    raise NotImplementedError\n", "    return start << 32 | end\n")
    answer = answer.replace("import bisect\n", "import bisect\nimport sys\n")
    conv = blocks_from_rewrite("intranges.py", STUBBED, answer,
                               named="implement `_encode_range(start, end)`")
    assert conv.refused is None
    assert "line(s) it changed outside what the request names" in conv.blocks[0].notes[0]
    out = apply_edits(STUBBED, list(conv.blocks), path="intranges.py").content
    assert out == STUBBED.replace("    raise NotImplementedError\n",
                                  "    return start << 32 | end\n").replace(
        "import bisect\n", "import bisect\nimport sys\n")
    # a request that names nothing in the file: the model's edits are the change
    free = blocks_from_rewrite("intranges.py", STUBBED, answer, named="tidy this module")
    assert "Return True if" in apply_edits(STUBBED, list(free.blocks),
                                           path="intranges.py").content


def test_definition_spans_python_and_braces() -> None:
    from dmc.generate.rewrites import definition_spans

    lines = STUBBED.splitlines()
    spans = {n: (a, b) for n, a, b in definition_spans(lines, python=True)}
    assert lines[spans["_encode_range"][0]].startswith("def _encode_range")
    assert spans["_encode_range"][1] == len(lines)
    js = API.splitlines()
    [(name, a, b)] = definition_spans(js, python=False)
    assert name == "POST /users" and js[a].startswith("router.post") and js[b - 1] == "});"
    # Python that does not parse: by indentation
    broken = ["def f(:", "    x = 1", "", "    return x", "y = 2"]
    assert definition_spans(broken, python=True) == [("f", 0, 4)]


# ------------------------------------------------------ cases a review of the above found

def _convert(path: str, old: str, new: str, request: str) -> str:
    conv = blocks_from_rewrite(path, old, new, named=request)
    assert conv.refused is None, conv.refused
    result = apply_edits(old, list(conv.blocks), path=path)
    assert not result.failures, result.failures
    return result.content


def test_a_method_written_over_stays_in_its_class_and_two_routes_keep_their_order() -> None:
    old = "import json\n\n\nclass Store:\n    def load(self, path):\n" \
          "        return json.load(open(path))\n"
    new = "import json\n\n\nclass Store(object):\n    def save(self, path, data):\n" \
          "        json.dump(data, open(path, 'w'))\n"
    out = _convert("s.py", old, new, "add a save method to the Store class")
    assert out.count("class Store") == 1 and "def save" in out and "def load" in out
    compile(out, "s.py", "exec")
    two = ('const router = require("express").Router();\n\nrouter.get("/a", (req, res) => {\n'
           '  res.send("a");\n});\n\nrouter.get("/b", (req, res) => {\n  res.send("b");\n'
           '});\n\nmodule.exports = router;\n')
    one = ('const router = require("express").Router();\n\nrouter.get("/c", (req, res) => {\n'
           '  res.send("c");\n});\n\nmodule.exports = router;\n')
    out = _convert("r.js", two, one, "add a GET /c route")
    assert out.index('"/c"') < out.index('"/a"') < out.index('"/b"')
    assert out.count("});") == 3


def test_brackets_in_strings_do_not_stretch_or_cut_a_definition() -> None:
    from dmc.generate.rewrites import definition_spans

    src = ['router.post("/u", (req, res) => {', '  res.send("missing (required");', "});",
           'router.get("/s", (req, res) => {', '  res.send(":))"); // :)', "  res.end();",
           "});", "const total = (items) =>", "  items.reduce((s, i) => s + i, 0);",
           "function greet(name)", "{", "  return `hi ${name}`;", "}"]
    assert definition_spans(src, python=False) == [
        ("POST /u", 0, 3), ("GET /s", 3, 7), ("total", 7, 9), ("greet", 9, 13)]


def test_renamed_or_asked_away_definitions_are_refused_not_kept_twice() -> None:
    old = "def load_cfg(path):\n    with open(path) as f:\n        return f.read()\n\n\n" \
          "def main():\n    return load_cfg('a.ini')\n"
    renamed = old.replace("load_cfg", "load_config").replace("open(path)",
                                                            "open(path, encoding='utf-8')")
    conv = blocks_from_rewrite("c.py", old, renamed, named="read the config file as UTF-8")
    assert conv.blocks == () and "drops load_cfg" in (conv.refused or "")
    dead = old + "\n\ndef _legacy(x):\n    return x\n"
    conv = blocks_from_rewrite("c.py", dead, old, named="remove dead code from c.py")
    assert conv.blocks == () and "drops _legacy" in (conv.refused or "")


def test_what_the_named_change_needs_elsewhere_is_kept_and_the_rest_put_back() -> None:
    # a new signature: the call in another function changes with it
    old = "def fetch(url):\n    return url\n\n\ndef load():\n    return fetch('a')\n"
    new = "def fetch(url, timeout):\n    return url, timeout\n\n\ndef load():\n" \
          "    return fetch('a', 10)\n"
    assert _convert("f.py", old, new, "add a `timeout` parameter to `fetch()`") == new
    # the same signature: a "tidied" call elsewhere is not the change
    stub = "def fetch(url):\n    raise NotImplementedError\n\n\ndef load():\n" \
           "    return fetch('a')\n"
    tidied = "def fetch(url):\n    return url\n\n\ndef load():\n    return fetch(url='a')\n"
    assert _convert("f.py", stub, tidied, "implement `fetch()`") == \
        stub.replace("raise NotImplementedError", "return url")
    # Class.method: only that class's method; a parenthesised import may grow
    out = _convert("variables.py", MODULE, MODULE.replace(
        "from typing import Mapping, Optional", "from typing import (\n    Mapping, Optional,"
        " Any,\n)").replace("        return self.value\n", "        return str(self.value)\n")
        .replace("class Variable(Atom):\n    def __init__(self, name: str, default: Optional"
                 "[str]) -> None:\n", "class Variable(Atom):\n    def __init__(self, name: "
                 "str, default: Optional[str]) -> None:\n        self.extra: Any = None\n"),
        "implement Variable.resolve()")
    assert "Mapping, Optional, Any" in out and "return self.value\n" in out
    assert "self.extra" not in out  # a line added inside __init__, which is not named
    # a named module constant is the change
    stub = "import bisect\n\nSHIFT = 16\n\n\ndef _encode_range(start, end):\n" \
           "    raise NotImplementedError\n"
    done = stub.replace("16", "32").replace("raise NotImplementedError",
                                            "return start << SHIFT | end")
    assert _convert("i.py", stub, done, "set `SHIFT` to 32 and implement "
                                        "`_encode_range(start, end)` with it") == done
