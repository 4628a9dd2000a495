"""`colorcli colorize`: the archive job."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import click

REPORT_NAME = "colorcli-report.json"


@click.command(epilog="Docs: docs/colorize.md")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder; the input tree is mirrored under it.")
@click.option("--model", default=None, help="An .onnx file or a model name (default: the embedded model).")
@click.option("--workers", default=0, type=click.IntRange(min=0), show_default="all cores",
              help="Worker processes that read, prepare and write.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1),
              help="Images per inference call.")
@click.option("--provider", default="auto", show_default=True, type=click.Choice(["auto", "cuda", "cpu"]),
              help="ONNX Runtime execution provider; auto uses CUDA when it really loads.")
@click.option("--size", default=None, type=click.IntRange(min=1),
              help="Model input size (a multiple of the model's size unit; default: its native size).")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0, 3), metavar="S",
              help="How much colour: 0 leaves each scan grey, 1 is the model's own colour, more than 1 gives "
                   "more (a factor on the model's chroma, 0 to 3). Written in each output's XMP and the report.")
@click.option("--overwrite", is_flag=True, help="Redo outputs that already exist (default: skip them).")
@click.option("--include-color", is_flag=True, help="Also colorize images taken for colour photographs (the report gives each file's reason).")
@click.option("--mount", "mount", default="auto", show_default=True, type=click.Choice(["auto", "off"]),
              help="Find a print on its card or album page: decide and colorize the print alone and keep the "
                   "card as scanned (the report gives print: [x, y, w, h]); off takes every scan as one picture.")
@click.option("--format", "fmt", default="keep", show_default=True, type=click.Choice(["keep", "png", "jpg", "tif"]),
              help="Output format; keep writes each input's own format (GIF becomes PNG; JPEG 2000 is written "
                   "losslessly, 8 or 16 bit).")
@click.option("--ref", default=None, type=click.Path(path_type=Path, file_okay=False),
              help="Folder of colour originals (same relative paths) to score the results against.")
@click.option("--report", default=None, type=click.Path(path_type=Path, dir_okay=False),
              help=f"JSON report of every file (default: OUT/{REPORT_NAME}).")
@click.option("--sheet", default=None, type=click.Path(path_type=Path, dir_okay=False),
              help="Also write a before | after contact sheet PNG of (up to 12) colorized files.")
@click.option("--shard", default=None, metavar="K/N|auto|auto/N",
              help="Process only the K-th of N deterministic parts of the inputs (job arrays). auto takes K "
                   "and N from a SLURM array, auto/N takes K from a Kubernetes Indexed Job's "
                   "JOB_COMPLETION_INDEX (N = its completions); each shard writes its own report.")
@click.option("--no-provenance", "no_provenance", is_flag=True,
              help="Leave out the XMP that says each output's colours were estimated by colorcli, from which "
                   "input and by which model (the input's own XMP is still kept). It is on by default because "
                   "once a colorized copy leaves --out, nothing else tells it from a colour photograph.")
@click.option("--quiet", "-q", is_flag=True, help="No progress; only failures and a one-line summary.")
def colorize(inputs, out, model, workers, batch_size, provider, size, strength, overwrite, include_color, mount, fmt,
             ref, report, sheet, shard, no_provenance, quiet):
    """Colorize grayscale images, mirroring folders under --out.

    INPUT is any number of folders (walked recursively) and image files (JPEG, PNG, TIFF, WebP, BMP,
    GIF, JPEG 2000 .jp2 .j2k .jpf .jpx; 8 or 16 bit, with alpha). Outputs keep size, bit depth, alpha and
    metadata (JPEG 2000: written losslessly, with XMP only). Files of other types are counted and
    named; a run that finds no image at all exits 2. A rerun skips finished outputs, so an interrupted
    run just continues. Ctrl-C and SIGTERM stop the run with the report written (exit 130, 143); so
    does the first full disk (exit 1). `colorcli report OUT` merges the reports of every shard.

    Grey scans and monochrome prints that are toned, faded, stained or captioned in ink are colorized
    from their lightness alone; colour photographs and hand-tinted prints (several separate hues, or
    colour no print tone or paper cast explains) are skipped, with the reason in the report. A print
    mounted on a card or album page is found and decided and colorized alone; the card keeps the scan's own
    pixels (--mount off takes the whole scan as one picture).

    Every output's XMP (kept from the input and extended) says that its colours are a machine's estimate:
    IPTC digital source type compositeWithTrainedAlgorithmicMedia, the input's path and sha256
    (xmpMM:DerivedFrom), colorcli's version, the model's name and sha256, chroma gain, strength and size
    (xmpMM:History), and a sentence in dc:description. `exiftool -XMP:all OUTPUT` shows it. BMP and bare
    .j2k codestreams have no place for XMP; the report says so, file by file.

    \b
    Examples:
      colorcli colorize ./scans --out ./color
      colorcli colorize scan1.tif scan2.tif --out ./color --model mymodel.onnx
      colorcli colorize ./scans --out ./color --shard 3/8      # one of 8 machines
      colorcli colorize ./scans --out ./color --shard auto     # in a SLURM job array
      colorcli colorize ./gray --out ./color --ref ./originals  # score against originals
      colorcli colorize ./scans --out ./color --sheet look.png  # before | after sheet
    """
    from colorcli.batch import processes

    processes.start_server()
    from colorcli.batch import pipeline
    from colorcli.io.atomic import write_json
    from colorcli.errors import UsageError
    from colorcli.io.formats import INPUT_EXTENSIONS
    from colorcli.io.walk import describe_ignored
    from colorcli.models.runtime import Colorizer

    from colorcli.commands._progress import Progress

    options = pipeline.Options(out=out, fmt=fmt, overwrite=overwrite, include_color=include_color,
                               workers=workers, batch_size=batch_size, ref=ref, mount=mount,
                               provenance=not no_provenance)
    shard_spec = pipeline.parse_shard(shard)
    references = pipeline.index_references(ref) if ref else None
    ignored = Counter()
    jobs, conflicts = pipeline.plan_jobs(list(inputs), options, shard_spec, ignored)
    if not jobs and not conflicts and not shard_spec:
        Colorizer.load(model, provider=provider, size=size)  # a bad --model or --size is the first thing to say
        found = describe_ignored(ignored) if ignored else "no files at all"
        raise UsageError(f"{', '.join(map(str, inputs))}: no image colorcli reads "
                         f"({', '.join(sorted(INPUT_EXTENSIONS))}); found {found}")
    progress = Progress(total=len(jobs) + len(conflicts), quiet=quiet)
    if ignored:
        progress.say(describe_ignored(ignored))
    loaded = []

    def load_colorizer() -> Colorizer:  # called by pipeline.run once its workers are starting
        colorizer = Colorizer.load(model, provider=provider, size=size, strength=strength)
        progress.say(f"model {colorizer.info.path.name} ({colorizer.info.architecture}, {colorizer.size} px) "
                     f"on {colorizer.provider.upper()}; {len(jobs) + len(conflicts)} images")
        loaded.append(colorizer)
        return colorizer

    started = time.time()
    with progress:
        for record in conflicts:
            progress.add(record)
        outcome = pipeline.run(jobs, load_colorizer, options, on_record=progress.add, references=references)
    colorizer = loaded[0]
    records = conflicts + outcome.records
    report_path = report or out / (REPORT_NAME if not shard_spec else
                                   f"colorcli-report-shard-{shard_spec[0]}-of-{shard_spec[1]}.json")
    try:
        write_json(report_path, _report(records, outcome, colorizer, options, inputs, shard_spec, started, ignored))
    except OSError as error:  # a full disk: say so in one line; the summary below is the only record left
        unwritten = f"the report {report_path} could not be written ({error.strerror or error})"
    else:
        unwritten = None
    progress.summary(records, outcome, report_path if unwritten is None else None)
    if sheet and outcome.disk_full is None:
        from colorcli.batch.sheet import write_before_after

        done = [(Path(r["input"]), out / r["output"]) for r in records if r["status"] == "ok"]
        if write_before_after(sheet, done):
            progress.say(f"contact sheet: {sheet}")
    if outcome.disk_full is not None:
        click.echo(f"colorcli: error: no space left on device in {outcome.disk_full}: the run stopped; free "
                   f"space and run the same command again" + (f"; {unwritten}" if unwritten else ""), err=True)
        sys.exit(1)
    if unwritten:
        click.echo(f"colorcli: error: {unwritten}", err=True)
    if outcome.interrupted:
        sys.exit(128 + outcome.signal)
    sys.exit(1 if unwritten or any(r["status"] == "failed" for r in records) else 0)


def _report(records, outcome, colorizer, options, inputs, shard, started, ignored) -> dict:
    from colorcli import __version__
    from colorcli.commands._progress import counts, metric_summary

    return {
        "colorcli": __version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(outcome.seconds, 3),
        "interrupted": outcome.interrupted,
        "stopped_by": (signal.Signals(outcome.signal).name if outcome.signal else
                       "no space left on device" if outcome.disk_full else None),
        "model": {**colorizer.info.describe(), "sha256": colorizer.model_sha256},
        "provider": colorizer.provider,
        "size": colorizer.size,
        "strength": colorizer.strength,
        "inputs": [str(Path(p).resolve()) for p in inputs],
        "options": {"out": str(options.out), "format": options.fmt, "overwrite": options.overwrite,
                    "include_color": options.include_color, "mount": options.mount,
                    "workers": options.workers or os.cpu_count(),
                    "batch_size": options.batch_size, "ref": str(options.ref) if options.ref else None,
                    "provenance": options.provenance,
                    "shard": f"{shard[0]}/{shard[1]}" if shard else None},
        "summary": {**counts(records), "metrics": metric_summary(records)},
        "ignored": dict(sorted(ignored.items())),
        "files": records,
    }
