"""Sliced Wasserstein distance between image sets (Karras et al. 2018, "Progressive growing of GANs").

Each image becomes a Laplacian pyramid (from full size down to 16 px); at every level random
7x7 patches are taken as 49-d descriptors (one channel here, where the paper used RGB's 147),
each set's descriptors are normalised to zero mean and unit variance, and the Wasserstein-1
distance is estimated along random unit directions (sort both projections, compare). Reported
x1e3 like the paper, per level (fine detail first) and as the mean. Lower is better; 0 for one
distribution. It needs no weights, so it is always available.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from braingan.metrics.arrays import Images, as_tensor, same_size
from braingan.metrics.protocol import Scorer

PATCH = 7
PATCHES_PER_IMAGE = 128
DIRECTIONS = 512
REPEATS = 4
MIN_LEVEL_SIZE = 16
_SORTERS = ThreadPoolExecutor(max_workers=2)
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


@dataclass
class SWDResult:
    levels: dict[int, float]  # pyramid level size in px -> SWD x1e3
    mean: float


@functools.lru_cache(maxsize=16)
def _blur_operator(n: int) -> torch.Tensor:
    """[n, n] matrix B with ``row @ B`` = the 5-tap binomial blur of a length-n row, reflect-padded."""
    basis = torch.eye(n)[:, None, None, :]  # row i is the unit impulse at i
    return F.conv2d(F.pad(basis, (2, 2, 0, 0), mode="reflect"), _BINOMIAL.view(1, 1, 1, 5))[:, 0, 0, :]


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable binomial blur as two matrix products: one-channel convolutions are slow on CPU."""
    return _blur_operator(x.shape[-2]).T @ (x @ _blur_operator(x.shape[-1]))


def laplacian_pyramid(images: torch.Tensor) -> list[torch.Tensor]:
    """Band-pass levels from full size down to the smallest >= 16 px; the last is the low-pass rest."""
    levels, current = [], images
    while current.shape[-1] // 2 >= MIN_LEVEL_SIZE:
        smaller = F.avg_pool2d(_blur(current), 2)
        up = F.interpolate(smaller, size=current.shape[-2:], mode="bilinear", align_corners=False)
        levels.append(current - up)
        current = smaller
    levels.append(current)
    return levels


def _patches(level: torch.Tensor, per_image: int, rng: torch.Generator) -> torch.Tensor:
    """``per_image`` random 7x7 patches from every image -> [N, per_image, 49]."""
    n, _, h, w = level.shape
    ys = torch.randint(0, h - PATCH + 1, (n, per_image), generator=rng)
    xs = torch.randint(0, w - PATCH + 1, (n, per_image), generator=rng)
    offsets = torch.arange(PATCH)
    rows = (ys[..., None] + offsets)[..., :, None]  # [n, p, 7, 1]
    cols = (xs[..., None] + offsets)[..., None, :]  # [n, p, 1, 7]
    index = torch.arange(n)[:, None, None, None]
    return level[:, 0][index, rows, cols].reshape(n, per_image, PATCH * PATCH)


def _standardised(patches: torch.Tensor) -> torch.Tensor:
    """A set's patches as descriptors [M, 49], normalised to zero mean and unit variance."""
    flat = patches.reshape(-1, patches.shape[-1])
    return (flat - flat.mean()) / flat.std().clamp(min=1e-8)


def _sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, rng: torch.Generator, directions: int,
                        repeats: int) -> float:
    """Mean over random directions of W1 between the 1-d projections (equal-size sets)."""
    total = 0.0
    for _ in range(repeats):
        unit = torch.randn(a.shape[1], directions, generator=rng)
        unit /= unit.norm(dim=0, keepdim=True)
        # numpy's in-place SIMD sort along contiguous rows is several times faster than torch.sort
        # here; it releases the GIL, so the two sets sort on two cores at once
        pa, pb = (unit.T @ a.T).numpy(), (unit.T @ b.T).numpy()
        list(_SORTERS.map(np.ndarray.sort, (pa, pb)))
        total += float(np.abs(pa - pb).mean())
    return total / repeats


def swd_scorer(pool: Images, seed: int = 0, patches: int = PATCHES_PER_IMAGE, directions: int = DIRECTIONS,
               repeats: int = REPEATS) -> Scorer:
    """SWD of any two index sets of the pooled images (see ``metrics.protocol``): the patches of
    every image are cut once; each scoring standardises and compares the two sets' patches.
    The larger set's descriptors are subsampled to the smaller's count, so sets of different
    sizes (141 real vs 1,000 generated) are compared on equal footing."""
    images = as_tensor(pool, "images")
    rng = torch.Generator().manual_seed(seed)
    levels = [(int(level.shape[-1]), _patches(level, patches, rng)) for level in laplacian_pyramid(images)]

    def score(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
        draw = torch.Generator().manual_seed(seed)
        per_level = {}
        for size, cut in levels:
            da, db = _standardised(cut[torch.as_tensor(ref)]), _standardised(cut[torch.as_tensor(cand)])
            m = min(len(da), len(db))
            da = da[torch.randperm(len(da), generator=draw)[:m]]
            db = db[torch.randperm(len(db), generator=draw)[:m]]
            per_level[f"{size}px"] = 1e3 * _sliced_wasserstein(da, db, draw, directions, repeats)
        return {"mean": sum(per_level.values()) / len(per_level), **{f"per_level.{k}": v for k, v in per_level.items()}}

    return score


def swd(real: Images, fake: Images, seed: int = 0) -> SWDResult:
    """SWD between two image sets (see ``metrics.arrays`` for accepted inputs)."""
    real, fake = as_tensor(real, "real"), as_tensor(fake, "fake")
    same_size(real, fake, "SWD")
    values = swd_scorer(torch.cat([real, fake]), seed)(np.arange(len(real)), len(real) + np.arange(len(fake)))
    levels = {int(key.removeprefix("per_level.").removesuffix("px")): v
              for key, v in values.items() if key.startswith("per_level.")}
    return SWDResult(levels=levels, mean=values["mean"])
