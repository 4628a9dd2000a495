"""`colorcli fetch` and `colorcli models`: get verified models into the cache and list them."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(epilog="Docs: docs/models.md")
@click.argument("spec", metavar="[NAME|URL]", required=False)
@click.option("--sha256", "sha256", metavar="HEX", help="Expected sha256 of the file (required for a URL).")
@click.option("--name", metavar="NAME", help="Name to cache the model under (default: from NAME, the URL or the file).")
@click.option(
    "--from", "source", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False),
    help="Import a local .onnx file instead of downloading (checked against the model contract).",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Network timeout in seconds.")
def fetch(spec, sha256, name, source, timeout):
    """Download a model into the cache, verified by its sha256.

    The cache is the platform's user cache folder, or $COLORCLI_HOME when set.
    A cached model is re-checked against its sha256 every time it is used.

    \b
    Examples:
      colorcli fetch NAME                        a published model (see `colorcli models`)
      colorcli fetch https://host/m.onnx --sha256 HEX --name mine
      colorcli fetch --from ./export/m.onnx --name mine
      colorcli colorize ./scans --out ./color --model mine
    """
    from colorcli.models import fetch as fetching
    from colorcli.errors import UsageError

    if source is not None:
        if spec and fetching.is_url(spec):
            raise UsageError("give either a URL or --from FILE, not both")
        if spec and name and spec != name:
            raise UsageError("give the name once: as NAME or as --name")
        model = fetching.import_model(source, name=name or spec, sha256=sha256)
        summary = f"{_size(model.size)}, sha256 {model.sha256[:12]}…"
        click.echo(f"imported {source} as {model.name!r} ({summary}): {model.path}")
        return
    if not spec:
        raise UsageError("give a model NAME, a URL with --sha256, or --from FILE (see `colorcli fetch --help`)")
    model, downloaded = _fetch_with_progress(fetching, spec, sha256, name, timeout)
    verb = "downloaded" if downloaded else "already cached (sha256 verified)"
    click.echo(f"{model.name}: {verb}, {_size(model.size)}, sha256 {model.sha256[:12]}…: {model.path}")


def _fetch_with_progress(fetching, spec, sha256, name, timeout):
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(f"fetching {name or spec}", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        return fetching.fetch_model(spec, sha256=sha256, name=name, progress=report, timeout=timeout)


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@click.command(epilog="Docs: docs/models.md")
def models():
    """List models: embedded in the package, cached, and published (available to fetch).

    Cached models are re-hashed; a corrupt one is shown as such.

    \b
    Example:
      colorcli models
      colorcli colorize ./scans --out ./color --model NAME
    """
    from rich.console import Console
    from rich.table import Table

    from colorcli.models import cache
    from colorcli.models import registry

    rows = registry.list_models()
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # logs and pipes: keep the table's rows whole
    if not rows:
        console.print(
            "No models embedded, cached or published yet. "
            "Import one with `colorcli fetch --from FILE.onnx --name NAME`, or pass --model FILE.onnx."
        )
    else:
        table = Table(title="colorcli models")
        for column in ("name", "where", "native", "size", "sha256", "status"):
            table.add_column(column, no_wrap=True)
        for column in ("licence", "source"):
            table.add_column(column, overflow="fold", min_width=12)
        for row in rows:
            table.add_row(
                row.name, row.where, str(row.native_size or "?"), _size(row.size), row.sha256[:12],
                row.status, row.licence, row.source,
            )
        console.print(table)
    console.print(f"cache: {cache.models_dir()}", highlight=False)
