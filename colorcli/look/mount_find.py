"""Find the photograph on its mount: a print on a card (cabinet card, carte de visite) or on an album page.

What a mount looks like, and what this search assumes:

- The card or page is one even colour (cream, grey-green, black, maroon) with little texture, around the
  print on all four sides; light may fall off across the scan, so its colour is a plane in x and y. Its
  own edge may be bevelled or rounded and the scanner's lid may show past it: its colour is sampled on a
  band a little inside the scan's edge, where neither is (the more even of two such bands).
- Things printed on the card (a studio's name in gold or coloured ink, a ruled line) are thin: closing the
  card's mask over a few pixels takes them in.
- The print is a rectangle with straight edges, turned by a few degrees at most. Where its content matches
  the card (black shadows on a black page, a pale sky on a cream card) the card seems to run into it, but
  only along part of an edge: each edge is the straight line most of its boundary points agree on.
- A rectangle of card colour inside a scanner's background is a card: the search runs again inside it.

The search runs on a copy about 384 px on its long side (a 3 px median filter takes grain and noise out);
each edge is then found again on the scan itself, from short profiles across it, to the pixel. A scan where
no such rectangle is found is one picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from colorcli.look import mount_margins, tone

_WORK = 384  # long side of the copy searched
_SURE = 0.6  # a find less sure than this (Mount.confidence) is not used: the scan is taken as one picture
_MIN_SCAN = 128  # px on the scan's shorter side, at least: below it a card's border is a few pixels, which a
# picture's own plain border or backdrop matches as well (on CIFAR-10's 32 px photos it found 836 of 10,000)
_BANDS = ((0.02, 0.05), (0.04, 0.07))  # the card's colour is sampled this far in from the scan's edges, past
# a bevel, rounded corners or the scanner's lid round the card: on the more even of these bands
_EDGE = 0.02  # the card's own edge (bevel, corners), left out of the search
_GRAIN = 3  # px of the copy: a median filter over this takes a card's grain and a scan's noise out of the
# search, and keeps the edges where they are
_CARD_SHARE = 0.4  # of that band at least this share in the card's colour: an even card or page
_CARD_DISTANCE = (4.0, 18.0)  # colour distance (Lab) that still counts as card: 2.5x the band's spread, within these
_NEAR_CARD = 6.0  # colour distance (Lab) of pixels that could be card, to check a print's edges and inside
_CARD_TEXTURE = 2.0  # local standard deviation of L a card may have, at least (else 3x its band's median)
_CLOSE = 5  # px of the copy: ink on the card (imprints, ruled lines) thinner than this is taken in
_MIN_AREA = 0.03  # a print covers this share of the scan at least
_MIN_SIDE = 0.08  # and this share of the scan's shorter side across
_ALONE = 0.1  # a print alone on its card covers this share of it at least
_PAGE = 0.1  # the prints of an album page together cover this share of it at least
_ASPECT = 4.0  # and is no longer than this times its width
_MAX_AREA = 0.97  # and leaves some card
_MAX_TURN = 3.0  # degrees a print may be turned on its mount
_SLOPES = np.tan(np.radians(np.arange(-_MAX_TURN, _MAX_TURN + 0.01, 0.5)))  # the copy's edges; the scan's to 0.05°
_EDGE_AGREEMENT = 0.4  # share of an edge's boundary points on its line, at least
_SOLID = 0.5  # share of the rectangle the print's pixels fill, at least (the rest: card colour run into it)
_OUTSIDE_CARD = 0.5  # share of a band just outside the rectangle that is card, at least
_RIM_CARD = 0.9  # share of a band just inside it that may be card colour, at most (the print's shadows on black)
_EVEN = 0.6  # share of the scan around the prints in the card's colour, at least
_EVEN_CARD = 0.75  # and of a card found on the scanner's background, around its print
_SPREAD = 5.0  # the card's colour is within this distance (Lab) of a plane on 60% of its band: even, not a
# picture's faded backdrop
_DEPTH = 2  # rectangles looked for inside a found one (a card on the scanner's background, then its print)
_REFINE_SAMPLES = 64  # profiles across each edge on the scan
_STEP_WIDTH = 2  # px averaged each side of a step in a profile
_MIN_STEP = 6.0  # sum over channels of a step's height (8-bit units) that counts as an edge


@dataclass(frozen=True)
class Print:
    """A print's edges on the scan: top and bottom as y = a x + b, left and right as x = a y + b, in pixel
    coordinates (pixel centres at integers; an edge lies between the card's last pixel and the print's first)."""

    top: tuple[float, float]
    bottom: tuple[float, float]
    left: tuple[float, float]
    right: tuple[float, float]

    @property
    def corners(self) -> np.ndarray:
        """(4, 2) x, y of the top-left, top-right, bottom-right and bottom-left corners."""
        return np.array([_meet(self.top, self.left), _meet(self.top, self.right),
                         _meet(self.bottom, self.right), _meet(self.bottom, self.left)])

    @property
    def angle(self) -> float:
        """Degrees the print is turned (clockwise positive), the mean of its four edges."""
        return float(np.degrees(np.mean([np.arctan(self.top[0]), np.arctan(self.bottom[0]),
                                         -np.arctan(self.left[0]), -np.arctan(self.right[0])])))

    def bounds(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """[x, y, w, h] of the pixels the print touches, within a scan of this shape."""
        corners = self.corners
        x0, y0 = np.floor(corners.min(axis=0) + 0.5).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0) - 0.5).astype(int) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, shape[1]), min(y1, shape[0])
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)

    def inside(self, shape: tuple[int, ...], inset: float = 0.0) -> tuple[int, int, int, int]:
        """[x, y, w, h] of an upright rectangle within the print, `inset` of its size in from each edge."""
        tl, tr, br, bl = self.corners
        x0, x1 = max(tl[0], bl[0]), min(tr[0], br[0])
        y0, y1 = max(tl[1], tr[1]), min(bl[1], br[1])
        dx, dy = inset * (x1 - x0), inset * (y1 - y0)
        x0, x1 = max(int(np.ceil(x0 + dx)), 0), min(int(np.floor(x1 - dx)), shape[1] - 1)
        y0, y1 = max(int(np.ceil(y0 + dy)), 0), min(int(np.floor(y1 - dy)), shape[0] - 1)
        return x0, y0, max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)

    def sides(self, top: int, bottom: int, left: int, right: int) -> list[np.ndarray]:
        """How far inside each edge (top, bottom, left, right; px, negative outside) each pixel centre of rows
        top..bottom and columns left..right lies: four (bottom - top, right - left) float32 arrays."""
        y = np.arange(top, bottom, dtype=np.float32)[:, None]
        x = np.arange(left, right, dtype=np.float32)[None, :]

        def beyond(line, along, across):  # signed distance of (along, across) past across = a * along + b
            a, b = line
            return (across - np.float32(a) * along - np.float32(b)) * np.float32(1.0 / np.hypot(1.0, a))

        return [beyond(self.top, x, y), -beyond(self.bottom, x, y), beyond(self.left, y, x), -beyond(self.right, y, x)]

    def depth(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """How far inside the print (px, negative outside) each pixel centre of rows top..bottom and columns
        left..right lies: its distance to the nearest edge, (bottom - top, right - left) float32."""
        t, b, l, r = self.sides(top, bottom, left, right)
        return np.minimum(np.minimum(t, b), np.minimum(l, r))


@dataclass(frozen=True)
class Mount:
    """What was found: the prints (none when the scan is one picture) and a line for a person. several:
    more than one picture on the page, not each found, so the page is taken as one picture."""

    prints: tuple[Print, ...]
    reason: str
    several: bool = False
    confidence: float | None = None  # how sure the find is, 0 to 1 (None: nothing found)

    def report(self, shape: tuple[int, ...]) -> dict:
        """The report's fields: print ([x, y, w, h] of a single print, else null), prints (each one's, on a
        page of several), mount (the reason), mount_confidence (how sure a find is, 0 to 1)."""
        boxes = [list(p.bounds(shape)) for p in self.prints]
        fields = {"print": boxes[0] if len(boxes) == 1 else None, "mount": self.reason,
                  "mount_confidence": None if self.confidence is None else round(self.confidence, 2)}
        if len(boxes) > 1:
            fields["prints"] = boxes
        return fields


OFF = Mount((), "not looked for (--mount off)")


def _meet(horizontal: tuple[float, float], vertical: tuple[float, float]) -> tuple[float, float]:
    """Where y = a1 x + b1 meets x = a2 y + b2."""
    (a1, b1), (a2, b2) = horizontal, vertical
    x = (a2 * b1 + b2) / (1.0 - a1 * a2)
    return x, a1 * x + b1


def _work_copy(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Lab (float32, (h, w, 3)) of the scan shrunk by a whole factor to about _WORK px, and the factor.
    A whole factor makes OpenCV's area resize a block mean: a third of the cost of any other."""
    height, width = pixels.shape[:2]
    factor = max(1, round(max(height, width) / _WORK))
    h, w = height // factor, width // factor
    small = pixels[:h * factor, :w * factor]
    if factor > 1:
        small = cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32) * np.float32(1.0 / (65535.0 if pixels.dtype == np.uint16 else 255.0))
    if small.ndim == 2:
        small = cv2.merge([small, small, small])
    return cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2Lab), _GRAIN), factor


def _texture(L: np.ndarray) -> np.ndarray:
    """Standard deviation of L over a 3x3 neighbourhood: the least of those a pixel is in, so that an even
    pixel beside an edge counts as even."""
    mean = cv2.blur(L, (3, 3))
    spread = np.sqrt(np.maximum(cv2.blur(L * L, (3, 3)) - mean * mean, 0.0))
    return cv2.erode(spread, np.ones((3, 3), np.uint8))


def _band(shape: tuple[int, int], span: tuple[float, float]) -> np.ndarray:
    h, w = shape
    inner, outer = (max(1, round(f * min(h, w))) for f in span)
    band = np.zeros((h, w), bool)
    band[inner:h - inner, inner:w - inner] = True
    band[outer:h - outer, outer:w - outer] = False
    return band


def _plane(lab: np.ndarray, band: np.ndarray) -> tuple[np.ndarray, float]:
    """The card's colour as a plane in x and y per Lab channel (light falling off across a scan, a card
    faded towards one side), fitted to the band by least squares, then again without the pixels far off the
    fit (ink, a bevel, the scanner's lid, a print reaching into the band): its (3, 3) coefficients (constant,
    per x, per y; a column per channel, x and y from -0.5 to 0.5 across the copy) and the colour distance
    from it that 60% of the band is within. A plane rather than a curved surface: a print reaching into the
    band on one side cannot bend it there."""
    h, w = band.shape
    ys, xs = (positions[::3] for positions in np.nonzero(band))  # a third of them is plenty for 9 numbers
    terms = np.stack([np.ones(len(xs)), xs / w - 0.5, ys / h - 0.5], axis=1).astype(np.float32)
    values = lab[ys, xs]
    keep = np.ones(len(values), bool)
    for _ in range(3):
        coefficients = np.linalg.lstsq(terms[keep], values[keep], rcond=None)[0].astype(np.float32)
        off = np.linalg.norm(values - terms @ coefficients, axis=1)
        keep = off < max(3.0, 2.5 * float(np.median(off)))
    return coefficients, float(np.percentile(off, 60))


@dataclass(frozen=True)
class _Card:
    mask: np.ndarray  # card-coloured pixels of the copy, ink on it taken in
    close: np.ndarray  # pixels very near the card's colour
    share: float  # of the band sampled, the share in the card's colour
    spread: float  # colour distance (Lab) from the card's colour that 60% of the band is within


def _card(lab: np.ndarray, texture: np.ndarray) -> _Card:
    h, w = lab.shape[:2]
    bands = [_band((h, w), span) for span in _BANDS]
    (coefficients, spread), band = min(((_plane(lab, band), band) for band in bands), key=lambda fit: fit[0][1])
    u = (np.arange(w, dtype=np.float32) / w - 0.5)[None, :, None]
    v = (np.arange(h, dtype=np.float32) / h - 0.5)[:, None, None]
    difference = lab - coefficients[0] - coefficients[1] * u - coefficients[2] * v
    distance = np.einsum("ijk,ijk->ij", difference, difference)  # squared
    reach = float(np.clip(2.5 * spread, *_CARD_DISTANCE))
    smooth = max(_CARD_TEXTURE, 3.0 * float(np.median(texture[band])))
    # even, or the card's very colour: the card between the letters of an imprint or a caption
    card = ((distance < reach * reach) & ((texture < smooth) | (distance < 0.25 * reach * reach))).astype(np.uint8)
    share = float(card[band].mean())
    card = cv2.morphologyEx(card, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (_CLOSE, _CLOSE)))
    return _Card(card.astype(bool), distance < _NEAR_CARD ** 2, share, spread)


def _fit_edge(along: np.ndarray, across: np.ndarray, slopes: np.ndarray, prefer: int = 0, floor: float = 0.0,
              tolerance: float = 1.0) -> tuple[float, float, float] | None:
    """The straight line across = a * along + b that most of the points (one or more per position along)
    lie within `tolerance` of, for a in `slopes`: (a, b, share of the positions on it). Among lines nearly as
    well supported at the best slope (0.6 of the best, and `floor` of the positions), prefer > 0 takes the
    one with the greatest b, < 0 the least.
    Written here rather than with cv2.HoughLines: the slope is known to within a few degrees and the points
    are few, so one histogram of offsets per slope is simpler and exact."""
    if along.size == 0:
        return None
    centre = float(along.mean())
    offsets = across[None, :] - slopes[:, None] * (along[None, :] - centre)
    lo = np.floor(offsets.min()) - 1.0
    bins = np.floor(offsets - lo).astype(np.intp)
    size = int(bins.max()) + 2
    counts = np.bincount((np.arange(len(slopes))[:, None] * size + bins).ravel(),
                         minlength=len(slopes) * size).reshape(len(slopes), size)
    reach = max(1, int(round(tolerance)))
    running = np.cumsum(np.pad(counts, ((0, 0), (reach + 1, reach))), axis=1)
    support = running[:, 2 * reach + 1:] - running[:, :size]  # bins i - reach .. i + reach
    slope, index = np.unravel_index(np.argmax(support), support.shape)
    strong = np.flatnonzero(support[slope] >= max(0.6 * support.max(), floor * len(np.unique(along))))
    if prefer and strong.size:  # the innermost of the lines of the best slope
        index = strong.max() if prefer > 0 else strong.min()
    a, b = float(slopes[slope]), float(lo + index + 0.5)
    near = np.abs(across - (a * (along - centre) + b)) <= tolerance + 0.5
    share = len(np.unique(along[near])) / len(np.unique(along))
    for _ in range(2):  # least squares on the points near the line, twice: the histogram's bins are coarse
        if np.count_nonzero(near) < 2 or np.ptp(along[near]) == 0:
            break
        t = along[near] - centre
        t_mean, u_mean = t.mean(), across[near].mean()
        fitted = float(np.dot(t - t_mean, across[near] - u_mean) / np.dot(t - t_mean, t - t_mean))
        a = float(np.clip(fitted, slopes.min(), slopes.max()))
        b = u_mean - a * t_mean
        near = np.abs(across - (a * (along - centre) + b)) <= tolerance
    return float(a), float(b - a * centre), float(share)


def _coarse_edges(region: np.ndarray) -> dict[str, tuple[float, float, float]] | None:
    """The four edges of a component (a bool mask of the copy) from its boundary points, each the line most
    of them agree on: {side: (a, b, share)}, in the copy's pixel coordinates (edges between pixels)."""
    ys, xs = np.nonzero(region)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    columns = np.arange(x0 + (x1 - x0) // 10, x1 - (x1 - x0) // 10 + 1)
    rows = np.arange(y0 + (y1 - y0) // 10, y1 - (y1 - y0) // 10 + 1)
    if columns.size < 3 or rows.size < 3:
        return None
    cols = region[:, columns]
    lines = region[rows, :]
    has_col, has_row = cols.any(axis=0), lines.any(axis=1)
    first_y = np.argmax(cols, axis=0)
    last_y = region.shape[0] - 1 - np.argmax(cols[::-1], axis=0)
    first_x = np.argmax(lines, axis=1)
    last_x = region.shape[1] - 1 - np.argmax(lines[:, ::-1], axis=1)
    # the innermost of the well supported lines: a caption or stamp touching the print lies outside it
    fits = {
        "top": _fit_edge(columns[has_col].astype(float), first_y[has_col] - 0.5, _SLOPES, 1, _EDGE_AGREEMENT),
        "bottom": _fit_edge(columns[has_col].astype(float), last_y[has_col] + 0.5, _SLOPES, -1, _EDGE_AGREEMENT),
        "left": _fit_edge(rows[has_row].astype(float), first_x[has_row] - 0.5, _SLOPES, 1, _EDGE_AGREEMENT),
        "right": _fit_edge(rows[has_row].astype(float), last_x[has_row] + 0.5, _SLOPES, -1, _EDGE_AGREEMENT),
    }
    return None if any(f is None for f in fits.values()) else fits


def _print_of(lines: dict) -> Print:
    return Print(*(tuple(lines[side][:2]) for side in ("top", "bottom", "left", "right")))


def _scaled(p: Print, factor: int) -> Print:
    """A print found on the copy, in the scan's pixel coordinates: copy coordinate c is scan coordinate
    (c + 0.5) * factor - 0.5, so across = a * along + b becomes across = a * along + (b + 0.5) * factor - 0.5
    + a * (1 - factor) / 2."""

    def scale(line):
        a, b = line
        return a, (b + 0.5) * factor - 0.5 + 0.5 * a * (1 - factor)

    return Print(*(scale(line) for line in (p.top, p.bottom, p.left, p.right)))


_SHAPED = ("no card beyond", "card colour along", "card colour inside")  # failures of a rectangle's mount


def _check(lines: dict, region: np.ndarray, card: np.ndarray, near_card: np.ndarray) -> str | None:
    """Why the rectangle of these edges (of the component `region`) is not a print on its mount, or None
    when it is. card: the card's mask, its own edge included; near_card: pixels near the card's colour."""
    weak = [side for side, (_, _, share) in lines.items() if share < _EDGE_AGREEMENT]
    if weak:
        return f"no straight {' or '.join(weak)} edge"
    turns = {side: np.degrees(np.arctan(a)) for side, (a, _, _) in lines.items()}
    h, w = region.shape
    ys, xs = np.nonzero(region)
    # a slope fitted to boundary points a pixel apart over n of them is good to about 2 px / n
    slack = {"wide": max(0.5, np.degrees(np.arctan(2.0 / (0.8 * np.ptp(xs) + 1)))),
             "tall": max(0.5, np.degrees(np.arctan(2.0 / (0.8 * np.ptp(ys) + 1))))}
    if (abs(turns["top"] - turns["bottom"]) > 2 * slack["wide"]
            or abs(turns["left"] - turns["right"]) > 2 * slack["tall"]
            or abs(turns["top"] + turns["left"]) > slack["wide"] + slack["tall"]):
        return "edges not square"
    p = _print_of(lines)
    sides = p.sides(0, h, 0, w)
    depth = np.minimum(np.minimum(sides[0], sides[1]), np.minimum(sides[2], sides[3]))
    inside = depth > 0.5
    area = np.count_nonzero(inside)
    if area < _MIN_AREA * h * w:
        return "too small"
    if area > _MAX_AREA * h * w:
        return "no card around it"
    if np.count_nonzero(region & inside) < _SOLID * area:
        return "not a solid rectangle"
    for name, side in zip(("top", "bottom", "left", "right"), sides):
        ring = (side < -1.5) & (side > -3.5) & (depth > side - 0.5)  # just outside this edge, along it
        if np.count_nonzero(ring) < 8 or card[ring].mean() < _OUTSIDE_CARD:
            return f"no card beyond its {name} edge"
        rim = (side > 0.5) & (side < 4.5) & (depth > side - 0.5)  # just inside it: some print, if dark on black
        if near_card[rim].mean() > _RIM_CARD:
            return f"card colour along its {name} edge"
    if near_card[inside].mean() > 0.5:
        return "card colour inside"
    return None


@dataclass(frozen=True)
class _Found:
    prints: list[Print]  # in the coordinates of the copy searched
    reason: str
    several: bool = False  # several pictures seen, not each found
    even: float = 0.0  # share of what lies around the prints (the card's own edge left out) in card colour
    spread: float = 0.0  # the card's colour spread (see _Card)


def _search(lab: np.ndarray, depth: int = 0) -> _Found:
    """Prints on the copy `lab` (in its coordinates), with the reason."""
    L = np.ascontiguousarray(lab[..., 0])
    texture = _texture(L)
    card = _card(lab, texture)
    if card.share < _CARD_SHARE:
        return _Found([], f"no mount: the border is not an even card or page ({card.share:.0%} of it one colour)")
    if card.spread > _SPREAD:
        return _Found([], f"no mount: the border is not an even card or page (its colour varies by {card.spread:.0f})")
    h, w = card.mask.shape
    edge = max(1, round(_EDGE * min(h, w)))
    pictures = np.zeros((h, w), np.uint8)  # what is not card, the card's own edge (bevel, corners) left out
    pictures[edge:h - edge, edge:w - edge] = ~card.mask[edge:h - edge, edge:w - edge]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pictures, connectivity=4)
    beyond = card.mask.copy()  # card for the band around a print: the card's own edge counts
    beyond[:edge], beyond[h - edge:], beyond[:, :edge], beyond[:, w - edge:] = True, True, True, True
    found, failures, shapes = [], [], 0  # shapes: candidates with four straight edges, found or not
    for index in range(1, count):
        x, y, bw, bh, pixels = stats[index]
        if bw * bh < _MIN_AREA * h * w or min(bw, bh) < _MIN_SIDE * min(h, w) or pixels < 0.3 * bw * bh:
            continue  # ink on the card: a line of text, a ruled line, a stamp
        region = labels == index
        if max(region[edge].mean(), region[h - 1 - edge].mean(), region[:, edge].mean(),
               region[:, w - 1 - edge].mean()) > 0.25:
            continue  # along the scan's edge, not just a turned print's corner: no card between them
        lines = _coarse_edges(region)
        why = "no edges" if lines is None else _check(lines, region, beyond, card.close)
        shapes += lines is not None and (why is None or why.startswith(_SHAPED))
        if why:
            failures.append(why)
        else:
            found.append(_print_of(lines))
    if failures and shapes >= 2:
        return _Found([], f"several pictures on the page, {len(found)} of {len(found) + len(failures)} found "
                          f"with straight edges and card all round: the page is taken as one picture", True)
    sizes = [np.ptp(p.corners, axis=0) for p in found]
    if len(found) == 1 and (sizes[0].prod() < _ALONE * h * w or sizes[0].max() > _ASPECT * sizes[0].min()):
        failures.append("too small or too narrow for the print on this card")
        found = []
    if len(found) > 1 and sum(size.prod() for size in sizes) < _PAGE * h * w:
        failures.append("too small together for the prints on this page")
        found = []
    if not found:
        return _Found([], "no mount: " + (failures[0] if failures else "nothing on the card"))
    around = np.zeros((h, w), bool)
    around[edge:h - edge, edge:w - edge] = True
    for p in found:
        around &= p.depth(0, h, 0, w) < -2.0
    result = _Found(found, "", False, float(card.mask[around].mean()) if around.any() else 0.0, card.spread)
    if len(found) == 1 and depth < _DEPTH:
        return _inner_search(lab, result, depth) or result
    return result


def _inner_search(lab: np.ndarray, outer: _Found, depth: int) -> _Found | None:
    """Prints inside a found rectangle that is a card on the scanner's background: an even colour around
    them, a larger share of it than any print's own border is; None if there are none. The search sees the
    card's box with what lies past the card's edges (the scanner's lid beside a turned card) in its colour."""
    x, y, w, h = outer.prints[0].bounds(lab.shape)
    if min(w, h) < 32:
        return None
    window = lab[y:y + h, x:x + w].copy()
    depth_in = _shifted(outer.prints[0], -x, -y).depth(0, h, 0, w)
    rim = (depth_in > 0.02 * min(w, h)) & (depth_in < 0.05 * min(w, h))
    if not rim.any():
        return None
    window[depth_in < 1.0] = np.median(window[rim], axis=0)
    if min(_plane(window, _band((h, w), span))[1] for span in _BANDS) > _SPREAD:
        return None  # a print's own picture (most of them) is told at the cost of two planes
    inner = _search(window, depth + 1)
    if not inner.prints or inner.even < _EVEN_CARD:
        return None
    return _Found([_shifted(p, x, y) for p in inner.prints], inner.reason, inner.several, inner.even, inner.spread)


def _shifted(p: Print, dx: float, dy: float) -> Print:
    """The same edges in coordinates where a point (x, y) is at (x + dx, y + dy)."""
    def horizontal(line):
        return line[0], line[1] + dy - line[0] * dx

    def vertical(line):
        return line[0], line[1] + dx - line[0] * dy

    return Print(horizontal(p.top), horizontal(p.bottom), vertical(p.left), vertical(p.right))


def _profiles(pixels: np.ndarray, side: str, line: tuple[float, float], along: np.ndarray,
              reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Profiles across an edge at positions `along` (ints), `reach` px either side of the line, each the
    mean of 3 lines of pixels, 8-bit scale: (positions, length, channels) float32, and the scan coordinate
    of each profile's first pixel."""
    a, b = line
    height, width = pixels.shape[:2]
    extent = width if side in ("left", "right") else height
    length = min(2 * reach + 1, extent)
    start = np.clip(np.round(a * along + b).astype(int) - reach, 0, extent - length)
    across = start[:, None] + np.arange(length)[None, :]
    neighbours = np.clip(along[:, None] + np.array([-1, 0, 1])[None, :],
                         0, (height if side in ("left", "right") else width) - 1)
    if side in ("left", "right"):
        samples = pixels[neighbours[:, :, None], across[:, None, :]]
    else:
        samples = pixels[across[:, None, :], neighbours[:, :, None]]
    samples = samples.astype(np.float32).mean(axis=1)
    if samples.ndim == 2:
        samples = samples[..., None]
    if pixels.dtype == np.uint16:
        samples *= np.float32(255.0 / 65535.0)
    return samples, start


def _steps(profiles: np.ndarray) -> np.ndarray:
    """Height of the step at each boundary k of each profile (between its pixels k-1 and k): the difference
    of the means of _STEP_WIDTH pixels on either side, summed over channels; 0 where it cannot be measured."""
    n = profiles.shape[1]
    sums = np.concatenate([np.zeros_like(profiles[:, :1]), np.cumsum(profiles, axis=1)], axis=1)
    width = _STEP_WIDTH
    steps = np.zeros(profiles.shape[:2], np.float32)
    k = np.arange(width, n - width + 1)
    if k.size:
        after = sums[:, k + width] - sums[:, k]
        before = sums[:, k] - sums[:, k - width]
        steps[:, k] = np.abs(after - before).sum(axis=2) / width
    return steps


def _refine(pixels: np.ndarray, coarse: Print, factor: int) -> Print:
    """Each edge found again on the scan itself: the innermost straight line of steps across it near the
    copy's edge. An edge that cannot be seen keeps the copy's line, moved inwards by its uncertainty."""
    reach = int(1.5 * factor + 3)
    corners = coarse.corners
    spans = {"top": (corners[0, 0], corners[1, 0]), "bottom": (corners[3, 0], corners[2, 0]),
             "left": (corners[0, 1], corners[3, 1]), "right": (corners[1, 1], corners[2, 1])}
    inward = {"top": 1, "left": 1, "bottom": -1, "right": -1}
    lines = {}
    for side in ("top", "bottom", "left", "right"):
        line = getattr(coarse, side)
        lo, hi = spans[side]
        margin = 0.1 * (hi - lo)
        count = int(min(_REFINE_SAMPLES, max(3, (hi - lo) // 4)))
        along = np.unique(np.linspace(lo + margin, hi - margin, count).round().astype(int))
        limit = pixels.shape[0 if side in ("left", "right") else 1] - 1
        along = along[(along >= 0) & (along <= limit)]
        profiles, start = _profiles(pixels, side, line, along, reach)
        steps = _steps(profiles)
        peak = steps.max(axis=1, keepdims=True)
        padded = np.pad(steps, ((0, 0), (1, 1)))
        maxima = ((steps >= padded[:, :-2]) & (steps >= padded[:, 2:]) & (steps >= 0.5 * peak)
                  & (steps >= _MIN_STEP))
        rows, ks = np.nonzero(maxima)
        slopes = line[0] + np.tan(np.radians(np.arange(-0.5, 0.51, 0.05)))
        fit = _fit_edge(along[rows].astype(float), start[rows] + ks - 0.5, slopes, inward[side], 0.3)
        if fit is None or fit[2] < 0.3:
            a, b = line
            lines[side] = (a, b + inward[side] * (0.5 * factor + 1))
        else:
            lines[side] = fit[:2]
    return Print(lines["top"], lines["bottom"], lines["left"], lines["right"])


def find(pixels: np.ndarray) -> Mount:
    """The print or prints on a scan (grey (H, W) or RGB (H, W, 3), 8 or 16 bit), with the reason."""
    height, width = pixels.shape[:2]
    if min(height, width) < _MIN_SCAN:
        return Mount((), f"not looked for: {width}×{height} px is too small to tell a card from a picture")
    lab, factor = _work_copy(pixels)
    result = _search(lab)
    if not result.prints:
        if not result.several:
            narrow = _narrow_margins(pixels, lab, factor)
            if narrow is not None:
                return narrow
        return Mount((), result.reason, result.several)
    if result.even < _EVEN:
        return Mount((), f"no mount: what lies around it is not an even card or page ({result.even:.0%} of it)")
    found = tuple(_refine(pixels, _scaled(p, factor), factor) for p in result.prints)
    confidence = min(1.0, float(result.even))
    if len(found) > 1:
        return Mount(found, f"{len(found)} prints on an album page, each decided and colorized on its own",
                     confidence=confidence)
    x, y, w, h = found[0].bounds(pixels.shape)
    share = w * h / (pixels.shape[0] * pixels.shape[1])
    return Mount(found, f"print on a card or page ({share:.0%} of the scan, turned {found[0].angle:.1f}°)",
                 confidence=confidence)


def _narrow_margins(pixels: np.ndarray, lab: np.ndarray, factor: int) -> Mount | None:
    """A print whose card shows only as a narrow margin (mount_margins), looked for on monochrome scans
    alone: on a colour photograph a plain margin is the photograph's own border or backdrop."""
    found = mount_margins.find(np.ascontiguousarray(lab[..., 0]))
    if found is None:
        return None
    at, confidence = found
    h, w = lab.shape[:2]
    if confidence < _SURE:
        return Mount((), f"no mount: a narrow margin was seen, but on too little of its sides "
                         f"({confidence:.0%}): taken as one picture")
    if not tone.classify(pixels).grey:
        return None
    coarse = Print((0.0, at["top"] - 0.5), (0.0, h - at["bottom"] - 0.5), (0.0, at["left"] - 0.5),
                   (0.0, w - at["right"] - 0.5))
    found_print = _refine(pixels, _scaled(coarse, factor), factor)
    x, y, bw, bh = found_print.bounds(pixels.shape)
    share = bw * bh / (pixels.shape[0] * pixels.shape[1])
    return Mount((found_print,), f"print on a card with a narrow margin ({share:.0%} of the scan, "
                                 f"turned {found_print.angle:.1f}°)", confidence=confidence)
