"""CIE Lab split and merge (sRGB, D65): OpenCV's fast paths, and an exact one for 16-bit scans.

Float path (OpenCV): L in 0..100, a and b signed (about -128..127), RGB in [0, 1]. OpenCV rounds
a and b to 1/64 internally, which is invisible at 8 bits but not at 16, so 16-bit scans go through
the exact formula in numpy float32 instead (lightness16 / merge_lab16).
uint8 path (OpenCV's 8-bit Lab encoding): L8 = L * 255 / 100, a8 = a + 128, b8 = b + 128.
It is what colorize uses for 8-bit images: a third of the cost of the float path on a 12 MP scan,
and its rounding stays within one grey level (tests/test_color.py measures that).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from colorcli.look import tone
from colorcli.io.orientation import from_upright, to_upright

L8_PER_L = 255.0 / 100.0


def to_float_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float RGB (H, W, 3) to float32 in [0, 1]."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) * (1.0 / 255.0)
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) * (1.0 / 65535.0)
    return np.clip(rgb.astype(np.float32, copy=False), 0.0, 1.0)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3), uint8, uint16 or float in [0, 1], to float32 Lab (H, W, 3)."""
    return cv2.cvtColor(to_float_rgb(rgb), cv2.COLOR_RGB2Lab)


def lightness(image: np.ndarray) -> np.ndarray:
    """L of Lab (0..100, float32, (H, W)) of a grey (H, W) or RGB (H, W, 3) image of any depth."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return rgb_to_lab(image)[:, :, 0]


# OpenCV's 8-bit L of each grey level (cv2.cvtColor of an RGB grey ramp to Lab), as OpenCV's fixed-point
# arithmetic rounds it (40 levels are one off the exact formula); Lab2RGB takes the same encoding back.
# Kept as data, not computed at run time: OpenCV's first 8-bit RGB->Lab conversion builds its tables,
# about 0.1 s of CPU that every worker process would pay for 256 bytes. tests/test_color.py checks it.
_GREY_L8 = np.frombuffer(bytes.fromhex(
    "00010102020305050607070809090a0b0c0c0e0f10111213151718191b1b1c1e1f21222324262728292a2b2d2e2f3032"
    "3334353637393a3b3c3d3e3f41424344454647494a4b4c4d4e4f5052525355565758595a5b5c5d5e5f61626364656667"
    "68696a6b6c6d6e6f7071727374757777797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798"
    "999a9b9c9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c4c5"
    "c6c7c8c9cacbcccdcecfd0d0d1d2d3d4d5d6d7d8d9dadbdbdcdddedfe0e1e2e3e4e4e5e6e7e8e9eaebecededeeeff0f1"
    "f2f3f4f5f5f6f7f8f9fafbfcfdfdfeff"), np.uint8)


def lightness8(image: np.ndarray) -> np.ndarray:
    """8-bit L (OpenCV encoding, (H, W) uint8) of an 8-bit grey (H, W) or RGB (H, W, 3) image."""
    if image.ndim == 2:
        return cv2.LUT(image, _GREY_L8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2Lab)[:, :, 0]


# --- colorize: split a scan for the model, merge the prediction back -------------------------------

_BAND_PIXELS = 1 << 20  # merge in bands of about this many pixels: no full-size float buffers


def is_grayscale(pixels: np.ndarray) -> bool:
    """True for pictures colorize takes for grey: grey, RGB that is really grey, toned and stained monochrome
    prints (colorcli.look.tone.classify gives the reason)."""
    return tone.classify(pixels).grey


# sRGB primaries, D65 white (IEC 61966-2-1), as skimage and the CIE define them
_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]], np.float32)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ.astype(np.float64)).astype(np.float32)
_WHITE = np.array([0.950456, 1.0, 1.088754], np.float32)
_EPSILON, _KAPPA = 216.0 / 24389.0, 24389.0 / 27.0


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def lightness16(pixels: np.ndarray) -> np.ndarray:
    """Exact L (0..100, float32) of a 16-bit grey (H, W) or RGB (H, W, 3) image."""
    linear = _srgb_to_linear(pixels.astype(np.float32) * np.float32(1.0 / 65535.0))
    Y = linear @ _RGB_TO_XYZ[1] if linear.ndim == 3 else linear
    return np.where(Y > _EPSILON, 116.0 * np.cbrt(Y) - 16.0, _KAPPA * Y).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _grey16_lightness_table() -> np.ndarray:
    """lightness16 of every 16-bit grey level: the exact L of a grey scan is a lookup."""
    return lightness16(np.arange(65536, dtype=np.uint16))


_GAMMA_STEPS = 1 << 20  # linear-light steps of the sRGB encoding table: under 0.5 of a 16-bit level apart


@functools.lru_cache(maxsize=1)
def _linear_to_srgb16_table() -> np.ndarray:
    """16-bit sRGB of linear light, sampled at _GAMMA_STEPS + 1 points of [0, 1]: a lookup costs a
    fraction of the power function, for every one of a 100 MP scan's 300 M samples."""
    linear = np.arange(_GAMMA_STEPS + 1, dtype=np.float64) / _GAMMA_STEPS
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return (srgb * 65535.0 + 0.5).astype(np.uint16)


def _band_rows(width: int) -> int:
    return max(1, _BAND_PIXELS // max(1, width))


def lightness_rows(pixels: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """full_lightness of rows top..bottom."""
    rows = pixels[top:bottom]
    if pixels.dtype == np.uint8:
        return lightness8(rows)
    if pixels.ndim == 2:
        return np.take(_grey16_lightness_table(), rows)
    return lightness16(rows)


def merge_lab16(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Exact float L (H, W) and a, b (H, W, 2) to 16-bit RGB (H, W, 3).

    The formula of CIE Lab -> XYZ -> linear sRGB in float32, in place where it can be (a 100 MP scan
    goes through here band by band), and the sRGB encoding by table."""
    fy = (L.astype(np.float32) + np.float32(16.0)) * np.float32(1.0 / 116.0)
    f = np.empty(L.shape + (3,), np.float32)
    np.multiply(ab[..., 0], np.float32(1.0 / 500.0), out=f[..., 0])
    f[..., 0] += fy
    f[..., 1] = fy
    np.multiply(ab[..., 1], np.float32(-1.0 / 200.0), out=f[..., 2])
    f[..., 2] += fy
    # f^3 above the knee (f > 6/29, where f^3 > epsilon), the straight segment below it
    cube = f * f
    cube *= f
    linear_part = f * np.float32(116.0 / _KAPPA)
    linear_part -= np.float32(16.0 / _KAPPA)
    xyz = np.where(cube > _EPSILON, cube, linear_part)
    del cube, linear_part, f
    xyz *= _WHITE
    rgb = cv2.transform(xyz, _XYZ_TO_RGB)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    rgb *= np.float32(_GAMMA_STEPS)
    rgb += np.float32(0.5)
    return np.take(_linear_to_srgb16_table(), rgb.astype(np.int32))


def full_lightness(pixels: np.ndarray) -> np.ndarray:
    """L at full resolution: 8-bit L (OpenCV encoding) for 8-bit pixels, exact float L for 16-bit."""
    if pixels.dtype == np.uint8:
        return lightness8(pixels)
    height, width = pixels.shape[:2]
    out = np.empty((height, width), np.float32)
    step = _band_rows(width)
    for top in range(0, height, step):
        out[top:top + step] = lightness_rows(pixels, top, top + step)
    return out


def model_input(L_full: np.ndarray, size: int) -> np.ndarray:
    """L (0..100, float32) resized to the model's square input by area averaging.

    A scan of twice the model size or more is averaged down the columns first, then along the rows:
    the same boxes as one 2-D area resize (within one grey level of rounding), since box weights are
    products of a row and a column weight, at half the cost (OpenCV's 2-D path takes about 37 ms of a
    12 MP scan's 0.4 s of CPU)."""
    height, width = L_full.shape[:2]
    if min(height, width) >= 2 * size:
        L_full = cv2.resize(L_full, (width, size), interpolation=cv2.INTER_AREA)
    small = cv2.resize(L_full, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    if L_full.dtype == np.uint8:
        small *= 1.0 / L8_PER_L
    return small


@functools.lru_cache(maxsize=1)
def _lab8_storage() -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's 8-bit Lab -> RGBX of every (L, a, b) at index L | a << 8 | b << 16 (64 MB of address space,
    touched only where filled), and which b planes are filled so far."""
    return np.empty(1 << 24, np.uint32), np.zeros(256, bool)


def _lab8_table(b_low: int, b_high: int) -> np.ndarray:
    """The 8-bit Lab -> RGBX table with the planes of b_low..b_high filled in.

    A lookup per pixel costs about 60% of OpenCV's own 8-bit Lab2RGB and gives its exact bytes, since
    the table is made by that same conversion. A plane (one b, every L and a: 64 k entries, 256 kB) is
    converted on first need, about 0.3 ms; a model's colours use a few dozen planes, so a worker pays a
    few ms once instead of the 0.2 s and 64 MB of the whole table.
    """
    table, filled = _lab8_storage()
    missing = [b for b in range(b_low, b_high + 1) if not filled[b]]
    if missing:
        plane = np.empty((256, 256, 3), np.uint8)  # rows a, columns L
        plane[..., 0] = np.arange(256, dtype=np.uint8)[None, :]
        plane[..., 1] = np.arange(256, dtype=np.uint8)[:, None]
        for b in missing:
            plane[..., 2] = b
            rgbx = cv2.cvtColor(plane, cv2.COLOR_Lab2RGB, dstCn=4)
            table[b << 16:(b + 1) << 16] = rgbx.reshape(-1).view(np.uint32)
            filled[b] = True
    return table


def merged_rows(pixels: np.ndarray, ab_small: np.ndarray, L_full: np.ndarray | None = None, channels: int = 3):
    """The scan merged with predicted a, b ((h, w, 2), Lab units, upsampled to the scan), as a function
    of a row range: rows(top, bottom) gives RGB of those rows at the scan's depth (uint8 or uint16).

    A writer can so produce a 100 MP scan band by band, never holding the whole RGB. L comes from
    L_full when given, else from the pixels, band by band. channels=4 pads 8-bit RGB to RGBX (X = 255),
    which a JPEG encoder takes without a copy. a, b travel as 8-bit (a + 128): one unit of
    a or b is far below what the eye sees, and it keeps a 100 MP scan's buffers small.
    """
    height, width = pixels.shape[:2]
    ab8_small = np.clip(ab_small + 128.0, 0, 255).round().astype(np.uint8)
    ab8 = cv2.resize(ab8_small, (width, height), interpolation=cv2.INTER_LINEAR)  # stays in the small one's range
    if pixels.dtype == np.uint8:
        table = _lab8_table(int(ab8_small[..., 1].min()), int(ab8_small[..., 1].max()))
        indices = np.empty((min(_band_rows(width), height), width), np.uint32)

    def band(top: int, bottom: int, out: np.ndarray) -> None:
        L = L_full[top:bottom] if L_full is not None else lightness_rows(pixels, top, bottom)
        if pixels.dtype == np.uint8:
            # L | a << 8 | b << 16: a, b side by side read as one little-endian uint16 (a | b << 8), shifted
            # once; a third of the cost of interleaving the three planes into bytes
            index = indices[:bottom - top]
            np.left_shift(ab8[top:bottom].view(np.uint16)[..., 0], 8, out=index, dtype=np.uint32)
            index |= L
            if channels == 4:
                np.take(table, index, out=out.view(np.uint32)[..., 0], mode="clip")
            else:
                cv2.cvtColor(np.take(table, index, mode="clip").view(np.uint8).reshape(out.shape[:2] + (4,)),
                             cv2.COLOR_RGBA2RGB, dst=out)
        else:
            ab = ab8[top:bottom].astype(np.float32)
            ab -= np.float32(128.0)
            out[:] = merge_lab16(L, ab)

    def rows(top: int, bottom: int) -> np.ndarray:
        bottom = min(bottom, height)
        out = np.empty((bottom - top, width, channels if pixels.dtype == np.uint8 else 3), pixels.dtype)
        step = _band_rows(width)
        for start in range(top, bottom, step):
            band(start, min(start + step, bottom), out[start - top:start - top + step])
        return out

    return rows


def merge_prediction(pixels: np.ndarray, L_full: np.ndarray | None, ab_small: np.ndarray) -> np.ndarray:
    """Upsample predicted a, b ((h, w, 2), Lab units) to the scan and merge with its own L.

    Returns RGB of the scan's size and depth (uint8 or uint16).
    """
    return merged_rows(pixels, ab_small, L_full)(0, pixels.shape[0])


def split_for_model(pixels: np.ndarray, size: int, orientation: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A scan's full-resolution L and the model's square input (size x size, L 0..100), turned upright
    by the EXIF orientation: the model was trained on upright photos."""
    L_full = full_lightness(pixels)
    return L_full, to_upright(model_input(L_full, size), orientation)


def merge_from_model(pixels: np.ndarray, L_full: np.ndarray | None, ab_upright: np.ndarray,
                     orientation: int = 1) -> np.ndarray:
    """The model's upright a, b turned back to the stored layout and merged with the scan's own L."""
    return merge_prediction(pixels, L_full, from_upright(ab_upright, orientation))


def merged_rows_from_model(pixels: np.ndarray, ab_upright: np.ndarray, orientation: int = 1,
                           L_full: np.ndarray | None = None, channels: int = 3):
    """merge_from_model as a function of a row range (see merged_rows)."""
    return merged_rows(pixels, from_upright(ab_upright, orientation), L_full, channels)
