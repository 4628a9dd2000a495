"""The distributional colour head (``colorcli train --head bins``), after Zhang et al. (2016).

a and b are quantized into bins of BIN_STEP Lab units: the grid points of a, b in multiples of 10 that
some sRGB colour rounds to (261 of them; Zhang et al.'s 313 cover a wider gamut), computed here once.
The head predicts, at a quarter of the training resolution, one logit per bin. It learns by the
cross-entropy against soft targets (each pixel's true a, b, averaged over its 4 x 4 block, spread over
its SOFT_NEIGHBOURS nearest bins by a Gaussian of SOFT_SIGMA) weighed per pixel by class rebalancing:
the weight of its nearest bin, from the training set's bin distribution smoothed by a Gaussian of
SOFT_SIGMA and mixed with the uniform one. It decodes by the annealed mean, softmax(logits / T) times
the bin centres: T = 1 gives the distribution's mean, a small T its mode; Zhang et al. used T = 0.38.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from colorcli.models.contract import AB_SCALE

HEADS = ("l1", "bins")
BIN_STEP = 10.0  # Lab units between bin centres
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0  # Lab units
DEFAULT_TEMPERATURE = 0.38  # Zhang et al.'s annealed mean
DEFAULT_REBALANCE = 0.5  # the share of the empirical distribution in the mix (1 - Zhang et al.'s lambda)
LOSS_SCALE = 4  # the loss and the logits are at 1/LOSS_SCALE of the input's resolution
SAMPLE_IMAGES = 2000  # training images (evenly spread) that estimate the bin distribution
# a bins head started from an l1 head predicts a Gaussian of this spread (Lab units) around its colour: about
# the spread of effnet-lite2-photos's errors (the cross-entropy of its start is lowest from 12 to 15 on the
# training photos, about 3.4 against 7.5 at 5), and as close to its colours at T 0.38 as narrower ones
INIT_SIGMA = 15.0


@functools.lru_cache(maxsize=1)
def bin_centres() -> tuple[tuple[int, int], ...]:
    """The (a, b) centres, in Lab units, of the BIN_STEP grid cells that sRGB colours fall in: every
    8-bit RGB on a grid of 3 (and 255) converted to Lab and rounded to the grid (a full 256^3 sweep
    finds the same 261 cells). Sorted by a, then b."""
    from colorcli.training.data import rgb8_to_lab_norm

    values = torch.unique(torch.cat([torch.arange(0, 256, 3), torch.tensor([255])]))
    rgb = torch.stack(torch.meshgrid(values, values, values, indexing="ij"), -1).reshape(1, -1, 1, 3)
    _, ab = rgb8_to_lab_norm(rgb.to(torch.uint8))
    a, b = torch.round(ab.reshape(2, -1).double() * AB_SCALE / BIN_STEP).long()
    span = 64  # cells run from about -11 to 11 on each axis
    unique = torch.unique((a + span) * (2 * span) + (b + span)).tolist()  # sorted by a, then b
    return tuple((int((c // (2 * span) - span) * BIN_STEP), int((c % (2 * span) - span) * BIN_STEP)) for c in unique)


def centres_tensor(centres, device=None) -> torch.Tensor:
    """Bin centres [Q, 2] in the model's ab/110 units."""
    return torch.as_tensor(np.asarray(centres, dtype=np.float32) / AB_SCALE, device=device)


def quarter(ab: torch.Tensor) -> torch.Tensor:
    """ab [B,2,H,W] averaged over LOSS_SCALE x LOSS_SCALE blocks: the targets' resolution."""
    return F.avg_pool2d(ab.float(), LOSS_SCALE)


TABLE_CANDIDATES = 12  # bins kept per 1-unit a, b cell (the 5 nearest of any sRGB colour are among them)
_TABLES: dict = {}


def _candidate_table(centres: torch.Tensor) -> torch.Tensor:
    """For every a, b in whole Lab units from -AB_SCALE to AB_SCALE: the TABLE_CANDIDATES nearest bins,
    [(2 * AB_SCALE + 1) ** 2, TABLE_CANDIDATES] (computed once per grid and device)."""
    key = (str(centres.device), tuple(centres.flatten().tolist()))
    if key not in _TABLES:
        span = int(AB_SCALE)
        axis = torch.arange(-span, span + 1, dtype=torch.float32)
        points = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
        distance = torch.cdist(points, centres.detach().float().cpu() * AB_SCALE)
        k = min(TABLE_CANDIDATES, len(centres))
        _TABLES[key] = torch.topk(distance, k, dim=1, largest=False).indices.to(centres.device)
    return _TABLES[key]


def nearest(ab: torch.Tensor, centres: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """For ab/110 [B,2,h,w]: the K nearest bins' indices [B,k,h,w] and their squared distances in Lab
    units, nearest first. The candidates are the bins nearest the whole a, b next to each pixel's (a
    lookup table), then exact distances to those few: no matrix of distances to every bin."""
    b, _, h, w = ab.shape
    points = ab.float().permute(0, 2, 3, 1).reshape(-1, 2) * AB_SCALE
    span = int(AB_SCALE)
    cell = (points.round().clamp(-span, span) + span).long()
    candidates = _candidate_table(centres)[cell[:, 0] * (2 * span + 1) + cell[:, 1]]  # [P, TABLE_CANDIDATES]
    distance = (centres.float()[candidates] * AB_SCALE - points[:, None]).square().sum(-1)
    d, order = torch.topk(distance, k, dim=1, largest=False, sorted=True)
    index = candidates.gather(1, order)
    return (index.reshape(b, h, w, k).permute(0, 3, 1, 2), d.reshape(b, h, w, k).permute(0, 3, 1, 2))


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int = SOFT_NEIGHBOURS,
                sigma: float = SOFT_SIGMA) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft targets of ab/110 [B,2,h,w]: (indices [B,k,h,w] of its K nearest bins, nearest first, and
    their weights [B,k,h,w], a Gaussian of the distance (SIGMA Lab units) normalised to sum to 1)."""
    index, d = nearest(ab, centres, k)
    weight = torch.softmax(-d / (2.0 * sigma * sigma), dim=1)  # exp(-d^2 / 2 sigma^2), normalised
    return index, weight


def dense_targets(index: torch.Tensor, weight: torch.Tensor, bins: int) -> torch.Tensor:
    """The soft targets as a full distribution [B, bins, h, w] (for tests and pictures)."""
    b, _, h, w = index.shape
    return torch.zeros(b, bins, h, w, dtype=weight.dtype, device=weight.device).scatter_(1, index, weight)


def bin_counts(bank, centres, limit: int = SAMPLE_IMAGES) -> torch.Tensor:
    """How many quarter-resolution pixels of up to LIMIT training images (evenly spread over the bank,
    uint8 [N,h,w,3] or a list of [h,w,3]) fall nearest each bin, float64 [Q]."""
    from colorcli.training.data import rgb8_to_lab_norm

    grid = centres_tensor(centres)
    counts = torch.zeros(len(grid), dtype=torch.float64)
    picks = np.unique(np.linspace(0, len(bank) - 1, min(len(bank), limit)).round().astype(int))
    for i in picks:
        image = torch.from_numpy(np.ascontiguousarray(bank[int(i)]))[None]
        h, w = (image.shape[1] // LOSS_SCALE) * LOSS_SCALE, (image.shape[2] // LOSS_SCALE) * LOSS_SCALE
        _, ab = rgb8_to_lab_norm(image[:, :h, :w])
        index, _ = nearest(quarter(ab), grid)
        counts += torch.bincount(index.flatten(), minlength=len(grid)).double()
    return counts


def rebalance_weights(counts, centres, strength: float = DEFAULT_REBALANCE,
                      sigma: float = SOFT_SIGMA) -> torch.Tensor:
    """Per-bin weights [Q] of the class rebalancing: the empirical distribution p smoothed by a Gaussian
    of SIGMA Lab units over the bins, mixed with the uniform one, w ~ 1 / (STRENGTH * smoothed p +
    (1 - STRENGTH) / Q), scaled so that a training pixel's expected weight under p is 1. STRENGTH 0
    weighs every bin 1."""
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"rebalance strength {strength} is not in [0, 1)")
    counts = torch.as_tensor(counts, dtype=torch.float64)
    p = counts / counts.sum()
    grid = torch.as_tensor(np.asarray(centres, dtype=np.float64))
    kernel = torch.exp(-torch.cdist(grid, grid).square() / (2.0 * sigma * sigma))
    smoothed = kernel @ p
    smoothed = smoothed / smoothed.sum()
    weights = 1.0 / (strength * smoothed + (1.0 - strength) / len(p))
    return (weights / (p * weights).sum()).float()


def cross_entropy(logits: torch.Tensor, real_ab: torch.Tensor, centres: torch.Tensor,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """The rebalanced cross-entropy of quarter-resolution LOGITS [B,Q,H/4,W/4] against the soft
    targets of the true ab/110 [B,2,H,W] (averaged to the logits' resolution first); each pixel
    weighed by WEIGHTS [Q] of its nearest bin (None: 1). The mean over pixels."""
    target = quarter(real_ab)
    if target.shape[-2:] != logits.shape[-2:]:
        raise ValueError(f"logits at {tuple(logits.shape[-2:])} do not match the quarter-resolution targets "
                         f"{tuple(target.shape[-2:])}")
    with torch.no_grad():
        index, weight = soft_encode(target, centres)
        pixel_weight = weights[index[:, 0]] if weights is not None else None
    log_p = torch.log_softmax(logits.float(), dim=1)
    loss = -(log_p.gather(1, index) * weight).sum(1)
    if pixel_weight is not None:
        loss = loss * pixel_weight
    return loss.mean()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    """ab/110 [B,2,h,w] decoded from LOGITS [B,Q,h,w]: softmax(logits / T) times the bin centres. The
    bins are made the last axis first: ONNX Runtime's Softmax over the channels of NCHW took 50 ms of a
    256 px picture on a CPU, and its Einsum 17; over the last axis, and a MatMul, they take a few."""
    probabilities = torch.softmax(logits.permute(0, 2, 3, 1) / temperature, dim=-1)
    return (probabilities @ centres.to(probabilities.dtype)).permute(0, 3, 1, 2)


@torch.no_grad()
def head_from_l1(head: torch.nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor, centres: torch.Tensor,
                 sigma: float = INIT_SIGMA) -> None:
    """Start a bins HEAD (1x1 conv, Q outputs) from an l1 head's WEIGHT [2,C,1,1] and BIAS [2], whose
    output before its tanh is u = W x + b (ab/110): logits_q = -|c_q - u|^2 / (2 SIGMA^2) (Lab units)
    up to a term the softmax ignores, i.e. k (c_q . u) - k |c_q|^2 / 2 with k = (110 / SIGMA)^2, which
    is linear in x. The new head then predicts a Gaussian of SIGMA around the old head's colour (its
    inputs averaged over 4 x 4 blocks, as the bins head's are), so a run from an l1 model begins with
    that model's colours instead of the mean of all bins."""
    k = (AB_SCALE / sigma) ** 2
    grid = centres.to(weight.device, torch.float32)
    head.weight.copy_(k * torch.einsum("qc,cikl->qikl", grid, weight.float()))
    head.bias.copy_(k * (grid @ bias.float() - 0.5 * grid.square().sum(1)))
