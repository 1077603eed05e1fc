"""Edit blocks keep to the request (dmc.generate.scope.keep_to_request, applied by
dmc.generate.changes.from_answer): a block is held back only when it rewrites most of a
definition the request is not about — the 1.5B's rewrite of ``McCabeChecker.run`` while it
implemented ``PathGraph.complexity`` — and every other block is applied as written.

A false hold costs more than a missed one, so most tests here are needed edits that must
land: each reproduces a case the review of the first version found held back (callers
updated for a new contract, a flag threaded through two levels, helpers reached through
``self.x.y``, ``super()``, a default argument or a route's middleware, a syntax slip, a
whole-file answer). Each rule has a test that fails without it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dmc.generate.changes import (
    UNASKED,
    EditPass,
    FileState,
    from_answer,
    render_unasked,
)
from dmc.generate.edits import apply_edits

ROOT = Path(__file__).resolve().parent.parent


def block(path: str, search: str, replace: str, lang: str = "python") -> str:
    """One SEARCH/REPLACE block as the model writes it."""
    return (f"File: {path}\n```{lang}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n"
            ">>>>>>> REPLACE\n```\n\n")


def whole(path: str, text: str, lang: str = "python") -> str:
    """The whole file again, as the 1.5B answers most change requests."""
    return f"File: {path}\n```{lang}\n{text}```\n"


def change(path: str, source: str, answer: str, request: str,
           base: dict[str, FileState] | None = None) -> EditPass:
    """The answer applied to ``source`` as the generate loop applies it."""
    language = "python" if path.endswith(".py") else "javascript"
    return from_answer(answer, base or {path: FileState(path, source)}, language=language,
                       cut_off=None, request=request)


def held(edit: EditPass) -> list[tuple[int, str]]:
    return [(f.index, f.detail) for f in edit.failures if f.reason == UNASKED]


def kept_all(edit: EditPass, path: str, source: str) -> str:
    """Nothing held back nor failed, and the kept blocks replay on the original file (what
    ``dmc run --apply`` does); the content."""
    assert edit.failures == []
    return replayed(edit, path, source)


def replayed(edit: EditPass, path: str, source: str) -> str:
    result = apply_edits(source, edit.states[path].blocks, path=path)
    assert not result.failures and result.content == edit.states[path].content
    return result.content


# ----------------------------------------------------------------- the measured case: mccabe

MCCABE = '''import ast
from collections import defaultdict


class PathGraph(object):
    def __init__(self, name, entity, lineno, column=0):
        self.name = name
        self.entity = entity
        self.lineno = lineno
        self.column = column
        self.nodes = defaultdict(list)

    def complexity(self):
        """ Return the McCabe complexity for the graph.
            V-E+2
        """
        raise NotImplementedError


def describe(graph):
    return graph.name


def report(graph):
    return graph.complexity()


class McCabeChecker(object):
    """McCabe cyclomatic complexity checker."""
    name = 'mccabe'
    _error_tmpl = "C901 %r is too complex (%d)"
    max_complexity = -1

    def __init__(self, tree, filename):
        self.tree = tree

    def run(self):
        if self.max_complexity < 0:
            return
        visitor = PathGraphingAstVisitor()
        visitor.preorder(self.tree, visitor)
        for graph in visitor.graphs.values():
            if graph.complexity() > self.max_complexity:
                text = self._error_tmpl % (graph.entity, graph.complexity())
                yield graph.lineno, graph.column, text, type(self)
'''
MCCABE_REQUEST = ("implement `PathGraph.complexity` in mccabe.py: the McCabe complexity of the "
                  "graph, the number of edges (the sum of the lengths of the node lists in "
                  "self.nodes) minus the number of nodes plus 2")
STUB = "        raise NotImplementedError"
IMPLEMENTED = "        return sum(len(n) for n in self.nodes.values()) - len(self.nodes) + 2"
RUN_TAIL = '''        for graph in visitor.graphs.values():
            if graph.complexity() > self.max_complexity:
                text = self._error_tmpl % (graph.entity, graph.complexity())
                yield graph.lineno, graph.column, text, type(self)'''
# what the 1.5B wrote over McCabeChecker.run on the change bench (main()'s code): 4 of the 8
# lines of run's body gone
RUN_REWRITTEN = '''
        if options.dot:
            print('graph {')
            for graph in visitor.graphs.values():
                if (not options.threshold or
                        graph.complexity() >= options.threshold):
                    graph.to_dot()
        else:
            for graph in visitor.graphs.values():
                if graph.complexity() >= options.threshold:
                    print(graph.name, graph.complexity())'''
RUN_HELD = ("rewrote most of `McCabeChecker.run`, which the request does not ask to change; it "
            "was not applied")


def test_mccabe_the_caller_rewritten_beside_the_implementation_is_held() -> None:
    answer = block("mccabe.py", STUB, IMPLEMENTED) + block("mccabe.py", RUN_TAIL, RUN_REWRITTEN)
    edit = change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)
    assert held(edit) == [(2, RUN_HELD)] and len(edit.failures) == 1
    assert replayed(edit, "mccabe.py", MCCABE) == MCCABE.replace(STUB, IMPLEMENTED)


def test_mccabe_the_real_whole_file_answer_applies_only_the_implementation() -> None:
    """The real mccabe.py of the change bench, and the whole file the 1.5B sent back."""
    sys.path.insert(0, str(ROOT))
    from bench import bench_changes

    source, _ = bench_changes.break_body((bench_changes.SITE / "mccabe.py").read_text(),
                                         "PathGraph.complexity")
    assert source.count(STUB) == 1 and source.count(RUN_TAIL) == 1
    answer = source.replace(STUB, IMPLEMENTED).replace(RUN_TAIL, RUN_REWRITTEN)
    edit = change("mccabe.py", source, whole("mccabe.py", answer), MCCABE_REQUEST)
    assert held(edit) == [(2, RUN_HELD)]
    assert replayed(edit, "mccabe.py", source) == source.replace(STUB, IMPLEMENTED)
    assert render_unasked(edit.failures) == (
        f"Your code for mccabe.py {RUN_HELD}.\nIf the asked change really needs it, change "
        "only the lines the asked change requires.")


def test_words_in_the_asked_code_s_comments_and_strings_call_nothing() -> None:
    """"unlike run" in a comment, or in a message, is not a call of ``run``."""
    for said in ("  # unlike run, every node counts", "\n        assert self.nodes, 'run first'"):
        answer = (block("mccabe.py", STUB, IMPLEMENTED + said)
                  + block("mccabe.py", RUN_TAIL, RUN_REWRITTEN))
        assert held(change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)) == [(2, RUN_HELD)]


def test_a_caller_that_only_adjusts_its_call_is_kept() -> None:
    """1 of run's 8 lines: under the share that makes a rewrite (MOST)."""
    adjusted = RUN_TAIL.replace("> self.max_complexity", ">= self.max_complexity")
    answer = block("mccabe.py", STUB, IMPLEMENTED) + block("mccabe.py", RUN_TAIL, adjusted)
    edit = change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)
    assert adjusted in kept_all(edit, "mccabe.py", MCCABE)


def test_a_definition_that_starts_calling_the_new_code_is_kept() -> None:
    """An f-string's fields are code."""
    for calls in ("graph.name, graph.complexity()", 'f"{graph.name}: {graph.complexity()}"'):
        answer = (block("mccabe.py", STUB, IMPLEMENTED)
                  + block("mccabe.py", "    return graph.name", f"    return {calls}"))
        edit = change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)
        assert calls in kept_all(edit, "mccabe.py", MCCABE)


def test_a_caller_of_a_stub_whose_signature_changes_is_kept() -> None:
    """Implementing a stub changes no caller; changing its signature does."""
    answer = (block("mccabe.py", f"    def complexity(self):\n{' ' * 8}\"\"\" Return the McCabe "
                    "complexity for the graph.", f"    def complexity(self, extra=0):\n{' ' * 8}"
                    "\"\"\" Return the McCabe complexity for the graph.")
              + block("mccabe.py", STUB, IMPLEMENTED + " + extra")
              + block("mccabe.py", "    return graph.complexity()",
                      "    return graph.complexity(extra=1)"))
    edit = change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)
    assert "graph.complexity(extra=1)" in kept_all(edit, "mccabe.py", MCCABE)


def test_a_class_attribute_beside_the_named_method_may_change() -> None:
    source = MCCABE.replace("class PathGraph(object):\n",
                            "class PathGraph(object):\n    directed = False\n\n")
    answer = (block("mccabe.py", STUB, IMPLEMENTED)
              + block("mccabe.py", "    directed = False", "    directed = True"))
    edit = change("mccabe.py", source, answer, MCCABE_REQUEST)
    assert "directed = True" in kept_all(edit, "mccabe.py", source)


def test_a_comment_changed_elsewhere_is_no_rewrite() -> None:
    answer = (block("mccabe.py", STUB, IMPLEMENTED)
              + block("mccabe.py", "    return graph.name", "    return graph.name  # its label"))
    edit = change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)
    assert "# its label" in kept_all(edit, "mccabe.py", MCCABE)


# --------------------------------------------------- blocker 1: callers of a changed contract

CONFIG = '''import json


def load_config(path):
    with open(path) as f:
        data = json.load(f)
    return data["host"], data["port"]


def connect(path):
    host, port = load_config(path)
    sock = socket.create_connection((host, port))
    return sock


def banner(path):
    host, _ = load_config(path)
    print("connecting to", host)
'''


def test_callers_updated_for_a_new_return_type_are_kept() -> None:
    answer = (block("cfg.py", '    return data["host"], data["port"]',
                    '    return {"host": data["host"], "port": data["port"]}')
              + block("cfg.py", "    host, port = load_config(path)\n"
                      "    sock = socket.create_connection((host, port))",
                      "    cfg = load_config(path)\n"
                      '    sock = socket.create_connection((cfg["host"], cfg["port"]))')
              + block("cfg.py", '    host, _ = load_config(path)\n    print("connecting to", host)',
                      '    cfg = load_config(path)\n    print("connecting to", cfg["host"])'))
    for request in ("make `load_config` return a dict instead of a tuple",
                    "make load_config return a dict instead of a tuple and update the callers"):
        content = kept_all(change("cfg.py", CONFIG, answer, request), "cfg.py", CONFIG)
        assert 'print("connecting to", cfg["host"])' in content


def test_a_caller_handling_a_new_exception_is_kept() -> None:
    source = '''class ConfigError(Exception):
    pass


def load(path):
    if not os.path.exists(path):
        return None
    return read(path)


def main():
    cfg = load("app.toml")
    if cfg is None:
        print("no config")
        return 1
    run(cfg)
'''
    answer = (block("m.py", "        return None", "        raise ConfigError(path)")
              + block("m.py", '    cfg = load("app.toml")\n    if cfg is None:\n'
                      '        print("no config")\n        return 1',
                      '    try:\n        cfg = load("app.toml")\n    except ConfigError:\n'
                      '        print("no config")\n        return 1'))
    edit = change("m.py", source, answer, "make `load` raise `ConfigError` instead of "
                                          "returning None when the file is missing")
    assert "    except ConfigError:\n" in kept_all(edit, "m.py", source)


CLIENT = '''class Client:
    def __init__(self, base):
        self.base = base

    def send(self, method, url):
        return http.request(method, self.base + url)

    def get(self, url):
        return self.send("GET", url)
'''
SEND = ("    def send(self, method, url):\n        return http.request(method, self.base + url)",
        "    def send(self, method, url, timeout=None):\n"
        "        return http.request(method, self.base + url, timeout=timeout)")


def test_a_parameter_threaded_through_a_caller_is_kept_in_one_block_or_two() -> None:
    request = "add a `timeout` parameter to `Client.send` and pass it through from its callers"
    one = (block("c.py", *SEND)
           + block("c.py", '    def get(self, url):\n        return self.send("GET", url)',
                   '    def get(self, url, timeout=None):\n'
                   '        return self.send("GET", url, timeout=timeout)'))
    two = (block("c.py", *SEND)
           + block("c.py", "    def get(self, url):", "    def get(self, url, timeout=None):")
           + block("c.py", '        return self.send("GET", url)',
                   '        return self.send("GET", url, timeout=timeout)'))
    for answer in (one, two):
        content = kept_all(change("c.py", CLIENT, answer, request), "c.py", CLIENT)
        assert 'self.send("GET", url, timeout=timeout)' in content


ROWS = '''def load_rows(path):
    with open(path) as f:
        return f.readlines()


def summary(path):
    rows = load_rows(path)
    return len(rows)
'''


def test_callers_of_a_renamed_definition_are_kept() -> None:
    answer = (block("m.py", "def load_rows(path):", "def read_rows(path):")
              + block("m.py", "    rows = load_rows(path)", "    rows = read_rows(path)"))
    for request in ("rename `load_rows` to `read_rows` and update its callers",
                    "rename function load_rows to read_rows and update its callers"):
        assert "rows = read_rows(path)" in kept_all(change("m.py", ROWS, answer, request),
                                                    "m.py", ROWS)


def test_callers_of_a_named_definition_no_block_changes_may_change() -> None:
    """The request may be about the callers: "callers of `load_rows` should strip rows"."""
    answer = block("m.py", "    rows = load_rows(path)",
                   "    rows = [r.strip() for r in load_rows(path)]")
    edit = change("m.py", ROWS, answer, "the callers of `load_rows` should strip each row")
    assert "r.strip()" in kept_all(edit, "m.py", ROWS)


# ---------------------------------------------------- blocker 2: coherent changes stay whole

CLI = '''import argparse


def process_file(path):
    with open(path) as f:
        return len(f.read())


def run(paths):
    return [process_file(p) for p in paths]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    print(sum(run(args.paths)))
'''


def test_a_flag_threaded_through_two_levels_is_applied_whole() -> None:
    answer = (block("cli.py", '    args = parser.parse_args(argv)\n    print(sum(run(args.paths)))',
                    '    parser.add_argument("--verbose", action="store_true")\n'
                    '    args = parser.parse_args(argv)\n'
                    '    print(sum(run(args.paths, verbose=args.verbose)))')
              + block("cli.py", "def run(paths):\n    return [process_file(p) for p in paths]",
                      "def run(paths, verbose=False):\n"
                      "    return [process_file(p, verbose) for p in paths]")
              + block("cli.py", "def process_file(path):\n    with open(path) as f:",
                      "def process_file(path, verbose=False):\n    if verbose:\n"
                      "        print(path)\n    with open(path) as f:"))
    edit = change("cli.py", CLI, answer, "add a `--verbose` flag to `main` that prints each "
                                         "file name as it is processed")
    content = kept_all(edit, "cli.py", CLI)
    assert "process_file(p, verbose)" in content and "def process_file(path, verbose" in content


EMPTY_INPUT = ("        return text.split()[0]",
               "        parts = text.split()\n        return parts[0] if parts else ''")
PARSER = '''class Lexer:
    def tokenize(self, text):
        return text.split()[0]


class Parser:
    def __init__(self):
        self.lexer = Lexer()

    def parse(self, text):
        return {"head": self.lexer.tokenize(text)}
'''


def test_helpers_reached_through_members_are_kept() -> None:
    """``self.lexer.tokenize(text)`` and ``Lexer().tokenize(text)`` use ``Lexer.tokenize``."""
    for source in (PARSER, PARSER.replace("self.lexer.tokenize", "Lexer().tokenize")):
        edit = change("p.py", source, block("p.py", *EMPTY_INPUT),
                      "`Parser.parse` crashes on empty input; fix it")
        assert "parts[0] if parts" in kept_all(edit, "p.py", source)


def test_a_helper_two_levels_down_is_kept() -> None:
    source = '''def _split(text):
    return text.split()[0]


def _tokenize(text):
    return _split(text).lower()


def parse_line(text):
    tok = _tokenize(text)
    return {"head": tok}
'''
    answer = block("p.py", "    return text.split()[0]",
                   "    parts = text.split()\n    return parts[0] if parts else ''")
    edit = change("p.py", source, answer, "fix the bug in `parse_line` where empty input "
                                          "crashes")
    assert "parts[0] if parts" in kept_all(edit, "p.py", source)


def test_the_base_class_method_called_through_super_is_kept() -> None:
    source = '''class User:
    def save(self, db):
        db.put(self.name, {"name": self.name})


class Admin(User):
    def save(self, db):
        super().save(db)
        db.log("admin saved")
'''
    answer = block("m.py", '        db.put(self.name, {"name": self.name})',
                   '        db.put(self.name, {"name": self.name, "role": self.role})')
    edit = change("m.py", source, answer, "`Admin.save` does not persist the role; fix it")
    assert '"role": self.role' in kept_all(edit, "m.py", source)


def test_a_helper_passed_as_a_default_argument_is_kept() -> None:
    source = "def _strip(s):\n    return s.strip()\n\n\ndef parse(text, clean=_strip):\n" \
             "    return clean(text).split(',')\n"
    answer = block("p.py", "    return s.strip()", "    return (s or '').strip()")
    edit = change("p.py", source, answer, "`parse` crashes on None")
    assert "(s or '').strip()" in kept_all(edit, "p.py", source)


# ----------------------------------------------- blocker 3: middleware on the route's line

API = '''const express = require("express");
const router = express.Router();

function requireJson(req, res, next) {
  if (!req.is("application/json")) {
    return res.status(415).end();
  }
  next();
}

router.post("/users", requireJson, async (req, res) => {
  const user = await User.create(req.body);
  res.status(201).json(user);
});

module.exports = router;
'''
# 2 of the middleware's 3 lines
VALIDATION = ('  if (!req.is("application/json")) {\n    return res.status(415).end();',
              '  if (!req.is("application/json") || !req.body.email) {\n'
              '    return res.status(400).json({ error: "email required" });')


def test_middleware_on_the_route_line_is_kept() -> None:
    for source in (API, API.replace('"/users", requireJson, async',
                                    '"/users",\n  requireJson,\n  async')):
        edit = change("api.js", source, block("api.js", *VALIDATION, "javascript"),
                      "add validation to POST /users that rejects a body without an email "
                      "with 400")
        assert "email required" in kept_all(edit, "api.js", source)


# ------------------------------------------------------ shared state: one change, two places


def test_a_change_to_state_the_asked_change_uses_is_kept() -> None:
    source = '''class Cache:
    def __init__(self):
        self._data = {}

    def get(self, key):
        return self._data.get(key)

    def put(self, key, value):
        self._data[key] = value
'''
    answer = (block("m.py", "        self._data = {}", "        self._store = {}")
              + block("m.py", "        return self._data.get(key)",
                      "        return self._store.get(key)")
              + block("m.py", "        self._data[key] = value",
                      "        self._store[key] = value"))
    edit = change("m.py", source, answer, "`Cache.get` should read from `self._store`")
    assert "self._data" not in kept_all(edit, "m.py", source)


def test_a_refactor_that_changes_an_import_is_kept_where_it_uses_it() -> None:
    source = '''import os


def read_text(name):
    with open(os.path.join(BASE, name)) as f:
        return f.read()


def exists(name):
    return os.path.exists(os.path.join(BASE, name))
'''
    answer = (block("utils.py", "import os", "from pathlib import Path")
              + block("utils.py", "    with open(os.path.join(BASE, name)) as f:\n"
                      "        return f.read()", "    return (Path(BASE) / name).read_text()")
              + block("utils.py", "    return os.path.exists(os.path.join(BASE, name))",
                      "    return (Path(BASE) / name).exists()"))
    for request in ("refactor utils.py to use pathlib, starting with read_text",
                    "refactor utils.py to use pathlib"):  # names nothing: the rule is off
        content = kept_all(change("utils.py", source, answer, request), "utils.py", source)
        assert "os." not in content


# ----------------------------------------------------- finding 4: a syntax slip in the file


def test_a_syntax_slip_does_not_turn_the_rule_off() -> None:
    """The file does not parse before or after the rewrite: definitions by indentation."""
    slip = RUN_REWRITTEN.replace("graph.complexity())", "graph.complexity()")
    answer = block("mccabe.py", STUB, IMPLEMENTED) + block("mccabe.py", RUN_TAIL, slip)
    assert held(change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)) == [(2, RUN_HELD)]
    answer = block("mccabe.py", STUB, IMPLEMENTED + "(") + block("mccabe.py", RUN_TAIL,
                                                                 RUN_REWRITTEN)
    edit = change("mccabe.py", MCCABE, answer, MCCABE_REQUEST)
    assert held(edit) == [(2, RUN_HELD)] and IMPLEMENTED + "(" in edit.states["mccabe.py"].content


# ------------------------------------------------- finding 5: whole-file answers, cut apart

GRAPH = '''class Graph:
    def __init__(self):
        self.nodes = {}

    def total(self):
        return 0

    def other(self):
        first = 1
        second = first * 2
        return second - 1

    def size(self):
        return len(self.nodes)
'''
TOTAL = "        return sum(len(v) for v in self.nodes.values())"
OTHER_BODY = "        first = 1\n        second = first * 2\n        return second - 1"


def test_a_whole_file_answer_applies_the_asked_change_beside_a_held_one() -> None:
    """The two changes are 2 lines apart: one block as dmc makes it, cut at ``other``."""
    answer = GRAPH.replace("        return 0", TOTAL).replace(OTHER_BODY, "        return 2")
    edit = change("g.py", GRAPH, whole("g.py", answer), "implement `Graph.total`")
    assert held(edit) == [(1, "rewrote most of `Graph.other`, which the request does not ask "
                              "to change; it was not applied")]
    assert replayed(edit, "g.py", GRAPH) == GRAPH.replace("        return 0", TOTAL)
    assert edit.converted == ["g.py: made from a whole-file answer"]


def test_a_whole_file_answer_with_nothing_held_keeps_its_blocks_whole() -> None:
    answer = GRAPH.replace("        return 0", TOTAL).replace("self.nodes = {}",
                                                              "self.nodes = dict()")
    edit = change("g.py", GRAPH, whole("g.py", answer), "implement `Graph.total`")
    assert len(edit.states["g.py"].blocks) == 1 and kept_all(edit, "g.py", GRAPH) == answer


# ------------------------------------------------------- finding 6: what the model is told


def test_a_block_that_also_holds_the_asked_change_says_so() -> None:
    answer = block("g.py", f"        return 0\n\n    def other(self):\n{OTHER_BODY}",
                   f"{TOTAL}\n\n    def other(self):\n        return 2")
    edit = change("g.py", GRAPH, answer, "implement `Graph.total`")
    assert held(edit) == [(1, "rewrote most of `Graph.other`, which the request does not ask "
                              "to change; it was not applied, so neither was its change to "
                              "`Graph.total`: send that again in a block of its own")]
    assert edit.states["g.py"].content == GRAPH


def test_a_deleted_definition_is_held_and_said_to_be_deleted() -> None:
    answer = (block("g.py", "        return 0", TOTAL) + "File: g.py\n```python\n<<<<<<< SEARCH\n"
              f"    def other(self):\n{OTHER_BODY}\n\n=======\n>>>>>>> REPLACE\n```\n")
    edit = change("g.py", GRAPH, answer, "implement `Graph.total`")
    assert held(edit) == [(2, "deleted `Graph.other`, which the request does not ask to "
                              "change; it was not applied")]
    text = render_unasked(edit.failures)
    assert text.startswith("Block 2 for g.py deleted `Graph.other`") and "applied" not in \
        text.split("\n")[-1] and "Change only what the request names" not in text


# ------------------------------------------------ what the request names, and what it does not


def test_a_method_named_through_its_class_names_only_that_method() -> None:
    source = GRAPH + ("\n\nclass Tree:\n    def total(self):\n        size = 0\n"
                      "        size += 1\n        return size\n")
    answer = (block("g.py", "class Graph:\n    def __init__(self):\n        self.nodes = {}\n\n"
                    "    def total(self):\n        return 0",
                    "class Graph:\n    def __init__(self):\n        self.nodes = {}\n\n"
                    f"    def total(self):\n{TOTAL}")
              + block("g.py", f"    def other(self):\n{OTHER_BODY}",
                      "    def other(self):\n        return 7")
              + block("g.py", "class Tree:\n    def total(self):\n        size = 0\n"
                      "        size += 1\n        return size",
                      "class Tree:\n    def total(self):\n        return 9"))
    edit = change("g.py", source, answer, "implement `Graph.total`")
    assert [n for n, _ in held(edit)] == [2, 3]  # not the class, nor Tree's total


def test_dotted_names_in_the_request_name_nothing_but_a_method() -> None:
    """``os.path``, ``this.cacheUser``, ``store.py``: a module's member, an attribute, a
    file. Nor does ``os.path`` in the named code use the file's ``path``."""
    source = '''import os


def path(name):
    name = name.strip()
    name = name or "-"
    return name


def store(name):
    name = name.strip()
    name = name or "-"
    return name.upper()


def cacheUser(name):
    name = name.strip()
    name = name or "-"
    return name


def save(name, data):
    with open(name, "w") as f:
        f.write(data)
'''
    answer = (block("m.py", '    with open(name, "w") as f:',
                    '    with open(os.path.join("out", name), "w") as f:')
              + block("m.py", "def path(name):\n    name = name.strip()\n"
                      '    name = name or "-"\n    return name',
                      "def path(name):\n    return os.path.join('out', name)")
              + block("m.py", 'def store(name):\n    name = name.strip()\n'
                      '    name = name or "-"\n    return name.upper()',
                      "def store(name):\n    return name.lower()")
              + block("m.py", 'def cacheUser(name):\n    name = name.strip()\n'
                      '    name = name or "-"\n    return name',
                      "def cacheUser(name):\n    return name.casefold()"))
    edit = change("m.py", source, answer, "`save` should write into the out directory (use "
                                          "os.path.join, like this.cacheUser); it is in store.py")
    assert 'open(os.path.join("out", name), "w")' in edit.states["m.py"].content
    assert [n for n, _ in held(edit)] == [2, 3, 4]


def test_when_the_rule_cannot_tell_every_block_is_kept() -> None:
    other = block("g.py", f"    def other(self):\n{OTHER_BODY}",
                  "    def other(self):\n        return 9")
    # the request names nothing in the file
    kept_all(change("g.py", GRAPH, other, "make the graph code work"), "g.py", GRAPH)
    # a file it cannot split into definitions
    go = "package m\n\nfunc total() int {\n\treturn 0\n}\n\nfunc other() int {\n\treturn 1\n}\n"
    edit = from_answer(block("m.go", "\treturn 1", "\treturn 9", "go"),
                       {"m.go": FileState("m.go", go)}, language="go", cut_off=None,
                       request="fix `total`")
    assert "return 9" in kept_all(edit, "m.go", go)


def test_new_definitions_and_lines_outside_every_definition_are_never_judged() -> None:
    """Imports, constants, ``__main__``: applied as written (the rule judges definitions)."""
    source = 'LIMIT = 10\n\n\ndef total(xs):\n    return 0\n\n\nif __name__ == "__main__":\n' \
             "    print(total([]))\n"
    answer = (block("t.py", "def total(xs):\n    return 0",
                    "def total(xs):\n    return sum(xs)\n\n\ndef _spare(xs):\n    return 0")
              + block("t.py", "def _spare(xs):\n    return 0", "def _spare(xs):\n    return 1")
              + block("t.py", "LIMIT = 10", "import math\n\nLIMIT = 0")
              + block("t.py", "    print(total([]))", "    pass"))
    content = kept_all(change("t.py", source, answer, "implement `total`"), "t.py", source)
    assert "LIMIT = 0" in content and "    pass" in content and "    return 1" in content


# ------------------------------------------------------------- through the generate loop

DEMO_API = '''const express = require("express");
const User = require("../models/User");

const router = express.Router();

router.get("/users/:id", async (req, res) => {
  const user = await User.findById(req.params.id);
  res.json(user);
});

router.post("/users", async (req, res) => {
  const user = await User.create(req.body);
  user.createdBy = req.ip;
  res.status(201).json(user);
});

module.exports = router;
'''
NOT_FOUND = block("routes/api.js", "  const user = await User.findById(req.params.id);\n"
                  "  res.json(user);", "  const user = await User.findById(req.params.id);\n"
                  '  if (!user) {\n    return res.status(404).json({ error: "not found" });\n'
                  "  }\n  res.json(user);", "javascript")
STATUS_200 = block("routes/api.js", "  const user = await User.create(req.body);\n"
                   "  user.createdBy = req.ip;\n  res.status(201).json(user);",
                   "  const created = await User.create({ ...req.body });\n"
                   "  res.status(200).json({ user: created });", "javascript")
POST_HELD = ("held back 1 block(s) that rewrite code the request does not ask about: "
             "POST /users")


def _loop(dmc: Any, tmp_path: Path, answers: list[str], request: str = (
        'make GET /users/:id in routes/api.js answer 404 with {error: "not found"} when there '
        'is no user')) -> tuple[dict[str, Any], Any]:
    from tests.test_generate_edits import demo_payload, run_script

    payload = demo_payload(dmc, tmp_path)
    payload["task"]["description"] = request
    payload["context"]["files"]["routes/api.js"] = DEMO_API
    payload["generation"]["max_iterations"] = len(answers)
    return run_script(payload, answers)


def test_the_loop_reports_a_held_block_and_keeps_the_rest(dmc: Any, tmp_path: Path) -> None:
    result, double = _loop(dmc, tmp_path, [NOT_FOUND + STATUS_200, "Nothing else to change."])
    first = result["metadata"]["iterations"][0]["edits"]
    assert first["blocks_applied"] == 1 and first["blocks_failed"] == 1
    assert first["unasked"] == ["block 2 (routes/api.js): rewrote most of `POST /users`, which "
                                "the request does not ask to change; it was not applied"]
    feedback = double.requests[1]["messages"][-1]["content"]
    assert "Block 2 for routes/api.js rewrote most of `POST /users`" in feedback
    assert "change only the lines the asked change requires" in feedback
    assert "did not apply" not in feedback and "were applied" not in feedback
    [f] = result["files"]
    assert '"not found"' in f["code"] and "res.status(201).json(user);" in f["code"]


def test_the_status_names_what_was_held_back(dmc: Any, tmp_path: Path) -> None:
    result, _ = _loop(dmc, tmp_path, [NOT_FOUND + STATUS_200])
    assert (result["status"], result["reason"]) == ("partial", POST_HELD)
    result, _ = _loop(dmc, tmp_path / "only", [STATUS_200])
    assert (result["status"], result["reason"]) == ("error", f"no edit block applied: {POST_HELD}")


# ------------------------------------------- a refinement builds on what earlier passes did

# CLIENT with a private _send, and a post() that calls it too
SENDER = CLIENT.replace("def send(", "def _send(").replace("self.send(", "self._send(") + \
    '''
    def post(self, url):
        headers = {"content-type": "application/json"}
        url = url.lstrip("/")
        return self._send("POST", url)
'''
SEND_PASS_1 = (block("c.py", "    def _send(self, method, url):\n"
                       "        return http.request(method, self.base + url)",
                       "    def _send(self, method, url, timeout):\n"
                       "        return http.request(method, self.base + url, timeout=timeout)")
                 + block("c.py", '    def get(self, url):\n        return self._send("GET", url)',
                         '    def get(self, url, timeout=None):\n'
                         '        return self._send("GET", url, timeout)'))
# the follow-up pass 1 made necessary: post() still calls _send the old way
SEND_PASS_2 = block("c.py", '        headers = {"content-type": "application/json"}\n'
                    '        url = url.lstrip("/")\n        return self._send("POST", url)',
                    '        return self._send("POST", url.lstrip("/"), None)')


def test_a_refinement_s_follow_up_to_what_an_earlier_pass_changed_is_kept() -> None:
    """Pass 2 is judged with pass 1's blocks: ``post`` changes because ``_send`` did."""
    request = "add a `timeout` parameter to `Client.get`"
    first = change("c.py", SENDER, SEND_PASS_1, request)
    assert first.failures == []
    second = change("c.py", SENDER, SEND_PASS_2, request, base=first.states)
    assert held(second) == []
    content = second.states["c.py"].content
    assert 'self._send("POST", url.lstrip("/"), None)' in content
    assert "timeout=timeout" in content
    assert replayed(second, "c.py", SENDER) == content


def test_a_one_line_follow_up_in_a_short_definition_is_kept() -> None:
    """``from_dict`` must read what the named ``to_dict`` now writes; nothing but a string
    ties them, and a one-line body is never "rewritten" (MIN_REMOVED)."""
    source = '''from datetime import datetime


class Event:
    def __init__(self, name, created_at):
        self.name = name
        self.created_at = created_at

    def to_dict(self):
        return {"name": self.name, "created": self.created_at.timestamp()}

    @classmethod
    def from_dict(cls, d):
        return cls(d["name"], datetime.fromtimestamp(d["created"]))
'''
    answer = (block("e.py", '        return {"name": self.name, "created": '
                    'self.created_at.timestamp()}', '        return {"name": self.name, '
                    '"created": self.created_at.isoformat()}')
              + block("e.py", '        return cls(d["name"], datetime.fromtimestamp('
                      'd["created"]))', '        return cls(d["name"], '
                      'datetime.fromisoformat(d["created"]))'))
    content = kept_all(change("e.py", source, answer,
                              "make `Event.to_dict` write `created` as an ISO string"),
                       "e.py", source)
    assert "fromisoformat" in content and "isoformat()" in content


def test_a_status_about_something_missing_also_names_what_was_held(dmc: Any,
                                                                   tmp_path: Path) -> None:
    """The held block carried the asked change: "missing" alone would hide why."""
    carried = block("routes/api.js", "  const user = await User.create(req.body);\n"
                    "  user.createdBy = req.ip;\n  res.status(201).json(user);\n});",
                    "  const created = await User.create({ ...req.body });\n"
                    "  res.status(200).json({ user: created });\n});\n\n"
                    'router.delete("/users/:id", async (req, res) => {\n'
                    "  await User.findByIdAndDelete(req.params.id);\n"
                    "  res.status(204).end();\n});", "javascript")
    applied = block("routes/api.js", "const router = express.Router();",
                    "// the users API\nconst router = express.Router();", "javascript")
    result, _ = _loop(dmc, tmp_path, [applied + carried],
                      "add a DELETE /users/:id route answering 204, next to GET /users/:id")
    assert result["status"] == "partial"
    assert result["reason"] == ("the change does not add what the request names: DELETE "
                                f"/users/:id; {POST_HELD}")
