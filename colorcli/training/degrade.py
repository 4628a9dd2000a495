"""``--degrade``: make training inputs look like scanned archive prints.

Applied to the model input L only (a batch [N,1,H,W] holding ``L/50-1``), never to the ab target,
so the generator learns to give clean colour from damaged grey. In the order a real print meets
them: fading and low contrast, blur, film grain, dust and scratches, JPEG compression. Each is
applied to each picture with its own probability and a random strength.

Fading, blur, grain, dust and scratches are torch operations that run on the tensor's device (CPU or
GPU). JPEG is real JPEG: the chosen pictures go through OpenCV's encoder and decoder on the CPU as
8-bit grey and come back, which costs a host round trip on a GPU.

Deterministic for a given ``torch.Generator``: every random draw comes from it, in a fixed order,
on the generator's device (noise is moved to the tensor's device when the two differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import cv2
import numpy as np
import torch
from torch.nn import functional as F

# Strength ranges (uniform). L values are in CIE L units (0..100); blur sigmas in pixels.
FADE_BLACK = (0.0, 25.0)  # the darkest L a faded print can still show
FADE_WHITE = (70.0, 100.0)  # the brightest
BLUR_SIGMA = (0.6, 2.0)
GRAIN_STD = (1.5, 6.0)
GRAIN_SIZE = (0.0, 1.0)  # sigma of the blur that makes grain clump
DUST_DENSITY = (2e-4, 1.5e-3)  # spots per pixel
DUST_OPACITY = (0.6, 1.0)
SCRATCHES_MAX = 3
SCRATCH_ANGLE = 12.0  # degrees from vertical: scratches run along the film
SCRATCH_WIDTH = (0.8, 2.5)  # pixels
SCRATCH_OPACITY = (0.4, 0.9)
JPEG_QUALITY = (15, 60)
_BLUR_RADIUS_PER_SIGMA = 3


@dataclass(frozen=True)
class Degradations:
    """Per-picture probability of each degradation (0 turns it off, 1 always applies it)."""

    fade: float = 0.5
    blur: float = 0.4
    grain: float = 0.5
    dust: float = 0.3
    scratches: float = 0.2
    jpeg: float = 0.4

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"probability of {field.name} is {value}, not in [0, 1]")

    @classmethod
    def only(cls, name: str) -> Degradations:
        """Just NAME, always; the others off."""
        off = cls(**{field.name: 0.0 for field in fields(cls)})
        return replace(off, **{name: 1.0})


def _uniform(n: int, bounds: tuple[float, float], generator: torch.Generator | None) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=generator, device=_device(generator))


def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each picture of X [N,1,H,W] with its own SIGMA [N] (0 leaves it as it is); reflected edges."""
    n, _, h, w = x.shape
    radius = max(1, math.ceil(_BLUR_RADIUS_PER_SIGMA * float(sigma.max())))
    radius = min(radius, (min(h, w) - 1))  # reflect padding needs fewer pixels than the side
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    sigma = sigma.to(x.device, x.dtype).clamp_min(1e-3)[:, None]
    kernel = torch.exp(-0.5 * (offsets[None, :] / sigma) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    y = F.pad(x.reshape(1, n, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel.view(n, 1, 1, -1), groups=n)
    y = F.conv2d(y, kernel.view(n, 1, -1, 1), groups=n)
    return y.view(n, 1, h, w)


def _fade(L: torch.Tensor, black: torch.Tensor, white: torch.Tensor) -> torch.Tensor:
    """Squeeze L (0..100) into [black, white]."""
    return black + (white - black) * L / 100.0


def _grain(shape, std: torch.Tensor, size: torch.Tensor, generator, device) -> torch.Tensor:
    noise = torch.randn(shape, generator=generator, device=_device(generator)).to(device)
    noise = _gaussian_blur(noise, size)
    noise = noise / noise.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)  # clumping keeps the std
    return noise * std.to(device)[:, None, None, None]


def _dust(L: torch.Tensor, density, opacity, generator) -> torch.Tensor:
    """Spots of 1 to 3 pixels, white or black per picture."""
    n, _, h, w = L.shape
    seeds = torch.rand((n, 1, h, w), generator=generator, device=_device(generator)).to(L.device)
    big = torch.rand(n, generator=generator, device=_device(generator)).to(L.device) < 0.5
    white = torch.rand(n, generator=generator, device=_device(generator)).to(L.device) < 0.7
    spots = (seeds < density.to(L.device)[:, None, None, None]).to(L.dtype)
    spots = torch.where(big[:, None, None, None], F.max_pool2d(spots, 3, 1, 1), spots)
    value = torch.where(white, 100.0, 0.0).to(L.dtype)[:, None, None, None]
    alpha = spots * opacity.to(L.device)[:, None, None, None]
    return L * (1 - alpha) + value * alpha


def _scratches(L: torch.Tensor, count, generator) -> torch.Tensor:
    """Up to SCRATCHES_MAX thin, nearly vertical lines of random length, bright or dark."""
    n, _, h, w = L.shape
    k = SCRATCHES_MAX
    draw = lambda *size: torch.rand(size, generator=generator, device=_device(generator)).to(L.device)  # noqa: E731
    x0, y0 = draw(n, k) * w, draw(n, k) * h
    theta = torch.deg2rad((draw(n, k) * 2 - 1) * SCRATCH_ANGLE)
    length = (0.3 + 0.7 * draw(n, k)) * h
    width = SCRATCH_WIDTH[0] + (SCRATCH_WIDTH[1] - SCRATCH_WIDTH[0]) * draw(n, k)
    opacity = SCRATCH_OPACITY[0] + (SCRATCH_OPACITY[1] - SCRATCH_OPACITY[0]) * draw(n, k)
    bright = draw(n, k) < 0.7
    active = torch.arange(k, device=L.device)[None, :] < count.to(L.device)[:, None]
    ys = torch.arange(h, device=L.device, dtype=L.dtype)[:, None]
    xs = torch.arange(w, device=L.device, dtype=L.dtype)[None, :]
    dx = xs - x0[..., None, None]  # [n, k, h, w]
    dy = ys - y0[..., None, None]
    cos, sin = torch.cos(theta)[..., None, None], torch.sin(theta)[..., None, None]
    across = (dx * cos - dy * sin).abs()
    along = (dx * sin + dy * cos).abs()
    cover = (width[..., None, None] / 2 + 0.5 - across).clamp(0, 1) * (along < length[..., None, None] / 2)
    alpha = cover * (opacity * active)[..., None, None]
    value = torch.where(bright, 100.0, 0.0).to(L.dtype)[..., None, None]
    for line in range(k):  # paint the lines one over the other
        a = alpha[:, line : line + 1]
        L = L * (1 - a) + value[:, line : line + 1] * a
    return L


def _jpeg(L: torch.Tensor, chosen: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Real JPEG round trip (OpenCV, CPU, 8-bit grey) of the CHOSEN pictures."""
    out = L.clone()
    picks = chosen.nonzero().flatten().tolist()
    if not picks:
        return out
    grey = (L[picks, 0].detach().float().cpu().numpy() * 2.55).round().clip(0, 255).astype(np.uint8)
    for row, index in enumerate(picks):
        ok, data = cv2.imencode(".jpg", grey[row], [cv2.IMWRITE_JPEG_QUALITY, int(quality[index])])
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG")
        decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 2.55
        out[index, 0] = torch.from_numpy(decoded).to(L.device, L.dtype)
    return out


def degrade(L: torch.Tensor, generator: torch.Generator | None = None,
            probabilities: Degradations = Degradations()) -> torch.Tensor:
    """A degraded copy of the model input batch L [N,1,H,W] (``L/50-1``); L itself is not changed."""
    if L.dim() != 4 or L.shape[1] != 1:
        raise ValueError(f"expected an L batch [N,1,H,W], got {tuple(L.shape)}")
    n = L.shape[0]
    p = probabilities
    cpu = torch.device("cpu")
    # The draws depend only on the generator, the batch shape and the probabilities: same seed, same output.
    apply = {f.name: (torch.rand(n, generator=generator, device=_device(generator)) < getattr(p, f.name)).to(cpu)
             for f in fields(Degradations)}
    black = torch.where(apply["fade"], _uniform(n, FADE_BLACK, generator).to(cpu), 0.0)
    white = torch.where(apply["fade"], _uniform(n, FADE_WHITE, generator).to(cpu), 100.0)
    sigma = torch.where(apply["blur"], _uniform(n, BLUR_SIGMA, generator).to(cpu), 0.0)
    grain_std = torch.where(apply["grain"], _uniform(n, GRAIN_STD, generator).to(cpu), 0.0)
    grain_size = _uniform(n, GRAIN_SIZE, generator).to(cpu)
    density = torch.where(apply["dust"], _uniform(n, DUST_DENSITY, generator).to(cpu), 0.0)
    dust_opacity = _uniform(n, DUST_OPACITY, generator).to(cpu)
    count = torch.where(apply["scratches"],
                        torch.randint(1, SCRATCHES_MAX + 1, (n,), generator=generator, device=_device(generator)).to(cpu),
                        0)
    quality = _uniform(n, JPEG_QUALITY, generator).round().to(cpu)

    x = (L.float() + 1.0) * 50.0  # CIE L, 0..100
    device = x.device
    x = _fade(x, black.to(device)[:, None, None, None], white.to(device)[:, None, None, None])
    if apply["blur"].any():
        x = _gaussian_blur(x, sigma)
    if apply["grain"].any():
        x = x + _grain(x.shape, grain_std, grain_size, generator, device)
    if apply["dust"].any():
        x = _dust(x, density, dust_opacity, generator)
    if apply["scratches"].any():
        x = _scratches(x, count, generator)
    x = x.clamp(0.0, 100.0)
    if apply["jpeg"].any():
        x = _jpeg(x, apply["jpeg"], quality)
    return (x / 50.0 - 1.0).to(L.dtype)
