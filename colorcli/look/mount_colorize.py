"""A mounted scan: the grey decision on its prints alone, each print colorized on its own, the card kept.

The model sees each print cut from the scan (its bounding box), so neither the card's colour nor its
printing reaches the decision or the colours. The output is the scan itself, converted to RGB at its own
depth, with each colorized print laid back over it: pixels outside a print are the scan's own values. The
print's outermost pixels (its anti-aliased edge, half print and half card) stay as scanned too, and the
colours fade in over the next few pixels, so an edge found a pixel too wide cannot tint the card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from colorcli.look import lab
from colorcli.look import tone
from colorcli.look.mount_find import Mount, Print

_INSET = 0.02  # the decision looks at a print this far in from its edges (its rim mixes with the card)
_KEEP = 1.5  # px inside a print's edge kept as scanned
_BLEND = 2.5  # px over which the print's colours then fade in


@dataclass(frozen=True)
class Decision:
    """tone: the file's decision (grey when the scan, or any print on it, is to be colorized, with the
    reason); prints: the prints taken for grey (none when there is no mount)."""

    tone: tone.ToneDecision
    prints: tuple[Print, ...]


def _crop(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return pixels[y:y + h, x:x + w]


def decide(pixels: np.ndarray, mount: Mount) -> Decision:
    """tone.classify of the scan, or of each print on it (a little inside its edges)."""
    if not mount.prints:
        return Decision(tone.classify(pixels), ())
    decisions = [tone.classify(_crop(pixels, p.inside(pixels.shape, _INSET))) for p in mount.prints]
    grey = tuple(p for p, d in zip(mount.prints, decisions) if d.grey)
    if len(decisions) == 1:
        return Decision(decisions[0], grey)
    reason = "; ".join(f"print {i}: {d.reason}" for i, d in enumerate(decisions, 1))
    kinds = {d.kind for d in decisions if d.grey == bool(grey)}
    return Decision(tone.ToneDecision(bool(grey), kinds.pop() if len(kinds) == 1 else "mixed", reason), grey)


@dataclass(frozen=True)
class Piece:
    """What the model colorizes: the whole scan (print None) or a print's bounding box of it."""

    print: Print | None
    box: tuple[int, int, int, int]
    pixels: np.ndarray  # the scan's pixels in the box (a view of them)
    L: np.ndarray | None  # full-resolution L of 8-bit pixels (16-bit ones recompute it band by band)
    small: np.ndarray  # the model's input


def split_for_model(pixels: np.ndarray, prints: tuple[Print, ...], size: int, orientation: int = 1) -> list[Piece]:
    """color.split_for_model of the scan, or of each print's box."""
    height, width = pixels.shape[:2]
    pieces = []
    for p in prints or (None,):
        box = p.bounds(pixels.shape) if p is not None else (0, 0, width, height)
        part = _crop(pixels, box)  # a view: OpenCV and the band-by-band merge take rows with a stride
        L, small = lab.split_for_model(part, size, orientation)
        pieces.append(Piece(p, box, part, L if pixels.dtype == np.uint8 else None, small))
    return pieces


def merged_rows(pixels: np.ndarray, pieces: list[Piece], ab: list[np.ndarray], orientation: int = 1,
                channels: int = 3):
    """rows(top, bottom) of the output (see lab.merged_rows): the colorized scan, or the scan with each
    colorized print laid over it."""
    if len(pieces) == 1 and pieces[0].print is None:
        return lab.merged_rows_from_model(pixels, ab[0], orientation, pieces[0].L, channels)
    height = pixels.shape[0]
    parts = [(piece, lab.merged_rows_from_model(piece.pixels, prediction, orientation, piece.L, channels))
             for piece, prediction in zip(pieces, ab)]

    def rows(top: int, bottom: int) -> np.ndarray:
        bottom = min(bottom, height)
        out = scan_rows(pixels[top:bottom], channels)
        for piece, part in parts:
            x, y, w, h = piece.box
            first, last = max(top, y), min(bottom, y + h)
            if first < last:
                lay_over(out[first - top:last - top, x:x + w], part(first - y, last - y), piece.print, first, x)
        return out

    return rows


def scan_rows(rows: np.ndarray, channels: int) -> np.ndarray:
    """A scan's own rows as the output's RGB (channels 3) or RGBX (4, X at full scale), at their depth."""
    if rows.ndim == 2:
        return cv2.cvtColor(rows, cv2.COLOR_GRAY2RGBA if channels == 4 else cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(rows, cv2.COLOR_RGB2RGBA) if channels == 4 else rows.copy()


def weight(p: Print, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """How much of the colorized print each pixel of rows top..bottom, columns left..right takes: 0 outside
    the print and on its outermost _KEEP px, rising to 1 over the next _BLEND px."""
    return np.clip((p.depth(top, bottom, left, right) - np.float32(_KEEP)) * np.float32(1.0 / _BLEND), 0.0, 1.0)


def lay_over(scan: np.ndarray, colour: np.ndarray, p: Print, top: int, left: int) -> None:
    """Lay the colorized print `colour` over `scan` (its rows from `top`, columns from `left` of the scan), in
    place: copied where it takes full weight, mixed on its edge, nothing outside it.

    The interior (every row there and column there at full weight) is copied outright: the weights are
    worked out only for the edge strips, a few per cent of a large print."""
    rows, columns = scan.shape[:2]
    margin = _KEEP + _BLEND + 1.0
    y = np.arange(top, top + rows, dtype=np.float64)
    x_ends = np.array([left, left + columns - 1], np.float64)
    first_col = int(math.ceil(np.max(p.left[0] * y + p.left[1]) + margin)) - left
    last_col = int(math.floor(np.min(p.right[0] * y + p.right[1]) - margin)) - left
    top_edge = np.max(p.top[0] * x_ends + p.top[1]) + margin
    bottom_edge = np.min(p.bottom[0] * x_ends + p.bottom[1]) - margin
    inner = np.flatnonzero((y >= top_edge) & (y <= bottom_edge))
    first_col, last_col = max(first_col, 0), min(last_col, columns - 1)
    if inner.size and first_col <= last_col:
        r0, r1 = int(inner[0]), int(inner[-1]) + 1
        scan[r0:r1, first_col:last_col + 1] = colour[r0:r1, first_col:last_col + 1]
        strips = [(0, r0, 0, columns), (r1, rows, 0, columns),
                  (r0, r1, 0, first_col), (r0, r1, last_col + 1, columns)]
    else:
        strips = [(0, rows, 0, columns)]
    for r0, r1, c0, c1 in strips:
        if r0 < r1 and c0 < c1:
            _mix(scan[r0:r1, c0:c1], colour[r0:r1, c0:c1], weight(p, top + r0, top + r1, left + c0, left + c1))


def _mix(scan: np.ndarray, colour: np.ndarray, weights: np.ndarray) -> None:
    full = weights >= 1.0
    np.copyto(scan, colour, where=full[..., None])
    edge = (weights > 0.0) & ~full
    if edge.any():
        before = scan[edge].astype(np.float32)
        after = colour[edge].astype(np.float32)
        scan[edge] = (before + weights[edge][:, None] * (after - before) + 0.5).astype(scan.dtype)
