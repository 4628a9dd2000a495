"""Is a scan a monochrome print (grey, toned, faded, stained) or a colour picture? With the reason.

How prints are made, and what this decision assumes:

- A monochrome print has one image tone: silver, sepia, selenium or gold toning, a cyanotype. Its colour
  is a function of the print's density, so a, b of Lab are one curve of lightness over the whole sheet
  (cream highlights, brown mid-tones, near-neutral blacks; or blue-grey throughout).
- On top of it the paper has aged: yellowing, a faded edge, stains and foxing add a yellow-to-brown cast
  (hue 30° to 110° in Lab) that changes slowly across the sheet, not at the edges of things. It acts as a
  filter, so it shows more on light parts of the picture than on dark ones.
- Ink on the sheet (a caption, a stamp, a signature) is a small area of one more hue.
- In a colour photograph (or a hand-tinted print) things of the same lightness have different colours,
  changing at their edges: chroma that neither the tone curve nor a slow paper cast explains, in several
  separate hues.
- Toner sits in the image substance, so its colour grows with density; the light tones of a print are thin
  toner on paper, and paper ages only towards yellow-brown. Strong blue, green or purple in the lighter half
  of a picture is sky, water or paint, not toner. (A cyanotype whose light tones are a strong Prussian blue
  would be taken for colour by this; blue-grey toning is weak, chroma under 10, and is not.)
- Along the print family a tone runs one way with density: from the purple- or red-brown of dense toner
  (selenium, sepia) to the yellow of thin toner and aged paper, so a print's hue turns yellower as it gets
  lighter, or stays. A warm picture that turns redder as it gets lighter (sunlit fur, sand or rock over
  olive shadows and plants) was coloured by its subjects and its light. Real prints do not all obey this:
  where the blacks are near neutral or olive (silver, a scanner's black point) and the toner's colour
  builds up through the dark tones, the hue turns redder there, at low chroma; from the middle tones up,
  where the toner thins and the paper shows, it does not. And a print's colour is a function of its
  density everywhere: within a face or a wall, the lighter parts are redder in the same measure as across
  the picture. A photograph's warm things are redder than its plants as wholes, and within them the
  colour does not follow the lightness. So a picture that turns redder where lighter is taken for colour
  when it does so in its lighter half, or when its colour does not follow its lightness locally (one of
  the two for a sheet already off an even tone, both for an evenly toned one).

Strong chroma of a print is therefore in one family of hues: purple-brown (selenium) through sepia to
yellowed paper (Lab hue 330° to 120°); blue-grey toning is weak (chroma under 8) and counts as neutral.
One exception: a split-toned print (a real-photo postcard) has warm highlights over blue-grey shadows,
which silvering makes patchy and stronger (chroma 10 to 20). Where the darkest fifth of a picture is
blue-grey and its lighter half is not, the pixels near the hue of their tone curve's blue-grey (dark)
bins are the print's own shadow tone and are not counted as real chroma. A picture cool throughout (a
blue cast, dusk) does not get this.

The decision, on a copy at most 128 px on its long side (it runs on every scan):
1. grey: 99% of the pixels have chroma under 6.
2. toned: chroma is a curve of lightness (95% of pixels within 4 of it): an evenly toned print, unless
   more than 2% of the picture is chroma over 10, outside the print family, in its lighter half (colour).
3. colour: two or more separate hues of real chroma (over 8) outside the print family, each on 0.2% of
   the picture or more (ink is one hue; a photograph's blue sky and green trees are two).
4. colour: more than 2% of the picture in real chroma outside the print family (more than ink).
5. colour: more than 3% of the picture has real chroma that the tone curve plus a smooth yellow-brown
   paper cast (changing over no less than a twelfth of the sheet, in proportion to lightness) leave
   unexplained: more than ink and the edges of stains; or more than 22% by over 4 (a photograph's weaker
   colour spread over its objects, where a stain's edge is a thin line). On a strongly toned print (an
   orange or deep sepia toner, chroma 30 to 50) the toner's own unevenness and the scan's colour edges
   leave more: there, what counts as real is a quarter of the print's median chroma, when that is over 8.
6. colour: the darker half of the picture is warm (a warm toner) and the hue of the tone curve (its warm
   lightness bins) turns redder by more than 3° per standard deviation of lightness as the picture gets
   lighter, and either it turns redder by more than 1.5° over the lighter half's bins alone, or locally
   (lightness and redness less their blur over 2 px of the copy) the redness rises with lightness at under
   half its rate across the picture (both first smoothed to the 2 px of the scan that a JPEG holds colour
   to). An evenly toned picture (2.) is taken for colour by this when both hold.
   (Of the shared prints the one that turns redder, 6°: 1° in its lighter half, locally 0.7 of the rate.)
7. otherwise toned: stained, faded or ink-captioned.

Near-monochrome colour photographs (a husky on snow, a desert) are taken for grey: that costs an extra
output, never a file, whereas skipping a print costs the user the colorization they came for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

_THUMB = 128  # longest side of the copy examined: enough to see objects, blind to grain and JPEG noise
_NEUTRAL_CHROMA = 6.0  # 99th-percentile chroma below this: a neutral grey picture
_REAL_CHROMA = 8.0  # chroma a scanner's noise and a print's grain do not reach
_LIGHTNESS_BINS = 32
_PAPER_GRID = 12  # the paper cast may change over a twelfth of the sheet, not faster
_PAPER_HUES = (30.0, 110.0)  # yellowed paper, stains, foxing: yellow to brown
_EVEN_TONE_RESIDUAL = 4.0  # 95th-percentile chroma left after a tone curve of lightness: an evenly toned print
_INK_AREA = 0.02  # real chroma in hues no print tone has (green, magenta): ink at most, on this share
_UNEXPLAINED_AREA = 0.03  # chroma off the tone curve and paper cast on more than this: more than stain edges
_UNEXPLAINED_SHARE = 0.25  # of a strongly toned print's median chroma: off the model by less is its unevenness
_WEAK_UNEXPLAINED = (4.0, 0.22)  # weaker chroma off the print model, on a larger share: colour spread over objects
_HUE_TURN_BINS = 16  # lightness bins of the tone curve whose hue is followed
_HUE_TURN_SHARE = 0.01  # a bin counts with this share of the pixels
_HUE_TURN_CHROMA = 4.0  # and a mean chroma over this (below it the hue is noise)
_WARM_TONER = 2.0  # mean chroma of the darker half above this, in a print hue: a warm toner whose hue is followed
_REDDER_WHEN_LIGHTER = -3.0  # degrees per standard deviation of lightness (shared prints: -5.7 at worst)
_REDDER_IN_LIGHT_HALF = -1.5  # the same over the lighter half's bins (shared prints: -1.0 at worst)
_FOLLOWS = 0.5  # local rate of redness over lightness / its rate across the picture (shared prints: 0.72)
_LOCAL_SIGMA = 2.0  # px of the copy: lightness and redness less their blur over this are local
_CHROMA_DETAIL = 2.0  # px of the scan: finer colour than this a JPEG does not hold (4:2:0 keeps chroma at half size)
_SKY_CHROMA = 10.0  # blue in the light tones beyond blue-grey toning (which stays under 8 or 9)
_PRINT_HUES = (330.0, 120.0)  # strong chroma of a print: purple-brown (selenium) through sepia to yellow paper
_FIT_ROUNDS = 3
_HUE_BIN = 15  # degrees per bin when separate hues are counted
_CLUSTER_AREA = 0.002  # a hue must cover this share of the picture to count as one of several
_COOL_HUES = (210.0, 275.0)  # blue-grey: a cool toner, or the silvered shadows of a split-toned print
_COOL_SPREAD = 40.0  # degrees about the shadows' own hue that are still their toner
_COOL_DARKEST = 20.0  # percentile of lightness: the shadows whose tone is looked at
_COOL_MAX_CHROMA = 20.0  # silvering and cool toners stay weak; a blue coat or a dusk sky is stronger


@dataclass(frozen=True)
class ToneDecision:
    """grey is True for pictures to colorize. kind: "grey", "toned" or "colour"; hue in degrees (Lab)
    for a toned print; reason: one line for a person."""

    grey: bool
    kind: str
    reason: str
    hue: float | None = None

    def __bool__(self) -> bool:
        return self.grey


def _thumbnail(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = min(1.0, _THUMB / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        factor = max(height, width) // (2 * _THUMB)
        if factor >= 2:  # a whole factor first: OpenCV's block mean, a third of the cost of a free area resize
            pixels = cv2.resize(pixels[:height // factor * factor, :width // factor * factor],
                                (width // factor, height // factor), interpolation=cv2.INTER_AREA)
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) * np.float32(1.0 / 65535.0)
    return pixels.astype(np.float32) * np.float32(1.0 / 255.0)


def _keep_paper_hues(field: np.ndarray) -> np.ndarray:
    """The part of a smooth a, b field that ageing paper can make: vectors outside the yellow-brown hues
    are projected onto the nearer edge of that range (nothing is left of those pointing away from it)."""
    lo, hi = np.radians(_PAPER_HUES)
    hue = np.arctan2(field[..., 1], field[..., 0])
    edge = np.where(np.abs(np.angle(np.exp(1j * (hue - lo)))) < np.abs(np.angle(np.exp(1j * (hue - hi)))), lo, hi)
    inside = (hue >= lo) & (hue <= hi)
    along = np.maximum(field[..., 0] * np.cos(edge) + field[..., 1] * np.sin(edge), 0.0)
    projected = np.stack([along * np.cos(edge), along * np.sin(edge)], axis=-1)
    return np.where(inside[..., None], field, projected).astype(np.float32)


def _binned_curve(L: np.ndarray, ab: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean a, b of each of `count` lightness bins (count, 2), the pixels in each bin, and each pixel's bin."""
    bins = np.minimum((L * (count / 100.0)).astype(np.intp), count - 1).ravel()
    counts = np.bincount(bins, minlength=count)
    flat = ab.reshape(-1, 2)
    curve = np.stack([np.bincount(bins, flat[:, i], count) for i in range(2)], axis=1) / np.maximum(counts, 1)[:, None]
    return curve, counts, bins


def _tone_curve(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """The mean a, b of each lightness bin, at every pixel: the colour a single toner gives that lightness."""
    curve, _, bins = _binned_curve(L, ab, _LIGHTNESS_BINS)
    return curve[bins].reshape(ab.shape).astype(np.float32)


def _hue_turn(L: np.ndarray, ab: np.ndarray, lighter_half: bool = False) -> float:
    """How the hue of the tone curve turns as the picture gets lighter, in degrees per standard deviation of
    lightness, over its lightness bins in warm hues (the print family) with some chroma (lighter_half: of
    them, those above the picture's median lightness): a least-squares slope, each bin weighted by its
    pixels and its chroma. 0 when fewer than three bins qualify, or when the darker half of the picture
    (dense toner, little paper cast) is not warm."""
    median = np.median(L)
    dark = ab[L < median]
    toner = dark.mean(axis=0) if dark.size else np.zeros(2, np.float32)
    if np.hypot(*toner) <= _WARM_TONER or not _is_print_hue(_hues(*toner)):
        return 0.0  # a cool or neutral toner under a warm paper cast turns the hue either way
    curve, counts, _ = _binned_curve(L, ab, _HUE_TURN_BINS)
    chroma = np.hypot(curve[:, 0], curve[:, 1])
    hue = _hues(curve[:, 0], curve[:, 1])
    hue = np.where(hue >= 180.0, hue - 360.0, hue)  # the print family, 330° to 120°, as -30° to 120°
    used = (counts >= _HUE_TURN_SHARE * L.size) & (chroma > _HUE_TURN_CHROMA) & _is_print_hue(hue % 360.0)
    lightness = (np.arange(_HUE_TURN_BINS) + 0.5) * (100.0 / _HUE_TURN_BINS)
    if lighter_half:
        used &= lightness >= median
    if np.count_nonzero(used) < 3:
        return 0.0
    weight = counts * chroma * used
    mean_l, mean_hue = np.average(lightness, weights=weight), np.average(hue, weights=weight)
    spread = np.average((lightness - mean_l) ** 2, weights=weight)
    covariance = np.average((lightness - mean_l) * (hue - mean_hue), weights=weight)
    return float(covariance / np.sqrt(max(spread, 1e-6)))


def _follows_locally(L: np.ndarray, ab: np.ndarray, detail: float = 0.0) -> float:
    """How far the picture's redness (a, b across its mean hue, towards red) follows its lightness locally:
    the least-squares rate of redness over lightness after both lose their blur over _LOCAL_SIGMA px, as a
    share of that rate across the whole picture; pixels with some chroma in a print hue only (not ink).
    0 when redness does not rise with lightness across the picture.

    `detail`: px of the copy below which the file holds no colour detail (_CHROMA_DETAIL of the scan). A
    small JPEG keeps lightness to the pixel but colour at half size: compared there, a print's redness
    seems not to follow its lightness (the shared ArkansasCowboys1880s: 0.72 at 947 px; saved as a JPEG of
    300 px, 0.26, and taken for colour). So both are first smoothed to that detail, and the local scale is
    at least twice it (0.62 at 300 px)."""
    chroma = np.hypot(ab[..., 0], ab[..., 1])
    weight = ((chroma > _HUE_TURN_CHROMA) & _is_print_hue(_hues(ab[..., 0], ab[..., 1]))).astype(np.float32)
    if weight.sum() < 16:
        return 0.0
    mean = (ab * weight[..., None]).sum(axis=(0, 1))
    direction = mean / max(float(np.hypot(*mean)), 1e-6)
    red = ab[..., 0] * direction[1] - ab[..., 1] * direction[0]  # towards smaller hue angles
    l_mean, r_mean = np.average(L, weights=weight), np.average(red, weights=weight)
    across = np.average((L - l_mean) * (red - r_mean), weights=weight) / max(
        np.average((L - l_mean) ** 2, weights=weight), 1e-6)
    if across <= 0:
        return 0.0
    red = red.astype(np.float32)
    sigma = _LOCAL_SIGMA
    if detail > 0.0:
        L, red = cv2.GaussianBlur(L, (0, 0), detail), cv2.GaussianBlur(red, (0, 0), detail)
        sigma = max(sigma, 2.0 * detail)
    dL = L - cv2.GaussianBlur(L, (0, 0), sigma)
    dred = red - cv2.GaussianBlur(red, (0, 0), sigma)
    local = np.sum(weight * dL * dred) / max(float(np.sum(weight * dL * dL)), 1e-6)
    return float(local / across)


def _unexplained(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """a, b left after a tone curve of lightness and a smooth paper cast are taken out (fitted in turn).
    The paper cast is a filter over the image: it tints light areas more than dark ones (a, b scale with
    L), so it is fitted per cell of the grid as a, b per unit of L / 100."""
    height, width = L.shape
    grid = (max(1, round(_PAPER_GRID * width / max(height, width))),
            max(1, round(_PAPER_GRID * height / max(height, width))))
    light = (L * np.float32(0.01))[..., None]
    power = np.maximum(cv2.resize(light * light, grid, interpolation=cv2.INTER_AREA), 1e-3)[..., None]
    paper = np.zeros_like(ab)
    for _ in range(_FIT_ROUNDS):
        toned = _tone_curve(L, ab - paper)
        cast = cv2.resize((ab - toned) * light, grid, interpolation=cv2.INTER_AREA) / power
        paper = _keep_paper_hues(cv2.resize(cast, (width, height), interpolation=cv2.INTER_LINEAR)) * light
    return ab - toned - paper


def _hue_clusters(hue: np.ndarray, area: int) -> int:
    """Separate hues (runs of occupied bins on the hue circle) that each cover _CLUSTER_AREA of `area`."""
    bins = 360 // _HUE_BIN
    share = np.bincount((hue // _HUE_BIN).astype(np.intp) % bins, minlength=bins) / max(area, 1)
    occupied = share >= _CLUSTER_AREA / 4
    if occupied.all():
        return 1 if share.sum() >= _CLUSTER_AREA else 0
    start = int(np.argmin(occupied))  # an empty bin: runs do not wrap past it
    clusters, mass = 0, 0.0
    for step in range(1, bins + 1):
        index = (start + step) % bins
        if occupied[index]:
            mass += share[index]
            continue
        clusters += mass >= _CLUSTER_AREA
        mass = 0.0
    return clusters


def _hues(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(b, a)) % 360.0


def _is_print_hue(hue: np.ndarray) -> np.ndarray:
    return (hue >= _PRINT_HUES[0]) | (hue <= _PRINT_HUES[1])


def _even_residual(L: np.ndarray, ab: np.ndarray) -> float:
    """95th percentile of the chroma left after the mean a, b per lightness bin (a print toned evenly)."""
    rest = ab - _tone_curve(L, ab)
    return float(np.percentile(np.hypot(rest[..., 0], rest[..., 1]), 95))


def _cool(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Blue-grey with some chroma: a cool toner's hue."""
    hue = _hues(a, b)
    return (np.hypot(a, b) > _WARM_TONER) & (hue >= _COOL_HUES[0]) & (hue <= _COOL_HUES[1])


def _cool_shadows(L: np.ndarray, ab: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Pixels in the cool tone of a split-toned print's shadows (blue-grey, silvered): where the darkest
    fifth of the picture is blue-grey on the whole and its lighter half is not (warm or neutral
    highlights), the pixels whose lightness bin of the tone curve is blue-grey too and which lie near that
    bin's hue, weakly. All False otherwise: a picture cool throughout is a cyanotype or a blue cast."""
    shadows, lights = L <= np.percentile(L, _COOL_DARKEST), L >= np.median(L)
    if not shadows.any() or not _cool(*ab[shadows].mean(axis=0)) or _cool(*ab[lights].mean(axis=0)):
        return np.zeros(L.shape, bool)
    curve = _tone_curve(L, ab)
    curve_hue = _hues(curve[..., 0], curve[..., 1])
    off = np.abs((_hues(ab[..., 0], ab[..., 1]) - curve_hue + 180.0) % 360.0 - 180.0)
    return _cool(curve[..., 0], curve[..., 1]) & (off <= _COOL_SPREAD) & (chroma < _COOL_MAX_CHROMA)


class _Evidence:
    """What the decision weighs, each computed when first asked for: most colour photographs are decided by
    the cheap counts of hues, so the fits of a paper cast and the local comparison are left undone."""

    def __init__(self, L: np.ndarray, ab: np.ndarray, chroma: np.ndarray, detail: float = 0.0):
        self._L, self._ab, self._chroma, self._detail = L, ab, chroma, detail
        real = (chroma > _REAL_CHROMA) & ~_cool_shadows(L, ab, chroma)
        self._real = real
        a, b = (ab[..., 0][real], ab[..., 1][real]) if real.any() else (ab[..., 0].ravel(), ab[..., 1].ravel())
        hues = _hues(ab[..., 0][real], ab[..., 1][real])
        foreign = ~_is_print_hue(hues)
        light = (L[real] > np.median(L)) & (chroma[real] > _SKY_CHROMA)
        self.tone_hue = float(_hues(np.sum(a), np.sum(b)))
        self.clusters = _hue_clusters(hues, chroma.size)  # separate hues of real chroma
        self.foreign_clusters = _hue_clusters(hues[foreign], chroma.size)  # of them, outside the print family
        self.off_print = float(np.count_nonzero(foreign)) / chroma.size  # share in real chroma outside it
        # share in it, over _SKY_CHROMA and lighter than the median
        self.light_off_print = float(np.count_nonzero(foreign & light)) / chroma.size

    @cached_property
    def even_residual(self) -> float:
        """95th-percentile chroma off a tone curve of lightness."""
        return _even_residual(self._L, self._ab)

    @cached_property
    def _rest_chroma(self) -> np.ndarray:
        rest = _unexplained(self._L, self._ab)
        return np.hypot(rest[..., 0], rest[..., 1])

    @cached_property
    def unexplained(self) -> float:
        """Share of the picture off the tone curve plus paper cast by real chroma."""
        real = self._real
        floor = max(_REAL_CHROMA, _UNEXPLAINED_SHARE * float(np.median(self._chroma[real]))) if real.any() \
            else _REAL_CHROMA
        return float(np.mean(self._rest_chroma > floor))

    @cached_property
    def weakly_unexplained(self) -> float:
        """Share off the tone curve plus paper cast by _WEAK_UNEXPLAINED[0]."""
        return float(np.mean(self._rest_chroma > _WEAK_UNEXPLAINED[0]))

    @cached_property
    def hue_turn(self) -> float:
        """Degrees the tone curve's hue turns per standard deviation of lightness (+: yellower)."""
        return _hue_turn(self._L, self._ab)

    @cached_property
    def light_turn(self) -> float:
        """The same over the lighter half's bins."""
        return _hue_turn(self._L, self._ab, lighter_half=True)

    @cached_property
    def follows(self) -> float:
        """Local rate of redness over lightness / its rate across the picture."""
        return _follows_locally(self._L, self._ab, self._detail)

    @property
    def redder(self) -> bool:
        """Redder where lighter, across the picture, by more than a print turns."""
        return self.hue_turn < _REDDER_WHEN_LIGHTER

    @property
    def redder_light(self) -> bool:
        """Redder where lighter within the lighter half, by more than a print turns."""
        return self.light_turn < _REDDER_IN_LIGHT_HALF

    @property
    def unfollowed(self) -> bool:
        """Its redness does not follow its lightness locally, as a print's does."""
        return self.follows < _FOLLOWS


def _decide(e: _Evidence) -> ToneDecision:
    toned = ToneDecision(True, "toned", f"toned monochrome, hue {e.tone_hue:.0f}°", round(e.tone_hue, 1))
    clusters = max(e.clusters, e.foreign_clusters)
    hues = f"{clusters} hue cluster{'s' if clusters != 1 else ''}"

    def turned() -> ToneDecision:
        return ToneDecision(False, "colour", f"colour photograph: {hues}, {-e.hue_turn:.0f}° redder where lighter"
                            + (f" ({-e.light_turn:.0f}° in its lighter half)" if e.redder_light else "")
                            + (", not following its lightness locally" if e.unfollowed else "")
                            + ", which no print tone is")

    if e.even_residual < _EVEN_TONE_RESIDUAL and e.light_off_print <= _INK_AREA:
        return turned() if e.redder and e.redder_light and e.unfollowed else toned
    if e.even_residual < _EVEN_TONE_RESIDUAL:
        return ToneDecision(False, "colour", f"colour photograph: {hues}, {e.light_off_print:.0%} of it light "
                                             "and in colours no print tone has")
    if e.foreign_clusters >= 2:
        return ToneDecision(False, "colour", f"colour photograph: {hues}")
    if e.off_print > _INK_AREA:
        return ToneDecision(False, "colour", f"colour photograph: {hues}, {e.off_print:.0%} of it in colours "
                                             "no print tone has")
    if e.unexplained > _UNEXPLAINED_AREA:
        return ToneDecision(False, "colour", f"colour photograph: {hues}, {e.unexplained:.0%} of it off any "
                                             "print tone")
    if e.weakly_unexplained > _WEAK_UNEXPLAINED[1]:
        return ToneDecision(False, "colour", f"colour photograph: {hues}, {e.weakly_unexplained:.0%} of it "
                                             "faintly off any print tone")
    if e.redder and (e.redder_light or e.unfollowed):
        return turned()
    return toned


def classify(pixels: np.ndarray) -> ToneDecision:
    """Decide whether a scan (grey (H, W) or RGB (H, W, 3), 8 or 16 bit) is to be colorized."""
    if pixels.ndim == 2:
        return ToneDecision(True, "grey", "grey")
    lab = cv2.cvtColor(_thumbnail(pixels), cv2.COLOR_RGB2Lab)
    L, ab = lab[..., 0], lab[..., 1:]
    chroma = np.hypot(ab[..., 0], ab[..., 1])
    if np.percentile(chroma, 99) < _NEUTRAL_CHROMA:
        return ToneDecision(True, "grey", "grey")
    scale = max(1.0, max(pixels.shape[:2]) / _THUMB)  # px of the scan per px of the copy
    return _decide(_Evidence(L, ab, chroma, _CHROMA_DETAIL / scale))
