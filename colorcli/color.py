"""CIE Lab split and merge (sRGB, D65), in OpenCV float32 and a fast uint8 path.

Float path: L in 0..100, a and b signed (about -128..127), RGB in [0, 1].
uint8 path (OpenCV's 8-bit Lab encoding): L8 = L * 255 / 100, a8 = a + 128, b8 = b + 128.
The 8-bit path is what colorize uses for 8-bit images: it costs a third of the float path on a
12 MP scan and its rounding stays within one grey level (tests/test_color.py measures that).
"""

from __future__ import annotations

import cv2
import numpy as np

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


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float Lab (H, W, 3) to float32 RGB in [0, 1] (out-of-gamut values clipped)."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def lightness(image: np.ndarray) -> np.ndarray:
    """L of Lab (0..100, float32, (H, W)) of a grey (H, W) or RGB (H, W, 3) image of any depth."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return rgb_to_lab(image)[:, :, 0]


def merge_lab(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Float L (H, W) and a, b (H, W, 2) to float32 RGB in [0, 1]."""
    lab = np.empty(L.shape + (3,), np.float32)
    lab[:, :, 0] = L
    lab[:, :, 1:] = ab
    return lab_to_rgb(lab)


def _gray_to_l8_table() -> np.ndarray:
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    return cv2.cvtColor(ramp, cv2.COLOR_RGB2Lab)[0, :, 0].copy()


_GRAY_TO_L8 = _gray_to_l8_table()


def lightness8(image: np.ndarray) -> np.ndarray:
    """8-bit L (OpenCV encoding, (H, W) uint8) of an 8-bit grey (H, W) or RGB (H, W, 3) image."""
    if image.ndim == 2:
        return cv2.LUT(image, _GRAY_TO_L8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2Lab)[:, :, 0]


def merge_lab8(L8: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """8-bit L (H, W) and float a, b (H, W, 2) to uint8 RGB (H, W, 3)."""
    ab8 = np.clip(ab + 128.0, 0.0, 255.0)
    lab8 = cv2.merge([L8, ab8[:, :, 0].round().astype(np.uint8), ab8[:, :, 1].round().astype(np.uint8)])
    return cv2.cvtColor(lab8, cv2.COLOR_Lab2RGB)
