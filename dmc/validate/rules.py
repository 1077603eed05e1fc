"""Custom quality rules (the seed's "custom quality rules"), read from ``quality_rules.yaml``.

The format is deliberately small (documented in dmc-validate(1)):

```yaml
rules:
  - id: no-print                 # required, unique
    message: use logging, not print
    severity: warning            # error (default) | warning | info
    languages: [python]          # default: every language
    forbid_calls: [print, os.system]
  - id: no-requests
    forbid_imports: [requests]
  - id: spdx
    require_header: "SPDX-License-Identifier"   # within the first 5 lines
  - id: short-files
    max_lines: 400
```
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dmc.contract import DmcError
from dmc.validate.issues import SEVERITIES

RULES_FILE = "quality_rules.yaml"
KINDS = ("forbid_calls", "forbid_imports", "require_header", "max_lines")
_ALLOWED = {"id", "message", "severity", "languages", *KINDS}


def find_rules_file(repo: Path | None) -> Path | None:
    """``quality_rules.yaml`` at the repository root, or in ``.dmc/``."""
    if repo is None:
        return None
    for candidate in (repo / RULES_FILE, repo / ".dmc" / RULES_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_rules(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Parsed, checked rules and a digest of the file (for the cache key)."""
    import yaml

    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw) or {}
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DmcError(f"{path}: cannot read quality rules: {first}") from None
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        raise DmcError(f"{path}: expected a top-level 'rules:' list")
    seen: set[str] = set()
    checked = []
    for n, rule in enumerate(rules, start=1):
        where = f"{path}: rule {n}"
        if not isinstance(rule, dict):
            raise DmcError(f"{where}: must be a mapping")
        unknown = set(rule) - _ALLOWED
        if unknown:
            raise DmcError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                           f"allowed: {', '.join(sorted(_ALLOWED))}")
        rid = rule.get("id")
        if not isinstance(rid, str) or not rid or rid in seen:
            raise DmcError(f"{where}: needs a unique string 'id'")
        seen.add(rid)
        if not any(k in rule for k in KINDS):
            raise DmcError(f"{where} ({rid}): says nothing to check; use one of "
                           + ", ".join(KINDS))
        severity = rule.get("severity", "error")
        if severity not in SEVERITIES:
            raise DmcError(f"{where} ({rid}): severity must be one of {', '.join(SEVERITIES)}")
        for key in ("forbid_calls", "forbid_imports", "languages"):
            value = rule.get(key)
            if value is not None and (not isinstance(value, list)
                                      or not all(isinstance(v, str) for v in value)):
                raise DmcError(f"{where} ({rid}): {key} must be a list of strings")
        if "max_lines" in rule and (not isinstance(rule["max_lines"], int)
                                    or isinstance(rule["max_lines"], bool)
                                    or rule["max_lines"] < 1):
            raise DmcError(f"{where} ({rid}): max_lines must be a positive whole number")
        if "require_header" in rule and not isinstance(rule["require_header"], str):
            raise DmcError(f"{where} ({rid}): require_header must be a string")
        checked.append({**rule, "severity": severity})
    return checked, hashlib.sha256(raw).hexdigest()
