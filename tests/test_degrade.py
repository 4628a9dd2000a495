"""--degrade augmentation: real pictures in, damaged L out; the target never enters it."""

from __future__ import annotations

from dataclasses import fields

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from colorcli.training.degrade import GRAIN_STD, Degradations, degrade
from tests.conftest import SHARED_DATA

VAL = SHARED_DATA / "photos" / "val" / "bsds500"


def _L_batch(count: int = 4, size: int = 96) -> torch.Tensor:
    """L/50-1 crops of real validation photos."""
    files = sorted(VAL.glob("*.jpg"))[:count]
    assert len(files) == count, f"shared data missing under {VAL}"
    crops = []
    for path in files:
        rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[:size, :size].astype(np.float32) / 255
        crops.append(cv2.cvtColor(rgb, cv2.COLOR_BGR2Lab)[..., 0] / 50 - 1)
    return torch.from_numpy(np.stack(crops))[:, None]


def _laplacian_energy(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=x.dtype).view(1, 1, 3, 3)
    return F.conv2d(x, kernel).abs().mean(dim=(1, 2, 3))


def test_output_shape_range_and_input_untouched():
    L = _L_batch()
    before = L.clone()
    out = degrade(L, torch.Generator().manual_seed(0), Degradations(*(1.0,) * 6))
    assert out.shape == L.shape and out.dtype == L.dtype
    assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0
    assert torch.equal(L, before)  # the caller's tensor (and any target made from it) is not touched
    assert out.data_ptr() != L.data_ptr()


def test_deterministic_with_a_seed():
    L = _L_batch()
    first = degrade(L, torch.Generator().manual_seed(7))
    again = degrade(L, torch.Generator().manual_seed(7))
    other = degrade(L, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_all_off_is_identity():
    L = _L_batch()
    off = Degradations(**{f.name: 0.0 for f in fields(Degradations)})
    assert torch.allclose(degrade(L, torch.Generator().manual_seed(0), off), L, atol=1e-6)


@pytest.mark.parametrize("name", [f.name for f in fields(Degradations)])
def test_each_degradation_changes_the_input(name):
    L = _L_batch()
    if name in ("dust", "scratches"):
        L = L * 0.6  # L within 20..80, so white or black damage shows wherever it lands
    out = degrade(L, torch.Generator().manual_seed(3), Degradations.only(name))
    changed = (out - L).abs() > 1e-3
    assert changed.flatten(1).any(dim=1).all(), f"{name} left a picture unchanged"
    if name == "fade":  # blacks lifted or whites dimmed: the range shrinks
        assert ((out.amax(dim=(1, 2, 3)) - out.amin(dim=(1, 2, 3)))
                < (L.amax(dim=(1, 2, 3)) - L.amin(dim=(1, 2, 3)))).all()
    elif name == "blur":
        assert (_laplacian_energy(out) < 0.8 * _laplacian_energy(L)).all()
    elif name == "grain":  # zero-mean noise over most of the picture (clipped where L is 0 or 100)
        for noisy, clean in zip(out, L):
            noise = (noisy - clean)[clean.abs() < 0.8]  # away from where clipping biases it
            assert noise.std() > GRAIN_STD[0] / 50 * 0.9
            assert noise.mean().abs() < 0.2 * noise.std()
        assert (changed.flatten(1).float().mean(dim=1) > 0.5).all()
    elif name in ("dust", "scratches"):  # local damage: few pixels, pushed towards white or black
        fraction = changed.float().mean(dim=(1, 2, 3))
        assert (fraction < 0.1).all()
        assert ((out - L).abs()[changed] > 0.05).float().mean() > 0.5
    elif name == "jpeg":  # 8x8 blocks: steps across block borders grow more than inside blocks
        def border_step(x):
            steps = (x[..., :, 1:] - x[..., :, :-1]).abs()
            return steps[..., 7::8].mean() / steps.mean()
        assert border_step(out) > border_step(L)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="N,1,H,W"):
        degrade(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="probability of blur"):
        Degradations(blur=1.5)
