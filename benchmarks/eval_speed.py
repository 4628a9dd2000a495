"""How fast `colorcli eval --pred` scores CIFAR-size images.

Writes N pairs of 32x32 PNGs (CIFAR-10 test images as references, a shifted copy as predictions)
to a temp folder, runs `colorcli eval --ref --pred --json` in a subprocess, and prints the wall time.

    python benchmarks/eval_speed.py [--count 10000] [--workers 0]
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

CIFAR_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-batches-py" / "test_batch"


def cifar_images(count: int) -> np.ndarray:
    with open(CIFAR_TEST, "rb") as handle:
        rows = pickle.load(handle, encoding="bytes")[b"data"]
    images = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(np.resize(images, (count, 32, 32, 3)))  # repeats past 10,000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=0, help="0: all cores (eval's default)")
    args = parser.parse_args()
    images = cifar_images(args.count)
    with tempfile.TemporaryDirectory() as temp:
        ref, pred = Path(temp, "ref"), Path(temp, "pred")
        for folder in (ref, pred):
            for k in range(10):
                (folder / f"part{k}").mkdir(parents=True)
        for i, image in enumerate(images):
            name = f"part{i % 10}/{i:05d}.png"
            cv2.imwrite(str(ref / name), image[:, :, ::-1])
            cv2.imwrite(str(pred / name), np.roll(image, 1, axis=1)[:, :, ::-1])
        report = Path(temp, "scores.json")
        command = [sys.executable, "-m", "colorcli", "eval", "--ref", str(ref), "--pred", str(pred),
                   "--json", str(report), "--workers", str(args.workers), "--quiet"]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        summary = json.loads(report.read_text())["summary"]
    print(f"eval --pred: {summary['n']} pairs of 32x32 PNGs scored in {seconds:.1f} s "
          f"({summary['n'] / seconds:.0f} images/s, workers={args.workers or 'all cores'}); "
          f"mean CIEDE2000 {summary['ciede2000']['mean']:.3f}")


if __name__ == "__main__":
    main()
