"""Stage ``generate``: code from a payload, refined against ``validate``.

Pass one asks the model for the code; every pass is validated (the same checks as
``dmc validate``); while blocking issues remain, a refinement prompt with the issues and the
lines they point at asks for a corrected version, up to ``max_iterations``. The loop stops
early when the code is clean or when a pass makes things worse, and always returns the best
pass seen. Each pass is recorded: issues found, tokens, seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dmc.contract import DmcError, Exit
from dmc.generate.backends import Backend, Cancelled
from dmc.generate.code import CodeFile, extract_files
from dmc.generate.prompt import initial_messages, refinement_messages

Event = dict[str, Any]
OnEvent = Callable[[Event], None]


def validate_files(files: list[CodeFile], criteria: dict[str, Any],
                   tests: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Validate generated files in memory with the payload's quality criteria; with
    acceptance tests, also run them in the sandbox (failures are blocking issues)."""
    from dmc.validate import Settings, Source, validate

    settings = Settings(
        fail_on=criteria.get("fail_on", "error"),
        max_complexity=int(criteria.get("max_complexity") or 10),
        enable_security_scan=bool(criteria.get("security_scan", True)),
        enable_type_checking=bool(criteria.get("type_check", True)),
        run_tests=bool(tests),
    )
    sources = [Source(f.path, text=f.code, language=f.language) for f in files]
    names = {f.path for f in files}
    sources += [Source(t["path"], text=t["code"], language="python") for t in tests or []
                if t["path"] not in names]
    return validate(sources, settings)


def _score(validation: dict[str, Any]) -> tuple[int, int]:
    counts = validation.get("counts", {})
    return int(counts.get("error", 0)), int(counts.get("warning", 0))


def generate(payload: dict[str, Any], backend: Backend, *, on_event: OnEvent | None = None,
             cancelled: Callable[[], bool] | None = None,
             validator: Callable[..., dict[str, Any]] = validate_files,
             ) -> dict[str, Any]:
    """The response of the seed's protocol for one payload."""
    emit = on_event or (lambda e: None)
    gen = payload.get("generation") or {}
    max_iterations = int(gen.get("max_iterations") or 3)
    max_tokens = int(gen.get("max_tokens") or 2048)
    temperature = float(gen.get("temperature", 0.2))
    top_p = float(gen.get("top_p", 0.95))
    criteria = payload.get("quality_criteria") or {}
    task = payload["task"]
    start = time.perf_counter()
    tokens_total = 0
    iterations: list[dict[str, Any]] = []
    best: tuple[tuple[int, int], list[CodeFile], dict[str, Any], int] | None = None
    messages = initial_messages(payload)

    def on_token(_: str) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled

    for n in range(1, max_iterations + 1):
        emit({"event": "generating", "iteration": n})
        result = backend.chat(messages, max_tokens=max_tokens, temperature=temperature,
                              top_p=top_p, on_token=on_token)
        tokens_total += result.completion_tokens
        files = extract_files(result.text, language=task.get("language"),
                              target_files=task.get("target_files"))
        if files:
            emit({"event": "validating", "iteration": n, "files": [f.path for f in files]})
            validation = validator(files, criteria, task.get("tests"))
        else:
            validation = {"passed": False, "counts": {"error": 1, "warning": 0, "info": 0},
                          "issues": [{"path": "-", "line": 1, "column": 0, "severity": "error",
                                      "rule": "no-code", "tool": "dmc",
                                      "message": "the model's answer contained no code"}]}
        score = _score(validation)
        record = {"iteration": n, "errors": score[0], "warnings": score[1],
                  "passed": validation["passed"], "prompt_tokens": result.prompt_tokens,
                  "tokens": result.completion_tokens, "seconds": round(result.seconds, 3),
                  "tokens_per_second": round(result.tokens_per_second, 1)}
        iterations.append(record)
        emit({"event": "iteration", **record})
        worse = best is not None and score > best[0]
        if best is None or score < best[0] or (score == best[0] and validation["passed"]):
            best = (score, files, validation, n)
        if validation["passed"]:
            break
        if worse:
            emit({"event": "stopped", "reason": f"pass {n} was worse than pass {best[3]}"})
            break
        if n < max_iterations:
            blocking = [i for i in validation.get("issues", [])
                        if i["severity"] in ("error", "warning")]
            messages = refinement_messages(payload, [f.to_dict() for f in files],
                                           blocking or validation.get("issues", []))
    assert best is not None
    _, files, validation, kept = best
    status = "success" if validation["passed"] else ("partial" if files else "error")
    return {
        "request_id": payload["request_id"],
        "status": status,
        "code": files[0].code if files else "",
        "language": files[0].language if files else task.get("language"),
        "files": [f.to_dict() for f in files],
        "validation": {"passed": validation["passed"], "issues": validation.get("issues", []),
                       "counts": validation.get("counts", {}), "iterations": len(iterations),
                       "kept_iteration": kept},
        "metadata": {"generation_time": round(time.perf_counter() - start, 3),
                     "model_used": backend.label, "tokens_generated": tokens_total,
                     "iterations": iterations},
    }


def require_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's payload, checked against the schema (exit 2 when it does not match)."""
    from dmc.payload import check

    payload = doc.get("payload")
    if not isinstance(payload, dict):
        raise DmcError("document has no payload", Exit.USAGE, hint="run dmc optimize first")
    return check(payload)
