"""pix2pix losses: BCE adversarial on PatchGAN logits plus lambda * L1 on ab."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE of PatchGAN logits against an all-real (1) or all-fake (0) target."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Half the sum of the real and fake terms, as pix2pix (slows D relative to G)."""
    return 0.5 * (adversarial(real_logits, True) + adversarial(fake_logits, False))


def generator_losses(fake_logits: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor,
                     lambda_l1: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, adversarial, L1) where total = adversarial + lambda_l1 * L1."""
    gan = adversarial(fake_logits, True)
    l1 = F.l1_loss(fake_ab.float(), real_ab.float())
    return gan + lambda_l1 * l1, gan, l1


@torch.no_grad()
def discriminator_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Share of patches D classifies right (real > 0, fake < 0). Near 1.0 for long: G has lost;
    near 0.5 with falling colourfulness: a sign of mode collapse to grey. A 0-d tensor (no sync)."""
    return ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()) / 2.0
