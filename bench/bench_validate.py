"""Benchmark ``dmc validate`` on 20 Python files of a real package (httpx, as installed)
beside pylint + bandit + mypy run the usual way on the same files, all in one run.

Each situation is timed several times and the median reported, with the 1-minute load
average beside it (a shared two-core machine: absolute seconds move with the load, the
ratios within one run much less):

- cold: no result cache and no mypy cache. dmc three ways: new tool processes
  (``--no-warm``); the default with no warm checker running yet (the first run starts
  them); and the default with the checkers already running but the caches deleted (what a
  fresh clone, ``rm -rf .dmc`` or another project costs once the checkers are warm; they
  never keep a project's own files). The usual way: the three tools one after another,
  mypy with a new cache folder.
- again, nothing changed: dmc serves every file from its cache; the usual way runs the
  tools again (mypy with its own cache, as it keeps one by default).
- one file changed (a module nothing else imports), and a module most files import:
  dmc re-checks what the change can affect; the usual way, as a pre-commit hook runs it,
  checks the changed file only (mypy with its cache).

The issues dmc reports must be the same in every way it runs (``same_issues``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DMC, write  # noqa: E402

PACKAGE = "httpx"
N_FILES = 20
COLD_RUNS = 3
WARM_RUNS = 5
CHANGED_RUNS = 3
GOALS = {"cold_s": 3.0, "warm_s": 0.3, "one_changed_s": 1.0}


def _files(dest: Path) -> list[str]:
    import httpx

    src = Path(httpx.__file__).parent
    chosen = sorted(p for p in src.rglob("*.py") if p.stat().st_size > 500)[:N_FILES]
    names = []
    for p in chosen:
        rel = p.relative_to(src.parent)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dest / rel)
        names.append(str(rel))
    return names


def _load() -> float:
    return round(os.getloadavg()[0], 2)


class Timings:
    """Samples per situation, each with the load average when it was taken."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, float]]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append((seconds, _load()))

    def summary(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, samples in self.samples.items():
            seconds = [s for s, _ in samples]
            out[name] = {"median_s": round(statistics.median(seconds), 3),
                         "runs_s": [round(s, 3) for s in seconds],
                         "load_1m": [load for _, load in samples]}
        return out


def _usual(files: list[str], cwd: Path, mypy_cache: Path) -> dict[str, float]:
    """pylint, bandit and mypy one after another, as a hook or a person runs them."""
    py = sys.executable
    out = {}
    for tool, args in (("pylint", [py, "-m", "pylint", "--output-format=json", *files]),
                       ("bandit", [py, "-m", "bandit", "-f", "json", "-q", *files]),
                       ("mypy", [py, "-m", "mypy", "--ignore-missing-imports",
                                 f"--cache-dir={mypy_cache}", *files])):
        start = time.perf_counter()
        subprocess.run(args, cwd=cwd, capture_output=True, check=False)
        out[tool] = time.perf_counter() - start
    return out


class Dmc:
    """``dmc validate`` as a user runs it, with warm checkers in a private socket folder."""

    def __init__(self, cwd: Path, files: list[str]) -> None:
        self.cwd = cwd
        self.files = files
        self.runtime = Path(tempfile.mkdtemp(prefix="dmcb-", dir="/tmp"))  # noqa: S108
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("DMC_") and k != "CI"}
        self.env["XDG_RUNTIME_DIR"] = str(self.runtime)

    def run(self, *flags: str, files: list[str] | None = None) -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        proc = subprocess.run([DMC, "validate", "--format", "json", *flags,
                               *(files or self.files)], cwd=self.cwd, capture_output=True,
                              check=False, env=self.env)
        seconds = time.perf_counter() - start
        doc = json.loads(proc.stdout)
        if "validation" not in doc:
            raise SystemExit(f"dmc validate failed: {proc.stderr.decode()[-500:]}")
        v = doc["validation"]
        tools = {name: {k: t.get(k) for k in ("status", "process", "files", "cached",
                                              "seconds") if k in t}
                 for name, t in v["tools"].items()}
        return seconds, {"exit": proc.returncode, "issues": v["issues"], "tools": tools}

    def forget_caches(self) -> None:
        shutil.rmtree(self.cwd / ".dmc", ignore_errors=True)

    def stop_workers(self) -> None:
        from dmc.validate import worker

        for pid in worker.running(self.runtime / "dmc"):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                continue
        deadline = time.monotonic() + 10
        while worker.running(self.runtime / "dmc") and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.stop_workers()
        shutil.rmtree(self.runtime, ignore_errors=True)


def _leaf_and_shared(files: list[str], cwd: Path) -> tuple[str, str]:
    """A module no other chosen file imports, and the one most of them import."""
    from dmc.validate.deps import Graph

    base = str(cwd)
    graph = Graph(os.path.isfile, lambda p: Path(p).read_bytes(), extra_roots=[base])
    users: dict[str, int] = {f: 0 for f in files}
    for f in files:
        for dep in graph.closure(os.path.join(base, f)):
            rel = os.path.relpath(dep, base)
            if rel in users:
                users[rel] += 1
    ranked = sorted(files, key=lambda f: (users[f], f))
    shared = max((f for f in files if not f.endswith("__init__.py")),
                 key=lambda f: (users[f], f))
    return ranked[0], shared


def _toucher(path: Path) -> Callable[[], None]:
    """Each call changes the file (a new trailing comment), so every run sees new content."""
    original = path.read_text(encoding="utf-8")
    count = [0]

    def touch() -> None:
        count[0] += 1
        path.write_text(original + f"\n# touched {count[0]}\n", encoding="utf-8")

    return touch


def main() -> dict[str, Any]:
    load_start = _load()
    t = Timings()
    issues: dict[str, list[Any]] = {}
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dmc-bench-validate-") as tmp:
        work = Path(tmp)
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        files = _files(work)
        dmc = Dmc(work, files)
        try:
            for i in range(COLD_RUNS):
                cache = Path(tmp + f"-mypy-{i}")
                usual = _usual(files, work, cache)
                t.add("usual_cold", sum(usual.values()))
                for tool, seconds in usual.items():
                    t.add(f"usual_cold_{tool}", seconds)
                again = _usual(files, work, cache)
                t.add("usual_again", sum(again.values()))
                shutil.rmtree(cache, ignore_errors=True)

                dmc.forget_caches()
                seconds, out = dmc.run("--no-warm")
                t.add("dmc_cold_new_processes", seconds)
                issues.setdefault("cold, new processes", out["issues"])
                info.setdefault("cold_new_processes", out["tools"])

                dmc.forget_caches()
                dmc.stop_workers()
                seconds, out = dmc.run()
                t.add("dmc_cold_starting_checkers", seconds)
                issues.setdefault("cold, starting the checkers", out["issues"])
                info.setdefault("cold_starting_checkers", out["tools"])

                dmc.forget_caches()
                seconds, out = dmc.run()
                t.add("dmc_cold_warm_checkers", seconds)
                issues.setdefault("cold, warm checkers", out["issues"])
                info.setdefault("cold_warm_checkers", out["tools"])
            for _ in range(WARM_RUNS):
                seconds, out = dmc.run()
                t.add("dmc_warm", seconds)
            issues["nothing changed"] = out["issues"]
            info["warm"] = out["tools"]
            for _ in range(WARM_RUNS):
                seconds, out = dmc.run("--no-warm")
                t.add("dmc_warm_no_warm_flag", seconds)

            leaf, shared = _leaf_and_shared(files, work)
            touch_leaf = _toucher(work / leaf)
            mypy_cache = Path(tmp + "-mypy-hook")
            _usual(files, work, mypy_cache)  # the hook's mypy cache exists already
            for _ in range(CHANGED_RUNS):
                touch_leaf()
                seconds, out = dmc.run()
                t.add("dmc_one_changed", seconds)
                info["one_changed"] = out["tools"]
                touch_leaf()
                seconds, out_new = dmc.run("--no-warm")
                t.add("dmc_one_changed_new_processes", seconds)
                info["one_changed_new_processes"] = out_new["tools"]
                issues.setdefault("one changed", out["issues"])
                issues.setdefault("one changed, new processes", out_new["issues"])
                touch_leaf()
                t.add("usual_one_changed", sum(_usual([leaf], work, mypy_cache).values()))
            touch_shared = _toucher(work / shared)
            touch_shared()
            seconds, out = dmc.run()
            t.add("dmc_imported_changed", seconds)
            info["imported_changed"] = out["tools"]
            touch_shared()
            seconds, out_new = dmc.run("--no-warm")
            t.add("dmc_imported_changed_new_processes", seconds)
            info["imported_changed_new_processes"] = out_new["tools"]
            same_imported = out["issues"] == out_new["issues"]
            shutil.rmtree(mypy_cache, ignore_errors=True)
        finally:
            dmc.close()
    s = t.summary()

    def med(name: str) -> float:
        return float(s[name]["median_s"])

    reference = issues["cold, new processes"]
    cold_like = ["cold, starting the checkers", "cold, warm checkers", "nothing changed"]
    result = {
        "command": f"{DMC} validate <{N_FILES} files of {PACKAGE} {version(PACKAGE)}>",
        "files": N_FILES,
        "runs": {"cold": COLD_RUNS, "warm": WARM_RUNS, "changed": CHANGED_RUNS},
        # the figures run.py renders (the default mode; medians)
        "usual_way_s": {tool: med(f"usual_cold_{tool}") for tool in ("pylint", "bandit",
                                                                       "mypy")},
        "usual_way_total_s": med("usual_cold"),
        "dmc_cold_s": med("dmc_cold_starting_checkers"),
        "dmc_warm_median_s": med("dmc_warm"),
        "dmc_warm_runs_s": s["dmc_warm"]["runs_s"],
        "dmc_one_file_changed_s": med("dmc_one_changed"),
        "dmc_imported_module_changed_s": med("dmc_imported_changed"),
        # everything, medians with each run and its load average
        "medians_s": {name: v["median_s"] for name, v in s.items()},
        "timings": s,
        "tools_per_situation": info,
        "one_file_changed": leaf,
        "imported_module_changed": shared,
        "issues": len(reference),
        "same_issues": {name: lst == reference for name, lst in issues.items()
                        if name in cold_like},
        "same_issues_one_changed_warm_vs_new": issues["one changed"] ==
        issues["one changed, new processes"],
        "same_issues_imported_changed_warm_vs_new": same_imported,
        "goals": GOALS,
        "load_average_1m": {"start": load_start, "end": _load()},
        "tools": {tool: version(tool) for tool in ("pylint", "bandit", "mypy")},
    }
    path = write("validate", result)
    update_results_md(result)
    m = result["medians_s"]
    print(f"validate (medians; load {result['load_average_1m']}): cold "
          f"{m['dmc_cold_new_processes']} s new processes / "
          f"{m['dmc_cold_starting_checkers']} s starting the checkers / "
          f"{m['dmc_cold_warm_checkers']} s warm checkers, usual way {m['usual_cold']} s; "
          f"nothing changed {m['dmc_warm']} s, usual way {m['usual_again']} s; one changed "
          f"{m['dmc_one_changed']} s ({m['dmc_one_changed_new_processes']} s new processes), "
          f"usual way {m['usual_one_changed']} s; same issues {result['same_issues']} -> {path}")
    return result


def render(r: dict[str, Any]) -> list[str]:
    """The validate section of bench/RESULTS.md."""
    m = r["machine"]
    t = r["timings"]

    def cell(name: str) -> str:
        loads = t[name]["load_1m"]
        return (f"{t[name]['median_s']} (runs {', '.join(map(str, t[name]['runs_s']))}; "
                f"load {min(loads)}-{max(loads)})")

    g = r["goals"]

    def med(name: str) -> float:
        return float(t[name]["median_s"])

    usual_tools = ", ".join(f"{k} {v}" for k, v in r["usual_way_s"].items())
    return [
        f"## dmc validate ({m['date']}; {m['cores']} cores, {m['cpu']})", "",
        f"`{r['command']}`, tools {r['tools']}; medians in seconds, each run listed with "
        f"the 1-minute load average while it ran (load {r['load_average_1m']['start']} at "
        f"the start, {r['load_average_1m']['end']} at the end: a shared machine).", "",
        "| situation | dmc (default: warm checkers) | dmc --no-warm (new processes) | usual "
        "way: pylint, bandit, mypy one after another | goal |",
        "|---|---|---|---|---|",
        f"| cold: no caches, no checker running | **{cell('dmc_cold_starting_checkers')}** "
        f"| {cell('dmc_cold_new_processes')} | {cell('usual_cold')} ({usual_tools}) | "
        f"{g['cold_s']} |",
        f"| cold caches, checkers already warm (new clone, `rm -rf .dmc`) | "
        f"**{cell('dmc_cold_warm_checkers')}** | | | {g['cold_s']} |",
        f"| nothing changed | **{cell('dmc_warm')}** | {cell('dmc_warm_no_warm_flag')} | "
        f"{cell('usual_again')} (mypy with its cache) | {g['warm_s']} |",
        f"| one file changed ({r['one_file_changed']}) | **{cell('dmc_one_changed')}** | "
        f"{cell('dmc_one_changed_new_processes')} | {cell('usual_one_changed')} (that file "
        f"only, as a hook runs them) | {g['one_changed_s']} |",
        f"| a module most files import changed ({r['imported_module_changed']}) | "
        f"{cell('dmc_imported_changed')} | {cell('dmc_imported_changed_new_processes')} | | |",
        "",
        f"Same {r['issues']} issues from every way dmc ran (cold new processes as the "
        f"reference): {r['same_issues']}; one file changed, warm vs new processes: "
        f"{r['same_issues_one_changed_warm_vs_new']}; imported module changed: "
        f"{r['same_issues_imported_changed_warm_vs_new']}.", "",
        f"Goals met in this run: cold {med('dmc_cold_starting_checkers') <= g['cold_s']} "
        f"(with warm checkers {med('dmc_cold_warm_checkers') <= g['cold_s']}), nothing "
        f"changed {med('dmc_warm') <= g['warm_s']}, one file changed "
        f"{med('dmc_one_changed') <= g['one_changed_s']}.", ""]


def update_results_md(result: dict[str, Any]) -> None:
    """Replace the validate section of bench/RESULTS.md (the other sections stay)."""
    from bench.common import ROOT

    path = ROOT / "bench" / "RESULTS.md"
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## dmc validate")),
                 None)
    if start is None:
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    data = {"machine": json.loads((Path(__file__).parent / "results" /
                                   "validate.json").read_text())["machine"], **result}
    lines[start:end] = render(data)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
