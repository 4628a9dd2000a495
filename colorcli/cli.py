"""The command line. Commands live in colorcli.commands.* and are imported only when run,
so `colorcli --help` answers at once and the inference path never loads torch.

Library code raises ColorcliError; this module alone turns errors into one-line messages and
exit codes (LazyGroup.invoke): 0 success, 1 a failure (a file, a model, a download), 2 a usage
error, 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import importlib

import click

from colorcli import __version__

# name -> (module, attribute, one-line summary shown by `colorcli --help` without importing it)
COMMANDS = {
    "colorize": ("colorcli.commands.colorize", "colorize", "Colorize grayscale images, mirroring folders under --out."),
    "eval": ("colorcli.commands.eval", "eval_command", "Score colorizations against colour originals, or benchmark a model."),
    "export": ("colorcli.commands.export", "export", "Export a trained generator to a verified ONNX model with its card."),
    "fetch": ("colorcli.commands.fetch", "fetch", "Download (or import) a model into the cache, verified by sha256."),
    "models": ("colorcli.commands.fetch", "models", "List embedded, cached and published models."),
    "report": ("colorcli.commands.report", "report", "Merge every colorize report under an output folder (all shards)."),
    "review": ("colorcli.commands.review", "review", "Write a page to look through a run and mark files; apply the marks."),
    "train": ("colorcli.commands.train", "train", "Train a pix2pix colorization generator (needs colorcli[train])."),
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

    def invoke(self, ctx):
        from colorcli.errors import ColorcliError

        try:
            return super().invoke(ctx)
        except ColorcliError as error:
            click.echo(f"colorcli: error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("colorcli: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Docs: README.md, then docs/ (a page per topic).")
@click.version_option(__version__, prog_name="colorcli")
def cli():
    """Colorize archives of black-and-white photographs, offline and in batch.

    \b
    Example:
      colorcli colorize ./scans --out ./color
    Run `colorcli COMMAND --help` for a command's options and examples.
    """


def main() -> None:
    """Console entry point."""
    cli(prog_name="colorcli")
