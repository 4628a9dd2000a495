"""A print whose card shows only as a narrow margin round it: the real mounts that mount_find's search,
which samples the card a few percent in from the scan's edge, cannot see.

Real cards trimmed close to the print (or scanned with little of the card) leave a margin of 0.5% to 10%
of the scan on each side: cream, grey or toned like the print, worn and foxed, with pencil marks, a
number or a rounded corner. What this looks for on each side, on a copy of the scan's lightness:

- one straight step in lightness, parallel to the side within a few pixels (a print turned a little),
  found on most of the side's length: on at least 6 of 8 segments of it (the corners left out, where
  cards are rounded and worn);
- outside that step, a margin even along the side (its median lightness varies along the side less than
  the picture's does just inside the step) and even across it: card, not a picture's own dark frame of
  trees or a wall.

A print is found when all four sides show such a step, or three do and the fourth shows a weaker one
(3 of 8 segments: the print's light sky against a cream card) over an even margin no wider than twice the
others'. The margins must also be of a like width (the widest at most 2.5 times the narrowest, plus a few
pixels): a picture's own band of floor or sky is not a margin.

The confidence given with a find is the share of the four sides' segments that agree; the caller takes
the whole scan as one picture below mount_find's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SEGMENTS = 8  # along each side, the corners (6% at each end) left out
_CORNER = 0.06
_ZONE = 0.1  # a margin is at most this share of the scan's side
_SKIP = 0.003  # the scan's own outermost pixels (a scanner's edge) are left out of the margin
_STEP = 6.0  # L units: the least step between card and print on a segment
_SLACK = 2  # px of the copy a segment's step may lie off the side's line (a print turned up to ~1°)
_AGREE = 6  # segments of 8 with the step: a side found
_WEAK_AGREE = 3  # for the one side that may be weaker
_EVEN = 3.0  # L units: the margin's robust spread across it, at most
_ALONG = 3.0  # L units: the margin's robust spread along the side, at most
_BALANCE = (2.5, 4)  # the widest margin is at most 2.5 times the narrowest plus 4 px of the copy


@dataclass(frozen=True)
class Side:
    at: int  # px of the copy from the scan's edge to the step: the print starts at this row
    agree: int  # segments (of _SEGMENTS) with the step
    across: float  # the margin's robust spread across the side
    along: float  # the margin's robust spread along it
    picture_along: float  # the same just inside the step, in the picture

    @property
    def found(self) -> bool:
        return self.agree >= _AGREE and self.even and self.picture_along > self.along

    @property
    def weak(self) -> bool:
        return self.agree >= _WEAK_AGREE and self.even

    @property
    def even(self) -> bool:
        return self.across <= _EVEN and self.along <= _ALONG


def _spread(values: np.ndarray) -> float:
    """Robust standard deviation (1.4826 times the median absolute deviation); ink and foxing spots that
    cover a small part of a card do not count."""
    values = np.asarray(values, np.float32).ravel()
    if values.size == 0:
        return float("inf")
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _side(L: np.ndarray) -> Side:
    """The best step along the top side of `L` (the other sides are looked at turned to the top)."""
    height, width = L.shape
    bounds = np.linspace(int(_CORNER * width), int((1 - _CORNER) * width), _SEGMENTS + 1).astype(int)
    deepest = max(6, int(_ZONE * height))
    profiles = np.stack([np.median(L[:deepest + 3, a:b], axis=1) for a, b in zip(bounds, bounds[1:])])
    sums = np.cumsum(np.pad(profiles, ((0, 0), (1, 0))), axis=1)
    first = max(3, int(_SKIP * height) + 2)
    rows = np.arange(first, deepest)
    steps = ((sums[:, rows + 2] - sums[:, rows]) - (sums[:, rows] - sums[:, rows - 2])) / 2.0
    at, agree = _best_row(steps, rows, first)
    top = max(1, int(_SKIP * height))
    margin = L[top: top + max(1, (at - top) // 3), bounds[0]:bounds[-1]]  # the outer part: past a turned edge
    inside = L[at + 2: at + 2 + max(3, at), bounds[0]:bounds[-1]]
    return Side(at, agree, _spread(margin - np.median(margin, axis=0, keepdims=True)),
                _spread(np.median(margin, axis=0)), _spread(np.median(inside, axis=0)))


def _best_row(steps: np.ndarray, rows: np.ndarray, first: int) -> tuple[int, int]:
    """The row whose step, taken within _SLACK rows of it on each segment, is strongest: most segments
    with a step of _STEP or more, then the greatest median step; either sign; the first row of a tie.
    Returns (row, segments agreeing); (first, -1) when there are no rows."""
    if rows.size == 0:
        return first, -1
    width = 2 * _SLACK + 1
    padded = np.pad(steps, ((0, 0), (_SLACK, _SLACK)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)  # (segments, rows, width)
    heights = np.stack([np.nanmax(windows, axis=2), -np.nanmin(windows, axis=2)], axis=1)  # (seg, sign, row)
    counts = (heights >= _STEP).sum(axis=0)  # (sign, row)
    medians = np.median(heights, axis=0)
    order = (counts.T.ravel(), medians.T.ravel())  # row by row, each row's rising step first
    best = np.flatnonzero(order[0] == order[0].max())
    best = best[order[1][best] == order[1][best].max()][0]
    return int(rows[best // 2]), int(order[0][best])


def find(L: np.ndarray) -> tuple[dict[str, int], float] | None:
    """The rows and columns (px of `L`, a copy's lightness) where a print with a narrow margin starts on
    each side ({"top", "bottom", "left", "right"}: distance from that edge of the scan), with the share of
    agreeing segments; None when there is no such print."""
    if min(L.shape) < 32:
        return None
    sides = {"top": _side(L), "bottom": _side(L[::-1]), "left": _side(L.T), "right": _side(L.T[::-1])}
    found = [name for name, side in sides.items() if side.found]
    if len(found) < 3:
        return None
    if len(found) == 3:
        odd = next(name for name in sides if name not in found)
        if not sides[odd].weak or sides[odd].at > 2 * max(sides[name].at for name in found) + 2:
            return None
    widths = [side.at for side in sides.values()]
    if max(widths) > _BALANCE[0] * min(widths) + _BALANCE[1]:
        return None
    agreement = sum(side.agree for side in sides.values()) / (4 * _SEGMENTS)
    return {name: side.at for name, side in sides.items()}, agreement
