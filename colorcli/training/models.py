"""pix2pix networks for Lab colorization: a U-Net generator and a conditional PatchGAN.

Generator: ``L/50-1`` [N,1,H,W] -> ``ab/110`` [N,2,H,W] (tanh). H and W must be multiples of
``size_unit = 2**levels``. The forward pass has no data-dependent Python control flow, so it
exports to ONNX with dynamic H and W.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURE = "unet"
MAX_WIDTH_MULT = 8  # pix2pix caps the channel count at 8 * ngf


def levels_for_size(size: int) -> int:
    """Encoder depth for a training size: halve while even (8 at 256 px, 5 at 32: down to 1x1)."""
    if size < 4:
        raise ValueError(f"training size {size} is too small (at least 4)")
    levels = 0
    while size % 2 == 0:
        size //= 2
        levels += 1
    if levels < 2:
        raise ValueError("training size must be divisible by 4")
    return levels


def unet_config(size: int, ngf: int = 64, levels: int | None = None, dropout_blocks: int = 3,
                dropout: float = 0.5) -> dict:
    """The model config stored in checkpoints; build_generator() rebuilds the network from it."""
    levels = levels_for_size(size) if levels is None else int(levels)
    if size % (2**levels):
        raise ValueError(f"training size {size} is not a multiple of 2**levels = {2**levels}")
    return {
        "architecture": ARCHITECTURE,
        "ngf": int(ngf),
        "levels": levels,
        "dropout_blocks": int(dropout_blocks),
        "dropout": float(dropout),
        "native_size": int(size),
        "size_unit": 2**levels,
        "in_channels": 1,
        "out_channels": 2,
    }


def _width(ngf: int, level: int) -> int:
    return ngf * min(2**level, MAX_WIDTH_MULT)


class UNetGenerator(nn.Module):
    """pix2pix U-Net. Encoder: C4s2 (+BN except first and innermost) after LeakyReLU 0.2.
    Decoder: ReLU, ConvT 4s2 + BN (+Dropout on the first ``dropout_blocks``), tanh at the end.
    """

    def __init__(self, ngf: int = 64, levels: int = 8, dropout_blocks: int = 3, dropout: float = 0.5,
                 in_channels: int = 1, out_channels: int = 2):
        super().__init__()
        self.levels = levels
        self.down = nn.ModuleList()
        for i in range(levels):
            c_in = in_channels if i == 0 else _width(ngf, i - 1)
            c_out = _width(ngf, i)
            norm = 0 < i < levels - 1
            layers = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=False)]
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(c_out))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for j in range(levels):
            level = levels - 1 - j  # the encoder level this block mirrors
            c_in = _width(ngf, level) * (1 if j == 0 else 2)
            last = level == 0
            c_out = out_channels if last else _width(ngf, level - 1)
            layers = [nn.ReLU(inplace=False), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last)]
            if last:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(c_out))
                if j < dropout_blocks:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the innermost output feeds the decoder directly
        for j, block in enumerate(self.up):
            if j:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x)
        return x


class PatchDiscriminator(nn.Module):
    """Conditional 70x70 PatchGAN on [L, ab]: C64-C128-C256-C512 (BN from the second), logits out."""

    def __init__(self, ndf: int = 64, in_channels: int = 3, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        c_in = ndf
        for n in range(1, n_layers + 1):
            c_out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(c_in, c_out, 4, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([L, ab], dim=1))


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """pix2pix init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


GENERATORS = ("unet", "effnet-lite0", "effnet-lite1", "effnet-lite2")


def generator_config(generator: str, size: int, ngf: int = 64, dropout_blocks: int = 3,
                     encoder_scale: int = 1, head: str = "l1") -> dict:
    """The model config of a new generator: "unet" (pix2pix) or "effnet-liteN" (pretrained encoder);
    HEAD "bins" (effnet only) gives it the distributional head of colorcli.training.bins."""
    if generator == ARCHITECTURE:
        if encoder_scale != 1:
            raise ValueError("--encoder-scale applies to the effnet generators only")
        if head != "l1":
            raise ValueError("--head bins needs an effnet generator")
        return unet_config(size, ngf, dropout_blocks=dropout_blocks)
    if generator in GENERATORS:
        from colorcli.training.effnet import effnet_config

        return effnet_config(size, variant=generator.split("-", 1)[1], encoder_scale=encoder_scale, head=head)
    raise ValueError(f"unknown generator {generator!r} (choose from {', '.join(GENERATORS)})")


def build_generator(model_config: dict, pretrained: bool = False) -> nn.Module:
    """Rebuild the generator described by a checkpoint's ``config["model"]``.

    pretrained: load the encoder's ImageNet weights (a new effnet run; a checkpoint's weights replace them).
    """
    architecture = str(model_config.get("architecture"))
    if architecture.startswith("effnet-"):
        from colorcli.training.effnet import build_effnet_generator

        return build_effnet_generator(model_config, pretrained=pretrained)
    if architecture != ARCHITECTURE:
        raise ValueError(f"unknown generator architecture {architecture!r} (expected one of {', '.join(GENERATORS)})")
    return UNetGenerator(
        ngf=int(model_config["ngf"]),
        levels=int(model_config["levels"]),
        dropout_blocks=int(model_config.get("dropout_blocks", 3)),
        dropout=float(model_config.get("dropout", 0.5)),
        in_channels=int(model_config.get("in_channels", 1)),
        out_channels=int(model_config.get("out_channels", 2)),
    )


def build_discriminator(ndf: int = 64) -> PatchDiscriminator:
    return PatchDiscriminator(ndf=ndf)


def freeze_batchnorms(module: nn.Module) -> int:
    """Put every BatchNorm2d of MODULE in eval mode (its running statistics used, never updated) with
    its affine weight and bias frozen; returns how many. Call it again after each ``train()``, which
    would put them back in training mode."""
    count = 0
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            m.requires_grad_(False)
            count += 1
    return count


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
