"""Prompts built from the payload: the first request and the refinement request.

Small models follow short prompts best. The first prompt says the task, what the project
needs, the existing code, and one answer format; it asks for a single fenced block when one
file is wanted (no ``File:`` line to misplace, and the stream can stop when the block closes).
A refinement prompt does not resend the previous answer whole: it shows the code that was
kept, then says exactly what went wrong — the answer was cut off or looped, held no code, a
stated example failed (with the assertion), or a checker found a problem (with the line).
"""

from __future__ import annotations

import re
from typing import Any

SYSTEM = (
    "You are a careful senior software engineer. Write complete, working, secure code that "
    "follows the project's style. Answer with code only; put short comments in the code "
    "where the reason is not obvious."
)
SINGLE_FORMAT = ("Answer with one fenced code block holding the complete code, tagged with "
                 "its language. No tests, usage examples or explanations outside it.")
MULTI_FORMAT = ("Answer with code only: for every file, one line `File: <path>` followed by "
                "one fenced code block tagged with its language.")
MAX_PROBLEMS = 15


_EXAMPLE_PY = ("File: models/user.py\n```python\n<<<<<<< SEARCH\nclass User:\n    name: str\n"
               "=======\nclass User:\n    name: str\n    email: str\n>>>>>>> REPLACE\n```")
_EXAMPLE_JS = ("File: lib/user.js\n```javascript\n<<<<<<< SEARCH\nclass User {\n"
               "  constructor(name) {\n=======\nclass User {\n  static kind = \"person\";\n"
               "  constructor(name) {\n>>>>>>> REPLACE\n```")


def edit_format(language: str | None = None) -> str:
    """How to answer when files exist: edit blocks for them, whole files only for new ones.

    The example is in another language than the task's: a small model copies an example's
    names (``app.get`` into a file that uses ``router``) when they look like the task's.
    """
    example = _EXAMPLE_JS if language == "python" else _EXAMPLE_PY
    return ("To change an existing file, answer with SEARCH/REPLACE blocks, never the whole "
            "file. For example:\n" + example + "\n"
            "SEARCH copies whole lines of the current file exactly, with their indentation, "
            "and enough of them to match one place only. To add code, put in SEARCH the lines "
            "it goes after, and in REPLACE those same lines followed by the new code. Use "
            "several small blocks rather than one big one; write out every line you keep, "
            "never a placeholder like `// ... existing code ...`. Lines like `⟦dmc: …⟧` are "
            "notes about the context, not part of any file: never copy them. To create a new "
            "file, write `File: <path>` and then the whole file in one fenced block.")


def edit_files(payload: dict[str, Any]) -> dict[str, str]:
    """Target files whose current text the payload carries (edits are made against it)."""
    from dmc.generate.changes import edit_targets

    return edit_targets(payload)


def _bullets(title: str, items: list[str]) -> str:
    return f"{title}:\n" + "\n".join(f"- {i}" for i in items) if items else ""


def single_file(payload: dict[str, Any]) -> bool:
    """Whether one new file is wanted (at most one target, none of them to edit)."""
    targets = (payload.get("task") or {}).get("target_files") or []
    return len(targets) <= 1 and not edit_files(payload)


_ASKS_FOR_TESTS = re.compile(
    r"\b(?:write|add|create|generate|cover|extend|improve|more|missing|unit|integration)\b"
    r"[^.\n]{0,40}\btests?\b|\btests?\s+for\b|\bpytest\b|\bjest\b", re.I)
# labels extraction files under "requirements" that have their own section in the prompt
_LABELS = {"testing", "documentation", "security", "performance"}


def wants_tests(payload: dict[str, Any]) -> bool:
    """Whether the user asked for tests, not merely for code that passes one.

    "Your code should pass this test: assert ..." states a check; "add tests for the parser"
    asks for tests. Only the second (or a test file as the target) puts testing in the prompt.
    """
    task = payload.get("task") or {}
    if any(re.match(r"(test_|.*_test\.|.*\.test\.|.*\.spec\.)", str(t).rsplit("/", 1)[-1])
           for t in task.get("target_files") or []):
        return True
    return bool(_ASKS_FOR_TESTS.search(str(task.get("description") or "")))


def initial_messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    """The chat for the first pass."""
    task = payload["task"]
    ctx = payload.get("context", {})
    reqs = payload.get("requirements", {})
    criteria = payload.get("quality_criteria", {})
    style = payload.get("style") or {}
    parts = [f"Task: {task['description']}"]
    if task.get("language"):
        parts.append(f"Language: {task['language']}")
    targets = task.get("target_files") or []
    if targets:
        parts.append("File to write or change: " + ", ".join(targets) if len(targets) == 1
                     else "Files to write or change: " + ", ".join(targets))
    for key, title in (("functional", "Functional requirements"),
                       ("constraints", "Constraints"), ("security", "Security"),
                       ("testing", "Testing"), ("documentation", "Documentation")):
        if key == "testing" and not wants_tests(payload):
            # "cover it with a test" in a one-block answer makes small models append asserts,
            # and they loop on them; dmc runs its own acceptance checks instead
            continue
        items = [str(i) for i in reqs.get(key) or []
                 if key != "functional" or str(i).lower() not in _LABELS]
        text = _bullets(title, items)
        if text:
            parts.append(text)
    if style:
        parts.append("Follow this style: " + "; ".join(f"{k}: {v}" for k, v in style.items()
                                                        if not isinstance(v, dict))[:1500])
    quality = []
    if criteria.get("max_complexity") and task.get("complexity") != "low":
        quality.append(f"keep every function's cyclomatic complexity at most "
                       f"{criteria['max_complexity']}")
    if criteria.get("security_scan") and not reqs.get("security"):
        quality.append("no shell=True, eval, unsafe yaml.load or hard-coded secrets")
    if quality:
        parts.append(_bullets("Quality", quality))
    editing = edit_files(payload)
    for path, code in (ctx.get("existing_code") or {}).items():
        if path in editing:
            continue
        label = "Existing code in" if not editing else "For reference (do not edit), code in"
        parts.append(f"{label} {path}:\n```\n{code}\n```")
    for doc in ctx.get("relevant_docs") or []:
        parts.append(f"Relevant documentation:\n{doc}")
    for path, text in editing.items():
        parts.append(f"Current content of {path}:\n{fenced(text)}")
    if editing:
        parts.append(edit_format(task.get("language")))
    else:
        parts.append(SINGLE_FORMAT if single_file(payload) else MULTI_FORMAT)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def fenced(text: str) -> str:
    """Text in a fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text.rstrip()}\n{fence}"


def _shown(files: list[dict[str, Any]], single: bool) -> str:
    shown = []
    for f in files:
        block = f"```{f.get('language') or ''}\n{f['code']}```"
        shown.append(block if single else f"File: {f['path']}\n{block}")
    return "\n\n".join(shown)


def what_went_wrong(finish_reason: str | None, repeated: str | None, had_code: bool,
                    truncated: bool) -> list[str]:
    """Sentences about the previous answer itself (not its code)."""
    out = []
    if not had_code:
        out.append("Your previous answer contained no code block.")
    if finish_reason == "repetition":
        line = f" the line `{repeated[:120]}`" if repeated else " the same lines"
        out.append(f"Your previous answer was stopped because it kept repeating{line}. "
                   "Write each thing once; do not add tests or examples.")
    elif finish_reason == "length" or truncated:
        out.append("Your previous answer was cut off at the length limit before the code was "
                   "complete. Be shorter: only the code asked for, no tests or examples.")
    return out


def refinement_messages(payload: dict[str, Any], files: list[dict[str, Any]],
                        issues: list[dict[str, Any]], *,
                        failures: list[dict[str, str]] | None = None,
                        answer_notes: list[str] | None = None,
                        current: dict[str, str] | None = None,
                        edit_problems: str = "") -> list[dict[str, str]]:
    """The chat for a refinement pass: the kept code, then what is wrong with it.

    For changes to existing files (``current``: path -> content with the applied edits) the
    files are shown as they now are, and the answer is asked for as more edit blocks.
    """
    if current is not None:
        return _edit_refinement(payload, files, issues, failures or [], answer_notes or [],
                                current, edit_problems)
    single = single_file(payload)
    problems = []
    for f in failures or []:
        problems.append(f"- the check `{f['check_text'][:200]}` ({f['source']}) failed: "
                        f"{f['message'][:300]}")
    by_path = {f["path"]: f["code"].split("\n") for f in files}
    for i in issues[:MAX_PROBLEMS]:
        lines = by_path.get(i["path"], [])
        line = lines[i["line"] - 1].strip() if 0 < i["line"] <= len(lines) else ""
        where = f"line {i['line']}" if single else f"{i['path']}:{i['line']}"
        problems.append(f"- {where}: {i['message']} [{i['tool']}/{i['rule']}]"
                        + (f"\n    `{line}`" if line else ""))
    text = list(answer_notes or [])
    if problems:
        text.append(("Your code has these problems:\n" if files else "Problems:\n")
                    + "\n".join(problems))
    text.append("Fix every problem and keep what already works. "
                + (SINGLE_FORMAT if single else MULTI_FORMAT))
    first = initial_messages(payload)
    chat = [first[0], first[1]]
    if files:
        # the kept code as the model's own turn: shorter than the answer it gave, and free of
        # the loop or the prose that made it go wrong
        chat.append({"role": "assistant", "content": _shown(files, single)})
    chat.append({"role": "user", "content": "\n\n".join(text)})
    return chat


def _edit_refinement(payload: dict[str, Any], files: list[dict[str, Any]],
                     issues: list[dict[str, Any]], failures: list[dict[str, str]],
                     notes: list[str], current: dict[str, str],
                     edit_problems: str) -> list[dict[str, str]]:
    problems = [f"- the check `{f['check_text'][:200]}` ({f['source']}) failed: "
                f"{f['message'][:300]}" for f in failures]
    by_path = {f["path"]: f["code"].split("\n") for f in files}
    for i in issues[:MAX_PROBLEMS]:
        lines = by_path.get(i["path"], [])
        line = lines[i["line"] - 1].strip() if 0 < i["line"] <= len(lines) else ""
        problems.append(f"- {i['path']}:{i['line']}: {i['message']} [{i['tool']}/{i['rule']}]"
                        + (f"\n    `{line}`" if line else ""))
    text = list(notes)
    if edit_problems:
        text.append(edit_problems)
    for path, content in current.items():
        text.append(f"Current content of {path} (your applied edits included):\n"
                    f"{fenced(content)}")
    new_files = [f for f in files if f["path"] not in current]
    if new_files:
        text.append("New files so far:\n\n" + _shown(new_files, False))
    if problems:
        text.append("Problems:\n" + "\n".join(problems))
    text.append("Fix what is wrong with more SEARCH/REPLACE blocks against the current content "
                "(a new file whole, after `File: <path>`).")
    first = initial_messages(payload)
    return [first[0], first[1], {"role": "user", "content": "\n\n".join(text)}]
