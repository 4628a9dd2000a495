"""Image-quality metrics for colorization: PSNR, SSIM, CIEDE2000 and colourfulness.

numpy and OpenCV only (no torch, no scikit-image), vectorized over batches so that training
validation on thousands of small images takes seconds, and banded so that a 100 MP scan needs
little memory. Every function takes 8-bit RGB: one image (H, W, 3), or a batch (N, H, W, 3) for
score_batch. The definitions follow scikit-image's reference implementations
(tests/test_metrics.py compares against them):

- PSNR on 0..255 values; identical images give PSNR_CAP (60 dB) instead of infinity.
- SSIM (Wang et al. 2004): Gaussian window sigma 1.5 truncated at 11x11, K1 0.01, K2 0.03,
  data range 255, population covariances, the mean of the SSIM map without the 5-pixel border
  the window cannot cover, per RGB channel, averaged over channels.
- CIEDE2000 (Sharma et al. 2005, kL = kC = kH = 1) on CIE Lab (sRGB, D65 2 degrees), computed
  here in float64; OpenCV's float Lab differs from the standard formula by up to 0.3.
- Colourfulness (Hasler & Suesstrunk 2003) on 0..255 values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from colorcli.errors import ImageError

PSNR_CAP = 60.0
KEYS = ("psnr", "ssim", "ciede2000", "colorfulness", "colorfulness_ref", "delta_colorfulness")

_SSIM_SIGMA = 1.5
_SSIM_WINDOW = 11
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2
_SSIM_PAD = (_SSIM_WINDOW - 1) // 2
_PIXEL_BUDGET = 1 << 20  # pixels scored at once: bounds the float64 temporaries to a few hundred MB

# sRGB (D65) to XYZ, IEC 61966-2-1, and the D65 2-degree white point.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_D65 = np.array([0.95047, 1.0, 1.08883])
_WHITE_RGB = np.linalg.solve(_XYZ_FROM_RGB, _D65)  # linear RGB of the white point (about 1, 1, 1)


def _srgb_to_linear_table() -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


_LINEAR = _srgb_to_linear_table()


# ---------------------------------------------------------------- input checks


def _check_image(name: str, array, batch: bool) -> None:
    want = "(N, H, W, 3)" if batch else "(H, W, 3)"
    if not isinstance(array, np.ndarray) or array.ndim != (4 if batch else 3) or array.shape[-1] != 3:
        shape = getattr(array, "shape", type(array).__name__)
        raise ImageError(f"{name} must be an 8-bit RGB array {want}, got shape {shape}")
    if array.dtype != np.uint8:
        raise ImageError(f"{name} must be 8-bit (uint8) RGB, got {array.dtype}")


def _check_pair(pred: np.ndarray, ref: np.ndarray, batch: bool) -> None:
    _check_image("prediction", pred, batch)
    _check_image("reference", ref, batch)
    if pred.shape != ref.shape:
        raise ImageError(f"prediction and reference differ in size: {_size(pred)} vs {_size(ref)}")
    height, width = pred.shape[-3:-1]
    if min(height, width) < _SSIM_WINDOW:
        raise ImageError(f"images must be at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels for SSIM, got {width}x{height}")


def _size(array: np.ndarray) -> str:
    prefix = f"{array.shape[0]} images of " if array.ndim == 4 else ""
    return f"{prefix}{array.shape[-2]}x{array.shape[-3]}"


# ---------------------------------------------------------------- sums over (N, H, W, 3) batches
#
# Each kernel returns per-image sums; _finish turns them into metrics. Sums let a large scan be scored
# in horizontal bands with flat memory (a 100 MP scan in float64 would need gigabytes at once).


def _sse(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    diff = pred.astype(np.float64) - ref.astype(np.float64)
    return np.einsum("ni,ni->n", diff.reshape(len(pred), -1), diff.reshape(len(pred), -1))


def _ssim_sum(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Sum of the SSIM map over the part the window covers (all but a 5-pixel border), per image."""
    n, height, width, _ = pred.shape
    kernel = cv2.getGaussianKernel(_SSIM_WINDOW, _SSIM_SIGMA, cv2.CV_64F)
    pad = _SSIM_PAD
    # The batch is stacked into one tall image: inside the kept region the window never reaches
    # across an image boundary, so one filter call serves every image.
    x = pred.reshape(n * height, width, 3).astype(np.float64)
    y = ref.reshape(n * height, width, 3).astype(np.float64)

    def blur(a: np.ndarray) -> np.ndarray:
        out = cv2.sepFilter2D(a, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)
        return out.reshape(n, height, width, 3)[:, pad : height - pad, pad : width - pad, :]

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    vxy = blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + _SSIM_C1) * (2 * vxy + _SSIM_C2)) / (
        (mx * mx + my * my + _SSIM_C1) * (vx + vy + _SSIM_C2)
    )
    return ssim_map.reshape(n, -1).sum(axis=1)


def _colour_sums(rgb: np.ndarray) -> np.ndarray:
    """Per image: sums of rg, rg^2, yb, yb^2 (N, 4), the opponent channels of colourfulness."""
    pixels = rgb.reshape(len(rgb), -1, 3).astype(np.float64)
    rg = pixels[..., 0] - pixels[..., 1]
    yb = 0.5 * (pixels[..., 0] + pixels[..., 1]) - pixels[..., 2]
    return np.stack([rg.sum(1), np.einsum("ni,ni->n", rg, rg), yb.sum(1), np.einsum("ni,ni->n", yb, yb)], 1)


def _lab_channels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit sRGB (..., 3) to float64 L, a, b (each contiguous), by the standard formula (D65)."""
    r, g, b = (_LINEAR[rgb[..., i]] for i in range(3))
    f = []
    for row, white in zip(_XYZ_FROM_RGB, _D65):
        t = (row[0] / white) * r + (row[1] / white) * g + (row[2] / white) * b
        f.append(np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16.0 / 116.0))
    return 116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB (..., 3) to float64 CIE Lab (..., 3), D65."""
    return np.stack(_lab_channels(rgb), axis=-1)


def _hue(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    h = np.arctan2(b, a)
    h[h < 0] += 2 * np.pi
    return h


def _chroma_weight(c: np.ndarray) -> np.ndarray:
    """sqrt(C^7 / (C^7 + 25^7)), shared by the a' correction and the rotation term."""
    c7 = c * c
    c7 = c7 * c7 * c7 * c
    return np.sqrt(c7 / (c7 + 25.0**7))


def delta_e_ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 colour difference (kL = kC = kH = 1) of two Lab arrays (..., 3)."""
    return _delta_e(*(np.ascontiguousarray(lab1[..., i], np.float64) for i in range(3)),
                    *(np.ascontiguousarray(lab2[..., i], np.float64) for i in range(3)))


def _delta_e(L1, a1, b1, L2, a2, b2) -> np.ndarray:
    g = 1.5 - 0.5 * _chroma_weight(0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2)))  # 1 + G
    a1p, a2p = a1 * g, a2 * g
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = _hue(b1, a1p), _hue(b2, a2p)

    chroma_product = c1p * c2p
    gray = chroma_product == 0
    dh = h2p - h1p
    far = np.abs(dh) > np.pi
    ahead = dh > 0
    dh[far & ahead] -= 2 * np.pi
    dh[far & ~ahead] += 2 * np.pi
    dh[gray] = 0.0
    d_hue = 2.0 * np.sqrt(chroma_product) * np.sin(0.5 * dh)

    # Mean hue: the mean of the two angles on the short arc; their plain sum where one is grey.
    h_mean = h1p + h2p
    wrap = far & ~gray
    low = h_mean < 2 * np.pi
    h_mean[wrap & low] += 2 * np.pi
    h_mean[wrap & ~low] -= 2 * np.pi
    h_mean[~gray] *= 0.5

    # T = 1 - 0.17 cos(h - 30) + 0.24 cos 2h + 0.32 cos(3h + 6) - 0.20 cos(4h - 63), written with
    # multiple-angle identities so only one cos and one sin are evaluated.
    c, s = np.cos(h_mean), np.sin(h_mean)
    c2, s2 = 2 * c * c - 1, 2 * s * c
    c3, s3 = c * (4 * c * c - 3), s * (3 - 4 * s * s)
    c4, s4 = 2 * c2 * c2 - 1, 2 * s2 * c2
    t = (1.0 - 0.17 * (c * _COS30 + s * _SIN30) + 0.24 * c2 + 0.32 * (c3 * _COS6 - s3 * _SIN6)
         - 0.20 * (c4 * _COS63 + s4 * _SIN63))

    l50 = 0.5 * (L1 + L2) - 50.0
    l50 *= l50
    s_l = 1.0 + 0.015 * l50 / np.sqrt(20.0 + l50)
    c_mean = 0.5 * (c1p + c2p)
    s_c = 1.0 + 0.045 * c_mean
    s_h = 1.0 + 0.015 * c_mean * t
    d_theta = (np.rad2deg(h_mean) - 275.0) / 25.0
    d_theta = np.deg2rad(30.0) * np.exp(-d_theta * d_theta)
    r_t = -2.0 * _chroma_weight(c_mean) * np.sin(2.0 * d_theta)

    l_term = (L2 - L1) / s_l
    c_term = (c2p - c1p) / s_c
    h_term = d_hue / s_h
    total = l_term * l_term + c_term * c_term + h_term * h_term + r_t * c_term * h_term
    return np.sqrt(np.maximum(total, 0.0, out=total), out=total)


_COS30, _SIN30 = np.cos(np.deg2rad(30.0)), np.sin(np.deg2rad(30.0))
_COS6, _SIN6 = np.cos(np.deg2rad(6.0)), np.sin(np.deg2rad(6.0))
_COS63, _SIN63 = np.cos(np.deg2rad(63.0)), np.sin(np.deg2rad(63.0))
_PIXEL_CHUNK = 65536  # CIEDE2000 runs on this many pixels at a time: its temporaries stay in cache


def _ciede2000_sum(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    n = len(pred)
    p, r = pred.reshape(-1, 3), ref.reshape(-1, 3)
    delta = np.concatenate([
        _delta_e(*_lab_channels(p[i : i + _PIXEL_CHUNK]), *_lab_channels(r[i : i + _PIXEL_CHUNK]))
        for i in range(0, len(p), _PIXEL_CHUNK)
    ])
    return delta.reshape(n, -1).sum(axis=1)


def _sums(pred: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    return {"sse": _sse(pred, ref), "ssim": _ssim_sum(pred, ref), "ciede2000": _ciede2000_sum(pred, ref),
            "colour_pred": _colour_sums(pred), "colour_ref": _colour_sums(ref)}


def _banded_sums(pred: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """_sums of one large image pair (1, H, W, 3), computed band by band."""
    height, width = pred.shape[1:3]
    rows = max(_PIXEL_BUDGET // width, 2 * _SSIM_PAD + 1)
    total = {"sse": 0.0, "ssim": 0.0, "ciede2000": 0.0, "colour_pred": 0.0, "colour_ref": 0.0}
    for top in range(0, height, rows):
        band = slice(top, min(top + rows, height))
        total["sse"] = total["sse"] + _sse(pred[:, band], ref[:, band])
        total["ciede2000"] = total["ciede2000"] + _ciede2000_sum(pred[:, band], ref[:, band])
        total["colour_pred"] = total["colour_pred"] + _colour_sums(pred[:, band])
        total["colour_ref"] = total["colour_ref"] + _colour_sums(ref[:, band])
    for top in range(_SSIM_PAD, height - _SSIM_PAD, rows):
        # SSIM rows top..bottom need the window's reach (_SSIM_PAD rows) on both sides.
        halo = slice(top - _SSIM_PAD, min(top + rows, height - _SSIM_PAD) + _SSIM_PAD)
        total["ssim"] = total["ssim"] + _ssim_sum(pred[:, halo], ref[:, halo])
    return total


def _colourfulness(sums: np.ndarray, count: int) -> np.ndarray:
    mean_rg, mean_yb = sums[:, 0] / count, sums[:, 2] / count
    var_rg = np.maximum(sums[:, 1] / count - mean_rg * mean_rg, 0.0)
    var_yb = np.maximum(sums[:, 3] / count - mean_yb * mean_yb, 0.0)
    return np.sqrt(var_rg + var_yb) + 0.3 * np.sqrt(mean_rg * mean_rg + mean_yb * mean_yb)


def _finish(sums: dict[str, np.ndarray], height: int, width: int) -> dict[str, np.ndarray]:
    pixels = height * width
    mse = sums["sse"] / (3 * pixels)
    with np.errstate(divide="ignore"):
        psnr_db = np.minimum(10.0 * np.log10(255.0**2 / mse), PSNR_CAP)
    cf_pred = _colourfulness(sums["colour_pred"], pixels)
    cf_ref = _colourfulness(sums["colour_ref"], pixels)
    return {
        "psnr": psnr_db,
        "ssim": sums["ssim"] / (3 * (height - 2 * _SSIM_PAD) * (width - 2 * _SSIM_PAD)),
        "ciede2000": sums["ciede2000"] / pixels,
        "colorfulness": cf_pred,
        "colorfulness_ref": cf_ref,
        "delta_colorfulness": np.abs(cf_pred - cf_ref),
    }


def _score_images(pred: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of each pair of a checked batch (N, H, W, 3), a pixel budget's worth at a time."""
    n, height, width, _ = pred.shape
    per_chunk = _PIXEL_BUDGET // (height * width)
    if per_chunk == 0:
        parts = [_finish(_banded_sums(pred[i : i + 1], ref[i : i + 1]), height, width) for i in range(n)]
    else:
        parts = [_finish(_sums(pred[i : i + per_chunk], ref[i : i + per_chunk]), height, width)
                 for i in range(0, n, per_chunk)]
    if not parts:
        return {key: np.empty(0) for key in KEYS}
    return {key: np.concatenate([np.atleast_1d(part[key]) for part in parts]) for key in KEYS}


# ---------------------------------------------------------------- public API


def psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two 8-bit RGB images; identical images give 60."""
    return score(pred, ref)["psnr"]


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean structural similarity of two 8-bit RGB images, averaged over the RGB channels."""
    return score(pred, ref)["ssim"]


def ciede2000(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over the pixels of two 8-bit RGB images."""
    return score(pred, ref)["ciede2000"]


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk colourfulness of one 8-bit RGB image (H, W, 3) on the 0..255 scale."""
    _check_image("image", rgb, batch=False)
    height, width = rgb.shape[:2]
    rows = max(_PIXEL_BUDGET // width, 1)
    sums = sum(_colour_sums(rgb[None, top : top + rows]) for top in range(0, height, rows))
    return float(_colourfulness(sums, height * width)[0])


def score(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Every metric (see KEYS) of one prediction against its reference, 8-bit RGB (H, W, 3) each."""
    _check_pair(pred, ref, batch=False)
    return {key: float(values[0]) for key, values in _score_images(pred[None], ref[None]).items()}


def score_batch(pred: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric (see KEYS) of each pair of two 8-bit RGB batches (N, H, W, 3), as arrays of N."""
    _check_pair(pred, ref, batch=True)
    return _score_images(pred, ref)


def summarize(records: Sequence[Mapping[str, float]] | Mapping[str, np.ndarray]) -> dict:
    """Mean and median of each metric: {"n": N, key: {"mean": m, "median": d}, ...}.

    records is a list of per-image dicts (as score returns) or a dict of arrays (as score_batch
    returns); keys outside KEYS are ignored. An empty input gives n 0 and no metric entries.
    """
    if isinstance(records, Mapping):
        columns = {key: np.asarray(records[key], np.float64) for key in KEYS if key in records}
        n = len(next(iter(columns.values()))) if columns else 0
    else:
        n = len(records)
        present = [key for key in KEYS if n and all(key in record for record in records)]
        columns = {key: np.array([record[key] for record in records], np.float64) for key in present}
    summary: dict = {"n": int(n)}
    if n == 0:
        return summary
    for key, values in columns.items():
        summary[key] = {"mean": float(values.mean()), "median": float(np.median(values))}
    return summary


def gray_baseline(ref: np.ndarray) -> np.ndarray:
    """The grayscale input made from a reference: L of Lab kept, a = b = 0, as 8-bit RGB.

    Takes one image (H, W, 3) or a batch (N, H, W, 3) of 8-bit RGB. Uses the same standard Lab as
    CIEDE2000 here: with a = b = 0, XYZ is the white point scaled by the pixel's luminance Y, which
    keeps L; its linear RGB is Y * (RGB of the white point), then sRGB-encoded and rounded.
    """
    _check_image("reference", ref, batch=ref.ndim == 4)
    flat = ref.reshape(-1, 3)
    gray = np.empty_like(flat)
    for start in range(0, len(flat), _PIXEL_BUDGET):
        luminance = _LINEAR[flat[start : start + _PIXEL_BUDGET]] @ _XYZ_FROM_RGB[1]
        linear = np.clip(luminance[:, None] * _WHITE_RGB, 0.0, 1.0)
        encoded = np.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, 12.92 * linear)
        gray[start : start + _PIXEL_BUDGET] = np.rint(encoded * 255.0)
    return gray.reshape(ref.shape)
