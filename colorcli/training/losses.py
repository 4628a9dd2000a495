"""pix2pix losses: BCE adversarial on PatchGAN logits plus lambda * L1 on ab (or the mean squared
error, or the per-image log error of the sRGB output that PSNR measures), optionally with each pixel's
error weighted by how rare its true colour is (class rebalancing), minus a weight times the output's
colourfulness, plus a weight times the CIEDE2000 that eval reports."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from colorcli.models.contract import AB_SCALE, L_OFFSET, L_SCALE
from colorcli.training.data import lab_norm_to_srgb, rgb8_to_lab_norm


def adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE of PatchGAN logits against an all-real (1) or all-fake (0) target."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Half the sum of the real and fake terms, as pix2pix (slows D relative to G)."""
    return 0.5 * (adversarial(real_logits, True) + adversarial(fake_logits, False))


AB_BINS = 22  # per axis: 10 Lab units each over a, b in [-110, 110]


def ab_bin_index(ab: torch.Tensor) -> torch.Tensor:
    """ab/110 [B,2,H,W] -> the flat index [B,H,W] of its AB_BINS x AB_BINS colour bin."""
    q = ((ab.clamp(-1.0, 1.0 - 1e-6) + 1.0) * (AB_BINS / 2)).long()
    return q[:, 0] * AB_BINS + q[:, 1]


def ab_histogram(ab: torch.Tensor) -> torch.Tensor:
    """Pixel counts per colour bin of ab/110 [B,2,H,W], float [AB_BINS**2]."""
    return torch.bincount(ab_bin_index(ab).flatten(), minlength=AB_BINS * AB_BINS).float()


def rebalance_weights(counts: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-bin weights that lift rare colours, as the class rebalancing of Zhang et al. (2016):
    w ~ 1 / (strength * p + (1 - strength) / Q) over the Q bins that occur, scaled so that the
    expected weight of a training pixel is 1. strength 0 weighs every pixel 1 (plain L1); the paper
    used 0.5. The L1 optimum moves from the median colour towards the rarer, more saturated ones."""
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"rebalance strength {strength} is not in [0, 1)")
    p = counts / counts.sum()
    seen = p > 0
    weights = torch.where(seen, 1.0 / (strength * p + (1.0 - strength) / seen.sum()), torch.zeros_like(p))
    return weights / (p * weights).sum()


PIXEL_LOSSES = ("l1", "mse", "log-mse")


def log_mse(L: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> torch.Tensor:
    """Mean over images of 10 log10(MSE) of the sRGB outputs (0..255), i.e. 48.13 dB minus their mean
    PSNR: the figure eval reports, so a well-coloured image with little error left counts as much as
    a hard one (a plain mean error is dominated by the hard ones)."""
    fake, real = lab_norm_to_srgb(L, fake_ab), lab_norm_to_srgb(L, real_ab)
    mse = (fake - real).square().flatten(1).mean(1)
    return (10.0 * torch.log10(mse + 1e-2)).mean()  # + 1e-2: a perfect image caps at 68 dB, not inf


def pixel(fake_ab: torch.Tensor, real_ab: torch.Tensor, bin_weights: torch.Tensor | None = None,
          kind: str = "l1", L: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute ("l1") or squared ("mse") ab error, or log_mse ("log-mse", needs L); with
    BIN_WEIGHTS each pixel's ab error is weighted by its true colour's bin. L1's optimum is the median
    colour, MSE's the mean."""
    if kind not in PIXEL_LOSSES:
        raise ValueError(f"pixel loss {kind!r} is not one of {', '.join(PIXEL_LOSSES)}")
    if kind == "log-mse":
        if L is None or bin_weights is not None:
            raise ValueError("the log-mse pixel loss needs L and takes no bin weights")
        return log_mse(L, fake_ab, real_ab)
    difference = fake_ab.float() - real_ab.float()
    error = difference.abs() if kind == "l1" else difference.square()
    if bin_weights is None:
        return error.mean()
    return (error * bin_weights[ab_bin_index(real_ab.float())].unsqueeze(1)).mean()


def colourfulness(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk colourfulness of each sRGB output (0..255 scale, as colorcli.scoring.metrics), [B]."""
    rgb = lab_norm_to_srgb(L, ab).flatten(1, 2)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    spread = (rg.var(1, correction=0) + yb.var(1, correction=0) + 1e-4).sqrt()  # + 1e-4: finite gradient at grey
    return spread + 0.3 * (rg.mean(1).square() + yb.mean(1).square() + 1e-4).sqrt()


def _chroma_weight(chroma: torch.Tensor) -> torch.Tensor:
    c7 = chroma.pow(7)
    return (c7 / (c7 + 25.0**7)).sqrt()


def delta_e_ciede2000(lab1: torch.Tensor, lab2: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel CIEDE2000 (kL = kC = kH = 1) of Lab tensors [..., 3], differentiable in both.

    colorcli.scoring.metrics has the same formula in numpy for eval; this one is written for gradients: the hue
    difference comes from the identity dH'^2 = 2 (C1'C2' - a1'a2' - b1 b2), signed by the cross product,
    so no atan2 is differentiated at grey, and the mean hue (which only sets the weights T and R_T) is the
    direction of the sum of the two unit hue vectors, taken without gradient. eps keeps square roots
    finite at zero chroma and at zero difference."""
    L1, a1, b1 = lab1.unbind(-1)
    L2, a2, b2 = lab2.unbind(-1)
    g = 1.5 - 0.5 * _chroma_weight(0.5 * ((a1 * a1 + b1 * b1 + eps).sqrt() + (a2 * a2 + b2 * b2 + eps).sqrt()))
    a1p, a2p = a1 * g, a2 * g
    c1p, c2p = (a1p * a1p + b1 * b1 + eps).sqrt(), (a2p * a2p + b2 * b2 + eps).sqrt()
    d_hue_sq = (2.0 * (c1p * c2p - a1p * a2p - b1 * b2)).clamp_min(0.0)
    d_hue = torch.sign(a1p * b2 - a2p * b1) * (d_hue_sq + eps).sqrt()
    with torch.no_grad():
        h_mean = torch.atan2(b1 / c1p + b2 / c2p, a1p / c1p + a2p / c2p) % (2 * torch.pi)
        t = (1.0 - 0.17 * torch.cos(h_mean - torch.pi / 6) + 0.24 * torch.cos(2 * h_mean)
             + 0.32 * torch.cos(3 * h_mean + torch.pi / 30) - 0.20 * torch.cos(4 * h_mean - 0.35 * torch.pi))
        d_theta = torch.pi / 6 * torch.exp(-((torch.rad2deg(h_mean) - 275.0) / 25.0) ** 2)
    l50 = (0.5 * (L1 + L2) - 50.0).square()
    s_l = 1.0 + 0.015 * l50 / (20.0 + l50).sqrt()
    c_mean = 0.5 * (c1p + c2p)
    s_c = 1.0 + 0.045 * c_mean
    s_h = 1.0 + 0.015 * c_mean * t
    r_t = -2.0 * _chroma_weight(c_mean) * torch.sin(2.0 * d_theta)
    l_term, c_term, h_term = (L2 - L1) / s_l, (c2p - c1p) / s_c, d_hue / s_h
    total = l_term.square() + c_term.square() + h_term.square() + r_t * c_term * h_term
    return (total.clamp_min(0.0) + eps).sqrt()


def ciede2000(L: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 between the output as saved (sRGB clipped to the gamut, read back as Lab; only the
    8-bit rounding is left out) and the true colours: the figure eval reports, so a weight on it trains
    for what users are shown."""
    shown_L, shown_ab = rgb8_to_lab_norm(lab_norm_to_srgb(L, fake_ab))
    shown = torch.cat([(shown_L + L_OFFSET) * L_SCALE, shown_ab * AB_SCALE], 1).movedim(1, -1)
    true = torch.cat([(L.float() + L_OFFSET) * L_SCALE, real_ab.float() * AB_SCALE], 1).movedim(1, -1)
    return delta_e_ciede2000(shown, true).mean()


def generator_losses(fake_logits: torch.Tensor | None, fake_ab: torch.Tensor, real_ab: torch.Tensor,
                     lambda_l1: float, bin_weights: torch.Tensor | None = None, pixel_loss: str = "l1",
                     L: torch.Tensor | None = None, colourfulness_weight: float = 0.0,
                     ciede_weight: float = 0.0, pixel_value: torch.Tensor | None = None,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, adversarial, pixel), total = adversarial + lambda_l1 * pixel - colourfulness_weight *
    mean colourfulness + ciede_weight * mean CIEDE2000 (both, like log-mse, need L). Without logits
    (the L1 warm-up) the adversarial term is 0. PIXEL_VALUE, when given, is the pixel term already
    computed (the bins head's cross-entropy)."""
    gan = adversarial(fake_logits, True) if fake_logits is not None else torch.zeros((), device=fake_ab.device)
    loss_pixel = pixel(fake_ab, real_ab, bin_weights, pixel_loss, L) if pixel_value is None else pixel_value
    total = gan + lambda_l1 * loss_pixel
    if colourfulness_weight:
        if L is None:
            raise ValueError("the colourfulness term needs L")
        total = total - colourfulness_weight * colourfulness(L, fake_ab).mean()
    if ciede_weight:
        if L is None:
            raise ValueError("the CIEDE2000 term needs L")
        total = total + ciede_weight * ciede2000(L, fake_ab, real_ab)
    return total, gan, loss_pixel


@torch.no_grad()
def discriminator_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Share of patches D classifies right (real > 0, fake < 0). Near 1.0 for long: G has lost;
    near 0.5 with falling colourfulness: a sign of mode collapse to grey. A 0-d tensor (no sync)."""
    return ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()) / 2.0
