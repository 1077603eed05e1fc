"""Stage ``generate``: code from a payload, refined against what running it shows.

Before the first pass, acceptance checks are gathered (:mod:`dmc.generate.checks`: examples
stated in the request, doctests of the target file, tests the payload carries). Each pass:

1. the model answers under a stream guard (:mod:`dmc.generate.guard`) that stops a loop, or
   stops once the one block asked for is complete; the answer's length is sized to the task;
2. code is pulled out of the answer; an answer cut short is repaired or marked truncated;
3. the checks run in the sandbox and the code is validated (the same checks as
   ``dmc validate``), both at once;
4. the pass is scored — checks passed first, then no truncation, then validation errors and
   warnings — and kept if it beats the best so far.

Refinement goes on while something is wrong, up to ``max_iterations`` passes and within
``time_budget_s``; its prompt says what went wrong (the failing assertion, the cut-off, the
repeated line, the checker's finding), not the previous answer again. The first pass may
draw several ``samples``, and each refinement pass ``refine_samples``, while a stated check
fails. The best pass is returned, and every pass is recorded (checks
run/passed, validation counts, tokens, seconds, finish reason, whether it was kept), so the
lift of refinement is visible in each result. Ctrl-C returns the best pass so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dmc.contract import DmcError, Exit
from dmc.generate import changes
from dmc.generate import checks as checks_mod
from dmc.generate.backends import Backend, Cancelled, StopGeneration
from dmc.generate.code import CodeFile, extract_files
from dmc.generate.guard import StreamGuard, repeated_tail
from dmc.generate.imports import add_missing_imports
from dmc.generate.prompt import (
    initial_messages,
    refinement_messages,
    single_file,
    what_went_wrong,
)

Event = dict[str, Any]
OnEvent = Callable[[Event], None]

DEFAULT_TIME_BUDGET_S = 90.0
# Answer lengths by task size: a one-function request needs a few hundred tokens, and a
# loop that reaches a generous limit costs minutes on a laptop.
TOKENS_BY_COMPLEXITY = {"low": 768, "medium": 1536, "high": 4096}
# Template tokens a model sometimes prints as text; never part of an answer.
STOP = ["<|im_end|>", "<|endoftext|>", "<|file_sep|>"]


def validate_files(files: list[CodeFile], criteria: dict[str, Any],
                   tests: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Validate generated files in memory with the payload's quality criteria; with
    acceptance tests, also run them in the sandbox (failures are blocking issues)."""
    from dmc.validate import Settings, Source, validate, warm_default

    settings = Settings(
        fail_on=criteria.get("fail_on", "error"),
        max_complexity=int(criteria.get("max_complexity") or 10),
        enable_security_scan=bool(criteria.get("security_scan", True)),
        enable_type_checking=bool(criteria.get("type_check", True)),
        run_tests=bool(tests),
        # every pass of a refinement loop, and every request to the agent, validates again:
        # the warm checkers (same results as new processes) make the second one fast
        warm=warm_default(),
    )
    sources = [Source(f.path, text=f.code, language=f.language) for f in files]
    names = {f.path for f in files}
    sources += [Source(t["path"], text=t["code"], language="python") for t in tests or []
                if t["path"] not in names]
    return validate(sources, settings)


def answer_tokens(payload: dict[str, Any]) -> int:
    """Tokens one answer may take: sized to the task, never above the payload's limit.

    A change to an existing file needs room for what is rewritten, so the existing code of
    the target files (about 3 characters a token) raises the size up to the limit.
    """
    gen = payload.get("generation") or {}
    ceiling = int(gen.get("max_tokens") or 2048)
    task = payload.get("task") or {}
    sized = TOKENS_BY_COMPLEXITY.get(str(task.get("complexity") or "medium"), 1536)
    targets = task.get("target_files") or []
    existing_any = (payload.get("context") or {}).get("existing_code") or {}
    if len(targets) <= 1 and not existing_any and len(str(task.get("description") or "")) < 400:
        sized = min(sized, TOKENS_BY_COMPLEXITY["low"])  # one new piece of code, said briefly
    if len(targets) > 1:
        sized *= 2
    existing = (payload.get("context") or {}).get("existing_code") or {}
    existing_chars = sum(len(str(code)) for path, code in existing.items() if path in targets)
    sized = max(sized, existing_chars // 3 + 256)
    return max(64, min(ceiling, sized))


@dataclass
class Pass:
    """One answer and what it showed."""

    number: int
    sample: int
    files: list[CodeFile]
    validation: dict[str, Any]
    checks: checks_mod.CheckRun
    finish_reason: str
    answer_text: str
    record: dict[str, Any] = field(default_factory=dict)
    model_checks: checks_mod.CheckRun = field(default_factory=lambda: checks_mod.CheckRun(0, 0))
    states: dict[str, changes.FileState] = field(default_factory=dict)
    # the repository's own tests that already failed before the change: test -> message
    preexisting: dict[str, str] = field(default_factory=dict)
    edit_failures: list[Any] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # definitions removed, not asked for

    @property
    def truncated(self) -> bool:
        """A file was cut off and could not be repaired."""
        return any(f.truncated for f in self.files)

    @property
    def score(self) -> tuple[int, ...]:
        """Higher is better: stated checks passed, fewer failing tests (a test file is one
        check), all passed, the model's own tests passed, nothing named missing, fewer failed
        edit blocks, complete, fewer errors, fewer warnings — a generated test never outranks
        a stated one."""
        counts = self.validation.get("counts", {})
        return (self.checks.passed, -len(self.checks.failures), int(self.checks_ok),
                self.model_checks.passed,
                -len(self.missing) - len(self.deleted), -len(self.edit_failures),
                int(not self.truncated and bool(self.files)),
                -int(counts.get("error", 0)), -int(counts.get("warning", 0)))

    @property
    def checks_ok(self) -> bool:
        """Every stated check passed, but for tests that failed before the change too."""
        return checks_ok(self.checks, self.preexisting)

    @property
    def clean(self) -> bool:
        """Nothing left to refine."""
        model_ok = self.model_checks.total == 0 or self.model_checks.all_passed
        return (bool(self.files) and not self.truncated and self.checks_ok and model_ok
                and not self.missing and not self.deleted and not self.edit_failures
                and bool(self.validation.get("passed")))


def _complete_imports(files: list[CodeFile]) -> list[str]:
    """Add the standard imports new Python files use but forgot (in place); the lines added,
    each with its file."""
    added: list[str] = []
    for f in files:
        if f.language != "python" or f.truncated:
            continue
        f.code, lines = add_missing_imports(f.code)
        added += [f"{f.path}: {line}" for line in lines]
    return added


def checks_ok(run: checks_mod.CheckRun, preexisting: dict[str, str] | None = None) -> bool:
    """Every check ran and passed.

    A repository test that already failed before the change is no excuse: the test of the
    missing feature fails the same way when the model changed nothing, so excusing it would
    call "nothing done" a success. Old failures are named in the reason instead.
    """
    del preexisting  # kept for the reason, never for the verdict
    return run.total == 0 or run.all_passed


def _skipped_validation() -> dict[str, Any]:
    """Validation not run for a pass whose checks failed (it is run if the pass is kept)."""
    return {"passed": False, "counts": {"error": 0, "warning": 0, "info": 0}, "issues": [],
            "skipped": "the acceptance checks failed"}


def _no_code_validation() -> dict[str, Any]:
    return {"passed": False, "counts": {"error": 1, "warning": 0, "info": 0},
            "issues": [{"path": "-", "line": 1, "column": 0, "severity": "error",
                        "rule": "no-code", "tool": "dmc",
                        "message": "the model's answer contained no code"}]}


class _Run:
    """One generate call: its settings, clock, checks and best pass."""

    def __init__(self, payload: dict[str, Any], backend: Backend, emit: OnEvent,
                 cancelled: Callable[[], bool] | None,
                 validator: Callable[..., dict[str, Any]], repo: Any = None) -> None:
        gen = payload.get("generation") or {}
        self.payload = payload
        self.backend = backend
        self.emit = emit
        self.cancelled = cancelled
        self.validator = validator
        self.task = payload["task"]
        self.max_iterations = int(gen.get("max_iterations") or 3)
        self.max_tokens = answer_tokens(payload)
        self.temperature = float(gen.get("temperature", 0.2))
        self.top_p = float(gen.get("top_p", 0.95))
        self.samples = int(gen.get("samples") or 1)
        self.refine_samples = int(gen.get("refine_samples") or 1)
        self.sample_temperature = float(gen.get("sample_temperature", 0.7))
        self.budget = float(gen.get("time_budget_s") or DEFAULT_TIME_BUDGET_S)
        self.criteria = payload.get("quality_criteria") or {}
        self.single = single_file(payload)
        self.base_states = changes.initial_states(payload)  # files to change, not rewrite
        self.start = time.perf_counter()
        self.checks = checks_mod.gather(payload)
        self.support: list[tuple[str, Any]] = []
        self.preexisting: dict[str, str] = {}
        if repo is not None:
            self._repository_tests(repo)
        self.pass_base: dict[str, changes.FileState] = {}
        # with nothing stated to check, the model writes tests after its first answer
        self.write_tests = bool(gen.get("generated_tests", True)) and not self.checks
        self.model_checks: list[checks_mod.Check] | None = None
        self.tokens = 0
        self.passes: list[Pass] = []
        self.best: Pass | None = None
        self.stopped: str | None = None
        self.test_record: dict[str, Any] | None = None

    def _repository_tests(self, repo: Any) -> None:
        """The repository's tests for the target files, and which already fail without us."""
        from dmc.generate import jstests

        targets = list(self.task.get("target_files") or [])
        found, support = checks_mod.repository_tests(repo, targets)
        found += jstests.find(repo, targets)
        if not found:
            return
        self.checks += found
        self.support = support
        baseline = checks_mod.run(found, [], support=support)
        self.preexisting = {f["check_text"]: f["message"] for f in baseline.failures}
        self.emit({"event": "checks", "iteration": 0, "source": "repository baseline",
                   **baseline.to_dict()})

    def elapsed(self) -> float:
        """Seconds since the call began."""
        return time.perf_counter() - self.start

    def _watch(self, guard: StreamGuard, *, budget: bool) -> Callable[[str], None]:
        """The ``on_token`` of one answer: cancellation, the guard, and (``budget``) the
        clock once there is a pass to return."""
        def on_token(delta: str) -> None:
            if self.cancelled is not None and self.cancelled():
                raise Cancelled
            reason = guard.feed(delta)
            if reason is not None:
                raise StopGeneration(reason)
            if budget and self.best is not None and self.elapsed() >= self.budget:
                raise StopGeneration("budget")  # something to return already: stop here

        return on_token

    def answer(self, messages: list[dict[str, str]], number: int, sample: int,
               temperature: float) -> Pass:
        """Ask the model once, under the guard, and judge the answer."""
        self.emit({"event": "generating", "iteration": number, "sample": sample,
                   "max_tokens": self.max_tokens})
        on_token = self._watch(StreamGuard(single_block=self.single,
                                           language=self.task.get("language")), budget=True)

        result = self.backend.chat(messages, max_tokens=self.max_tokens,
                                   temperature=temperature, top_p=self.top_p,
                                   on_token=on_token, stop=STOP)
        self.tokens += result.completion_tokens
        cut = result.finish_reason if result.finish_reason in ("length", "repetition",
                                                               "budget") else None
        edit: changes.EditPass | None = None
        imports_added: list[str] = []
        if self.base_states:
            # every sample of a pass edits the files as that pass was shown them
            edit = changes.from_answer(result.text, self.pass_base or self.base_states,
                                       language=self.task.get("language"), cut_off=cut,
                                       request=str(self.task.get("description") or ""))
            files = edit.files
        else:
            files = extract_files(result.text, language=self.task.get("language"),
                                  target_files=self.task.get("target_files"), cut_off=cut)
            imports_added = _complete_imports(files)
        if files and self.write_tests and self.model_checks is None and \
                any(f.language == "python" for f in files):
            self.model_checks = self.generated_tests(files)
        started = time.perf_counter()
        model_run = checks_mod.CheckRun(0, 0)
        if files:
            self.emit({"event": "validating", "iteration": number,
                       "files": [f.path for f in files]})
            if self.checks:
                # the checks first: a pass that fails them is not kept over one that passes,
                # so the linters (seconds) wait until one does
                check_run = checks_mod.run(self.checks, files, support=self.support or None)
                validation = (self.validator(files, self.criteria, None)
                              if checks_ok(check_run, self.preexisting)
                              else _skipped_validation())
            else:
                with ThreadPoolExecutor(max_workers=2) as pool:
                    modelled = pool.submit(checks_mod.run, self.model_checks or [], files)
                    validation = self.validator(files, self.criteria, None)
                    check_run = checks_mod.CheckRun(0, 0)
                    model_run = modelled.result()
        else:
            validation = _no_code_validation()
            check_run = checks_mod.CheckRun(len(self.checks), 0)
        if self.checks:
            self.emit({"event": "checks", "iteration": number, "sample": sample,
                       **check_run.to_dict()})
        counts = validation.get("counts", {})
        if self.model_checks:
            self.emit({"event": "checks", "iteration": number, "sample": sample,
                       "source": "model", **model_run.to_dict()})
        p = Pass(number, sample, files, validation, check_run, result.finish_reason,
                 result.text, model_checks=model_run, preexisting=self.preexisting)
        if edit is not None:
            p.states, p.edit_failures, p.ignored = edit.states, edit.failures, edit.ignored
            p.converted = edit.converted
            p.missing = changes.missing_named(str(self.task.get("description") or ""),
                                              self.base_states, files)
            p.deleted = changes.deleted_unasked(str(self.task.get("description") or ""),
                                                p.states)
        p.record = {
            "iteration": number, "sample": sample, "errors": int(counts.get("error", 0)),
            "warnings": int(counts.get("warning", 0)), "passed": bool(validation["passed"]),
            "checks": {"run": check_run.total, "passed": check_run.passed},
            "model_checks": {"run": model_run.total, "passed": model_run.passed},
            "finish_reason": result.finish_reason, "truncated": p.truncated,
            "validation": "skipped" if validation.get("skipped") else "ran",
            "repairs": [f.repair for f in files if f.repair],
            **({"imports_added": imports_added} if imports_added else {}),
            **({"edits": {"blocks_applied": sum(len(s.blocks) for s in p.states.values()),
                          "blocks_failed": len(p.edit_failures),
                          "converted": p.converted, "refused": p.ignored,
                          "unasked": [f.describe()
                                      for f in changes.held_back(p.edit_failures)[0]],
                          "missing": p.missing, "deleted": p.deleted}}
               if edit is not None else {}),
            "prompt_tokens": result.prompt_tokens, "tokens": result.completion_tokens,
            "seconds": round(result.seconds, 3),
            "check_seconds": round(time.perf_counter() - started, 3),
            "tokens_per_second": round(result.tokens_per_second, 1), "kept": False}
        self.passes.append(p)
        if self.best is None or p.score > self.best.score:
            self.best = p  # before telling anyone: a Ctrl-C from here on has a pass to return
        self.emit({"event": "iteration", **p.record, "files": [f.to_dict() for f in files],
                   "failures": check_run.failures + model_run.failures})
        return p

    def generated_tests(self, files: list[CodeFile]) -> list[checks_mod.Check]:
        """Asserts the model writes for the request, once, after its first answer."""
        self.emit({"event": "writing_tests"})
        on_token = self._watch(StreamGuard(single_block=True, language="python"),
                               budget=False)

        result = self.backend.chat(
            checks_mod.tests_prompt(str(self.task.get("description") or ""), files),
            max_tokens=256, temperature=0.0, top_p=1.0, on_token=on_token, stop=STOP)
        self.tokens += result.completion_tokens
        found = checks_mod.parse_generated(result.text)
        self.test_record = {"tokens": result.completion_tokens,
                            "seconds": round(result.seconds, 3), "written": len(found)}
        return found

    def feedback(self, p: Pass) -> list[dict[str, str]]:
        """The refinement chat for what was wrong with pass ``p``."""
        notes = what_went_wrong(p.finish_reason, repeated_tail(p.answer_text)
                                if p.finish_reason == "repetition" else None,
                                bool(p.files), p.truncated)
        blocking = [i for i in p.validation.get("issues", [])
                    if i["severity"] in ("error", "warning") and i.get("rule") != "no-code"]
        if p.validation.get("passed"):
            blocking = [i for i in blocking if i["severity"] == "error"]
        model_failures = [{**f, "source": "a test written for this request; it may be wrong "
                                          "itself — if your code is right, keep it"}
                          for f in p.model_checks.failures]
        current = None
        edit_problems = ""
        if self.base_states:
            from dmc.generate.edits import render_failures

            states = p.states if p.states and not p.deleted else self.base_states
            current = {path: st.content for path, st in states.items()}
            # a block held back for rewriting code the request is not about is not to be sent
            # again, unlike one that did not apply
            unasked, missed = changes.held_back(p.edit_failures)
            said = [render_failures(missed, files=current)] if missed else []
            if unasked:
                said.append(changes.render_unasked(unasked))
            if p.ignored:
                said.append("Not applied (" + "; ".join(p.ignored) + "). Change existing "
                            "files with SEARCH/REPLACE blocks after `File: <path>`.")
                if any(" drops " in i for i in p.ignored):
                    said.append("Everything the file has that the request does not mention "
                                "stays: a new route or function goes next to the existing "
                                "ones, never in place of one.")
            if p.deleted:
                said.append("Your edit deletes " + ", ".join(p.deleted) + ", which the "
                            "request does not ask to remove. Keep it: to add code after it, "
                            "put it in SEARCH and again in REPLACE, followed by the new code.")
            if p.missing:
                said.append("The request asks for " + ", ".join(p.missing) + ", but no "
                            "applied edit adds it.")
            edit_problems = "\n\n".join(said)
        return refinement_messages(self.payload, [f.to_dict() for f in p.files], blocking,
                                   failures=p.checks.failures + model_failures,
                                   answer_notes=notes, current=current,
                                   edit_problems=edit_problems)

    def loop(self) -> None:
        """Passes until clean, out of passes, out of time, or no longer improving."""
        messages = initial_messages(self.payload)
        stalled = 0
        for n in range(1, self.max_iterations + 1):
            if n > 1 and self.elapsed() >= self.budget:
                self.stopped = (f"time budget of {self.budget:g} s spent after {n - 1} "
                                "pass(es)")
                break
            before = self.best
            # the next pass edits the best one's files, unless those lost code nobody asked
            # to remove: then it starts again from the files as they were
            self.pass_base = before.states if before is not None and before.states and \
                not before.deleted else {}
            draws = self.samples if n == 1 else self.refine_samples
            current: Pass | None = None
            for s in range(1, draws + 1):
                if s > 1 and self.elapsed() >= self.budget:
                    break
                temp = self.temperature if s == 1 else self.sample_temperature
                p = self.answer(messages, n, s, temp)
                if current is None or p.score > current.score:
                    current = p
                # more answers only while a stated check fails: that is where they were
                # measured to help; without one, refinement alone goes on
                if p.clean or not self.checks or (p.checks_ok and not p.truncated):
                    break
            assert current is not None and self.best is not None
            if self.best.clean:
                break
            if before is not None and [f.code for f in current.files] == \
                    [f.code for f in before.files]:
                self.stopped = f"pass {n} gave the same code as pass {before.number}"
                break
            # a worse pass is dropped and the next one starts again from the best; two in a
            # row that do not improve mean the model is not getting there
            stalled = stalled + 1 if before is not None and current.score <= before.score \
                else 0
            if stalled >= 2:
                self.stopped = (f"passes {n - 1} and {n} did not improve on pass "
                                f"{self.best.number}")
                break
            if n < self.max_iterations:
                messages = self.feedback(self.best)
        if self.stopped:
            self.emit({"event": "stopped", "reason": self.stopped})

    def response(self, interrupted: bool = False) -> dict[str, Any]:
        """The seed's response, with the checks and every pass."""
        best = self.best
        assert best is not None
        if best.validation.get("skipped") and best.files:
            best.validation = self.validator(best.files, self.criteria, None)
        best.record["kept"] = True
        files = best.files
        validation = best.validation
        status, reason = self._status(best, interrupted)
        checks = best.checks.to_dict()
        every = self.checks + (self.model_checks or [])
        checks["sources"] = sorted({c.source for c in every})
        checks["list"] = [{"id": c.id, "source": c.source, "kind": c.kind,
                           "check": c.describe()} for c in every]
        checks["failing_before_the_change"] = sorted(self.preexisting)
        checks["model"] = {**best.model_checks.to_dict(),
                           **({"writing": self.test_record} if self.test_record else {})}
        first = self.passes[0].checks
        return {
            "request_id": self.payload["request_id"],
            "status": status,
            **({"reason": reason} if reason else {}),
            "code": files[0].code if files else "",
            "language": files[0].language if files else self.task.get("language"),
            "files": [f.to_dict() for f in files],
            "checks": checks,
            "validation": {"passed": validation["passed"],
                           "issues": validation.get("issues", []),
                           "counts": validation.get("counts", {}),
                           "iterations": len(self.passes), "kept_iteration": best.number},
            "metadata": {"generation_time": round(self.elapsed(), 3),
                         "model_used": self.backend.label, "tokens_generated": self.tokens,
                         "max_tokens": self.max_tokens, "time_budget_s": self.budget,
                         "stopped": self.stopped, "interrupted": interrupted,
                         "lift": {"first_checks_passed": first.passed,
                                  "final_checks_passed": best.checks.passed,
                                  "checks_run": best.checks.total},
                         "iterations": [p.record for p in self.passes]},
        }

    def _status(self, best: Pass, interrupted: bool) -> tuple[str, str | None]:
        if not best.files:
            if self.base_states and best.edit_failures:
                return "error", changes.failure_reason(best.edit_failures, applied=False)
            return "error", "no answer contained code"
        # a block held back may be why something named is missing: say both
        held = changes.held_back(best.edit_failures)[0]
        also = f"; {changes.failure_reason(held, applied=True)}" if held else ""
        if best.missing:
            return "partial", ("the change does not add what the request names: "
                               + ", ".join(best.missing) + also)
        if best.deleted:
            return "partial", ("the change deletes what the request does not name: "
                               + ", ".join(best.deleted) + also)
        if best.edit_failures:
            return "partial", changes.failure_reason(best.edit_failures, applied=True)
        if best.truncated:
            return "partial", "the answer was cut off and could not be repaired"
        if best.checks.total and not best.checks_ok:
            old = [f["check_text"] for f in best.checks.failures
                   if self.preexisting.get(f["check_text"]) == f["message"]]
            return "partial", (f"{best.checks.total - best.checks.passed} of "
                               f"{best.checks.total} acceptance check(s) failed"
                               + (f" ({', '.join(old[:3])} failed the same way before the "
                                  "change)" if old else ""))
        if best.model_checks.total and not best.model_checks.all_passed:
            return "partial", (f"{best.model_checks.total - best.model_checks.passed} of "
                               f"{best.model_checks.total} test(s) written for the request "
                               "failed (they may be wrong themselves; see checks.model)")
        if not best.validation.get("passed"):
            return "partial", "validation found blocking issues"
        if best.finish_reason in ("length", "budget") and not (
                best.checks.total and best.checks_ok):
            return "partial", ("the answer was cut off before it ended; nothing ran to show "
                               "the code is complete")
        if any(f.repair for f in best.files) and not best.checks.total:
            return "partial", "the answer was cut off; the repaired code has no check to show " \
                              "it works"
        if interrupted:
            return "partial", "interrupted before refinement finished"
        return "success", None


def generate(payload: dict[str, Any], backend: Backend, *, on_event: OnEvent | None = None,
             cancelled: Callable[[], bool] | None = None,
             validator: Callable[..., dict[str, Any]] = validate_files,
             repo: Any = None) -> dict[str, Any]:
    """The response of the seed's protocol for one payload.

    ``repo``: the repository, when generation runs where it is (``--local``): its own tests
    for the target files then run as checks, with its other modules beside the new code;
    tests that already failed before the change are reported, not held against it.
    Ctrl-C (KeyboardInterrupt) during a pass returns the best pass so far with
    ``metadata.interrupted`` set; with no pass finished it propagates.
    """
    run = _Run(payload, backend, on_event or (lambda e: None), cancelled, validator, repo)
    try:
        run.loop()
    except KeyboardInterrupt:
        if run.best is None:
            raise
        run.stopped = "interrupted"
        return run.response(interrupted=True)
    return run.response()


def summary_line(result: dict[str, Any]) -> str:
    """"2 passes: 1/3 → 3/3 checks" — the lift of one result, for a terminal."""
    passes = result.get("metadata", {}).get("iterations") or []
    n = len({p.get("iteration") for p in passes})
    word = "pass" if n == 1 else "passes"
    if len(passes) > n:
        word += f" ({len(passes)} answers)"
    runs = [p.get("checks") if (p.get("checks") or {}).get("run")
            else p.get("model_checks") or {} for p in passes]
    total = max((r.get("run", 0) for r in runs), default=0)
    if total:
        chain = " → ".join(f"{r.get('passed', 0)}/{r.get('run', 0)}" for r in runs)
        text = f"{n} {word}: {chain} checks"
    else:
        errors = " → ".join(str(p.get("errors", 0)) for p in passes)
        text = f"{n} {word}: no acceptance checks; errors {errors}"
    kept = result.get("validation", {}).get("kept_iteration")
    if kept and kept != n:
        text += f" (kept pass {kept})"
    return text + f", {result.get('status')}"


def require_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's payload, checked against the schema (exit 2 when it does not match)."""
    from dmc.payload import check

    payload = doc.get("payload")
    if not isinstance(payload, dict):
        raise DmcError("document has no payload", Exit.USAGE, hint="run dmc optimize first")
    return check(payload)
