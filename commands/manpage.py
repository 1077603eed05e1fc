"""Man pages generated from the CLI itself, so they cannot drift from it.

``make man`` writes ``man/*.1``; a test regenerates them in memory and compares, so a flag
added without regenerating fails the suite. Examples and the shared sections (exit codes,
environment, files) are written here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main

from dmc import __version__
from dmc.config import SETTINGS

DATE = "2026-11"

EXIT_STATUS = [
    ("0", "success"),
    ("1", "validation found blocking issues"),
    ("2", "usage error or bad input (not JSON, wrong schema, unreadable file, bad config)"),
    ("3", "a needed service or resource is unavailable (agent, Ollama, model, index)"),
    ("4", "remote or model error, or a timeout"),
    ("70", "internal error (a bug in dmc: please report it)"),
    ("130", "interrupted (Ctrl-C or SIGTERM)"),
    ("141", "stdout was closed early by its reader, as for any filter killed by SIGPIPE"),
]

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [
        ("The laptop half of the pipeline, one stage per process:",
         'echo "add JWT authentication to the Express API" | dmc intent | dmc extract --pretty'),
        ("Classify a file of requests, one per line, in one process:",
         "dmc intent --batch < requests.txt > intents.ndjson"),
    ],
    "intent": [
        ("Classify a request given as an argument:", 'dmc intent "handle empty config file"'),
        ("Ask a local Ollama model, falling back to the embedded classifier:",
         'dmc intent --model ollama:qwen2.5-coder "speed up the tokenizer"'),
        ("Ask an OpenAI-compatible server (llama.cpp, vLLM):",
         'dmc intent --model "http://127.0.0.1:8080/v1#qwen" "add OAuth2 login"'),
    ],
    "extract": [
        ("Extract against a repository other than the current one:",
         'dmc extract --repo ~/src/app "add JWT login to models/User.js" --pretty'),
    ],
    "index": [
        ("Build or refresh the index of the current repository:", "dmc index"),
        ("Describe it:", "dmc index --stats --pretty"),
        ("Share one index through a Chroma server:",
         "chroma run --path /srv/chroma --port 8000 &\ndmc index --chroma-url http://127.0.0.1:8000"),
    ],
    "retrieve": [
        ("Find where something happens:", 'echo "where do we parse config?" | dmc retrieve -k 5'),
        ("Compare with plain BM25:", 'dmc retrieve --mode lexical "token refresh"'),
    ],
    "optimize": [
        ("The payload for a request, with a smaller budget:",
         'dmc optimize --max-context-tokens 2000 "add retries to the HTTP client"'),
    ],
    "plan": [
        ("Plan, edit the plan, then generate it step by step:",
         'dmc optimize "add deleteById to models/User.js and a DELETE route to '
         'routes/api.js" | dmc plan > plan.json\n$EDITOR plan.json\ndmc generate < plan.json'),
        ("Plan only when needed (a fixed pipeline):",
         "dmc optimize \"...\" | dmc plan --if-needed | dmc generate"),
    ],
    "generate": [
        ("Plan first, then generate step by step:",
         'dmc generate --local --plan "add a cache to the HTTP client and use it in api.py"'),
        ("Generate on the desktop agent:",
         "dmc optimize \"add a /health route\" | dmc generate --set desktop.url=http://gpu-box:8765"),
        ("Generate here with the embedded model:", 'dmc generate --local "add a slugify helper"'),
    ],
    "validate": [
        ("Check files (what pre-commit passes):", "dmc validate src/app.py src/util.js"),
        ("SARIF for code scanning:", "dmc validate --format sarif src/ > dmc.sarif"),
        ("Generated code from the pipeline, with its tests run in the sandbox:",
         "dmc generate | dmc validate --run-tests --min-coverage 80"),
        ("Raw code on stdin:", "echo 'import os' | dmc validate --language python"),
        ("Custom rules, in quality_rules.yaml at the repository root:",
         "rules:\n  - id: no-print\n    severity: warning\n    forbid_calls: [print]\n"
         "  - id: no-requests\n    forbid_imports: [requests]\n  - id: spdx\n"
         "    require_header: SPDX-License-Identifier\n  - id: short\n    max_lines: 400"),
    ],
    "run": [
        ("Ask for a change; the code goes to stdout:", 'dmc run "add a --verbose flag"'),
        ("Write it into the tree after showing the diff:",
         'dmc run --apply "add a --verbose flag"'),
        ("Build on the previous answer:", 'dmc run --continue "also log to a file"'),
        ("Through a running dmc serve (warm, cached; the same output):",
         'dmc run --service "add a --verbose flag"'),
    ],
    "serve": [
        ("Serve this repository on 127.0.0.1:3000:", "dmc serve"),
        ("Follow a run's events as NDJSON:",
         "curl -sN -H 'content-type: application/json' \\\n"
         "    -d '{\"text\": \"add a --verbose flag\"}' http://127.0.0.1:3000/v1/runs"),
        ("Read a run's events again after a disconnect (after event 5):",
         "curl -sN 'http://127.0.0.1:3000/v1/runs/RUN_ID/events?after=5'"),
    ],
    "doctor": [("Check everything:", "dmc doctor")],
    "agent": [
        ("On the desktop, with a token and TLS:",
         "dmc agent serve --host 0.0.0.0 --token-file ~/.config/dmc/agent.token \\\n"
         "    --tls-cert cert.pem --tls-key key.pem"),
    ],
    "hook": [("Gate commits in this repository:", "dmc hook install")],
    "config": [
        ("Show every setting and where its value came from:", "dmc config show --pretty"),
        ("Override a setting for one command:",
         "dmc intent --set preprocessing.min_confidence=0.7 \"tidy the parser\""),
        ("Set a value through the environment:",
         "DMC_DESKTOP__URL=http://gpu-box:8765 dmc config get desktop.url"),
    ],
}

SEE_ALSO: dict[str, list[str]] = {}


def _esc(text: str) -> str:
    """Escape roff specials: backslashes, leading dots and quotes, hyphens in options."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _option_line(param: Any) -> tuple[str, str]:
    names = ", ".join(f"\\fB{_esc(o)}\\fR" for o in [*param.opts, *param.secondary_opts])
    if param.param_type_name == "argument":
        names = f"\\fI{param.name.upper()}\\fR" + ("..." if param.nargs == -1 else "")
    elif not getattr(param, "is_flag", False):
        meta = param.metavar or param.name.upper()
        names += f" \\fI{_esc(meta)}\\fR"
    help_text = " ".join((param.help or "").split())
    choices = getattr(param.type, "choices", None)
    if choices:  # a fixed set of values: name them, as --help does
        help_text += f" One of: {', '.join(str(c) for c in choices)}."
    return names, _esc(help_text)


def _page(name: str, summary: str, synopsis: str, description: str,
          params: list[Any], extra: list[str]) -> str:
    title = name.upper()
    out = [
        f'.TH {_esc(title)} 1 "{DATE}" "dmc {__version__}" "dmc manual"',
        ".SH NAME",
        f"{_esc(name)} \\- {_esc(summary)}",
        ".SH SYNOPSIS",
        f".B {_esc(synopsis)}",
        ".SH DESCRIPTION",
    ]
    for para in description.split("\n\n"):
        out += [".PP", _esc(" ".join(para.split()))]
    visible = [p for p in params if not getattr(p, "hidden", False) and p.name != "help"]
    if visible:
        out.append(".SH OPTIONS")
        for param in visible:
            names, help_text = _option_line(param)
            out += [".TP", names, help_text or "(no description)"]
    out += extra
    return "\n".join(out) + "\n"


def _common_sections(key: str) -> list[str]:
    out = [".SH EXIT STATUS", "The same for every dmc subcommand:"]
    for code, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", _esc(meaning)]
    examples = EXAMPLES.get(key, [])
    if examples:
        out.append(".SH EXAMPLES")
        for text, cmd in examples:
            out += [".PP", _esc(text), ".PP", ".RS 4", ".nf", _esc(cmd), ".fi", ".RE"]
    see = SEE_ALSO.get(key, ["dmc(1)"])
    if key == "":
        from dmc.commands.main import app

        see = [f"dmc-{name}(1)" for name in typer.main.get_command(app).commands]  # type: ignore[attr-defined]
    out += [".SH SEE ALSO", _esc(", ".join(see))]
    return out


def _top_sections(group: Any) -> list[str]:
    out = [".SH COMMANDS"]
    for name, cmd in group.commands.items():
        first = (cmd.help or "").strip().split("\n")[0]
        out += [".TP", f"\\fBdmc {_esc(name)}\\fR", _esc(first)]
    out += [
        ".SH THE PIPE CONTRACT",
        ".PP",
        _esc("One request document (a JSON object with a 'dmc' schema version) flows through "
             "the stages; each adds its own key (input, intent, extraction, context, payload, "
             "result, validation) and passes every other key through. Input whose first "
             "non-blank character is { or [ is JSON and must parse; anything else is the "
             "request text. NDJSON (one document per line) is streamed line by line. A stage "
             "that fails writes {\"error\": {\"stage\", \"code\", \"message\"}} and a one-line "
             "message on stderr; a stage given an error document passes it through and exits "
             "with its code. stdout carries JSON only; rich output goes to stderr, and only "
             "when it is a terminal."),
        ".SH CONFIGURATION",
        ".PP",
        _esc("YAML, layered: built-in defaults < ~/.config/dmc/config.yaml (or $DMC_CONFIG) < "
             ".dmc.yaml at the repository root < DMC_SECTION__KEY environment variables < "
             "--set KEY=VALUE and flags. Secrets never go in config files."),
    ]
    for s in SETTINGS:
        out += [".TP", f"\\fB{_esc(s.key)}\\fR ({_esc(s.type)}, default {_esc(repr(s.default))})",
                _esc(s.help)]
    out += [
        ".SH ENVIRONMENT",
        ".TP", "\\fBDMC_\\fISECTION\\fB__\\fIKEY\\fR", _esc("Override a setting, e.g. "
                                                           "DMC_DESKTOP__TIMEOUT=60."),
        ".TP", "\\fBDMC_CONFIG\\fR", _esc("Path of the user configuration file."),
        ".TP", "\\fBDMC_AGENT_TOKEN\\fR", _esc("Bearer token for the desktop agent."),
        ".TP", "\\fBDMC_QUIET\\fR", _esc("Set to 1 to silence warnings, notes, tables and "
                                        "progress on stderr (as -q)."),
        ".TP", "\\fBDMC_DEBUG\\fR", _esc("Set to 1 to get a traceback for internal errors "
                                        "(as -v)."),
        ".TP", "\\fBNO_COLOR\\fR", _esc("Any non-empty value turns colour off (as --color "
                                       "never); tables and progress still appear on a "
                                       "terminal."),
        ".TP", "\\fBFORCE_COLOR\\fR", _esc("Any non-empty value turns colour on even when "
                                          "stderr is not a terminal (NO_COLOR and --color "
                                          "win)."),
        ".TP", "\\fBOLLAMA_HOST\\fR", _esc("The Ollama server, read as Ollama's own tools read "
                                          "it (host, host:port or a URL): the default of "
                                          "models.ollama_url."),
        ".SH FILES",
        ".TP", "\\fI.dmc.yaml\\fR", _esc("Project configuration at the repository root."),
        ".TP", "\\fI.dmc/\\fR", _esc("Per-project state (index, style profile)."),
    ]
    return out


def render_all() -> dict[str, str]:
    """Every man page, by file name."""
    from dmc.commands.main import app

    group: Any = typer.main.get_command(app)
    pages: dict[str, str] = {}
    pages["dmc.1"] = _page(
        "dmc", "a local coding assistant as composable Unix commands",
        "dmc [-V] [-q] [-v] [--color WHEN] COMMAND [OPTIONS] [ARGS]...", group.help or "",
        [p for p in group.params if not p.name.endswith("_completion")],
        _top_sections(group) + _common_sections(""))
    for name, cmd in group.commands.items():
        sub = getattr(cmd, "commands", None)
        extra: list[str] = []
        if sub:
            extra.append(".SH SUBCOMMANDS")
            for sname, scmd in sub.items():
                extra += [".TP", f"\\fBdmc {_esc(name)} {_esc(sname)}\\fR",
                          _esc(" ".join((scmd.help or "").split()))]
                for param in scmd.params:
                    if param.name == "help":
                        continue
                    names, help_text = _option_line(param)
                    extra += [".RS", ".TP", names, help_text or "(no description)", ".RE"]
            synopsis = f"dmc {name} SUBCOMMAND [OPTIONS]"
            params: list[Any] = []
        else:
            synopsis = f"dmc {name} [OPTIONS] [TEXT]..."
            params = list(cmd.params)
        summary = (cmd.help or "").strip().split("\n")[0].rstrip(".")
        pages[f"dmc-{name}.1"] = _page(f"dmc-{name}", summary, synopsis, cmd.help or "",
                                       params, extra + _common_sections(name))
    return pages


def write_all(folder: Path) -> list[Path]:
    """Write the pages; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
