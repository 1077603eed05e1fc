"""Observe coding conventions in one file, with the language's own parser.

Python goes through ``ast`` and ``tokenize`` (quotes and indentation are token facts, not
regex guesses); JavaScript and TypeScript through tree-sitter. The result is a list of
(feature, value, count) observations: evidence, not a verdict. The profile adds them up.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import Counter
from typing import Any

Observation = tuple[str, str, int]

_SNAKE = re.compile(r"^_*[a-z][a-z0-9]*(?:_[a-z0-9]+)*_*$")
_CAMEL = re.compile(r"^_*[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+$")
_PASCAL = re.compile(r"^_*[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$")
_UPPER = re.compile(r"^_*[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$")


def naming(name: str) -> str:
    """The naming convention a name follows."""
    if _UPPER.match(name) and any(c.isalpha() for c in name) and len(name.strip("_")) > 1:
        return "UPPER_CASE"
    if _PASCAL.match(name):
        return "PascalCase"
    if _CAMEL.match(name):
        return "camelCase"
    if _SNAKE.match(name):
        return "snake_case"
    if _KEBAB.match(name):
        return "kebab-case"
    return "other"


def _docstring_style(doc: str) -> str:
    if re.search(r"^\s*(Args|Arguments|Returns|Raises|Yields):\s*$", doc, re.M):
        return "google"
    if re.search(r"^\s*(Parameters|Returns|Raises)\s*\n\s*-{3,}", doc, re.M):
        return "numpy"
    if re.search(r":param\s|:returns?:|:rtype:|:raises?\s", doc):
        return "rest"
    return "plain"


def observe_python(path: str, text: str) -> list[Observation]:
    """Conventions of one Python file."""
    obs: Counter[tuple[str, str]] = Counter()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if stem not in ("__init__", "__main__"):
        obs[("naming.files", naming(stem))] += 1
    annotated = total = documented = funcs = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs += 1
            if not (node.name.startswith("__") and node.name.endswith("__")):
                obs[("naming.functions", naming(node.name))] += 1
            obs[("async", "async/await" if isinstance(node, ast.AsyncFunctionDef)
                 else "sync")] += 1
            args = [a for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs
                    if a.arg not in ("self", "cls")]
            total += len(args) + 1
            annotated += sum(1 for a in args if a.annotation is not None)
            annotated += node.returns is not None
            doc = ast.get_docstring(node)
            if doc:
                documented += 1
                obs[("docstrings.style", _docstring_style(doc))] += 1
            if node.name.startswith("test"):
                obs[("tests.framework", "pytest")] += 1
        elif isinstance(node, ast.ClassDef):
            obs[("naming.classes", naming(node.name))] += 1
            bases = {getattr(b, "attr", None) or getattr(b, "id", None) for b in node.bases}
            if any(b and (b.endswith("Error") or b.endswith("Exception")) for b in bases):
                obs[("errors.custom_exceptions", "yes")] += 1
            if "TestCase" in bases:
                obs[("tests.framework", "unittest")] += 1
        elif isinstance(node, ast.Try):
            for handler in node.handlers:
                if handler.type is None:
                    shape = "bare except"
                elif isinstance(handler.type, ast.Name) and handler.type.id in (
                        "Exception", "BaseException"):
                    shape = "except Exception"
                else:
                    shape = "specific exceptions"
                obs[("errors.except_shape", shape)] += 1
        elif isinstance(node, ast.Raise) and node.cause is not None:
            obs[("errors.raise_from", "yes")] += 1
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top:
                    obs[("imports", top)] += 1
                    if top == "pytest":
                        obs[("tests.framework", "pytest")] += 1
    for node in tree.body:  # module-level constants
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id.isupper():
                    obs[("naming.constants", naming(t.id))] += 1
    if total:
        share = annotated / total
        level = "full" if share >= 0.9 else "partial" if share >= 0.3 else "none"
        obs[("type_hints", level)] += funcs
    if funcs:
        obs[("docstrings.coverage", "most" if documented / funcs >= 0.5 else "few")] += funcs
    _python_tokens(text, obs)
    return [(f, v, n) for (f, v), n in obs.items()]


def _python_tokens(text: str, obs: Counter[tuple[str, str]]) -> None:
    levels = [0]
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING:
                body = tok.string.lstrip("rbfuRBFU")
                if body.startswith(('"""', "'''")):
                    continue
                obs[("quotes", "double" if body.startswith('"') else "single")] += 1
            elif tok.type == tokenize.INDENT:
                indent = tok.string
                if "\t" in indent:
                    obs[("indentation", "tabs")] += 1
                else:  # the step from the enclosing level is the indentation unit
                    step = len(indent) - levels[-1]
                    if step > 0:
                        obs[("indentation", f"{step} spaces")] += 1
                levels.append(len(indent))
            elif tok.type == tokenize.DEDENT and len(levels) > 1:
                levels.pop()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass


def observe_js(path: str, text: str, language: str) -> list[Observation]:
    """Conventions of one JavaScript/TypeScript file (tree-sitter)."""
    from dmc.languages import grammar

    lang = grammar(language)
    if lang is None:
        return []
    import tree_sitter

    data = text.encode("utf-8", "surrogatepass")
    root = tree_sitter.Parser(lang).parse(data).root_node
    obs: Counter[tuple[str, str]] = Counter()
    stem = path.rsplit("/", 1)[-1].split(".")[0]
    obs[("naming.files", naming(stem))] += 1

    def txt(n: Any) -> str:
        return data[n.start_byte:n.end_byte].decode("utf-8", "replace")

    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        t = node.type
        if t in ("function_declaration", "method_definition", "generator_function_declaration"):
            name = node.child_by_field_name("name")
            if name is not None and txt(name) != "constructor":
                obs[("naming.functions", naming(txt(name)))] += 1
            is_async = any(c.type == "async" for c in node.children)
            obs[("async", "async/await" if is_async else "sync")] += 1
            prev = node.prev_sibling
            if prev is not None and prev.type == "comment" and txt(prev).startswith("/**"):
                obs[("docstrings.style", "jsdoc")] += 1
        elif t in ("class_declaration", "abstract_class_declaration"):
            name = node.child_by_field_name("name")
            if name is not None:
                obs[("naming.classes", naming(txt(name)))] += 1
            heritage = next((c for c in node.children if c.type == "class_heritage"), None)
            if heritage is not None and "Error" in txt(heritage):
                obs[("errors.custom_exceptions", "yes")] += 1
        elif t == "lexical_declaration" and node.parent is not None and \
                node.parent.type in ("program", "export_statement"):
            for decl in node.children:
                if decl.type == "variable_declarator":
                    name = decl.child_by_field_name("name")
                    if name is not None and name.type == "identifier" and \
                            txt(name).upper() == txt(name):
                        obs[("naming.constants", naming(txt(name)))] += 1
        elif t == "arrow_function" and any(c.type == "async" for c in node.children):
            obs[("async", "async/await")] += 1
        elif t == "call_expression":
            fn = node.child_by_field_name("function")
            callee = txt(fn) if fn is not None else ""
            if callee.endswith((".then", ".catch")):
                obs[("async", "promises")] += 1
            elif callee in ("describe", "it", "test", "expect"):
                obs[("tests.style", "bdd")] += 1
            elif callee == "require":
                args = node.child_by_field_name("arguments")
                for c in (args.children if args is not None else []):
                    if c.type == "string":
                        _js_import(txt(c).strip("'\"`"), obs)
        elif t == "import_statement":
            src = node.child_by_field_name("source")
            if src is not None:
                _js_import(txt(src).strip("'\"`"), obs)
        elif t == "string":
            quote = txt(node)[:1]
            obs[("quotes", "double" if quote == '"' else "single" if quote == "'"
                 else "backtick")] += 1
        elif t == "try_statement":
            obs[("errors.except_shape", "try/catch")] += 1
    lines = [ln for ln in text.split("\n") if ln.strip()]
    indents: Counter[str] = Counter()
    for ln in lines:
        lead = len(ln) - len(ln.lstrip(" "))
        if ln.startswith("\t"):
            indents["tabs"] += 1
        elif lead in (2, 4):
            indents[f"{lead} spaces"] += 1
    for k, v in indents.items():
        obs[("indentation", k)] += v
    statements = [ln.rstrip() for ln in lines if not ln.rstrip().endswith(("{", "}", ",", "(",
                                                                          "[", "=>", "*/"))
                  and not ln.lstrip().startswith(("//", "*", "/*"))]
    with_semi = sum(1 for ln in statements if ln.endswith(";"))
    if statements:
        obs[("semicolons", "yes" if with_semi / len(statements) >= 0.5 else "no")] += \
            len(statements)
    return [(f, v, n) for (f, v), n in obs.items()]


def _js_import(source: str, obs: Counter[tuple[str, str]]) -> None:
    if source.startswith("."):
        return
    parts = source.split("/")
    name = "/".join(parts[:2]) if source.startswith("@") else parts[0]
    name = name.removeprefix("node:")
    obs[("imports", name)] += 1
    for framework in ("jest", "vitest", "mocha"):
        if name == framework or name.startswith(f"@{framework}"):
            obs[("tests.framework", framework)] += 1


def observe(path: str, text: str, language: str) -> list[Observation]:
    """Observations for a file in a supported language (empty for others)."""
    if language == "python":
        return observe_python(path, text)
    if language in ("javascript", "typescript", "tsx"):
        return observe_js(path, text, language)
    return []
