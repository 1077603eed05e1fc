"""dmc.generate.edits: search/replace blocks parsed from model answers and applied exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dmc.generate.edits import (
    EditBlock,
    LineRange,
    apply_answer,
    apply_edits,
    apply_to_files,
    changes_outside,
    failures_of,
    has_markers,
    parse_edits,
    render_failures,
    strip_markers,
)
from dmc.optimize import Options, optimize
from dmc.optimize.pack import MARKER_OPEN, compress, context_marker, elision_marker
from dmc.optimize.secrets import redact
from dmc.tokens import byte_bound as estimate

API_JS = (Path(__file__).resolve().parents[1] / "examples" / "demo-app" / "routes" / "api.js"
          ).read_text()

PY = '''import os


class Store:
    """Keeps users."""

    def __init__(self, root):
        self.root = root
        self.users = {}

    def get(self, key):
        return self.users.get(key)

    def put(self, key, value):
        self.users[key] = value
        return value


def main():
    store = Store(os.getcwd())
    print(store.get("a"))
'''


def block(search: str, replace: str, path: str = "f.py", index: int = 1) -> EditBlock:
    return EditBlock(path, search, replace, index)


# ----------------------------------------------------------------------------- applying


def test_exact_block_replaces_only_its_lines() -> None:
    search = '    def get(self, key):\n        return self.users.get(key)'
    replace = ('    def get(self, key, default=None):\n'
               '        return self.users.get(key, default)')
    res = apply_edits(PY, [block(search, replace)])
    assert res.ok and res.outcomes[0].method == "exact"
    assert res.content == PY.replace(search, replace)
    start = PY.split("\n").index("    def get(self, key):") + 1
    assert res.outcomes[0].original_lines == LineRange(start, start + 1)
    assert res.outcomes[0].new_lines == LineRange(start, start + 1)
    assert res.changed_original == [LineRange(start, start + 1)]
    assert "-    def get(self, key):" in res.diff and "+    def get(self, key, default=None):" \
        in res.diff and res.diff.startswith("--- a/f.py\n+++ b/f.py")


def test_trailing_whitespace_drift_still_matches() -> None:
    original = PY.replace("        self.root = root\n", "        self.root = root   \n")
    search = "    def __init__(self, root):\n        self.root = root\n        self.users = {}"
    replace = ("    def __init__(self, root):\n        self.root = root\n"
               "        self.users = {}\n        self.hits = 0")
    res = apply_edits(original, [block(search, replace)])
    assert res.ok and res.outcomes[0].method == "trailing_whitespace"
    assert "        self.hits = 0\n\n    def get" in res.content
    assert res.content.count("self.root = root") == 1


def test_indentation_drift_reindents_the_replacement() -> None:
    # the model quoted the method flush left; the file has it inside the class
    search = "def put(self, key, value):\n    self.users[key] = value\n    return value"
    replace = ("def put(self, key, value):\n    if key in self.users:\n"
               "        raise KeyError(key)\n    self.users[key] = value\n    return value")
    res = apply_edits(PY, [block(search, replace)])
    assert res.ok and res.outcomes[0].method == "indentation"
    expected = ("    def put(self, key, value):\n        if key in self.users:\n"
                "            raise KeyError(key)\n        self.users[key] = value\n"
                "        return value\n")
    assert expected in res.content
    compile(res.content, "f.py", "exec")


def test_tab_indented_file_gets_tabs_back() -> None:
    original = "func main() {\n\tx := 1\n\tfmt.Println(x)\n}\n"
    res = apply_edits(original, [block("x := 1\nfmt.Println(x)",
                                       "x := 2\nif x > 1 {\n    fmt.Println(x)\n}")])
    assert res.ok and res.outcomes[0].method == "indentation"
    assert res.content == "func main() {\n\tx := 2\n\tif x > 1 {\n\t    fmt.Println(x)\n\t}\n}\n"


def test_small_drift_is_matched_fuzzily_at_the_one_close_place() -> None:
    # the model remembers the 404 message slightly wrong
    search = ('router.get("/users/:id", async (req, res) => {\n'
              '  const user = await User.findById(req.params.id);\n'
              '  if (!user) {\n'
              '    return res.status(404).json({ error: "Not Found" });\n'
              '  }')
    replace = search + "\n  // found"
    res = apply_edits(API_JS, [block(search, replace, "routes/api.js")])
    out = res.outcomes[0]
    assert res.ok and out.method == "fuzzy" and 0.9 <= out.score < 1.0
    assert out.original_lines == LineRange(6, 10)
    assert changes_outside(API_JS, res.content, res.edited_regions) == []
    assert "  // found\n  res.json(user);" in res.content
    # the line the model misquoted but kept is left as the file has it, not overwritten
    assert 'error: "not found"' in res.content and "Not Found" not in res.content


def test_a_misquoted_line_the_model_changed_is_replaced() -> None:
    search = ("router.post(\"/users\", async (req, res) => {\n"
              "  const user = await User.make(req.body);\n  res.status(201).json(user);")
    replace = ("router.post(\"/users\", async (req, res) => {\n"
               "  const user = await User.create(req.body, { validate: true });\n"
               "  res.status(201).json(user);")
    res = apply_edits(API_JS, [block(search, replace, "routes/api.js")])
    assert res.outcomes[0].method == "fuzzy"
    assert "User.create(req.body, { validate: true });" in res.content
    assert res.changed_original == [LineRange(15, 15)]


def test_one_line_is_never_matched_loosely() -> None:
    original = "import a\nimport c\n\nprint(a, c)\n"
    res = apply_edits(original, [block("import b", "import b\nimport d")])
    [fail] = res.failures
    # both imports are 88% like it: reported as the nearest, not applied to either
    assert fail.reason == "no_match" and fail.candidates[0].score >= 0.85
    assert [c.lines for c in fail.candidates] == [LineRange(1, 1), LineRange(2, 2)]
    assert res.content == original


def test_untouched_context_keeps_its_own_trailing_spaces() -> None:
    original = "x = 1   \ny = 2\nz = 3\n"
    res = apply_edits(original, [block("x = 1\ny = 2", "x = 1\ny = 20")])
    assert res.outcomes[0].method == "trailing_whitespace"
    assert res.content == "x = 1   \ny = 20\nz = 3\n"


def test_a_block_matching_two_places_is_reported_and_not_applied() -> None:
    original = "a = 1\nprint(a)\nb = 2\na = 1\nprint(a)\n"
    res = apply_edits(original, [block("a = 1\nprint(a)", "a = 3\nprint(a)")])
    assert not res.ok and res.content == original and not res.changed
    [fail] = res.failures
    assert fail.reason == "ambiguous" and fail.index == 1
    assert [c.lines for c in fail.candidates] == [LineRange(1, 2), LineRange(4, 5)]
    assert "1-2" in fail.detail and "4-5" in fail.detail


def test_two_near_matches_are_ambiguous_even_fuzzily() -> None:
    body = "    total = 0\n    for item in items:\n        total += item.price\n    return total\n"
    original = f"def a(items):\n{body}\n\ndef b(items):\n{body}"
    search = ("    total = 0\n    for item in items:\n        total += item.prices\n"
              "    return total")
    res = apply_edits(original, [block(search, "    return sum(i.price for i in items)")])
    [fail] = res.failures
    assert fail.reason == "ambiguous" and "fuzzy" in fail.detail
    assert [c.lines.start for c in fail.candidates] == [2, 9]
    assert res.content == original


def test_no_match_reports_the_nearest_lines_with_numbers() -> None:
    search = ('router.delete("/users/:id", async (req, res) => {\n'
              '  await User.remove(req.params.id);\n  res.status(204).end();\n});')
    res = apply_edits(API_JS, [block(search, "", "routes/api.js", index=3)])
    [fail] = res.failures
    assert fail.reason == "no_match" and fail.index == 3 and fail.path == "routes/api.js"
    nearest = fail.candidates[0]
    api_lines = API_JS.split("\n")
    assert list(nearest.text) == api_lines[nearest.lines.start - 1:nearest.lines.end]
    assert nearest.score < 0.9
    assert str(nearest.lines) in fail.detail
    assert res.content == API_JS


def test_blocks_apply_in_order_each_on_the_result_of_the_last() -> None:
    first = block("const router = express.Router();",
                  "const router = express.Router();\nconst audit = [];", "routes/api.js", 1)
    second = block("const audit = [];", "const audit = [];\nconst MAX = 10;", "routes/api.js", 2)
    third = block("module.exports = router;", "module.exports = { router, audit };",
                  "routes/api.js", 3)
    res = apply_edits(API_JS, [first, second, third])
    assert res.ok
    assert "const router = express.Router();\nconst audit = [];\nconst MAX = 10;\n" \
        in res.content
    assert res.content.rstrip().endswith("module.exports = { router, audit };")
    # block 1's written span grew to include block 2's lines, and moved nothing else
    assert res.outcomes[0].new_lines == LineRange(4, 6)
    assert res.outcomes[2].new_lines == LineRange(21, 21)
    assert changes_outside(API_JS, res.content, res.edited_regions) == []


def test_one_failing_block_leaves_the_others_applied() -> None:
    good = block("    def get(self, key):", "    def get(self, key: str):", index=1)
    bad = block("    def delete(self, key):", "    def delete(self, key: str):", index=2)
    res = apply_edits(PY, [good, bad])
    assert [o.applied for o in res.outcomes] == [True, False]
    assert "def get(self, key: str):" in res.content
    assert [f.index for f in res.failures] == [2]


def test_empty_search_creates_a_new_file() -> None:
    res = apply_edits(None, [block("", "def hello():\n    return 1", "pkg/new.py")])
    assert res.ok and res.outcomes[0].method == "create" and res.changed
    assert res.content == "def hello():\n    return 1\n"
    assert res.diff.startswith("--- /dev/null\n+++ b/pkg/new.py")


def test_new_file_bad_blocks_are_refused() -> None:
    missing = apply_edits(None, [block("x = 1", "x = 2")])
    assert missing.failures[0].reason == "missing_file" and missing.content == ""
    existing = apply_edits(PY, [block("", "x = 2")])
    assert existing.failures[0].reason == "empty_search" and existing.content == PY


def test_windows_newlines_are_kept() -> None:
    original = API_JS.replace("\n", "\r\n")
    res = apply_edits(original, [block('router.post("/users", async (req, res) => {',
                                       'router.post("/users", async (req, res, next) => {')])
    assert res.ok
    assert res.content == original.replace("(req, res) => {\r\n  const user = await User.c",
                                           "(req, res, next) => {\r\n  const user = await User.c")
    assert "\n" not in res.content.replace("\r\n", "")


def test_no_final_newline_stays_that_way() -> None:
    res = apply_edits("a\nb", [block("b", "c\nd")])
    assert res.content == "a\nc\nd"
    # unless the last line goes: the line now last keeps the newline it had
    assert apply_edits("a\nb", [block("b", "")]).content == "a\n"


def test_blank_lines_at_the_edges_of_search_are_context() -> None:
    res = apply_edits(PY, [block("\n    def put(self, key, value):\n\n",
                                 "\n    def put(self, key, value) -> object:\n\n")])
    assert res.ok and "ignored blank lines at the edges of SEARCH" in res.outcomes[0].notes
    assert "\n    def put(self, key, value) -> object:\n        self.users[key]" in res.content


def test_echoed_markers_neither_break_the_match_nor_reach_the_file() -> None:
    search = (context_marker("routes/api.js", 1, 19) + "\n" +
              "module.exports = router;")
    replace = context_marker("routes/api.js", 1, 19) + "\nmodule.exports = { router };"
    res = apply_edits(API_JS, [block(search, replace, "routes/api.js")])
    assert res.ok and not has_markers(res.content)
    assert res.content.rstrip().endswith("module.exports = { router };")


def test_a_search_spanning_an_elision_is_refused() -> None:
    search = f"class Store:\n    {elision_marker(14)}\ndef main():"
    res = apply_edits(PY, [block(search, "class Store:\n    pass\ndef main():")])
    assert res.failures[0].reason == "elided" and res.content == PY
    # at an edge the marker only costs its own line: the rest is contiguous and applies
    edge = apply_edits(PY, [block(f"{elision_marker(3)}\ndef main():", "def main() -> None:")])
    assert edge.ok and "def main() -> None:" in edge.content


@pytest.mark.parametrize("placeholder", [
    "    # ... existing code ...",
    "    // rest of the method unchanged ...",
    "    /* … same as before … */",
    f"    {elision_marker(2)}",
])
def test_a_replace_that_stands_for_kept_code_is_refused(placeholder: str) -> None:
    search = "    def put(self, key, value):\n        self.users[key] = value\n        return value"
    replace = f"    def put(self, key, value):\n        log(key)\n{placeholder}"
    res = apply_edits(PY, [block(search, replace)])
    assert res.failures[0].reason == "placeholder" and res.content == PY


def test_a_comment_quoted_in_search_too_is_not_a_placeholder() -> None:
    original = "def f():\n    # ... existing code ...\n    return 1\n"
    res = apply_edits(original, [block("    # ... existing code ...\n    return 1",
                                       "    # ... existing code ...\n    return 2")])
    assert res.ok and res.content == original.replace("return 1", "return 2")


SETTINGS = ('import os\n\nAWS_KEY = "AKIAIOSFODNN7EXAMPLQ"\nREGION = "eu-west-1"\n\n\n'
            'def client():\n    return make(AWS_KEY, REGION)\n')


def test_a_block_quoting_redacted_context_applies_to_the_real_file() -> None:
    shown, found = redact("settings.py", SETTINGS)  # what the model saw
    assert found and "AKIA" not in shown
    secret_line = next(ln for ln in shown.split("\n") if "<redacted:" in ln)
    # kept as quoted: the file's line (with the real key) stays
    kept = apply_edits(SETTINGS, [block(f"{secret_line}\nREGION = \"eu-west-1\"",
                                        f"{secret_line}\nREGION = os.environ[\"REGION\"]",
                                        "settings.py")])
    assert kept.ok and kept.outcomes[0].method == "redacted"
    assert kept.content == SETTINGS.replace('"eu-west-1"', 'os.environ["REGION"]')
    # changed: the placeholder becomes again the text it stood for in the file
    moved = apply_edits(SETTINGS, [block(secret_line, secret_line.replace("AWS_KEY =", "KEY ="),
                                         "settings.py")])
    assert moved.ok and 'KEY = "AKIAIOSFODNN7EXAMPLQ"' in moved.content
    assert "<redacted" not in moved.content


def test_a_placeholder_for_a_secret_is_never_written() -> None:
    invented = apply_edits(SETTINGS, [block("import os", "import os\nTOKEN = "
                                            "\"<redacted:github_token>\"", "settings.py")])
    assert invented.failures[0].reason == "redacted" and invented.content == SETTINGS
    assert "<redacted:github_token>" in invented.failures[0].detail
    created = apply_edits(None, [block("", "KEY = \"<redacted:aws_access_key>\"", "new.py")])
    assert created.failures[0].reason == "redacted" and created.content == ""
    # a file that holds such text itself (the redacted copy, dmc's own tests) may keep it
    copy = apply_edits(redact("settings.py", SETTINGS)[0],
                       [block("import os", "import os\nimport sys", "settings.py")])
    assert copy.ok and "<redacted:aws_access_key>" in copy.content


def test_a_no_op_block_is_placed_but_not_counted_as_a_change() -> None:
    res = apply_edits(PY, [block("import os", "import os")])
    assert res.ok and not res.outcomes[0].changed and res.content == PY and res.diff == ""


def test_apply_to_files_groups_by_path_and_reports_pathless_blocks() -> None:
    blocks = [block("import os", "import os\nimport sys", "a.py", 1),
              block("", "x = 1", "b.py", 2),
              block("y", "z", "", 3)]
    res = apply_to_files({"a.py": PY}, blocks)
    assert res["a.py"].ok and "import sys" in res["a.py"].content
    assert res["b.py"].ok and res["b.py"].content == "x = 1\n"
    assert [f.reason for f in failures_of(res)] == ["no_path"]


def test_changes_outside_finds_a_change_the_blocks_did_not_own() -> None:
    res = apply_edits(PY, [block("import os", "import os\nimport sys")])
    tampered = res.content.replace("return value", "return None")
    assert changes_outside(PY, res.content, res.edited_regions) == []
    bad = changes_outside(PY, tampered, res.edited_regions)
    line = PY.split("\n").index("        return value") + 1
    assert bad and any(r.start <= line <= r.end for r in bad)


lines_st = st.lists(st.text(alphabet="abcxyz =(){}:.\t ", min_size=0, max_size=12),
                    min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines_st, data=st.data())
def test_a_block_from_a_unique_slice_changes_only_that_slice(lines: list[str],
                                                             data: st.DataObject) -> None:
    # number the lines so every slice is unique: the property is about placement, not search
    lines = [f"{n}: {ln}" for n, ln in enumerate(lines)]
    start = data.draw(st.integers(0, len(lines) - 1))
    end = data.draw(st.integers(start + 1, len(lines)))
    new = data.draw(st.lists(st.text(alphabet="qrs =\t", max_size=10), max_size=5))
    original = "\n".join(lines) + "\n"
    text = "".join(ln + "\n" for ln in new)  # the block format: every line ends with \n
    res = apply_edits(original, [block("\n".join(lines[start:end]), text)])
    assert res.ok and res.outcomes[0].method == "exact"
    expected = lines[:start] + new + lines[end:]
    assert res.content == "".join(ln + "\n" for ln in expected)
    assert res.outcomes[0].original_lines == LineRange(start + 1, end)
    assert res.outcomes[0].new_lines == LineRange(start + 1, start + len(new))
    assert changes_outside(original, res.content, res.edited_regions) == []


@settings(max_examples=100, deadline=None)
@given(lines=lines_st, data=st.data())
def test_a_block_whose_text_is_in_two_places_is_never_applied(lines: list[str],
                                                               data: st.DataObject) -> None:
    piece = data.draw(st.lists(st.text(alphabet="abc =", max_size=8), min_size=1, max_size=4))
    assume(any(p.strip() for p in piece))  # a blank SEARCH means "create", tested elsewhere
    cut = data.draw(st.integers(0, len(lines)))
    original = "".join(ln + "\n" for ln in [*piece, *lines[:cut], *piece, *lines[cut:]])
    res = apply_edits(original, [block("\n".join(piece), "\n".join(["NEW", *piece]))])
    assert not res.ok and res.failures[0].reason == "ambiguous"
    assert res.content == original
    assert len(res.failures[0].candidates) >= 2


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab =\t\n", max_size=8), max_size=15),
       search=st.text(alphabet="ab =\t\n", max_size=30),
       replace=st.text(alphabet="abc =\t\n", max_size=30))
def test_any_block_changes_only_its_region_or_nothing(lines: list[str], search: str,
                                                       replace: str) -> None:
    original = "\n".join(lines)
    res = apply_edits(original, [block(search, replace)])
    if res.ok and res.outcomes[0].method != "create":
        assert changes_outside(original, res.content, res.edited_regions) == []
    if not res.ok:
        assert res.content == original


FRAGMENTS = ["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "```", "```python", "~~~",
             "File: a.py", "**b.js**", "x = 1", "    return x", "", "Here is the fix:",
             "<<<<<<< SEARCH b.js", ">>>>>>>", "// c.ts", "`a.py`:", "\r",
             "⟦dmc: lines 1-2 of a.py⟧"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=40))
def test_any_answer_parses_and_applies_without_error(parts: list[str]) -> None:
    answer = "\n".join(parts)
    parsed = parse_edits(answer, known_paths=["a.py", "b.js"])
    indexes = [b.index for b in parsed.blocks] + [p.index for p in parsed.problems]
    assert sorted(indexes) == list(range(1, len(indexes) + 1))
    results = apply_to_files({"a.py": "x = 1\ny = 2\n    return x\n"}, parsed.blocks)
    for res in results.values():
        assert not has_markers(res.content)
        if res.original is not None:
            assert changes_outside(res.original, res.content, res.edited_regions) == []


# ----------------------------------------------------------------------------- parsing


def test_parse_the_documented_format() -> None:
    answer = ("File: routes/api.js\n```javascript\n<<<<<<< SEARCH\nmodule.exports = router;\n"
              "=======\nrouter.delete('/users/:id', del);\n\nmodule.exports = router;\n"
              ">>>>>>> REPLACE\n```\n")
    parsed = parse_edits(answer)
    [b] = parsed.blocks
    assert (b.path, b.search, b.index, b.line) == ("routes/api.js",
                                                    "module.exports = router;\n", 1, 3)
    assert b.replace == "router.delete('/users/:id', del);\n\nmodule.exports = router;\n"
    assert parsed.problems == [] and "SEARCH" not in parsed.rest and "```" not in parsed.rest


def test_parse_a_messy_answer() -> None:
    # prose, Windows newlines, a bold path, a fence with the path in its info string, a
    # block outside any fence after a heading, a short path the known files resolve
    answer = (
        "Sure! Here are the changes.\r\n\r\n"
        "**routes/api.js**\r\n"
        "```js\r\n<<<<<<< SEARCH\r\nconst router = express.Router();\r\n=======\r\n"
        "const router = express.Router();\r\nconst log = [];\r\n>>>>>>> REPLACE\r\n\r\n"
        "<<<<<<< SEARCH\r\nmodule.exports = router;\r\n=======\r\n"
        "module.exports = { router, log };\r\n>>>>>>> REPLACE\r\n```\r\n\r\n"
        "Then in the model:\r\n\r\n"
        "```javascript User.js\r\n<<<<<<< SEARCH\r\n  name: String,\r\n=======\r\n"
        "  name: String,\r\n  deleted: Boolean,\r\n>>>>>>> REPLACE\r\n```\r\n"
        "### server.js\r\n"
        "<<<<<<< SEARCH\r\napp.listen(3000);\r\n=======\r\napp.listen(PORT);\r\n"
        ">>>>>>> REPLACE\r\n"
        "This keeps the API backward compatible.\r\n")
    parsed = parse_edits(answer, known_paths=["routes/api.js", "models/User.js", "server.js"])
    assert [(b.path, b.index) for b in parsed.blocks] == [
        ("routes/api.js", 1), ("routes/api.js", 2), ("models/User.js", 3), ("server.js", 4)]
    assert parsed.blocks[2].replace == "  name: String,\n  deleted: Boolean,\n"
    assert all("\r" not in b.search + b.replace for b in parsed.blocks)
    assert "backward compatible" in parsed.rest and "<<<<<<<" not in parsed.rest


@pytest.mark.parametrize("before, fence_info, first_line", [
    ("", "js routes/api.js", ""),
    ("", 'javascript title="routes/api.js"', ""),
    ("", "js:routes/api.js", ""),
    ("", "javascript", "// routes/api.js"),
    ("", "javascript", "// File: routes/api.js"),
    ("Update `routes/api.js`:", "js", ""),
    ("- File: `./routes/api.js`", "js", ""),
    ("In routes\\api.js:", "", ""),
    ("api.js", "js", ""),
])
def test_the_path_is_found_where_models_put_it(before: str, fence_info: str,
                                               first_line: str) -> None:
    body = "<<<<<<< SEARCH\nmodule.exports = router;\n=======\nmodule.exports = {};\n" \
           ">>>>>>> REPLACE"
    lines = [before, f"```{fence_info}", *([first_line] if first_line else []), body, "```"]
    parsed = parse_edits("\n".join(lines), known_paths=["routes/api.js", "server.js"])
    assert [b.path for b in parsed.blocks] == ["routes/api.js"]


def test_a_label_between_blocks_in_one_fence_switches_the_file() -> None:
    answer = ("```\n// File: a.js\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"
              "// File: b.js\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```\n")
    assert [b.path for b in parse_edits(answer).blocks] == ["a.js", "b.js"]


def test_the_path_on_the_marker_line_wins() -> None:
    answer = ("File: server.js\n<<<<<<< SEARCH routes/api.js\nmodule.exports = router;\n"
              "=======\nmodule.exports = {};\n>>>>>>> REPLACE\n")
    assert parse_edits(answer).blocks[0].path == "routes/api.js"


def test_passing_mentions_do_not_move_the_path() -> None:
    answer = ("File: routes/api.js\n```js\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"
              "```\nThis reuses the helper from `models/User.js` as before.\n```js\n"
              "<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```\n")
    assert [b.path for b in parse_edits(answer).blocks] == ["routes/api.js"] * 2


def test_a_single_known_file_is_the_default_path() -> None:
    answer = "<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"
    assert parse_edits(answer, known_paths=["app.py"]).blocks[0].path == "app.py"
    assert parse_edits(answer, known_paths=["a.py", "b.py"]).blocks[0].path == ""


def test_cut_off_and_broken_blocks_are_problems_not_edits() -> None:
    truncated = ("File: a.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n"
                 "def half(")
    parsed = parse_edits(truncated)
    assert parsed.blocks == [] and parsed.problems[0].reason == "malformed"
    assert "cut off" in parsed.problems[0].detail and parsed.problems[0].path == "a.py"
    no_divider = "File: a.py\n<<<<<<< SEARCH\nx = 1\n>>>>>>> REPLACE\n"
    assert "=======" in parse_edits(no_divider).problems[0].detail
    two_starts = ("File: a.py\n<<<<<<< SEARCH\nx = 1\n<<<<<<< SEARCH\ny = 1\n=======\ny = 2\n"
                  ">>>>>>> REPLACE\n")
    parsed = parse_edits(two_starts)
    assert [p.index for p in parsed.problems] == [1]
    assert [(b.index, b.search) for b in parsed.blocks] == [(2, "y = 1\n")]


def test_a_block_whose_fence_closes_without_replace_marker_ends_there() -> None:
    answer = "File: a.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n```\nDone.\n"
    [b] = parse_edits(answer).blocks
    assert (b.search, b.replace) == ("x = 1\n", "x = 2\n") and b.notes
    rest = parse_edits(answer).rest
    assert "Done." in rest and "x = " not in rest and "```" not in rest


def test_sections_wrapped_in_their_own_fences_are_unwrapped() -> None:
    answer = ("File: a.py\n<<<<<<< SEARCH\n```python\nx = 1\n```\n=======\n```python\n"
              "x = 2\n```\n>>>>>>> REPLACE\n")
    [b] = parse_edits(answer).blocks
    assert (b.search, b.replace) == ("x = 1\n", "x = 2\n")


def test_a_fence_opened_inside_a_block_is_not_part_of_it() -> None:
    answer = ("<<<<<<< SEARCH\n// File: routes/api.js\n```javascript\nmodule.exports = router;\n"
              "=======\nmodule.exports = { router };\n```\n>>>>>>> REPLACE\n")
    [b] = parse_edits(answer, known_paths=["routes/api.js", "server.js"]).blocks
    assert (b.path, b.search, b.replace) == ("routes/api.js", "module.exports = router;\n",
                                             "module.exports = { router };\n")
    # in a markdown file a lone fence line at an edge is the document's own text
    doc = "File: README.md\n<<<<<<< SEARCH\n```\nnpm start\n=======\n```\nnpm run dev\n" \
          ">>>>>>> REPLACE\n"
    [d] = parse_edits(doc).blocks
    assert (d.search, d.replace) == ("```\nnpm start\n", "```\nnpm run dev\n")


def test_whole_file_fences_stay_in_rest_for_new_files() -> None:
    answer = ("File: tests/test_api.js\n```javascript\nconst request = require('supertest');\n"
              "```\n\nFile: routes/api.js\n```js\n<<<<<<< SEARCH\na\n=======\nb\n"
              ">>>>>>> REPLACE\n```\n")
    parsed = parse_edits(answer)
    assert [b.path for b in parsed.blocks] == ["routes/api.js"]
    assert "```javascript\nconst request = require('supertest');\n```" in parsed.rest


def test_parse_then_apply_a_realistic_answer_end_to_end() -> None:
    answer = (
        "To add the DELETE route, update `routes/api.js`:\n\n"
        "```javascript\n<<<<<<< SEARCH\nrouter.post(\"/users\", async (req, res) => {\n"
        "  const user = await User.create(req.body);\n  res.status(201).json(user);\n});\n"
        "=======\nrouter.post(\"/users\", async (req, res) => {\n"
        "  const user = await User.create(req.body);\n  res.status(201).json(user);\n});\n\n"
        "router.delete(\"/users/:id\", async (req, res) => {\n"
        "  await User.deleteById(req.params.id);\n  res.status(204).end();\n});\n"
        ">>>>>>> REPLACE\n```\n")
    parsed = parse_edits(answer, known_paths=["routes/api.js"])
    res = apply_to_files({"routes/api.js": API_JS}, parsed.blocks)["routes/api.js"]
    assert res.ok and 'router.delete("/users/:id"' in res.content
    assert res.content.endswith("});\n\nmodule.exports = router;\n")
    assert changes_outside(API_JS, res.content, res.edited_regions) == []
    # a pure insertion of the five new lines (blank line included): no old line changed
    assert all(r.empty for r in res.changed_original)
    assert [r.end - r.start + 1 for r in res.changed_new] == [5]


# Two answers the packaged Qwen2.5-Coder 1.5B gave (demo app, "add a DELETE /users/:id route
# ... that returns 204"), abridged: some code lines left out, but the markers, fences, paths
# and prose as the model wrote them. It put the whole new file under SEARCH, copied the
# format's "language" placeholder as the fence tag, left out =======, closed fences early.
QWEN_WHOLE_FILE_UNDER_SEARCH = """File: routes/api.js
```language
<<<<<<< SEARCH
const express = require("express");
const User = require("../models/User");

const router = express.Router();

router.delete("/users/:id", async (req, res) => {
  await User.deleteOne({ _id: req.params.id });
  res.status(204).json({ message: "User deleted" });
});

module.exports = router;
```

To add the DELETE route, I added the following code to `routes/api.js`:

```javascript
router.delete("/users/:id", async (req, res) => {
  const user = await User.findById(req.params.id);
  res.status(204"""

QWEN_MISSING_DIVIDER = """File: routes/api.js
```javascript
<<<<<<< SEARCH
router.get("/users/:id", async (req, res) => {
  res.json(user);
});

router.delete("/users/:id", async (req, res) => {
  res.sendStatus(204);
});
>>>>>>> REPLACE
```

File: models/User.js
```javascript
<<<<<<< SEARCH
User.deleteOne({ _id: user.id });
=======
User.deleteOne({ _id: user.id });
```
"""


def test_real_small_model_answers_are_reported_not_applied() -> None:
    files = {"routes/api.js": API_JS, "models/User.js": "class User {}\nmodule.exports = User;\n"}
    first = parse_edits(QWEN_WHOLE_FILE_UNDER_SEARCH, known_paths=list(files))
    assert first.blocks == []
    assert [(p.path, p.reason) for p in first.problems] == [("routes/api.js", "malformed")]
    # the prose and the cut-off snippet after it stay for whole-file extraction
    assert "To add the DELETE route" in first.rest and "<<<<<<<" not in first.rest

    second = parse_edits(QWEN_MISSING_DIVIDER, known_paths=list(files))
    assert [p.index for p in second.problems] == [1]
    [b] = second.blocks
    assert (b.index, b.path, b.notes != ()) == (2, "models/User.js", True)
    results = apply_to_files(files, second.blocks)
    assert results["models/User.js"].content == files["models/User.js"]
    failures = failures_of(results, second.problems)
    assert [(f.index, f.reason) for f in failures] == [(1, "malformed"), (2, "no_match")]
    message = render_failures(failures)
    assert "Block 1 for routes/api.js: has no =======" in message
    assert "Block 2 for models/User.js: the SEARCH text matches no lines" in message
    assert "<<<<<<< SEARCH\n" in message  # the shape of a block, since one was malformed


# ----------------------------------------------------------------------------- feedback


def test_render_failures_names_blocks_reasons_and_lines() -> None:
    original = "a = 1\nprint(a)\nb = 2\na = 1\nprint(a)\n"
    blocks = [block("a = 1\nprint(a)", "a = 3", index=1),
              block("c = 4\nprint(c)", "c = 5", index=2),
              block("b = 2", "b = 3", index=3)]
    res = apply_edits(original, blocks)
    message = render_failures(failures_of([res]), files={"f.py": res.content})
    assert "Block 1 for f.py" in message and "2 places" in message and "1-2, 4-5" in message
    assert "Block 2 for f.py" in message and "matches no lines" in message
    nearest = res.failures[1].candidates[0]
    assert f"Closest, {nearest.lines}" in message
    assert "Block 3" not in message
    assert "Current f.py:\n```\na = 1\nprint(a)\nb = 3\n" in message
    assert render_failures([]) == ""


def test_apply_answer_is_parse_apply_and_report_in_one_call() -> None:
    answer = ("File: api.js\n```js\n<<<<<<< SEARCH\nmodule.exports = router;\n=======\n"
              "module.exports = { router };\n>>>>>>> REPLACE\n```\n"
              "File: routes/api.js\n<<<<<<< SEARCH\nrouter.put(\n=======\nrouter.patch(\n"
              ">>>>>>> REPLACE\n"
              "File: README.md\n<<<<<<< SEARCH\n=======\n# Demo\n>>>>>>> REPLACE\n")
    done = apply_answer(answer, {"routes/api.js": API_JS, "README.md": None})
    assert set(done.changed) == {"routes/api.js", "README.md"}
    assert done.changed["routes/api.js"].rstrip().endswith("module.exports = { router };")
    assert done.changed["README.md"] == "# Demo\n"
    assert [(f.index, f.reason) for f in done.failures] == [(2, "no_match")]
    message = done.refinement()
    assert "Block 2 for routes/api.js" in message and "Current routes/api.js:" in message
    assert "Current README.md" not in message


def test_a_quoted_markdown_file_keeps_its_own_fences_inside_the_quote() -> None:
    readme = "# Demo\n\n```sh\nnpm start\n```\n"
    res = apply_edits(readme, [block("npm run", "npm run dev", "README.md")])
    message = render_failures(res.failures, files={"README.md": res.content})
    assert "Current README.md:\n````\n# Demo\n\n```sh\nnpm start\n```\n````" in message


def test_render_failures_includes_parse_problems_and_stays_short() -> None:
    parsed = parse_edits("File: a.py\n<<<<<<< SEARCH\nx\n=======\ny\n")
    message = render_failures(failures_of({}, parsed.problems),
                              files={"a.py": "x\n" * 10_000}, max_chars=1500)
    assert "Block 1 for a.py" in message and "cut off" in message
    assert len(message) <= 1600


# ----------------------------------------------------------------------------- markers


def test_strip_markers_removes_every_form_and_keeps_code() -> None:
    code = "\r\n".join([
        context_marker("routes/api.js", 1, 19),
        "const a = 1;",
        "  " + elision_marker(12),
        "// " + context_marker("routes/api.js", 20, 30, "signToken", "compressed"),
        "const b = 2; " + context_marker("x.js", 1, 2),
        "// lines 1-19 <module>",
        "# lines 4-9 helper (compressed)",
        "    # ... 3 lines elided",
        "[[dmc: lines 1-2 of a.py]]",
        "// lines 1-3 are the header, keep them",
        "",
    ])
    assert strip_markers(code) == ("const a = 1;\r\nconst b = 2;\r\n"
                                   "// lines 1-3 are the header, keep them\r\n")
    assert not has_markers(strip_markers(code)) and has_markers(code)


def test_no_marker_optimize_writes_survives_strip_markers() -> None:
    text = ("def fetch(url):\n" + "    x = 1\n" * 30 + "    retry_count = 3\n"
            + "    y = 2\n" * 30 + "class Client:\n    pass\n")
    chunks = [{"path": f"pkg/m{n}.py", "start_line": 1, "end_line": 64, "language": "python",
               "text": text, "score": 1.0 - n / 10, "symbol": "fetch"} for n in range(4)]
    doc = {"dmc": 1, "input": {"text": "retry_count on fetch"},
           "extraction": {"languages": ["python"], "mentioned_files": []},
           "context": {"chunks": chunks}}
    out, _ = optimize(doc, Options(max_context_tokens=700), estimate)
    sent = out["payload"]["context"]["existing_code"]
    assert sent and any("lines elided" in code for code in sent.values())
    for code in sent.values():
        assert code.lstrip().startswith(MARKER_OPEN)
        cleaned = strip_markers(code)
        assert MARKER_OPEN not in cleaned and "lines elided" not in cleaned
        assert [ln for ln in code.split("\n") if MARKER_OPEN not in ln] == cleaned.split("\n")


@settings(max_examples=100, deadline=None)
@given(code=st.lists(st.text(alphabet="abc#/ ()=:.-0123456789", max_size=30), max_size=20),
       where=st.lists(st.integers(0, 20), max_size=5),
       start=st.integers(1, 500), size=st.integers(0, 200))
def test_markers_inserted_anywhere_are_stripped_back_to_the_code(
        code: list[str], where: list[int], start: int, size: int) -> None:
    lines = list(code)
    for n, at in enumerate(where):
        marker = context_marker("a/b.py", start, start + size, "f", "cut") if n % 2 \
            else elision_marker(size)
        lines.insert(min(at, len(lines)), "    " + marker)
    assert strip_markers("\n".join(lines)) == "\n".join(code)


def test_compress_marks_elisions_with_the_marker() -> None:
    small = compress("class A:\n" + "    x = 1\n" * 5 + "    def f(self):\n        pass\n",
                     set(), "python")
    assert small.split("\n")[:3] == ["class A:", f"    {elision_marker(5)}", "    def f(self):"]
    assert "# ..." not in small
