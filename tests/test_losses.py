"""pix2pix losses and the colour-rebalanced L1, against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from colorcli import losses


def test_adversarial_terms_match_binary_cross_entropy():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 3.0]])
    assert float(losses.adversarial(torch.zeros(3, 1, 4, 4), True)) == pytest.approx(math.log(2))
    expected_real = sum(math.log1p(math.exp(-x)) for x in (0.0, 2.0, -1.0, 3.0)) / 4
    expected_fake = sum(math.log1p(math.exp(x)) for x in (0.0, 2.0, -1.0, 3.0)) / 4
    assert float(losses.adversarial(logits, True)) == pytest.approx(expected_real, rel=1e-6)
    assert float(losses.adversarial(logits, False)) == pytest.approx(expected_fake, rel=1e-6)
    assert float(losses.discriminator_loss(logits, logits)) == pytest.approx((expected_real + expected_fake) / 2)


def test_bins_cover_the_ab_range():
    # a/110 and b/110 in [-1, 1] -> 22 bins of 10 Lab units per axis
    ab = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [-0.05, 0.05], [0.5, -0.5]]).T.reshape(1, 2, 1, 5)
    index = losses.ab_bin_index(ab).flatten().tolist()
    n = losses.AB_BINS
    assert index == [0, n * n - 1, 11 * n + 11, 10 * n + 11, 16 * n + 5]
    counts = losses.ab_histogram(torch.rand(3, 2, 8, 8) * 2 - 1)
    assert counts.shape == (n * n,) and int(counts.sum()) == 3 * 8 * 8


def test_rebalance_weights_lift_rare_colours_and_average_one():
    counts = torch.zeros(losses.AB_BINS**2)
    counts[[3, 50, 200]] = torch.tensor([900.0, 90.0, 10.0])
    p = counts / counts.sum()
    plain = losses.rebalance_weights(counts, 0.0)
    assert torch.allclose(plain[[3, 50, 200]], torch.ones(3)) and float(plain.sum()) == pytest.approx(3.0)  # unseen: 0
    weights = losses.rebalance_weights(counts, 0.5)
    # by hand: 1 / (0.5 p + 0.5 / 3), then scaled so that sum p w = 1
    raw = 1.0 / (0.5 * p[[3, 50, 200]] + 0.5 / 3)
    assert torch.allclose(weights[[3, 50, 200]], raw / float((p[[3, 50, 200]] * raw).sum()))
    assert float((p * weights).sum()) == pytest.approx(1.0)
    assert weights[200] > weights[50] > weights[3]
    with pytest.raises(ValueError, match="strength 1.0"):
        losses.rebalance_weights(counts, 1.0)


def test_weighted_l1_weights_each_pixel_by_its_true_colour():
    real = torch.zeros(1, 2, 1, 2)
    real[0, :, 0, 1] = 0.5  # pixel 0 in the centre bin, pixel 1 in a saturated one
    fake = real.clone()
    fake[0, 0, 0, 0] += 0.2
    fake[0, 1, 0, 1] -= 0.4
    assert float(losses.pixel(fake, real)) == pytest.approx(float(F.l1_loss(fake, real)))
    weights = torch.ones(losses.AB_BINS**2)
    weights[losses.ab_bin_index(real)[0, 0, 1]] = 3.0
    assert float(losses.pixel(fake, real, weights)) == pytest.approx((0.2 + 3.0 * 0.4) / 4)
    total, gan, l1 = losses.generator_losses(torch.zeros(1, 1, 2, 2), fake, real, 100.0, weights)
    assert float(total) == pytest.approx(float(gan) + 100.0 * float(l1)) and float(gan) == pytest.approx(math.log(2))


def test_mse_pixel_loss_squares_the_weighted_error():
    real = torch.zeros(1, 2, 1, 2)
    real[0, :, 0, 1] = 0.5
    fake = real.clone()
    fake[0, 0, 0, 0] += 0.2
    fake[0, 1, 0, 1] -= 0.4
    assert float(losses.pixel(fake, real, kind="mse")) == pytest.approx(float(F.mse_loss(fake, real)))
    weights = torch.ones(losses.AB_BINS**2)
    weights[losses.ab_bin_index(real)[0, 0, 1]] = 3.0
    assert float(losses.pixel(fake, real, weights, "mse")) == pytest.approx((0.2**2 + 3.0 * 0.4**2) / 4)
    total, gan, mse = losses.generator_losses(torch.zeros(1, 1, 2, 2), fake, real, 10.0, pixel_loss="mse")
    assert float(mse) == pytest.approx(float(F.mse_loss(fake, real)))
    assert float(total) == pytest.approx(float(gan) + 10.0 * float(mse))
    with pytest.raises(ValueError, match="pixel loss 'l2'"):
        losses.pixel(fake, real, kind="l2")
