"""pix2pix losses and the colour-rebalanced L1, against values worked out by hand."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colorcli.scoring import metrics
from colorcli.training import losses
from colorcli.training.data import rgb8_to_lab_norm
from test_data import smooth_colour_images


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


def _lab_pair():
    """L of four photos-like images, their own ab and the ab of four others (a wrong colouring)."""
    real = smooth_colour_images(4, seed=3)
    L, real_ab = rgb8_to_lab_norm(torch.from_numpy(real))
    _, other_ab = rgb8_to_lab_norm(torch.from_numpy(smooth_colour_images(4, seed=4)))
    return real, L, real_ab, other_ab


def _opencv_rgb(L: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
    lab = torch.cat([(L + 1) * 50, ab * 110], dim=1).permute(0, 2, 3, 1).numpy().astype(np.float32)
    return np.stack([cv2.cvtColor(image, cv2.COLOR_Lab2RGB) for image in lab]).astype(np.float64) * 255


def test_log_mse_is_48_13_db_minus_the_mean_psnr_of_the_srgb_output():
    real, L, real_ab, other_ab = _lab_pair()
    fake_ab = 0.5 * other_ab
    mse = ((_opencv_rgb(L, fake_ab) - _opencv_rgb(L, real_ab)) ** 2).reshape(4, -1).mean(1)
    expected = float(np.mean(10 * np.log10(mse + 1e-2)))  # OpenCV renders both: an independent reference
    assert float(losses.pixel(fake_ab, real_ab, kind="log-mse", L=L)) == pytest.approx(expected, abs=0.02)
    psnr = metrics.summarize(metrics.score_batch(np.rint(_opencv_rgb(L, fake_ab)).astype(np.uint8), real))
    assert 10 * math.log10(255**2) - expected == pytest.approx(psnr["psnr"]["mean"], abs=0.05)
    assert float(losses.pixel(real_ab, real_ab, kind="log-mse", L=L)) < -15  # a perfect output: its floor
    with pytest.raises(ValueError, match="needs L"):
        losses.pixel(fake_ab, real_ab, kind="log-mse")
    with pytest.raises(ValueError, match="no bin weights"):
        losses.pixel(fake_ab, real_ab, torch.ones(losses.AB_BINS**2), "log-mse", L)


def test_colourfulness_matches_the_metric_eval_reports():
    real, L, real_ab, _ = _lab_pair()
    ours = losses.colourfulness(L, real_ab).numpy()
    np.testing.assert_allclose(ours, [metrics.colorfulness(image) for image in real], rtol=1e-3)
    grey = losses.colourfulness(L, torch.zeros_like(real_ab))
    assert float(grey.max()) < 0.5


def test_the_colourfulness_term_pushes_chroma_outward():
    _, L, real_ab, _ = _lab_pair()
    fake_ab = 0.3 * real_ab
    total, gan, pixel = losses.generator_losses(None, fake_ab, real_ab, 1.0, pixel_loss="log-mse", L=L,
                                                colourfulness_weight=0.5)
    assert float(gan) == 0.0
    expected = float(pixel) - 0.5 * float(losses.colourfulness(L, fake_ab).mean())
    assert float(total) == pytest.approx(expected, rel=1e-6)
    fake_ab.requires_grad_(True)
    colourful_only, _, _ = losses.generator_losses(None, fake_ab, real_ab, 0.0, L=L, colourfulness_weight=1.0)
    (gradient,) = torch.autograd.grad(colourful_only, fake_ab)
    stepped = fake_ab.detach() - 0.01 * gradient / gradient.abs().max()
    assert float(losses.colourfulness(L, stepped).mean()) > float(losses.colourfulness(L, fake_ab.detach()).mean())
    with pytest.raises(ValueError, match="needs L"):
        losses.generator_losses(None, fake_ab, real_ab, 1.0, colourfulness_weight=0.5)


def _lab_samples(n: int, seed: int) -> np.ndarray:
    """Lab pairs that reach every branch: grey on either side, hues across 0/360 and nearly opposite."""
    rng = np.random.default_rng(seed)
    lab = np.stack([rng.uniform(0, 100, (n, 2)), rng.uniform(-100, 100, (n, 2)), rng.uniform(-100, 100, (n, 2))], -1)
    lab[: n // 8, 0, 1:] = 0.0  # first one grey
    lab[n // 8: n // 4, 1, 1:] = 0.0  # second one grey
    lab[n // 4: n // 4 + 8, 1, 1:] = -lab[n // 4: n // 4 + 8, 0, 1:] * 0.7 + 1e-3  # nearly opposite hues
    lab[n // 4 + 8: n // 4 + 16, :, 2] = np.array([[5.0, -5.0]])  # hue angles either side of 0
    return lab


def test_torch_ciede2000_matches_skimage():
    from skimage.color import deltaE_ciede2000

    lab = _lab_samples(400, seed=7)
    ours = losses.delta_e_ciede2000(torch.from_numpy(lab[:, 0]), torch.from_numpy(lab[:, 1]), eps=1e-12).numpy()
    np.testing.assert_allclose(ours, deltaE_ciede2000(lab[:, 0], lab[:, 1]), atol=1e-4)


def test_ciede2000_term_is_eval_figure_and_has_finite_gradients_at_grey():
    real, L, real_ab, other_ab = _lab_pair()
    fake_ab = 0.5 * other_ab
    # eval's figure: CIEDE2000 of the 8-bit output (OpenCV's Lab2RGB, rounded) against the reference
    shown = np.clip(np.round(_opencv_rgb(L, fake_ab)), 0, 255).astype(np.uint8)
    expected = np.mean([metrics.delta_e_ciede2000(metrics.srgb_to_lab(s), metrics.srgb_to_lab(r)).mean()
                        for s, r in zip(shown, real)])
    assert float(losses.ciede2000(L, fake_ab, real_ab)) == pytest.approx(expected, abs=0.1)
    for start in (torch.zeros_like(real_ab), real_ab.clone()):  # grey output, and a perfect one
        start.requires_grad_(True)
        (gradient,) = torch.autograd.grad(losses.ciede2000(L, start, real_ab), start)
        assert torch.isfinite(gradient).all()


def test_ciede2000_term_moves_the_output_towards_the_true_colours():
    _, L, real_ab, other_ab = _lab_pair()
    fake_ab = (0.5 * other_ab).requires_grad_(True)
    total, _, pixel = losses.generator_losses(None, fake_ab, real_ab, 1.0, pixel_loss="log-mse", L=L, ciede_weight=2.0)
    with torch.no_grad():
        assert float(total) == pytest.approx(float(pixel) + 2.0 * float(losses.ciede2000(L, fake_ab, real_ab)), rel=1e-6)
    only, _, _ = losses.generator_losses(None, fake_ab, real_ab, 0.0, L=L, ciede_weight=1.0)
    (gradient,) = torch.autograd.grad(only, fake_ab)
    stepped = fake_ab.detach() - 0.02 * gradient / gradient.abs().max()
    assert float(losses.ciede2000(L, stepped, real_ab)) < float(losses.ciede2000(L, fake_ab.detach(), real_ab)) - 0.05
    with pytest.raises(ValueError, match="needs L"):
        losses.generator_losses(None, fake_ab, real_ab, 1.0, ciede_weight=0.5)
