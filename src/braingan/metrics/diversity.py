"""Sample diversity as mean pairwise MS-SSIM (Odena et al. 2017), beside the real set's own.

Random distinct pairs within a set are compared with multi-scale SSIM; a collapsed generator
gives values near 1, a varied one values near the real set's. Lower means more diverse; the
useful reading is the generated value next to the real value (a ratio near 1 is healthy, far
above 1 is mode collapse). No weights needed.

Against a small training set that ratio has a yardstick: real scans the run never saw (a
held-out folder) give their own value, and their ratio to the training scans is what a
generator of genuinely new patients would score. A few training scans can vary more than
most such draws: the seed's 19 Kaggle scans do, so new patients' scans score 1.25 against them
at 128 px (benchmarks/RESULTS.md).
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
    holdout: float | None = None  # the same among held-out real scans (training scans left out)
    holdout_n: int = 0  # held-out scans it was measured on


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


def not_in(images: Images, reference: Images) -> torch.Tensor:
    """``images`` without those pixel-identical to one of ``reference``: the training scans among
    a held-out folder, which would otherwise count as new patients."""
    x = as_tensor(images)
    seen = {image.numpy().tobytes() for image in as_tensor(reference)}
    return x[[i for i, image in enumerate(x) if image.numpy().tobytes() not in seen]]


def diversity(real: Images | None, fake: Images, pairs: int = PAIRS, seed: int = 0,
              holdout: Images | None = None) -> DiversityResult:
    """Pairwise MS-SSIM of ``fake`` and ``real``; with ``holdout``, also of those held-out scans
    that are not in ``real`` (the yardstick for the ratio)."""
    real_value = None if real is None else pairwise_ms_ssim(real, pairs, seed)
    fake_value = pairwise_ms_ssim(fake, pairs, seed)
    unseen = None if holdout is None else (as_tensor(holdout) if real is None else not_in(holdout, real))
    holdout_value = None if unseen is None or len(unseen) < 2 else pairwise_ms_ssim(unseen, pairs, seed)
    return DiversityResult(fake=fake_value, real=real_value, pairs=pairs, holdout=holdout_value,
                           holdout_n=0 if unseen is None else len(unseen))
