"""Training pictures drawn with OpenCV and Pillow: a sample grid and loss/metric curves (PNG, atomic)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorcli.io.images import write_png


def sample_grid(path: Path, gray: np.ndarray, pred: np.ndarray, truth: np.ndarray, min_side: int = 96) -> None:
    """One row per image: gray | prediction | truth (uint8 [N,H,W,3] each), small images enlarged."""
    n, h, w, _ = truth.shape
    scale = max(1, math.ceil(min_side / h))
    pad = 2
    rows = []
    for i in range(n):
        cells = [cv2.resize(img[i], (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
                 for img in (gray, pred, truth)]
        row = np.full((h * scale, 3 * w * scale + 2 * pad, 3), 255, np.uint8)
        for j, cell in enumerate(cells):
            x = j * (w * scale + pad)
            row[:, x : x + w * scale] = cell
        rows.append(row)
        rows.append(np.full((pad, row.shape[1], 3), 255, np.uint8))
    write_png(Path(path), np.concatenate(rows[:-1]))


# (title, [(record key, legend, colour)]) panels; keys are read from metrics.jsonl records
PANELS = [
    ("generator loss (GAN)", [("loss_g_gan", "G adversarial", (31, 119, 180))]),
    ("pixel loss: L1 or MSE of ab/110, or log-MSE (dB)", [("loss_l1", "train", (214, 39, 40))]),
    ("discriminator", [("loss_d", "D loss", (44, 160, 44)), ("d_accuracy", "D accuracy", (148, 103, 189))]),
    ("CIEDE2000 (lower is better)", [("val_ciede2000", "model", (214, 39, 40)),
                                     ("gray_ciede2000", "gray baseline", (127, 127, 127))]),
    ("PSNR dB", [("val_psnr", "model", (31, 119, 180)), ("gray_psnr", "gray baseline", (127, 127, 127))]),
    ("colourfulness", [("val_colorfulness", "model", (255, 127, 14)),
                       ("ref_colorfulness", "truth", (44, 160, 44)),
                       ("gray_colorfulness", "gray", (127, 127, 127))]),
]


def _panel(draw: ImageDraw.ImageDraw, box, title: str, series, records, font) -> None:
    x0, y0, x1, y1 = box
    left, top, right, bottom = x0 + 48, y0 + 22, x1 - 10, y1 - 22
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    draw.text((x0 + 6, y0 + 4), title, fill=(0, 0, 0), font=font)
    points = {key: [(r["epoch"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
              for key, _, _ in series}
    values = [v for pts in points.values() for _, v in pts]
    epochs = [e for pts in points.values() for e, _ in pts]
    if not values:
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    e_lo, e_hi = min(epochs), max(max(epochs), min(epochs) + 1)
    to_xy = lambda e, v: (left + (e - e_lo) / (e_hi - e_lo) * (right - left),  # noqa: E731
                          bottom - (v - lo) / (hi - lo) * (bottom - top))
    for label, value in ((f"{hi:.3g}", hi), (f"{lo:.3g}", lo)):
        draw.text((x0 + 4, to_xy(e_lo, value)[1] - 6), label, fill=(0, 0, 0), font=font)
    draw.text((left, bottom + 4), f"epoch {e_lo}", fill=(0, 0, 0), font=font)
    draw.text((right - 60, bottom + 4), f"epoch {e_hi}", fill=(0, 0, 0), font=font)
    legend_x = left + 6
    for key, legend, colour in series:
        pts = [to_xy(e, v) for e, v in points[key]]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for x, y in pts:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((legend_x, top + 4), legend, fill=colour, font=font)
        legend_x += 8 * len(legend) + 12


def curves(path: Path, records: list[dict], panel_size=(420, 240)) -> None:
    """Loss and validation-metric curves over epochs, one panel per quantity, 3 per row."""
    cols, rows = 3, math.ceil(len(PANELS) / 3)
    pw, ph = panel_size
    image = Image.new("RGB", (cols * pw, rows * ph), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for i, (title, series) in enumerate(PANELS):
        x, y = (i % cols) * pw, (i // cols) * ph
        _panel(draw, (x, y, x + pw, y + ph), title, series, records, font)
    write_png(Path(path), np.asarray(image))
