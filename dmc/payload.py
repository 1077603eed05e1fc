"""The request payload of the seed's message protocol, and its JSON Schema.

``dmc optimize`` writes it as the document's ``payload`` key; the agent accepts exactly this
on ``POST /v1/generate`` and validates it against ``payload.schema.json`` (shipped in the
package) before any work starts. jsonschema is imported only when validating.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from dmc.contract import DmcError

#: The seed's network budget for one payload; dmc stays far below it.
NETWORK_BUDGET_BYTES = 5 * 1024 * 1024


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The payload JSON Schema."""
    return orjson.loads(resources.files("dmc").joinpath("payload.schema.json").read_bytes())


def errors(payload: Any) -> list[str]:
    """Every schema violation as 'where: what' (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    out = []
    for err in sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(payload)"
        out.append(f"{where}: {err.message[:200]}")
    return out


def check(payload: Any) -> dict[str, Any]:
    """The payload itself, or a usage error listing the first violations."""
    problems = errors(payload)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DmcError("payload does not match the schema: " + "; ".join(problems[:3]) + more)
    return payload
