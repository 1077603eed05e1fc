"""SARIF 2.1.0 output, as GitHub code scanning reads it.

One run with dmc as the driver: GitHub refuses several runs from one upload that share a
tool and category, and one run keeps every tool's rules in one place. Each rule id is
``tool/rule`` so the source stays visible; columns become 1-based as SARIF wants.
"""

from __future__ import annotations

from typing import Any

from dmc import __version__

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_HELP = {
    "pylint": "https://pylint.readthedocs.io/en/stable/user_guide/messages/messages_overview.html",
    "bandit": "https://bandit.readthedocs.io/",
    "mypy": "https://mypy.readthedocs.io/en/stable/error_code_list.html",
    "eslint": "https://eslint.org/docs/latest/rules/",
}


def to_sarif(validation: dict[str, Any]) -> dict[str, Any]:
    """A SARIF log for a ``validation`` object."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for issue in validation.get("issues", []):
        rule_id = f"{issue['tool']}/{issue['rule']}"
        if rule_id not in index:
            index[rule_id] = len(rules)
            rule: dict[str, Any] = {"id": rule_id, "name": issue["rule"],
                                    "shortDescription": {"text": f"{issue['tool']} "
                                                                 f"{issue['rule']}"},
                                    "properties": {"tool": issue["tool"]}}
            if issue["tool"] in _HELP:
                rule["helpUri"] = _HELP[issue["tool"]]
            rules.append(rule)
        region: dict[str, Any] = {"startLine": max(int(issue["line"]), 1),
                                  "startColumn": int(issue.get("column", 0)) + 1}
        if issue.get("end_line"):
            region["endLine"] = max(int(issue["end_line"]), region["startLine"])
            if issue.get("end_column") is not None:
                end_col = int(issue["end_column"]) + 1
                if region["endLine"] > region["startLine"] or end_col >= region["startColumn"]:
                    region["endColumn"] = end_col
        message = issue["message"] or issue["rule"]
        if issue.get("fix"):
            message += f" (fix: {issue['fix']})"
        result: dict[str, Any] = {
            "ruleId": rule_id, "ruleIndex": index[rule_id], "level": _LEVEL[issue["severity"]],
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": issue["path"], "uriBaseId": "%SRCROOT%"},
                "region": region}}],
        }
        if issue.get("also_reported_by"):
            result["properties"] = {"alsoReportedBy": issue["also_reported_by"]}
        results.append(result)
    tools = {name: info.get("version") for name, info in validation.get("tools", {}).items()
             if info.get("version")}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "dmc", "version": __version__,
                                "rules": rules,
                                "properties": {"tools": tools}}},
            "results": results,
            "invocations": [{"executionSuccessful": True}],
            "columnKind": "unicodeCodePoints",
        }],
    }
