"""A before | after contact sheet of colorized files, for a quick look at a run (colorize --sheet)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from colorcli.io import images
from colorcli.io.orientation import to_upright

MAX_PAIRS = 12
_GAP = 6
_LABEL = 18


def _displayed_rgb8(path: Path, height: int) -> np.ndarray:
    """The picture as a viewer shows it (orientation applied), 8-bit RGB, scaled to `height` rows."""
    image = images.read_image(path)
    pixels = to_upright(images.to_rgb8(image.pixels), image.orientation)
    scale = height / pixels.shape[0]
    width = max(1, round(pixels.shape[1] * scale))
    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def write_before_after(path: Path, pairs: list[tuple[Path, Path]], height: int = 240) -> int:
    """Rows of input | output for up to MAX_PAIRS pairs, each labelled with its file name; returns the rows drawn."""
    rows = []
    for src, dst in pairs[:MAX_PAIRS]:
        before, after = _displayed_rgb8(src, height), _displayed_rgb8(dst, height)
        row = np.full((height + _LABEL, before.shape[1] + after.shape[1] + _GAP, 3), 255, np.uint8)
        row[_LABEL:, : before.shape[1]] = before
        row[_LABEL:, before.shape[1] + _GAP :] = after
        canvas = Image.fromarray(row)
        ImageDraw.Draw(canvas).text((2, 3), f"{src.name}: before | after", fill=(0, 0, 0))
        rows.append(np.asarray(canvas))
    if not rows:
        return 0
    width = max(r.shape[1] for r in rows)
    sheet = np.full((sum(r.shape[0] + _GAP for r in rows), width, 3), 255, np.uint8)
    top = 0
    for row in rows:
        sheet[top : top + row.shape[0], : row.shape[1]] = row
        top += row.shape[0] + _GAP
    images.write_png(path, sheet)
    return len(rows)
