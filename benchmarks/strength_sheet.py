"""One scan colorized at several `--strength` values, side by side with the scan: the README's strength sheet.

    python benchmarks/strength_sheet.py [SCAN] [--model M] [--strengths 0.5 1 1.5] [--out export/strength-sheet.png]

Each panel is what `colorcli colorize SCAN --strength S` writes (a mounted print colorized alone, its card kept);
the labels are drawn under the panels. The scan defaults to samples/NorwegianBride1920s.jpg.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from colorcli.io.images import read_image, to_rgb8

ROOT = Path(__file__).resolve().parents[1]
HEIGHT = 300  # px of each panel
LABEL = 34  # px under each panel for its label


def panel(rgb: np.ndarray, label: str) -> np.ndarray:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (round(w * HEIGHT / h), HEIGHT), interpolation=cv2.INTER_AREA)
    strip = np.full((LABEL, small.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (20, 20, 20), 2, cv2.LINE_AA)
    return np.vstack([small, strip])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scan", nargs="?", type=Path, default=ROOT / "samples" / "NorwegianBride1920s.jpg")
    parser.add_argument("--model", default=None, help="an .onnx file or a model name (default: the embedded model)")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.5, 1.0, 1.5])
    parser.add_argument("--out", type=Path, default=ROOT / "export" / "strength-sheet.png")
    args = parser.parse_args()
    image = read_image(args.scan)
    panels = [panel(to_rgb8(image.pixels), "scan")]
    with tempfile.TemporaryDirectory() as temp:
        for strength in args.strengths:
            out = Path(temp) / f"s{strength:g}"
            subprocess.run([sys.executable, "-m", "colorcli", "colorize", str(args.scan), "--out", str(out), "--format",
                            "png", "--strength", str(strength), "--quiet"] + (["--model", args.model] if args.model else []),
                           check=True, stderr=subprocess.DEVNULL)
            colorized = read_image(out / (args.scan.stem + ".png")).pixels
            panels.append(panel(to_rgb8(colorized), f"--strength {strength:g}"))
    gap = np.full((HEIGHT + LABEL, 6, 3), 255, np.uint8)
    sheet = np.hstack([piece for p in panels for piece in (p, gap)][:-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.out}: {args.scan.name} at strengths {', '.join(f'{s:g}' for s in args.strengths)} "
          f"({args.model or 'the embedded model'})")


if __name__ == "__main__":
    main()
