"""Make export/mount-before-after.png: a cabinet card colorized with the embedded model, as scanned | with
--mount off | as colorize does it (the print found, decided and colorized alone, the card kept).

The card is synthetic (tests/mounts.py): samples/NorwegianBride1920s.jpg (public domain) toned sepia on a
maroon card with a gold studio imprint, turned 1°. Each panel is the colorized scan at 300 px wide.

    python benchmarks/mount_before_after.py [--out export/mount-before-after.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import mounts  # noqa: E402

from colorcli.look import mount_find
from colorcli.look import mount_colorize  # noqa: E402
from colorcli.io.images import read_image  # noqa: E402
from colorcli.models.runtime import Colorizer  # noqa: E402

PANEL = 300


def colorized(scan: np.ndarray, colorizer: Colorizer, found: mount_find.Mount) -> np.ndarray:
    pieces = mount_colorize.split_for_model(scan, found.prints, colorizer.size)
    ab = [colorizer.predict_ab(piece.small[None])[0] for piece in pieces]
    return mount_colorize.merged_rows(scan, pieces, ab)(0, scan.shape[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "export" / "mount-before-after.png")
    out = parser.parse_args().out
    photo = read_image(ROOT / "samples" / "NorwegianBride1920s.jpg").pixels
    if photo.ndim == 2:
        photo = cv2.cvtColor(photo, cv2.COLOR_GRAY2RGB)
    width = 900
    height = int(width * 1.55)
    aspect = (0.86 * width) / (0.74 * height)  # the card's print: cut the photo to it rather than stretch it
    h, w = photo.shape[:2]
    if w / h > aspect:
        cut = int(h * aspect)
        photo = photo[:, (w - cut) // 2:(w + cut) // 2]
    else:
        cut = int(w / aspect)
        photo = photo[(h - cut) // 2:(h + cut) // 2]
    card = mounts.cabinet_card(photo, card="maroon", ink="gold", tone="sepia", rounded=True, angle=1.0,
                               width=width, seed=3)
    colorizer = Colorizer.load(None, provider="cpu")
    found = mount_find.find(card.scan)
    print(found.reason, found.report(card.scan.shape)["print"], mount_colorize.decide(card.scan, found).tone.reason)
    panels = [card.scan, colorized(card.scan, colorizer, mount_find.OFF), colorized(card.scan, colorizer, found)]
    size = (PANEL, round(PANEL * card.scan.shape[0] / card.scan.shape[1]))
    gap = np.full((size[1], 8, 3), 255, np.uint8)
    row = [cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in panels]
    sheet = np.hstack([row[0], gap, row[1], gap, row[2]])
    out.parent.mkdir(parents=True, exist_ok=True)
    # a palette of 256 colours keeps the picture under 300 KB for the README (about a third of full RGB)
    Image.fromarray(sheet).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        out, "PNG", optimize=True)
    print(f"{out} ({out.stat().st_size // 1024} KB): as scanned | --mount off | --mount auto")


if __name__ == "__main__":
    main()
