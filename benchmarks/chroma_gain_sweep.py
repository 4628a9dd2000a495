"""Pick a chroma gain on training images, never on the test set: score MODEL's colorizations of the
last N CIFAR-10 training images at several gains (PSNR, SSIM, CIEDE2000, colourfulness), each
applied as `colorcli export --chroma-gain` applies it (a, b times the gain, clipped to the range).

    python benchmarks/chroma_gain_sweep.py MODEL.onnx [--count 2000] [--gains 1 1.1 1.2 1.3 1.4]

The images come from data_batch_5 (md5-checked). A model trained with `--cifar-holdout N` (N at
least --count) never saw them; otherwise they were seen in training, so the absolute figures flatter,
but the trade between colour and fidelity as the gain grows is what is read here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from colorcli.look import lab
from colorcli.models import contract
from colorcli.scoring import metrics
from colorcli.training.data import CIFAR_TRAIN, cifar_folder, read_cifar_batch
from colorcli.models.runtime import Colorizer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an .onnx file or a model name")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding cifar-10-batches-py")
    parser.add_argument("--count", type=int, default=2000, help="the last N images of data_batch_5")
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.1, 1.2, 1.3, 1.4])
    args = parser.parse_args()
    images = read_cifar_batch(cifar_folder(args.data_dir) / "data_batch_5", CIFAR_TRAIN["data_batch_5"])[-args.count:]
    colorizer = Colorizer.load(args.model)
    print(f"{len(images)} CIFAR-10 training images (end of data_batch_5), {args.model}:")
    gray = metrics.summarize(metrics.score_batch(metrics.gray_baseline(images), images))
    rows = [("gray", gray)]
    # what Colorizer.colorize does, with the model run once and the gain applied to its a, b
    split = [lab.split_for_model(image, colorizer.size) for image in images]
    predicted = [colorizer.predict_ab(small[None])[0] for _, small in split]
    for gain in args.gains:
        colorized = np.stack([lab.merge_from_model(image, L_full, np.clip(ab * gain, -contract.AB_SCALE,
                                                                               contract.AB_SCALE))
                              for image, (L_full, _), ab in zip(images, split, predicted)])
        rows.append((f"gain {gain:g}", metrics.summarize(metrics.score_batch(colorized, images))))
    for name, summary in rows:
        print(f"  {name:9s} " + "  ".join(f"{metric} {summary[metric]['mean']:.3f}"
                                          for metric in ("psnr", "ssim", "ciede2000", "colorfulness")))
    print(f"  colourfulness of the originals {rows[1][1]['colorfulness_ref']['mean']:.3f}")


if __name__ == "__main__":
    main()
