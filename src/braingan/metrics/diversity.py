"""Sample diversity as mean pairwise MS-SSIM (Odena et al. 2017), beside the real set's own.

Random distinct pairs within a set are compared with multi-scale SSIM; a collapsed generator
gives values near 1, a varied one values near the real set's. Lower means more diverse; the
useful reading is the generated value next to the real value (a ratio near 1 is healthy, far
above 1 is mode collapse). No weights needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from braingan.metrics.arrays import Images, as_tensor
from braingan.metrics.ssim import ms_ssim

PAIRS = 1000
BATCH = 256


@dataclass
class DiversityResult:
    fake: float  # mean pairwise MS-SSIM among generated images
    real: float | None  # the same among real images
    pairs: int


def pairwise_ms_ssim(images: Images, pairs: int = PAIRS, seed: int = 0) -> float:
    """Mean MS-SSIM over up to ``pairs`` random pairs of distinct images (all pairs when fewer)."""
    x = as_tensor(images)
    n = len(x)
    if n < 2:
        return float("nan")
    i, j = torch.triu_indices(n, n, offset=1)
    if len(i) > pairs:
        pick = torch.randperm(len(i), generator=torch.Generator().manual_seed(seed))[:pairs]
        i, j = i[pick], j[pick]
    values = [ms_ssim(x[i[k:k + BATCH]], x[j[k:k + BATCH]]) for k in range(0, len(i), BATCH)]
    return float(torch.cat(values).mean())


def diversity(real: Images | None, fake: Images, pairs: int = PAIRS, seed: int = 0) -> DiversityResult:
    real_value = None if real is None else pairwise_ms_ssim(real, pairs, seed)
    fake_value = pairwise_ms_ssim(fake, pairs, seed)
    return DiversityResult(fake=fake_value, real=real_value, pairs=pairs)
