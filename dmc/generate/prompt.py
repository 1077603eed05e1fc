"""Prompts built from the payload: the first request and the refinement request."""

from __future__ import annotations

from typing import Any

SYSTEM = (
    "You are a careful senior software engineer. Write complete, working, secure code that "
    "follows the project's style. Answer with code only: for every file, one line "
    "`File: <path>` followed by one fenced code block tagged with its language. Do not "
    "explain outside the code; put short comments in the code where the reason is not "
    "obvious."
)


def _bullets(title: str, items: list[str]) -> str:
    return f"{title}:\n" + "\n".join(f"- {i}" for i in items) if items else ""


def initial_messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    """The chat for the first pass."""
    task = payload["task"]
    ctx = payload.get("context", {})
    reqs = payload.get("requirements", {})
    criteria = payload.get("quality_criteria", {})
    style = payload.get("style") or {}
    parts = [f"Task ({task['type'].replace('_', ' ')}, {task.get('complexity', 'medium')} "
             f"complexity): {task['description']}"]
    if task.get("language"):
        parts.append(f"Language: {task['language']}")
    if task.get("target_files"):
        parts.append("Files to write or change: " + ", ".join(task["target_files"]))
    if task.get("components"):
        parts.append("Components involved: " + ", ".join(task["components"]))
    for key, title in (("functional", "Functional requirements"),
                       ("constraints", "Constraints"), ("security", "Security"),
                       ("testing", "Testing"), ("documentation", "Documentation")):
        text = _bullets(title, list(reqs.get(key) or []))
        if text:
            parts.append(text)
    if style:
        parts.append("Follow this style: " + "; ".join(f"{k}: {v}" for k, v in style.items()
                                                        if not isinstance(v, dict))[:1500])
    quality = []
    if criteria.get("max_complexity"):
        quality.append(f"keep every function's cyclomatic complexity at most "
                       f"{criteria['max_complexity']}")
    if criteria.get("type_check"):
        quality.append("type-annotate every function")
    if criteria.get("security_scan"):
        quality.append("code must pass a security scan (no shell=True, eval, unsafe yaml.load,"
                       " hard-coded secrets)")
    if quality:
        parts.append(_bullets("Quality", quality))
    for path, code in (ctx.get("existing_code") or {}).items():
        parts.append(f"Existing code in {path}:\n```\n{code}\n```")
    for doc in ctx.get("relevant_docs") or []:
        parts.append(f"Relevant documentation:\n{doc}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def refinement_messages(payload: dict[str, Any], files: list[dict[str, Any]],
                        issues: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The chat for a refinement pass: the code, its problems and the lines they point at."""
    shown = []
    for f in files:
        shown.append(f"File: {f['path']}\n```{f.get('language') or ''}\n{f['code']}```")
    problems = []
    by_path = {f["path"]: f["code"].split("\n") for f in files}
    for i in issues[:25]:
        lines = by_path.get(i["path"], [])
        line = lines[i["line"] - 1].strip() if 0 < i["line"] <= len(lines) else ""
        where = f"{i['path']}:{i['line']}"
        problems.append(f"- {where}: {i['message']} [{i['tool']}/{i['rule']}]"
                        + (f"\n    `{line}`" if line else ""))
    user = ("Your code has these problems:\n" + "\n".join(problems) +
            "\n\nHere is the code:\n\n" + "\n\n".join(shown) +
            "\n\nFix every problem. Return the complete corrected files in the same format "
            "(`File: <path>` then a fenced block).")
    first = initial_messages(payload)
    return [first[0], first[1], {"role": "user", "content": user}]
