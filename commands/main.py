"""The ``dmc`` entry point: registers the subcommands.

Subcommand modules import only typer and the light contract modules at load time; each
imports its stage's code when it runs, so ``dmc intent`` never pays for another stage.
"""

from __future__ import annotations

from typing import Literal

import typer
import typer._click as typer_click
from dmc.commands import (
    agent,
    doctor,
    extract,
    generate,
    hook,
    index,
    intent,
    optimize,
    plan,
    retrieve,
    style,
    ui,
    validate,
)
from dmc.commands import config as config_cmd
from dmc.commands import run as run_cmd
from dmc.commands import serve as serve_cmd
from dmc.commands.pipe import install_signal_handlers

from dmc import __version__

# typer 0.28 vendors click; its exceptions are the ones raised (typer is pinned ~=0.28.0)
click_exceptions = typer_click.exceptions

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
    # -h as well as --help, on every subcommand (click passes this down to sub-contexts)
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("run")(run_cmd.main)
app.command("intent")(intent.main)
app.command("extract")(extract.main)
app.command("retrieve")(retrieve.main)
app.command("optimize")(optimize.main)
app.command("plan")(plan.main)
app.command("index")(index.main)
app.command("generate")(generate.main)
app.command("validate")(validate.main)
app.add_typer(hook.app, name="hook")
app.add_typer(agent.app, name="agent")
app.command("doctor")(doctor.main)
app.command("serve")(serve_cmd.main)
app.add_typer(style.app, name="style")
app.add_typer(config_cmd.app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dmc {__version__}")
        raise typer.Exit(0)


ColorMode = Literal["auto", "always", "never"]


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Errors only on stderr: no notes, warnings, tables or "
                                    "progress (the same as DMC_QUIET=1)."),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="A traceback for internal errors (the same as "
                                      "DMC_DEBUG=1)."),
    color: ColorMode = typer.Option("auto", "--color", metavar="WHEN",
                              help="Colour on stderr: auto (on a terminal, unless NO_COLOR is "
                                   "set; FORCE_COLOR forces it), always or never. Tables and "
                                   "progress depend on the terminal only."),
) -> None:
    """dmc: plain-language coding requests to validated code, one pipe stage at a time."""
    import os

    # The flags set the environment variables they stand for, so the stage code (and any
    # dmc a hook starts from here) has one thing to read.
    if quiet:
        os.environ["DMC_QUIET"] = "1"
    if verbose:
        os.environ["DMC_DEBUG"] = "1"
    ui.set_color(color)


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
        code = app(standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:  # `dmc`, `dmc agent`: the help
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click_exceptions.UsageError as exc:
        raise SystemExit(_usage_error(exc)) from None
    except click_exceptions.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("dmc: interrupted\n")
        raise SystemExit(130) from None
    except Exception as exc:
        if os.environ.get("DMC_DEBUG"):
            raise
        name = sys.argv[1] if len(sys.argv) > 1 else "dmc"
        sys.stderr.write(f"dmc {name}: internal error: {type(exc).__name__}: {exc} (set "
                         "DMC_DEBUG=1 for a traceback and please report it)\n")
        raise SystemExit(70) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _usage_error(exc: click_exceptions.UsageError) -> int:
    """A bad option or value: one line on stderr, like any other failure, and an error
    document on stdout, so the next stage of a pipe reports this error, not "no input"."""
    from dmc.commands.pipe import report_error

    from dmc.contract import DmcError, Exit

    path = exc.ctx.command_path.split()[1:] if exc.ctx is not None else []
    helper = " ".join(["dmc", *path, "--help"])
    message = " ".join(exc.format_message().split())  # click may wrap it over lines
    error = DmcError(message, Exit.USAGE, stage=" ".join(path) or "dmc", hint=f"see: {helper}")
    return report_error(" ".join(path), error)


if __name__ == "__main__":
    run()
