"""`colorcli export`: a trained generator to a verified ONNX model and its card."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(epilog="Docs: docs/models.md")
@click.argument("source", metavar="RUN_DIR|CHECKPOINT", type=click.Path(path_type=Path, exists=True))
@click.option("--out", "out", required=True, metavar="FILE.onnx", type=click.Path(path_type=Path),
              help="The ONNX model to write; its cards go beside it (FILE.json, FILE.md).")
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset (18 or newer).")
@click.option("--fp16", is_flag=True, help="Store weights in float16 (input and output stay float32).")
@click.option("--inference-size", type=click.IntRange(min=1), default=None,
              help="The input size colorize uses by default (a multiple of the size unit); default: the "
                   "training size. Set it to the size you measured best.")
@click.option("--chroma-gain", type=click.FloatRange(0, 4, min_open=True), default=1.0, show_default=True,
              help="Multiply the predicted a, b by this inside the model (above 1: more saturated colours, "
                   "at some cost in PSNR); recorded in its metadata and card.")
@click.option("--temperature", type=click.FloatRange(0, 10, min_open=True), default=None, metavar="T",
              help="For a generator trained with --head bins: decode its colour distribution by the annealed mean "
                   "at T inside the model (low: the likeliest colour, vivid; 1: the mean, muted); recorded in its "
                   "metadata  [default: 0.38, Zhang et al.'s]")
@click.option("--flip-average", is_flag=True,
              help="Average the model's colours for each picture and its mirror image (inside the model; "
                   "twice the compute, usually a little more accurate).")
@click.option("--shift-average", is_flag=True,
              help="Also average over the picture moved one pixel up, down, left and right (inside the model; "
                   "five times the compute, ten with --flip-average): for tiny inputs such as CIFAR's 32 px.")
@click.option("--images", "images_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False),
              help="Photos for the parity check (the first 4 by name); default: generated pictures.")
@click.option("--card-notes", metavar="FILE.md", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Markdown to put in the model card: the training data, its sources' terms, what was measured.")
def export(source, out, opset, fp16, inference_size, chroma_gain, temperature, flip_average, shift_average,
           images_dir, card_notes):
    """Export a trained generator to ONNX, verified before it is written.

    RUN_DIR is a training run folder (its best checkpoint, else its last);
    CHECKPOINT a TAG.json or a generator .safetensors file. BatchNorm is folded,
    batch, height and width stay dynamic (multiples of the size unit), and the
    model carries its metadata. It must pass onnx.checker, the model contract and
    a parity check against PyTorch (max abs diff 1e-4; 2e-2 with --fp16).

    \b
    Examples:
      colorcli export runs/bsds --out export/unet-bsds.onnx
      colorcli export runs/bsds --out export/unet-bsds-fp16.onnx --fp16 --images photos/val
      colorcli fetch --from export/unet-bsds.onnx --name unet-bsds
    """
    from colorcli.training.export import export_model, parity_images

    from colorcli.errors import UsageError

    images = parity_images(images_dir) if images_dir else ()
    try:
        notes = card_notes.read_text(encoding="utf-8") if card_notes else ""
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{card_notes}: cannot read the card notes ({error})") from None
    result = export_model(source, out, opset=opset, fp16=fp16, images=images, log=click.echo,
                          inference_size=inference_size, chroma_gain=chroma_gain, flip_average=flip_average,
                          shift_average=shift_average, card_notes=notes, temperature=temperature)
    parity = result.parity
    click.echo(
        f"wrote {result.path} ({result.size} bytes, {result.precision}, sha256 {result.sha256[:12]}…); "
        f"parity max abs diff {parity['max_abs_diff']:.3g} ≤ {parity['tolerance']:g}; "
        f"cards {result.card_json.name}, {result.card_markdown.name}"
    )
