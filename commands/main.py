"""The ``dmc`` entry point: registers the subcommands.

Subcommand modules import only typer and the light contract modules at load time; each
imports its stage's code when it runs, so ``dmc intent`` never pays for another stage.
"""

from __future__ import annotations

import typer
from dmc.commands import (
    agent,
    doctor,
    extract,
    generate,
    hook,
    index,
    intent,
    optimize,
    retrieve,
    style,
    validate,
)
from dmc.commands import config as config_cmd
from dmc.commands import run as run_cmd
from dmc.commands.pipe import install_signal_handlers

from dmc import __version__

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 validation found blocking issues, 2 usage or bad input, "
    "3 a needed service or resource is unavailable, 4 remote or model error or timeout, "
    "70 internal error (a bug), 130 interrupted, 141 stdout closed early."
)

app = typer.Typer(
    name="dmc",
    help="A local coding assistant as composable Unix commands. Each stage reads a JSON "
         "document (or plain request text) on stdin and writes JSON on stdout.\n\n"
         + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.command("run")(run_cmd.main)
app.command("intent")(intent.main)
app.command("extract")(extract.main)
app.command("retrieve")(retrieve.main)
app.command("optimize")(optimize.main)
app.command("index")(index.main)
app.command("generate")(generate.main)
app.command("validate")(validate.main)
app.add_typer(hook.app, name="hook")
app.add_typer(agent.app, name="agent")
app.command("doctor")(doctor.main)
app.add_typer(style.app, name="style")
app.add_typer(config_cmd.app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dmc {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """dmc: plain-language coding requests to validated code, one pipe stage at a time."""


def run() -> None:
    """Console-script entry point.

    Stage commands turn failures into error documents themselves; this is the last guard
    for the supporting commands: a bug is one line and exit 70, never a traceback (unless
    DMC_DEBUG asks for it).
    """
    import os
    import sys

    install_signal_handlers()
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("dmc: interrupted\n")
        raise SystemExit(130) from None
    except Exception as exc:
        if os.environ.get("DMC_DEBUG"):
            raise
        name = sys.argv[1] if len(sys.argv) > 1 else "dmc"
        sys.stderr.write(f"dmc {name}: internal error: {type(exc).__name__}: {exc} (set "
                         "DMC_DEBUG=1 for a traceback and please report it)\n")
        raise SystemExit(70) from None


if __name__ == "__main__":
    run()
