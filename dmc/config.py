"""Layered configuration: defaults < user file < project file < DMC_* environment < flags.

Every setting is declared once in :data:`SETTINGS` with its type, default and meaning; that
table drives validation, the environment mapping, ``dmc config show`` and the man page.
Values keep a record of where they came from so users can see why a value is what it is.
Secrets never live here: the agent token comes from a file or ``DMC_AGENT_TOKEN``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmc.contract import DmcError
from dmc.repo import find_root

PROJECT_FILE = ".dmc.yaml"
ENV_PREFIX = "DMC_"


@dataclass(frozen=True)
class Setting:
    """One configuration key: its type decides parsing and validation."""

    key: str
    type: str  # "str", "int", "float", "bool", "str?"/"urls?" (or null), "urls" (one or a list)
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


SETTINGS: tuple[Setting, ...] = (
    # models: which model each stage uses
    Setting("models.intent", "str", "local",
            "intent/extract backend: 'local' (embedded classifier), 'ollama:NAME', or an "
            "OpenAI-compatible base URL with '#MODEL' (http://host:8080/v1#qwen)"),
    Setting("models.generation", "str", "qwen2.5-coder-0.5b",
            "generation model: a name the backend knows, or a GGUF path for llamacpp"),
    Setting("models.planning", "str", "auto",
            "planning model (dmc plan, generate --plan): auto = codellama:7b-instruct on an "
            "Ollama generation server, else the packaged qwen2.5-coder-1.5b in-process; or "
            "ollama:NAME, http://HOST:PORT/v1#MODEL, a packaged name or a GGUF path"),
    Setting("models.timeout", "float", 20.0, "seconds to wait for an intent/extract LLM answer",
            minimum=0.1),
    Setting("models.ollama_url", "str", "http://127.0.0.1:11434",
            "Ollama server address (for --model ollama:NAME and generation.backend ollama "
            "without generation.server); the default comes from OLLAMA_HOST when it is set"),
    # rag: the repository index
    Setting("rag.index_dir", "str", ".dmc", "index folder, relative to the repo root"),
    Setting("rag.chroma_url", "str?", None,
            "Chroma server URL (server mode, a shared index); null = the local SQLite "
            "manifest only"),
    Setting("rag.top_k", "int", 8, "chunks retrieved per request", minimum=1, maximum=200),
    Setting("rag.similarity_threshold", "float", 0.2, "minimum dense similarity kept",
            minimum=-1.0, maximum=1.0),
    Setting("rag.chunk_max_lines", "int", 80, "longest chunk before a body is split",
            minimum=5),
    Setting("rag.max_file_bytes", "int", 1_000_000, "larger files are not indexed", minimum=1),
    # desktop: where generate/validate --remote send work
    Setting("desktop.url", "urls?", None,
            "agent URL, or a list of agents (the least busy healthy one is used); null: "
            "generate runs in-process on this machine"),
    Setting("desktop.timeout", "float", 300.0, "seconds for a whole remote request", minimum=1),
    Setting("desktop.connect_timeout", "float", 5.0, "seconds to connect to an agent",
            minimum=0.1),
    Setting("desktop.retry_attempts", "int", 3, "retries for connection failures and busy",
            minimum=0, maximum=20),
    Setting("desktop.token_file", "str?", None,
            "file holding the agent bearer token (or set DMC_AGENT_TOKEN)"),
    Setting("desktop.ca_file", "str?", None, "CA bundle to verify the agent's TLS certificate"),
    Setting("desktop.client_cert", "str?", None, "client certificate (PEM) for mutual TLS"),
    Setting("desktop.client_key", "str?", None, "client certificate key (PEM) for mutual TLS"),
    # preprocessing: intent / extract
    Setting("preprocessing.min_confidence", "float", 0.5,
            "intent confidence below this is flagged as low", minimum=0.0, maximum=1.0),
    Setting("preprocessing.cache_ttl", "int", 3600,
            "seconds dmc serve keeps a request's prepared context (intent to payload); "
            "a changed index, style profile or setting is a different entry", minimum=0),
    # optimize
    Setting("optimize.max_context_tokens", "int", 6000, "token budget for the payload context "
            "(also capped by generation.context_window - generation.max_tokens - 512)",
            minimum=256),
    Setting("optimize.token_counter", "str", "auto",
            "auto: the generation model's tokenizer when it loads, else the byte bound; "
            "model: require the tokenizer; bytes: the bound only (fastest)",
            choices=("auto", "model", "bytes")),
    Setting("optimize.min_test_coverage", "float", 80.0,
            "coverage asked of generated tests for changes (testing tasks ask 90)",
            minimum=0, maximum=100),
    # generation
    Setting("generation.backend", "str", "auto", "model backend: auto uses generation.server "
            "when it answers, else the embedded model",
            choices=("auto", "ollama", "openai", "llamacpp")),
    Setting("generation.server", "str?", None, "model server: ollama:http://HOST:11434 or "
            "openai:http://HOST:PORT/v1 (vLLM, llama.cpp server, LM Studio)"),
    Setting("generation.timeout", "float", 600.0, "seconds one model answer may take",
            minimum=1),
    Setting("generation.max_tokens", "int", 2048, "most tokens generated per pass", minimum=1),
    Setting("generation.context_window", "int", 8192, "model context (llama.cpp n_ctx, Ollama "
            "num_ctx upper bound)", minimum=512),
    Setting("generation.temperature", "float", 0.2,
            "temperature of each pass's first answer (on MBPP's dev split 0.2 and greedy "
            "were within one task of 60; greedy is not bit-for-bit repeatable either)",
            minimum=0.0, maximum=2.0),
    Setting("generation.top_p", "float", 0.95, "nucleus sampling", minimum=0.0, maximum=1.0),
    Setting("generation.repeat_penalty", "float", 1.0,
            "llama.cpp and Ollama repeat_penalty (1.0 = off; loops are stopped by the stream "
            "guard either way)", minimum=0.5, maximum=2.0),
    Setting("generation.frequency_penalty", "float", 0.0,
            "OpenAI-compatible servers' frequency_penalty", minimum=-2.0, maximum=2.0),
    Setting("generation.samples", "int", 4,
            "answers drawn for the first pass (the extra ones at "
            "generation.sample_temperature); the one passing most checks is kept",
            minimum=1, maximum=8),
    Setting("generation.refine_samples", "int", 1,
            "answers each refinement pass may draw while a stated check still fails (at "
            "generation.sample_temperature after the first)", minimum=1, maximum=8),
    Setting("generation.sample_temperature", "float", 0.7,
            "temperature of the extra samples", minimum=0.0, maximum=2.0),
    Setting("generation.generated_tests", "bool", True,
            "with no stated example or test, the model writes asserts for the request after "
            "its first answer (they rank answers and point at failures; never overrule a "
            "stated example)"),
    Setting("generation.plan", "str", "auto",
            "plan before generating (dmc plan): auto when the prompt does not fit "
            "generation.context_window, the task is complex or several files change; "
            "always; never (a plan already in the document is always followed)",
            choices=("auto", "always", "never")),
    Setting("generation.time_budget_s", "float", 90.0,
            "seconds the generate stage may spend in all; refinement stops when they are "
            "spent and the best answer so far is returned", minimum=1),
    # validation
    Setting("validation.max_iterations", "int", 3, "refinement passes at most", minimum=1,
            maximum=10),
    Setting("validation.enable_linting", "bool", True, "run pylint/ESLint"),
    Setting("validation.enable_security_scan", "bool", True, "run bandit"),
    Setting("validation.enable_type_checking", "bool", True, "run mypy"),
    Setting("validation.fail_on", "str", "error", "lowest severity that fails validate",
            choices=("error", "warning", "info")),
    Setting("validation.max_complexity", "int", 10,
            "McCabe complexity above which pylint warns (a payload's quality_criteria wins)",
            minimum=1),
    Setting("validation.tool_timeout", "float", 120.0, "seconds one linter run may take",
            minimum=1),
    Setting("validation.test_timeout", "float", 60.0,
            "seconds --run-tests may take before the sandbox is killed", minimum=1),
    # server: the desktop agent
    Setting("server.host", "str", "127.0.0.1", "agent bind address"),
    Setting("server.port", "int", 8765, "agent port", minimum=1, maximum=65535),
    Setting("server.token_file", "str?", None, "file holding the bearer token the agent accepts"),
    Setting("server.max_concurrency", "int", 1, "generations run at once", minimum=1),
    Setting("server.queue_size", "int", 8, "requests waiting before 'busy'", minimum=0),
    Setting("server.max_request_bytes", "int", 5 * 1024 * 1024, "largest request body",
            minimum=1024),
    Setting("server.tls_cert", "str?", None, "TLS certificate (PEM)"),
    Setting("server.tls_key", "str?", None, "TLS private key (PEM)"),
    Setting("server.client_ca", "str?", None, "CA for client certificates (mutual TLS)"),
    # serve: the laptop service
    Setting("serve.host", "str", "127.0.0.1", "dmc serve bind address (anything but "
            "loopback needs serve.token_file)"),
    Setting("serve.port", "int", 3000, "dmc serve port", minimum=1, maximum=65535),
    Setting("serve.token_file", "str?", None,
            "file holding the bearer token dmc serve accepts (or set DMC_SERVE_TOKEN)"),
    Setting("serve.max_request_bytes", "int", 1024 * 1024, "largest request body dmc serve "
            "reads", minimum=1024),
    Setting("serve.allowed_origins", "urls?", None,
            "web origins besides the service's own allowed to call dmc serve from a browser "
            "(e.g. a UI dev server: http://localhost:5173)"),
    Setting("serve.draft_min_chars", "int", 15,
            "draft text shorter than this is not preprocessed yet", minimum=1),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
_SECRET_NAME = re.compile(r"(^|_)(token|password|passwd|secret|api_?key|private_key)$")


@dataclass
class Config:
    """Merged settings with the source of each value."""

    values: dict[str, Any]
    sources: dict[str, str]
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repo: Path | None = None

    def get(self, key: str) -> Any:
        """A value by dotted key; unknown keys are a programming error."""
        return self.values[key]

    def nested(self) -> dict[str, Any]:
        """The values as sections, the way the YAML files spell them."""
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            section, name = key.split(".", 1)
            out.setdefault(section, {})[name] = value
        return out


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$DMC_CONFIG``, else ``$XDG_CONFIG_HOME/dmc/config.yaml``, else ``~/.config/...``."""
    env = os.environ if env is None else env
    if env.get("DMC_CONFIG"):
        return Path(env["DMC_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dmc" / "config.yaml"


def load(
    *,
    repo: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Merge every layer. Bad files or values raise :class:`DmcError` (exit 2)."""
    env = os.environ if env is None else env
    root = Path(repo).resolve() if repo else find_root(cwd or Path.cwd())
    values = {s.key: s.default for s in SETTINGS}
    sources = {s.key: "default" for s in SETTINGS}
    cfg = Config(values, sources, repo=root)
    if env.get("OLLAMA_HOST", "").strip():  # Ollama's own variable sets the default
        _apply(cfg, "models.ollama_url", ollama_host_url(env["OLLAMA_HOST"]), "env OLLAMA_HOST")
    user = user_config_path(env)
    layers = [(user, "user")]
    if root is not None:
        layers.append((root / PROJECT_FILE, "project"))
    for path, label in layers:
        if path.is_file():
            cfg.files.append(str(path))
            for key, raw in _flatten(_read_yaml(path), str(path), cfg.warnings).items():
                _apply(cfg, key, raw, f"{label} {path}")
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        key = name[len(ENV_PREFIX):].lower().replace("__", ".", 1)
        if key not in BY_KEY:
            cfg.warnings.append(f"environment {name}: unknown setting '{key}'{suggest(key)}")
            continue
        _apply(cfg, key, _parse_scalar(env[name]), f"env {name}")
    for key, raw in (overrides or {}).items():
        if raw is None:
            continue
        if key not in BY_KEY:
            raise DmcError(f"unknown setting '{key}'{suggest(key)}")
        _apply(cfg, key, raw, "flag")
    return cfg


def ollama_host_url(value: str) -> str:
    """The URL a client connects to for an ``OLLAMA_HOST`` value, read as Ollama reads it.

    ``host``, ``host:port``, ``:port``, ``http(s)://host[:port][/path]`` and ``[::1]:port``
    all occur in the wild; like Ollama, a missing host is 127.0.0.1, a missing port is 11434
    (80 or 443 when the scheme is given), and a bind-all address (``0.0.0.0``, ``::``), which
    is how the server is usually told to listen everywhere, is reached through loopback.
    """
    from urllib.parse import urlsplit

    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest, port_default = "http", text, 11434
    else:
        scheme = scheme.lower()
        port_default = 443 if scheme == "https" else 80
    hostport, _, path = rest.partition("/")
    try:
        parts = urlsplit(f"//{hostport}")
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a port that is not a number: Ollama falls back to its default
        return "http://127.0.0.1:11434"
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a client address, not a bind
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"{scheme}://{host}:{port if port is not None else port_default}"
    return url + (f"/{path.rstrip('/')}" if path.strip("/") else "")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` from ``--set``; the value is read as a YAML scalar."""
    if "=" not in text:
        raise DmcError(f"--set expects KEY=VALUE, got '{text}'")
    key, _, value = text.partition("=")
    key = key.strip()
    if key not in BY_KEY:
        raise DmcError(f"unknown setting '{key}'{suggest(key)}")
    return key, _parse_scalar(value)


def _read_yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open("rb") as fh:
            data = fh.read(1_000_001)
        if len(data) > 1_000_000:
            raise DmcError(f"config error: {path}: larger than 1 MB")
        return yaml.load(data, Loader=loader) or {}  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DmcError(f"config error: {path}:{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DmcError(f"config error: cannot read {path}: {exc}") from None


def _flatten(data: Any, where: str, warnings: list[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DmcError(f"config error: {where}: expected a mapping of sections")
    out: dict[str, Any] = {}
    for section, body in data.items():
        if not isinstance(body, dict):
            raise DmcError(f"config error: {where}: section '{section}' must be a mapping")
        for name, value in body.items():
            key = f"{section}.{name}"
            if _SECRET_NAME.search(str(name).lower()):
                raise DmcError(
                    f"config error: {where}: '{key}' looks like a secret; config files "
                    "must not hold secrets",
                    hint="put it in a file and set the matching *_file key, or use "
                         "DMC_AGENT_TOKEN",
                )
            if key not in BY_KEY:
                warnings.append(f"{where}: unknown setting '{key}'{suggest(key)} (ignored)")
                continue
            out[key] = value
    return out


def _apply(cfg: Config, key: str, raw: Any, source: str) -> None:
    cfg.values[key] = coerce(BY_KEY[key], raw, source)
    cfg.sources[key] = source


def coerce(setting: Setting, raw: Any, source: str = "value") -> Any:
    """Check and convert one value to its setting's type."""
    def bad(expected: str) -> DmcError:
        return DmcError(f"config error: {source}: {setting.key} must be {expected}, "
                        f"got {raw!r:.60}")

    kind = setting.type
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        raise bad("true or false")
    if kind in ("int", "float"):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise bad("a number")
        if kind == "int" and not float(raw).is_integer():
            raise bad("a whole number")
        value: Any = int(raw) if kind == "int" else float(raw)
        if setting.minimum is not None and value < setting.minimum:
            raise bad(f">= {setting.minimum:g}")
        if setting.maximum is not None and value > setting.maximum:
            raise bad(f"<= {setting.maximum:g}")
        return value
    if kind == "urls?" and raw is None:
        return None
    if kind in ("urls", "urls?"):
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items or \
                not all(isinstance(u, str) and u.startswith(("http://", "https://"))
                        for u in items):
            raise bad("an http(s) URL or a list of them")
        return list(items)
    if raw is None and kind == "str?":
        return None
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise bad("a string")
    text = str(raw)
    if setting.choices and text not in setting.choices:
        raise bad("one of " + ", ".join(setting.choices))
    return text


def _parse_scalar(text: str) -> Any:
    """Environment and --set values are YAML scalars: 0.5, true, null, [a, b]."""
    stripped = text.strip()
    if not stripped:
        return ""
    if stripped[0] in "[{" or stripped in ("true", "false", "null", "~") or \
            _looks_numeric(stripped):
        import yaml

        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError:
            return text
    return text


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def suggest(key: str) -> str:
    close = difflib.get_close_matches(key, list(BY_KEY), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""

