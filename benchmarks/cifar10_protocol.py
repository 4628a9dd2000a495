"""Score an exported model on the CIFAR-10 test set, the published colorization protocol.

Writes the 10,000 test images (md5-checked official batch) as 32x32 PNGs to a temp folder and runs
`colorcli eval --ref DIR --model MODEL` on them: the grayscale input is made from each image's L,
colorized through the same Colorizer code as `colorize`, and scored beside the gray baseline.

    python benchmarks/cifar10_protocol.py export/effnet-lite0-cifar10.onnx [--data-dir ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from colorcli.training.data import CIFAR_TEST, cifar_folder, read_cifar_batch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_test_set(data_dir: Path, folder: Path, limit: int | None) -> int:
    images = read_cifar_batch(cifar_folder(data_dir) / "test_batch", CIFAR_TEST["test_batch"])[:limit]
    for index, rgb in enumerate(images):
        cv2.imwrite(str(folder / f"{index:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an .onnx file or a model name")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding cifar-10-batches-py")
    parser.add_argument("--limit", type=int, help="only the first N test images")
    parser.add_argument("--json", type=Path, help="also keep eval's JSON report here")
    parser.add_argument("--fid", action="store_true", help="also FID (slow on a CPU: Inception on 20,000 images)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        ref = Path(temp, "cifar10-test")
        ref.mkdir()
        count = write_test_set(args.data_dir, ref, args.limit)
        report = args.json or Path(temp, "eval.json")
        command = [sys.executable, "-m", "colorcli", "eval", "--ref", str(ref), "--model", args.model,
                   "--json", str(report), "--quiet"] + (["--fid"] if args.fid else [])
        start = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - start
        summary = json.loads(report.read_text())
    print(f"CIFAR-10 test set, {count} images, {args.model} ({seconds:.0f} s):")
    for name, values in (("model", summary["summary"]), ("gray", summary["baseline"])):
        print(f"  {name:5s} " + "  ".join(f"{metric} {values[metric]['mean']:.3f}"
                                          for metric in ("psnr", "ssim", "ciede2000", "colorfulness")))
    print(f"  colourfulness of the originals {summary['summary']['colorfulness_ref']['mean']:.3f}")


if __name__ == "__main__":
    main()
