"""The command line. Commands live in colorcli.commands.* and are imported only when run,
so `colorcli --help` answers at once and the inference path never loads torch.

Library code raises ColorcliError; this module alone turns errors into one-line messages and
exit codes: 0 success, 1 a failure (a file, a model, a download), 2 a usage error, 130 Ctrl-C.
"""

from __future__ import annotations

import importlib
import sys

import click

from colorcli import __version__

# name -> (module, attribute, one-line summary shown by `colorcli --help` without importing it)
COMMANDS = {
    "colorize": ("colorcli.commands.colorize", "colorize", "Colorize grayscale images, mirroring folders under --out."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="colorcli")
def cli():
    """Colorize archives of black-and-white photographs, offline and in batch.

    \b
    Example:
      colorcli colorize ./scans --out ./color
    Run `colorcli COMMAND --help` for a command's options and examples.
    """


def _err(message: str) -> None:
    click.echo(f"colorcli: error: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and maps errors to exit codes."""
    from colorcli.errors import ColorcliError

    try:
        code = cli.main(args=argv, prog_name="colorcli", standalone_mode=False)
    except ColorcliError as error:
        _err(str(error))
        code = error.exit_code
    except click.exceptions.Abort:
        _err("interrupted")
        code = 130
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
