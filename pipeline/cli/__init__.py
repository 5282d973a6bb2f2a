"""The ``stylize`` command line. Commands only parse and delegate; importing this module does not import
torch, so ``stylize --help`` answers at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from pipeline.cli import commands, serve, tools
from pipeline.cli.order import OrderedCommand


class _OneLineErrors(TyperGroup):
    """Usage errors as one line on stderr (exit 2) instead of a framed panel; everything else as Typer does."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            print("error: aborted", file=sys.stderr)
            sys.exit(1)
        except typer.TyperException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":
                print(ctx.get_help())
            else:
                hint = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
                print(f"error: {exc.format_message()}{_dashed_file(args)}{hint}", file=sys.stderr)
            sys.exit(getattr(exc, "exit_code", 2))
        sys.exit(code or 0)


def _dashed_file(args) -> str:
    """A note for a file whose name starts with "-", which the parser reads as options (Click's rule)."""
    named = next((a for a in (sys.argv[1:] if args is None else args)
                  if a.startswith("-") and a != "-" and Path(a).exists()), None)
    return f"; {named} is a file: put -- before it, or write ./{named}" if named else ""


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich",
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Batch neural style transfer for image folders and videos.")


def _version(value: bool) -> None:
    if value:
        from pipeline import __version__

        print(f"stylize {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                         help="Print the version and exit.")] = None) -> None:
    """Batch neural style transfer for image folders and videos."""


app.command(epilog=commands.FOLDER_EXAMPLES, cls=OrderedCommand)(commands.folder)
app.command(epilog=commands.VIDEO_EXAMPLES, cls=OrderedCommand)(commands.video)
app.command()(tools.metrics)
app.command()(tools.info)
app.command()(tools.train)
app.command()(tools.export)
app.command(epilog=serve.SERVE_EXAMPLES)(serve.serve)
