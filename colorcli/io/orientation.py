"""EXIF orientation (tag 0x0112) as array operations.

colorize keeps the stored pixel layout and the orientation tag, so an output displays exactly like its
input in every viewer, whether or not the viewer honours the tag. Only the small model input is turned
upright (the model was trained on upright photos) and its prediction turned back.
"""

from __future__ import annotations

import numpy as np

_TO_UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, k=1),
}
_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def to_upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """The stored (H, W, ...) array as a viewer honouring `orientation` displays it."""
    return np.ascontiguousarray(_TO_UPRIGHT.get(orientation, _TO_UPRIGHT[1])(array))


def from_upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """Inverse of to_upright: an upright array back to the stored layout."""
    inverse = _INVERSE.get(orientation, 1)
    return np.ascontiguousarray(_TO_UPRIGHT[inverse](array))
