"""Configuration to stage options: how each stage's library call is set up from a Config.

The stage commands, the pipeline (``dmc run``) and the laptop service all configure the
stages here, so a stage behaves the same whichever of them runs it; before, ``dmc run``
reached into the other commands' private helpers for this. Nothing here prints: what a
person should hear comes back as notes (a list the caller passes in), and each caller
decides where it goes (stderr for the CLI, an event for the service).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dmc.config import Config
from dmc.contract import DmcError, Document, Exit

#: configuration keys copied into the payload's ``generation`` object (the agent honours them)
GENERATION_KEYS = {"max_iterations": "validation.max_iterations",
                   "samples": "generation.samples",
                   "refine_samples": "generation.refine_samples",
                   "sample_temperature": "generation.sample_temperature",
                   "time_budget_s": "generation.time_budget_s",
                   "generated_tests": "generation.generated_tests"}


# --- index ---------------------------------------------------------------------------------

def index_settings(cfg: Config, root: Path, chroma_url: str | None = None) -> Any:
    """Index settings (``dmc.rag.index.IndexSettings``) from configuration."""
    from dmc.rag.index import IndexSettings

    folder = Path(cfg.get("rag.index_dir"))
    return IndexSettings(root=root, index_dir=folder if folder.is_absolute() else root / folder,
                         chroma_url=chroma_url or cfg.get("rag.chroma_url"),
                         max_file_bytes=cfg.get("rag.max_file_bytes"),
                         chunk_max_lines=cfg.get("rag.chunk_max_lines"))


def open_index(cfg: Config, *, refresh: bool, allow_stale: bool,
               notes: list[tuple[str, str]]) -> tuple[Any, Any, Any]:
    """(settings, manifest, chroma or None): the index checked for staleness, refreshed
    when asked. ``notes`` gets ("note"|"warning", message) pairs for what a person should
    know (a refresh, a stale index used as it is)."""
    from dmc.rag.index import build, stale
    from dmc.rag.store import ChromaStore, Manifest

    if cfg.repo is None:
        raise DmcError("not inside a git repository", Exit.UNAVAILABLE,
                       hint="run inside the repository or pass --repo")
    settings = index_settings(cfg, cfg.repo)
    if not settings.manifest_path.is_file():
        if not refresh:
            raise DmcError(f"no index for {cfg.repo}", Exit.UNAVAILABLE,
                           hint="build it with `dmc index`, or pass --refresh")
        notes.append(("note", "no index yet: building it"))
        build(settings)
    else:
        drift = stale(settings)
        if any(drift.values()):
            what = ", ".join(f"{n} {k}" for k, n in drift.items() if n)
            if refresh:
                notes.append(("note", f"index is stale ({what}): refreshing"))
                build(settings)
            elif allow_stale:
                notes.append(("warning", f"index is stale ({what}); using it as it is"))
            else:
                raise DmcError(f"the index is stale ({what})", Exit.UNAVAILABLE,
                               hint="refresh it with `dmc index` or --refresh, or pass "
                                    "--allow-stale")
    manifest = Manifest(settings.manifest_path, create=False)
    chroma = ChromaStore(settings.chroma_dir, settings.chroma_url) \
        if settings.chroma_url else None
    return settings, manifest, chroma


# --- style ---------------------------------------------------------------------------------

def user_style_path() -> Path:
    """The optional per-user style profile (the same place ``dmc style --user`` writes)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dmc" / "style.db"


def project_style_path(repo: Path | None) -> Path | None:
    """The project's style profile, under ``.dmc/``."""
    return repo / ".dmc" / "style.db" if repo is not None else None


def style_profile(repo: Path | None) -> dict[str, Any] | None:
    """The merged profile (project over user), or None when neither exists."""
    from dmc.style.profile import StyleDB, merge

    found: list[dict[str, Any] | None] = []
    for path in (project_style_path(repo), user_style_path()):
        if path is not None and path.is_file():
            db = StyleDB(path)
            found.append(db.profile())
            db.close()
        else:
            found.append(None)
    project, user = found
    if project is None and user is None:
        return None
    return merge(project or {"languages": {}, "files": {}}, user)


# --- optimize ------------------------------------------------------------------------------

def optimize_options(cfg: Config, notes: list[str] | None = None,
                     profile: Any = "load") -> Any:
    """Optimize options from configuration; the budget also respects the model's window.

    ``profile``: the style profile to use ("load" reads it now; the service passes the one
    it keeps warm). A profile that cannot be read is a note, not a failure.
    """
    from dmc.optimize import Options
    from dmc.style.profile import preferences

    window = cfg.get("generation.context_window") - cfg.get("generation.max_tokens") - 512
    if isinstance(profile, str):
        try:
            profile = style_profile(cfg.repo)
        except DmcError as exc:
            if notes is not None:
                notes.append(f"style profile not used: {exc.message}")
            profile = None
    return Options(
        style=preferences(profile) if profile else {},
        max_context_tokens=max(256, min(cfg.get("optimize.max_context_tokens"), window)),
        min_test_coverage=cfg.get("optimize.min_test_coverage"),
        max_complexity=cfg.get("validation.max_complexity"),
        security_scan=cfg.get("validation.enable_security_scan"),
        type_check=cfg.get("validation.enable_type_checking"),
        max_tokens=cfg.get("generation.max_tokens"),
        temperature=cfg.get("generation.temperature"), top_p=cfg.get("generation.top_p"),
        max_iterations=cfg.get("validation.max_iterations"), repo=cfg.repo,
    )


def prerequisites(doc: Document, cfg: Config) -> tuple[Document, list[str]]:
    """Intent and extraction, computed when the pipeline skipped them; returns the
    document and which of the two were computed (a stage says so on stderr)."""
    computed: list[str] = []
    if "intent" not in doc:
        from dmc.intent import analyze

        computed.append("intent")
        doc, _ = analyze(doc, min_confidence=cfg.get("preprocessing.min_confidence"))
    if "extraction" not in doc:
        from dmc.extract import analyze as extract

        computed.append("extraction")
        doc, _ = extract(doc, repo=cfg.repo)
    return doc, computed


def token_counter(cfg: Config) -> tuple[Any, str]:
    """(count, name): the token counter optimize packs with (the generation model's own)."""
    from dmc.tokens import model_counter

    count, name = model_counter(cfg.get("models.generation"),
                                cfg.get("optimize.token_counter"))
    return count, name


# --- generate ------------------------------------------------------------------------------

def with_generation_settings(payload: dict[str, Any], cfg: Config) -> dict[str, Any]:
    """The payload with this machine's generation settings filled in (flags win)."""
    out = dict(payload)
    gen = dict(out.get("generation") or {})
    for key, setting in GENERATION_KEYS.items():
        if key == "max_iterations" or cfg.sources.get(setting, "default") != "default" \
                or key not in gen:
            gen[key] = cfg.get(setting)
    out["generation"] = gen
    return out


def named(cfg: Config, key: str) -> bool:
    """Whether the user named this value for this run (a flag, ``--set`` or a ``DMC_*``
    variable), as opposed to a default or a configuration file. A named model or server is
    never swapped for another one behind the user's back."""
    source = cfg.sources.get(key, "default")
    return source == "flag" or source.startswith("env DMC_")


def generation_backend(cfg: Config, notes: list[str]) -> Any:
    """The generation backend configured in ``cfg``; ``notes`` says which one it is."""
    from dmc.generate.backends import make_backend

    kind = cfg.get("generation.backend")
    server = cfg.get("generation.server")
    if server is None and kind == "ollama":  # the Ollama address, as Ollama's tools find it
        server = f"ollama:{cfg.get('models.ollama_url')}"
    return make_backend(kind=kind, server=server,
                        model=cfg.get("models.generation"),
                        timeout=cfg.get("generation.timeout"),
                        connect_timeout=cfg.get("desktop.connect_timeout"),
                        context_window=cfg.get("generation.context_window"), notes=notes,
                        repeat_penalty=cfg.get("generation.repeat_penalty"),
                        frequency_penalty=cfg.get("generation.frequency_penalty"),
                        model_named=named(cfg, "models.generation"),
                        server_named=named(cfg, "generation.server"))


def agent_client(cfg: Config, **overrides: Any) -> Any:
    """A client for the agents in ``desktop.url``, configured from ``cfg``."""
    from dmc.remote.client import AgentClient, ClientSettings, read_token

    settings = ClientSettings(
        urls=cfg.get("desktop.url") or [], token=read_token(cfg.get("desktop.token_file")),
        timeout=cfg.get("desktop.timeout"), connect_timeout=cfg.get("desktop.connect_timeout"),
        retry_attempts=cfg.get("desktop.retry_attempts"), ca_file=cfg.get("desktop.ca_file"),
        client_cert=cfg.get("desktop.client_cert"), client_key=cfg.get("desktop.client_key"))
    for key, value in overrides.items():
        setattr(settings, key, value)
    return AgentClient(settings)


def describe_generation_event(event: dict[str, Any]) -> list[str]:
    """The lines a person is shown for one of generate's progress events (none for most):
    one per refinement pass with its checks, the first failures, a wait, a stop, and the
    start and end of each step of a plan."""
    kind = event.get("event")
    if kind == "step":
        return [f"step {event['step']}/{event['of']}: {str(event['title'])[:70]} "
                f"[{', '.join(event['files'])}]"]
    if kind == "step_done":
        return [f"step {event['step']}: {event['status']}"
                + (f" ({event['reason']})" if event.get("reason") else "")]
    if kind == "iteration":
        checks = event.get("checks") or {}
        shown = (f"{checks.get('passed', 0)}/{checks.get('run', 0)} checks, "
                 if checks.get("run") else "")
        cut = (f", stopped: {event['finish_reason']}"
               if event.get("finish_reason") in ("length", "repetition") else "")
        lines = [f"pass {event['iteration']}: {shown}{event['errors']} error(s), "
                 f"{event['warnings']} warning(s), {event['tokens']} tokens in "
                 f"{event['seconds']} s ({event['tokens_per_second']} tok/s){cut}"]
        for failure in (event.get("failures") or [])[:3]:
            lines.append(f"  failed: {failure['check_text'][:80]} — "
                         f"{failure['message'][:120]}")
        return lines
    if kind == "queued" and (event.get("queue") or {}).get("running"):
        return ["waiting for the agent (another generation is running)"]
    if kind == "stopped":
        return [f"stopped: {event.get('reason')}"]
    return []


# --- validate ------------------------------------------------------------------------------

def validate_settings(cfg: Config, rules: Path | None = None, no_cache: bool = False,
                      run_tests: bool = False, min_coverage: float | None = None,
                      profile: Any = "load") -> Any:
    """Validate settings (``dmc.validate.Settings``) from configuration and flags."""
    from dmc.validate import Settings, default_cache_path
    from dmc.validate.rules import find_rules_file, load_rules

    rules_file = rules or find_rules_file(cfg.repo)
    if rules is not None and not rules.is_file():
        raise DmcError(f"rules file {rules} does not exist")
    loaded, digest = load_rules(rules_file) if rules_file else ([], "")
    if isinstance(profile, str):
        try:
            profile = style_profile(cfg.repo)
        except DmcError:
            profile = None
    return Settings(
        style_profile=profile,
        fail_on=cfg.get("validation.fail_on"),
        max_complexity=cfg.get("validation.max_complexity"),
        enable_linting=cfg.get("validation.enable_linting"),
        enable_security_scan=cfg.get("validation.enable_security_scan"),
        enable_type_checking=cfg.get("validation.enable_type_checking"),
        rules=loaded, rules_digest=digest,
        cache_path=None if no_cache else default_cache_path(cfg.repo),
        cwd=cfg.repo or Path.cwd(), repo=cfg.repo, run_tests=run_tests,
        min_test_coverage=min_coverage, timeout=cfg.get("validation.tool_timeout"),
        test_timeout=cfg.get("validation.test_timeout"),
    )


def validate_sources(doc: Document, base: Any, language: str | None) -> tuple[list[Any], Any]:
    """Sources from result.files / result.code, or raw code given as plain stdin text; the
    settings adjusted by the payload's quality criteria."""
    from dataclasses import replace

    from dmc.languages import EXTENSIONS, detect, normalise
    from dmc.validate import Source

    settings = base
    criteria = doc.get("payload", {}).get("quality_criteria", {})
    if isinstance(criteria, dict):
        changes: dict[str, Any] = {}
        if isinstance(criteria.get("max_complexity"), int):
            changes["max_complexity"] = criteria["max_complexity"]
        if settings.min_test_coverage is None and isinstance(
                criteria.get("min_test_coverage"), (int, float)):
            changes["min_test_coverage"] = float(criteria["min_test_coverage"])
        settings = replace(settings, **changes)
    result = doc.get("result")
    lang = normalise(language) if language else None
    if isinstance(result, dict):
        files = result.get("files")
        if isinstance(files, list) and files:
            sources = []
            for f in files:
                if not isinstance(f, dict) or not isinstance(f.get("path"), str) or \
                        not isinstance(f.get("code"), str):
                    raise DmcError("result.files entries need string 'path' and 'code'")
                sources.append(Source(f["path"], text=f["code"],
                                      language=f.get("language") or lang))
            return sources, settings
        code = result.get("code")
        if not isinstance(code, str):
            raise DmcError("result has no code to validate (result.code or result.files)")
        lang = lang or result.get("language") or _doc_language(doc)
        if lang is None:
            raise DmcError("cannot tell the language of result.code", hint="pass --language")
        return [Source(_name_for(lang, EXTENSIONS), text=code, language=lang)], settings
    if set(doc) <= {"dmc", "input"} and set(doc.get("input", {})) <= {"text", "repo"}:
        code = doc.get("input", {}).get("text", "")
        lang = lang or detect("stdin", code)
        if lang is None:
            raise DmcError("raw code on stdin needs --language (or a shebang line)")
        return [Source(_name_for(lang, EXTENSIONS), text=code, language=lang)], settings
    raise DmcError("document has no result to validate", hint="run dmc generate first, or "
                   "pass file paths")


def _doc_language(doc: Document) -> str | None:
    from dmc.languages import GRAMMARS, normalise

    for lang in doc.get("extraction", {}).get("languages", []) or []:
        if normalise(lang) in GRAMMARS:
            return normalise(lang)
    return None


def _name_for(language: str, extensions: dict[str, str]) -> str:
    ext = next((e for e, lang in extensions.items() if lang == language), ".txt")
    return f"generated{ext}"
