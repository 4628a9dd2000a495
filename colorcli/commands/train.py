"""`colorcli train`: pix2pix in Lab on CIFAR-10 or a folder of colour photos (needs the train extra)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

_PATH = click.Path(path_type=Path, file_okay=False)


@click.command(epilog="Docs: docs/training.md")
@click.option("--dataset", metavar="cifar10|DIR[:WEIGHT]", multiple=True,
              help="cifar10 (python batches under --data-dir), or a folder of colour photos, searched recursively "
                   "(required unless --resume). Repeat for several folders, each with an optional share of the "
                   "steps (DIR:0.3; all or none weighted). Each top-level subfolder is a source of its own.")
@click.option("--balance", type=click.Choice(["sqrt", "images", "equal"]), default="sqrt", show_default=True,
              help="How sources share the steps (within a weighted folder, or all of them): in proportion to "
                   "the square root of their photo counts, so no single collection decides the model by its "
                   "size; to their counts (every photo equally often); or equally.")
@click.option("--epoch-size", type=click.IntRange(min=1), metavar="N",
              help="Samples per epoch, drawn by the sources' shares  [default: the number of training photos]")
@click.option("--data-dir", type=_PATH, help="Folder holding cifar-10-batches-py (for --dataset cifar10).")
@click.option("--download", is_flag=True, help="Fetch the official CIFAR-10 archive (md5-checked) into --data-dir.")
@click.option("--val-dir", type=click.Path(path_type=Path, exists=True), multiple=True,
              help="Validation photos: a folder, or a .txt list of images (a path a line, relative to the list); "
                   "repeat for more sets (the first picks the best checkpoint; any inside --dataset is held out "
                   "of training). Default: a fixed 5% of --dataset, chosen by path hash.")
@click.option("--exclude-list", type=click.Path(path_type=Path, exists=True, dir_okay=False), multiple=True,
              metavar="FILE", help="A .txt list of photos never to train on (a path a line, relative to the list), "
                                   "e.g. a protocol's test sets: benchmarks/photo_protocol.py --write-lists.")
@click.option("--cifar-holdout", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="cifar10: validate (and pick the best epoch) on the last N training images, never trained on, "
                   "instead of the test batch, which then stays unseen (0: the test batch validates).")
@click.option("--out", required=True, type=_PATH, metavar="RUN_DIR", help="Run directory: checkpoints, metrics, pictures.")
@click.option("--size", type=click.IntRange(min=4), help="Training resolution in px  [default: 32 for cifar10, 256 for folders]")
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--load-scale", type=float, default=1.12, show_default=True, metavar="FACTOR",
              help="Random crops come from images resized to FACTOR x --size (1.12: pix2pix's 286/256; "
                   "1: the native scale, so CIFAR-10 gets flips only and sees objects at the size the test set has).")
@click.option("--generator", type=click.Choice(["unet", "effnet-lite0", "effnet-lite1", "effnet-lite2"]),
              default="unet", show_default=True,
              help="unet: the pix2pix U-Net; effnet-liteN: an ImageNet EfficientNet-Lite encoder under a U-Net decoder.")
@click.option("--encoder-scale", type=click.Choice(["1", "2"]), default="1", show_default=True,
              callback=lambda ctx, param, value: int(value),
              help="effnet: upsample L by this before the encoder (2 suits 32 px CIFAR: ImageNet features need pixels).")
@click.option("--ngf", type=click.IntRange(min=1), default=64, show_default=True, help="Generator width (channels capped at 8*ngf).")
@click.option("--ndf", type=click.IntRange(min=1), default=64, show_default=True, help="PatchGAN discriminator width.")
@click.option("--lambda-l1", type=click.FloatRange(min=0), default=100.0, show_default=True,
              help="Weight of the pixel loss (L1 unless --pixel-loss says otherwise).")
@click.option("--pixel-loss", type=click.Choice(["l1", "mse", "log-mse"]), default="l1", show_default=True,
              help="l1: pix2pix's (the median colour); mse: squared ab error (the mean colour, greyer); "
                   "log-mse: per image, 10 log10 of the sRGB output's squared error (48.13 dB minus its PSNR), "
                   "so the mean PSNR eval reports is what training raises.")
@click.option("--colourfulness-weight", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="MU",
              help="Subtract MU times the outputs' mean colourfulness (Hasler-Suesstrunk, as eval) from the "
                   "generator loss: colour where it costs the pixel loss least (with log-mse, MU is in dB per point).")
@click.option("--ciede-weight", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="W",
              help="Add W times the outputs' mean CIEDE2000 to the true colours (as eval measures it, on the "
                   "sRGB output clipped to the gamut) to the generator loss: it charges a confident wrong hue more than a grey "
                   "one (with log-mse, W is in dB per CIEDE2000 unit).")
@click.option("--head", type=click.Choice(["l1", "bins"]), default="l1", show_default=True,
              help="l1: the generator regresses a, b; bins (effnet generators): a distribution over 261 a, b bins "
                   "at a quarter of the resolution, trained by a rebalanced cross-entropy on soft targets and decoded "
                   "by the annealed mean at a temperature (colorcli export --temperature).")
@click.option("--rebalance", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Weight each pixel's L1 (with --head bins, its cross-entropy) by how rare its true colour is "
                   "(0: none; Zhang et al. used 0.5): more saturated colours, at some cost in PSNR  "
                   "[default: 0, with --head bins 0.5]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-4, show_default=True, help="Adam learning rate (both nets).")
@click.option("--lr-encoder", type=click.FloatRange(min=0), default=None,
              help="Learning rate of a pretrained encoder  [default: --lr / 10]")
@click.option("--freeze-encoder-epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Keep a pretrained encoder frozen for the first N epochs.")
@click.option("--pretrain-epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="L1-only warm-up epochs before the conditional GAN starts.")
@click.option("--init-from", type=click.Path(path_type=Path, exists=True), metavar="RUN_DIR|CHECKPOINT|MODEL.onnx",
              help="Start the generator from another run's checkpoint (same generator and size), or from a model "
                   "colorcli export wrote (same --generator; its batch norms, folded into the convolutions, stay "
                   "frozen for the whole run, --resume included; its chroma gain and averaging are not trained).")
@click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True, metavar="DECAY",
              help="Validate, save and export an exponential moving average of the generator's weights "
                   "(e.g. 0.999, about the last 1,000 steps; 0: the weights as trained).")
@click.option("--degrade", is_flag=True,
              help="Augment the L input like old scans: grain, blur, fading, JPEG, dust, scratches (never the target).")
@click.option("--beta1", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Adam beta1.")
@click.option("--clip-norm", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Generator gradient-norm clip.")
@click.option("--decay-start", type=click.IntRange(min=0), default=20, show_default=True, help="Epoch where LR halving starts.")
@click.option("--decay-every", type=click.IntRange(min=1), default=10, show_default=True, help="Epochs between LR steps.")
@click.option("--decay-gamma", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="LR factor per step.")
@click.option("--dropout-blocks", type=click.IntRange(min=0), default=3, show_default=True,
              help="Decoder blocks with dropout 0.5 (from the innermost).")
@click.option("--limit", type=click.IntRange(min=1), help="Use only the first N training images (quick trials).")
@click.option("--val-limit", type=click.IntRange(min=1), help="Use only the first N validation images.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--amp", is_flag=True, help="Mixed precision (CUDA only).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Threads decoding photos.")
@click.option("--threads", type=click.IntRange(min=1),
              help="torch CPU threads (default: one per core; on a busy machine fewer can be faster).")
@click.option("--sample-every", type=click.IntRange(min=1), default=5, show_default=True,
              help="Write a sample grid every N epochs.")
@click.option("--checkpoint-every", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="MINUTES",
              help="Save a checkpoint inside an epoch this often (0: at epoch ends only); --resume goes on from it.")
@click.option("--prepared-dir", metavar="DIR|off", default="auto", show_default=True,
              help="Where training photos are decoded once, resized for --size, and kept for later runs "
                   "(auto: the colorcli cache folder's prepared/; off: decode into memory each run).")
@click.option("--log-every", type=click.FloatRange(min=1), default=60.0, show_default=True, metavar="SECONDS",
              help="When the output is not a terminal, write a progress line (step, images/s, ETA) this often.")
@click.option("--resume", is_flag=True, help="Continue RUN_DIR exactly where its last checkpoint stopped.")
@click.pass_context
def train(ctx, **kwargs):
    """Train the pix2pix generator that colorize runs (L in, ab out, Lab).

    Every epoch: validation PSNR, SSIM, CIEDE2000 and colourfulness beside the gray
    baseline go to RUN_DIR/metrics.jsonl; last.json and best.json (lowest CIEDE2000)
    are saved atomically; curves.png and samples/ show progress. last.json is also
    saved every --checkpoint-every minutes and on Ctrl-C or SIGTERM, so a stopped run
    loses at most that much work.

    \b
    Examples:
      colorcli train --dataset cifar10 --data-dir ./data --download --out runs/c10
      colorcli train --dataset ./photos/train --val-dir ./photos/val --size 256 --out runs/p256
      colorcli train --dataset ./photos/train --val-dir ./photos/val --val-dir ./photos/train/urban100 \
          --generator effnet-lite0 --size 128 --pretrain-epochs 10 --degrade --out runs/eff
      colorcli train --dataset ./extra:0.7 --dataset ./photos/train:0.3 --epoch-size 20000 \
          --val-dir ./photos/val --generator effnet-lite2 --size 128 --out runs/mix
      colorcli train --out runs/c10 --resume --epochs 80
      colorcli export runs/c10 --out c10.onnx
    """
    from colorcli.errors import MissingDependencyError

    try:
        import torch  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(f"colorcli train needs {error.name}: pip install \"colorcli[train]\"") from None
    from colorcli.training.loop import TrainOptions, train as run_training

    # absolute paths, so that --resume works from any folder
    log_every = kwargs.pop("log_every")
    kwargs = {k: (str(v.resolve()) if isinstance(v, Path) and k != "out" else str(v) if isinstance(v, Path) else v)
              for k, v in kwargs.items()}
    kwargs["val_dir"] = [str(Path(d).resolve()) for d in kwargs["val_dir"]]
    kwargs["exclude_list"] = [str(Path(d).resolve()) for d in kwargs["exclude_list"]]
    kwargs["dataset"] = [_absolute(spec) for spec in kwargs["dataset"]] or None
    kwargs["prepared_dir"] = _prepared_dir(kwargs["prepared_dir"])
    options = TrainOptions(**kwargs, command="colorcli " + " ".join(sys.argv[1:]))
    given = {name for name in kwargs if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    with Display(log_every) as display:
        record = run_training(options, display.report, given)
    click.echo(f"done: epoch {record.get('epoch')}, val CIEDE2000 {record.get('val_ciede2000', float('nan')):.2f} "
               f"(gray {record.get('gray_ciede2000', float('nan')):.2f}); run in {options.out}")


def _absolute(spec: str) -> str:
    """A --dataset spec with its folder made absolute, so that --resume works from any folder."""
    from colorcli.training.sources import DatasetSpec, format_dataset, parse_dataset

    if spec == "cifar10":
        return spec
    parsed = parse_dataset(spec)
    return format_dataset(DatasetSpec(str(Path(parsed.path).resolve()), parsed.weight))


def _prepared_dir(value: str) -> str | None:
    if value == "off":
        return None
    if value == "auto":
        from colorcli.models.cache import home_dir

        return str(home_dir() / "prepared")
    return str(Path(value).resolve())


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _epoch_line(r: dict, epochs: int) -> str:
    line = (f"epoch {r['epoch']}/{epochs} [{r.get('phase', 'gan')}]  G {r['loss_g']:.3f} (gan {r['loss_g_gan']:.3f}, {r.get('pixel_loss', 'l1').upper()} {r['loss_l1']:.4f})  "
            f"D {r['loss_d']:.3f} acc {r['d_accuracy']:.2f} | val PSNR {r['val_psnr']:.2f} SSIM {r['val_ssim']:.3f} "
            f"CIEDE2000 {r['val_ciede2000']:.2f} colourfulness {r['val_colorfulness']:.1f}/{r['ref_colorfulness']:.1f} "
            f"| gray CIEDE2000 {r['gray_ciede2000']:.2f} | {r['images_per_s']:.0f} img/s")
    if r.get("best"):
        line += "  * best"
    for name, s in (r.get("val_sets") or {}).items():
        line += (f"\n    {name}: PSNR {s['psnr']:.2f} SSIM {s['ssim']:.3f} CIEDE2000 {s['ciede2000']:.2f} "
                 f"colourfulness {s['colorfulness']:.1f}/{s['colorfulness_ref']:.1f} | gray PSNR {s['gray']['psnr']:.2f} "
                 f"CIEDE2000 {s['gray']['ciede2000']:.2f}")
    return line


def _eta(step: dict) -> str:
    """Time left in this epoch and in the run, at this epoch's pace (validation not counted)."""
    per_step = step["seconds"] / max(step["step"], 1)
    epoch_left = (step["steps"] - step["step"]) * per_step
    run_left = epoch_left + (step["epochs"] - step["epoch"]) * step["steps"] * per_step
    return f"ETA epoch {_duration(epoch_left)}, run {_duration(run_left)}"


class Display:
    """Draws train() events: a rich progress bar with live losses on a terminal, plain lines otherwise."""

    def __init__(self, log_every: float = 60.0):
        from rich.console import Console

        self.console = Console(stderr=True, soft_wrap=True)  # log lines stay whole in files
        self.live = self.console.is_terminal
        self.progress = None
        self.task = None
        self.epochs = 0
        self.pixel_loss = "L1"
        self.log_every = log_every
        self.logged = time.monotonic()

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                                     console=self.console, transient=True)
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def report(self, kind: str, data: dict) -> None:
        if kind == "start":
            self.epochs = data["epochs"]
            self.pixel_loss = data["pixel_loss"].upper()
            d, g = data["data"], data["gray_baseline"]
            self.console.print(f"training on {data['device']}: {d.get('train_images')} train / {d.get('val_images')} "
                               f"val images at {data['size']} px, {data['generator']} "
                               f"({data['generator_parameters'] / 1e6:.2f} M params), epochs {data['first_epoch']}.."
                               f"{data['epochs']}", highlight=False)
            skipped = d.get("skipped_train")
            if skipped and any(skipped.values()):
                self.console.print(f"skipped training photos: {skipped}", highlight=False)
            self.console.print(f"gray baseline (validation): PSNR {g['psnr']:.2f} SSIM {g['ssim']:.3f} "
                               f"CIEDE2000 {g['ciede2000']:.2f} colourfulness {g['colorfulness']:.1f}", highlight=False)
        elif kind == "step":
            losses = data["losses"]
            text = (f"G {losses['loss_g']:.3f} {self.pixel_loss} {losses['loss_l1']:.4f} D {losses['loss_d']:.3f} "
                    f"acc {losses['d_accuracy']:.2f} {data['images_per_s']:.1f} img/s")
            description = f"epoch {data['epoch']}/{self.epochs}"
            if self.progress is not None:
                if self.task is None:
                    self.task = self.progress.add_task(description, total=data["steps"], losses=text)
                self.progress.update(self.task, description=description, total=data["steps"],
                                     completed=data["step"], losses=text)
            elif time.monotonic() - self.logged >= self.log_every or data["step"] == data["steps"]:
                self.logged = time.monotonic()
                self.console.print(f"{description} step {data['step']}/{data['steps']}  {text}  "
                                   f"{_eta(data)}", highlight=False)
        elif kind == "checkpoint" and self.progress is None:
            self.console.print(f"checkpoint saved: epoch {data['epoch']}, step {data['step']}", highlight=False)
        elif kind == "epoch":
            self.console.print(_epoch_line(data, self.epochs), highlight=False)
        elif kind == "note":
            self.console.print(data["text"], highlight=False)
