"""``dmc config``: the merged configuration and where each value came from."""

from __future__ import annotations

from pathlib import Path

import typer
from dmc.commands import ui
from dmc.commands.common import PRETTY, REPO, SET, fail, load_config

from dmc.config import BY_KEY, SETTINGS, user_config_path
from dmc.contract import DmcError, dumps

app = typer.Typer(help="Show the merged configuration (defaults < user file < .dmc.yaml < "
                       "DMC_* environment < flags).", no_args_is_help=True)


@app.command("show")
def show(
    pretty: bool = PRETTY,
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Print every setting with its value and source, as JSON on stdout."""
    cfg = load_config("config", repo=repo, sets=sets)
    doc = {
        "values": cfg.nested(),
        "sources": cfg.sources,
        "files": {"user": str(user_config_path()), "project":
                  str(cfg.repo / ".dmc.yaml") if cfg.repo else None, "loaded": cfg.files},
        "repo": str(cfg.repo) if cfg.repo else None,
    }
    typer.get_binary_stream("stdout").write(dumps(doc, pretty=pretty))
    ui.table("dmc config", [(k, repr(cfg.values[k]), cfg.sources[k]) for k in cfg.values],
             ("setting", "value", "source"))


@app.command("get")
def get(
    key: str = typer.Argument(..., help="Dotted setting name, e.g. desktop.url."),
    repo: Path = REPO,
    sets: list[str] = SET,
) -> None:
    """Print one setting's value as JSON."""
    if key not in BY_KEY:
        from dmc.config import suggest

        fail("config", DmcError(f"unknown setting '{key}'{suggest(key)}"))
    cfg = load_config("config", repo=repo, sets=sets)
    typer.get_binary_stream("stdout").write(dumps(cfg.get(key)))


@app.command("list")
def list_settings(pretty: bool = PRETTY) -> None:
    """Every setting dmc knows, with type, default and meaning."""
    rows = [{"key": s.key, "type": s.type, "default": s.default, "help": s.help,
             **({"choices": list(s.choices)} if s.choices else {})} for s in SETTINGS]
    typer.get_binary_stream("stdout").write(dumps({"settings": rows}, pretty=pretty))
