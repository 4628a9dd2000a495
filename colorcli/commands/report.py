"""`colorcli report`: one summary of every colorize report under an output folder (all shards)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command(epilog="Docs: docs/many-machines.md")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the merged summary as JSON.")
def report(out, as_json):
    """Merge every colorize report under OUT (one per shard) into one summary.

    Prints the totals by file, the failed files with their reasons, the files colorized by more than one
    report (overlapping shards) and the files no report lists (a shard that never ran or stopped early;
    found by walking the inputs the reports name). Exit code 0 when every file is done, 1 when one
    failed or is missing.

    \b
    Examples:
      colorcli report ./color
      colorcli report ./color --json > summary.json
    """
    from colorcli.batch.reports import merge

    merged = merge(out)
    if as_json:
        click.echo(json.dumps(merged, indent=2))
    else:
        _print(merged)
    sys.exit(1 if merged["failed"] or merged["missing"] else 0)


def _print(merged: dict) -> None:
    totals = merged["totals"]
    shards = sorted({r["shard"] for r in merged["reports"] if r["shard"]})
    stopped = [r["path"] for r in merged["reports"] if r["interrupted"] or r["stopped_by"]]
    click.echo(f"{len(merged['reports'])} report(s) under {merged['out']}"
               + (f" (shards {', '.join(shards)})" if shards else "")
               + (f"; stopped before the end: {', '.join(stopped)}" if stopped else ""))
    missing = f"unknown ({merged['missing_unknown']})" if totals["missing"] is None else totals["missing"]
    click.echo(f"{totals['files']} files: {totals['ok']} ok, {totals['skipped']} skipped, {totals['failed']} failed; "
               f"missing: {missing}; done twice: {totals['done_twice']}")
    for record in merged["failed"]:
        click.echo(f"failed: {record['input']}: {record['reason']}")
    for record in merged["done_twice"]:
        click.echo(f"done twice: {record['output']} ({', '.join(record['reports'])})")
    for output in merged["missing"] or []:
        click.echo(f"missing: {output}")
