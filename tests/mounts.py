"""Synthetic mounted prints for the tests and benchmarks: a colour photo made monochrome and toned, put on a
card (cream, grey, black, maroon) with a studio's imprint, bevelled or rounded edges, off centre or slightly
turned; album pages holding several prints. Each comes with the print's coverage of every pixel (1 inside,
0 on the card, between on the print's anti-aliased edge)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CARDS = {"cream": (234, 224, 196), "grey": (160, 166, 152), "black": (30, 28, 27), "maroon": (98, 34, 40)}
INKS = {"gold": (196, 158, 72), "red": (176, 38, 36)}
TONES = {"sepia": (68.0, 18.0), "selenium": (40.0, 10.0), "grey": (0.0, 0.0)}  # hue (Lab degrees), chroma


@dataclass
class Mounted:
    scan: np.ndarray  # (H, W, 3) uint8
    coverage: list[np.ndarray]  # per print, (H, W) float32: 1 inside, 0 on the card

    @property
    def card(self) -> np.ndarray:
        """Pixels no print touches."""
        return np.all([c == 0 for c in self.coverage], axis=0)

    def box(self, index: int = 0) -> tuple[int, int, int, int]:
        ys, xs = np.nonzero(self.coverage[index] >= 0.5)
        return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def toned(photo: np.ndarray, tone: str = "sepia") -> np.ndarray:
    """A colour photo (RGB uint8) as a monochrome print: its lightness, a toner strongest in the mid-tones,
    paper a little yellowed, blacks a little lifted."""
    lab = cv2.cvtColor(photo.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    L = 6.0 + lab[..., 0] * 0.88
    hue, chroma = TONES[tone]
    strength = chroma * np.sin(np.pi * L / 100.0) + 4.0 * (L / 100.0) * (tone != "grey")
    a = strength * np.cos(np.radians(hue))
    b = strength * np.sin(np.radians(hue))
    rgb = cv2.cvtColor(np.dstack([L, a, b]).astype(np.float32), cv2.COLOR_Lab2RGB)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def _card_surface(height: int, width: int, colour, rng) -> np.ndarray:
    """An even card: its colour, a slow variation of a few levels and fine grain."""
    slow = cv2.resize(rng.normal(0, 2.5, (4, 4)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1.5, (height, width)).astype(np.float32)
    return np.clip(np.float32(colour)[None, None, :] + (slow + grain)[..., None], 0, 255)


def _place(canvas: np.ndarray, print_rgb: np.ndarray, centre: tuple[float, float], angle: float) -> np.ndarray:
    """Put a print on the canvas (float32, in place) turned by `angle` degrees about its centre at `centre`
    (x, y); returns its coverage."""
    height, width = canvas.shape[:2]
    ph, pw = print_rgb.shape[:2]
    turn = cv2.getRotationMatrix2D((pw / 2.0, ph / 2.0), -angle, 1.0)
    turn[:, 2] += (centre[0] - pw / 2.0, centre[1] - ph / 2.0)
    flags = cv2.INTER_LINEAR if angle else cv2.INTER_NEAREST
    picture = cv2.warpAffine(print_rgb.astype(np.float32), turn, (width, height), flags=flags,
                             borderMode=cv2.BORDER_CONSTANT)
    coverage = cv2.warpAffine(np.ones((ph, pw), np.float32), turn, (width, height), flags=flags,
                              borderMode=cv2.BORDER_CONSTANT)
    coverage[coverage < 1e-4] = 0.0
    coverage = np.minimum(coverage, 1.0)
    inside = coverage > 0
    # on the anti-aliased edge the picture was mixed with black by the warp: undo that before mixing with card
    picture[inside] /= coverage[inside][:, None]
    canvas[:] = canvas * (1 - coverage[..., None]) + picture * coverage[..., None]
    return coverage


def _imprint(canvas: np.ndarray, text: str, centre_x: int, baseline: int, scale: float, ink, font) -> None:
    """Text in `ink`, anti-aliased, drawn as coverage and mixed into the canvas (float32, in place)."""
    thickness = max(1, int(scale * 1.5))
    (tw, _), _ = cv2.getTextSize(text, font, scale, thickness)
    mask = np.zeros(canvas.shape[:2], np.uint8)
    cv2.putText(mask, text, (int(centre_x - tw / 2), baseline), font, scale, 255, thickness, cv2.LINE_AA)
    alpha = mask.astype(np.float32)[..., None] / 255.0
    canvas[:] = canvas * (1 - alpha) + np.float32(ink) * alpha


def cabinet_card(photo: np.ndarray, card: str = "cream", ink: str | None = "gold", tone: str = "sepia",
                 rounded: bool = False, bevel: bool = False, offset: tuple[float, float] = (0.0, 0.0),
                 angle: float = 0.0, width: int = 360, seed: int = 0) -> Mounted:
    """A cabinet card `width` px wide (height 1.55x): the photo toned and cut to fill most of it, above a
    wider bottom margin with the studio's name and town in `ink`. offset moves the print (share of the
    card's size); rounded shows the scanner's background past round corners; bevel gilds the card's edge."""
    rng = np.random.default_rng(seed)
    height = int(width * 1.55)
    canvas = _card_surface(height, width, CARDS[card], rng)
    pw, ph = int(width * 0.86), int(height * 0.74)
    picture = cv2.resize(toned(photo, tone), (pw, ph), interpolation=cv2.INTER_AREA)
    centre = (width / 2 + offset[0] * width, height * 0.43 + offset[1] * height)
    coverage = _place(canvas, picture, centre, angle)
    if ink:
        bottom = int(centre[1] + ph / 2)
        _imprint(canvas, "A. MORENO & SONS", width // 2, bottom + int(0.055 * height), width / 420,
                 INKS[ink], cv2.FONT_HERSHEY_TRIPLEX)
        _imprint(canvas, "Valparaiso", width // 2, bottom + int(0.1 * height), width / 380,
                 INKS[ink], cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
    if bevel:  # a gilt bevel along the card's edge, light on the top and left, darker on the others
        edge = max(3, width // 60)
        for i in range(edge):
            shade = 1.0 - i / edge
            canvas[i, i:width - i] = canvas[i, i:width - i] * (1 - shade) + np.float32(INKS["gold"]) * shade
            canvas[i:height - i, i] = canvas[i:height - i, i] * (1 - shade) + np.float32(INKS["gold"]) * shade
            canvas[height - 1 - i, i:width - i] *= 1 - 0.4 * shade
            canvas[i:height - i, width - 1 - i] *= 1 - 0.4 * shade
    if rounded:
        radius = width // 14
        outside = np.ones((height, width), np.uint8)
        cv2.rectangle(outside, (radius, 0), (width - 1 - radius, height - 1), 0, -1)
        cv2.rectangle(outside, (0, radius), (width - 1, height - 1 - radius), 0, -1)
        for cx, cy in ((radius, radius), (width - 1 - radius, radius), (radius, height - 1 - radius),
                       (width - 1 - radius, height - 1 - radius)):
            cv2.circle(outside, (cx, cy), radius, 0, -1)
        background = 245.0 if card in ("black", "maroon") else 40.0
        canvas[outside.astype(bool)] = background
    return Mounted((canvas + 0.5).astype(np.uint8), [coverage])


def album_page(photos: list[np.ndarray], page: str = "black", tone: str = "sepia", width: int = 480,
               caption_gap: float = 0.13, seed: int = 0) -> Mounted:
    """An album page (4:3) with the photos as prints in a grid of two columns, of varied sizes and slight
    turns, a caption in white ink under each (its baseline caption_gap of a row's height below the print)."""
    rng = np.random.default_rng(seed)
    height = int(width * 0.75)
    canvas = _card_surface(height, width, CARDS[page], rng)
    rows = (len(photos) + 1) // 2
    coverage = []
    for index, photo in enumerate(photos):
        column, row = index % 2, index // 2
        cell_w, cell_h = width / 2, height / rows
        pw = int(cell_w * rng.uniform(0.62, 0.76))
        ph = int(min(cell_h * 0.68, pw * photo.shape[0] / photo.shape[1]))
        picture = cv2.resize(toned(photo, tone), (pw, ph), interpolation=cv2.INTER_AREA)
        centre = ((column + 0.5) * cell_w + rng.uniform(-4, 4), (row + 0.45) * cell_h + rng.uniform(-3, 3))
        coverage.append(_place(canvas, picture, centre, float(rng.uniform(-1.5, 1.5))))
        ink = (235, 232, 220) if page in ("black", "maroon") else (60, 50, 45)
        _imprint(canvas, f"Summer {1901 + index}", int(centre[0]), int(centre[1] + ph / 2 + caption_gap * cell_h),
                 width / 900, ink, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
    return Mounted((canvas + 0.5).astype(np.uint8), coverage)
