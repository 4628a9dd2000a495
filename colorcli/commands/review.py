"""`colorcli review`: a page to look through a run, and applying the marks a curator saved from it."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(epilog="Docs: docs/review.md")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--apply", "marks_file", default=None, type=click.Path(path_type=Path, dir_okay=False),
              help="Apply the marks saved from the page (review-marks.json): move rejected outputs into "
                   "OUT/.rejected/ and those to redo into OUT/.redo/, keeping their paths; then write the page "
                   "again. A later colorize leaves rejected files alone unless --overwrite.")
@click.option("--workers", default=0, type=click.IntRange(min=0), show_default="all cores",
              help="Processes that make the thumbnails.")
@click.option("--thumb-size", default=360, show_default=True, type=click.IntRange(min=32, max=4096),
              help="Longer side of each thumbnail, in pixels.")
def review(out, marks_file, workers, thumb_size):
    """Write OUT/review/index.html: a page on which to look through a colorize run.

    One card per file of the run's reports (every shard's, merged as `colorcli report` does): before and
    after with a slider, the status and the reason, the print's box where one was found on a mount, the
    metrics and the original where colorize had --ref, and the paths. Filter by status, reason, folder or
    mark; sort by name, time or any metric; j/k move, b toggles before/after, x rejects, r marks to redo.
    The page needs no server and fetches nothing; open it from the file system. The thumbnails
    (OUT/review/thumbs/) are made in parallel and reused while their pictures are unchanged.

    \b
    Examples:
      colorcli review ./color                                  # then open color/review/index.html
      colorcli review ./color --apply ~/Downloads/review-marks.json
    """
    from colorcli.batch import marks, review as pages

    if marks_file is not None:
        chosen = marks.read_marks(marks_file)
        known = {record["output"] for record in pages.merged_records(out)}
        applied = marks.apply(out, chosen, known, marks_file)
        for mark, folder in marks.ASIDE.items():
            click.echo(f"{len(applied.moved[mark])} marked {mark} moved into {out / folder}")
        if applied.already:
            click.echo(f"{len(applied.already)} already moved by an earlier --apply")
        if applied.absent:
            click.echo(f"{len(applied.absent)} had no output to move (skipped or failed files): "
                       + ", ".join(applied.absent[:5]) + (" ..." if len(applied.absent) > 5 else ""))
    made = pages.build(out, workers=workers, thumb_size=thumb_size)
    shots = made.thumbs
    click.echo(f"review page: {made.page} ({made.files} files; thumbnails: {shots.made} made, {shots.reused} reused"
               + (f", {shots.failed} unreadable" if shots.failed else "") + ")")
