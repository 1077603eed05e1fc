"""Stage ``intent``: what kind of change a request asks for.

``analyze`` adds the ``intent`` key to a document. The embedded classifier
(:mod:`dmc.intent.classifier`) needs no server; an LLM can be asked instead, and when it
cannot be reached the embedded classifier answers and the fallback is reported.
"""

from __future__ import annotations

from typing import Any

from dmc.contract import DmcError, Document, Exit, request_text
from dmc.intent.classifier import COMPLEXITIES, DOMAINS, TASK_TYPES, classify

__all__ = ["analyze", "classify", "INTENT_SCHEMA", "TASK_TYPES", "DOMAINS", "COMPLEXITIES"]

#: JSON schema the LLM path constrains its answer to.
INTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task_type": {"type": "string", "enum": list(TASK_TYPES)},
        "complexity": {"type": "string", "enum": list(COMPLEXITIES)},
        "domain": {"type": "string", "enum": list(DOMAINS)},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["task_type", "complexity", "domain", "confidence"],
    "additionalProperties": False,
}

_SYSTEM = (
    "You classify software change requests. Answer with JSON only. task_type: "
    "feature_implementation (new behaviour), bug_fix (wrong behaviour corrected), refactoring "
    "(same behaviour, better code), optimization (faster or leaner), testing, documentation, "
    "configuration (build, CI, dependencies, tooling), explanation (a question about code), "
    "code_review. complexity: low (one small local change), medium, high (many parts or "
    "design work). domain: the area of software. confidence: 0 to 1."
)


def analyze(doc: Document, *, min_confidence: float = 0.5, model: Any = None,
            timeout: float = 20.0) -> tuple[Document, list[str]]:
    """Add ``intent`` to ``doc``; returns the document and notes for the user.

    ``model`` is a :class:`dmc.llm.ModelSpec` or None for the embedded classifier.
    """
    text = request_text(doc)
    notes: list[str] = []
    intent = classify(text, min_confidence=min_confidence)
    if model is not None:
        from dmc.llm import ask_json

        try:
            answer = ask_json(model, _SYSTEM, f"Request: {text}", INTENT_SCHEMA,
                              timeout=timeout)
            intent = _merge_llm(intent, answer, model.label, min_confidence)
        except DmcError as exc:
            if exc.code not in (Exit.UNAVAILABLE, Exit.REMOTE):
                raise
            reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
            notes.append(f"{reason}; used the embedded classifier instead")
            intent["fallback"] = {"from": model.label, "reason": reason}
    if intent["low_confidence"]:
        notes.append(f"low confidence ({intent['confidence']:.2f} < {min_confidence:g}) "
                     f"for task type '{intent['task_type']}'")
    out = dict(doc)
    out["intent"] = intent
    return out, notes


def _merge_llm(local: dict[str, Any], answer: dict[str, Any], label: str,
               min_confidence: float) -> dict[str, Any]:
    """Take the LLM's answer where it is valid; keep local signals for transparency."""
    bad = [k for k, allowed in (("task_type", TASK_TYPES), ("complexity", COMPLEXITIES),
                                ("domain", DOMAINS)) if answer.get(k) not in allowed]
    conf = answer.get("confidence")
    if bad or isinstance(conf, bool) or not isinstance(conf, (int, float)):
        raise DmcError(f"{label} answered outside the schema ({', '.join(bad) or 'confidence'})",
                       Exit.REMOTE)
    merged = dict(local)
    merged.update(task_type=answer["task_type"], complexity=answer["complexity"],
                  domain=answer["domain"], confidence=round(min(max(float(conf), 0.0), 1.0), 3),
                  method=f"llm {label}")
    merged["local"] = {k: local[k] for k in ("task_type", "complexity", "domain", "confidence")}
    merged["low_confidence"] = merged["confidence"] < min_confidence
    return merged
