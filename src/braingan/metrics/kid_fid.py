"""FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) on feature arrays.

Computed here (not with torch-fidelity or clean-fid, which need torchvision) from features
[N, D]: FID is the Frechet distance between Gaussians fitted to the two sets; KID is the
unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over
random subsets whose size adapts to the smaller set (so it works for 155 real scans, where
torch-fidelity refuses n < 1000 by default). Lower is better for both; KID is unbiased,
so it can be slightly negative when the sets match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from braingan.errors import BrainganError

SUBSETS = 100
MAX_SUBSET = 1000


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2)."""
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: nudge the diagonals
        offset = np.eye(len(sigma1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(np.real(covmean)))


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets [N, D] (needs N >= 2 each).

    With fewer images than feature dimensions (155 scans vs 2048-d) the sample covariances are
    low-rank, and tr((S1 S2)^1/2) equals the nuclear norm of A B^T / sqrt((n1-1)(n2-1)) for the
    centred feature matrices A, B: exact, and a small SVD instead of a 2048x2048 sqrtm.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    mu1, mu2 = real.mean(0), fake.mean(0)
    if max(len(real), len(fake)) > real.shape[1]:
        return frechet_distance(mu1, np.cov(real, rowvar=False), mu2, np.cov(fake, rowvar=False))
    a, b = real - mu1, fake - mu2
    n1, n2 = len(real) - 1, len(fake) - 1
    cross = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    diff = mu1 - mu2
    return float(diff @ diff + (a * a).sum() / n1 + (b * b).sum() / n2 - 2 * cross)


@dataclass
class KIDResult:
    mean: float
    std: float
    subset_size: int
    subsets: int


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = SUBSETS, subset_size: int | None = None,
        seed: int = 0) -> KIDResult:
    """Mean and spread of unbiased MMD^2 over random subsets (size: min(1000, both set sizes))."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = subset_size or min(MAX_SUBSET, len(real), len(fake))
    if size < 2:
        raise BrainganError("KID needs at least 2 images in each set")
    rng = np.random.default_rng(seed)
    values = [_mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                             fake[rng.choice(len(fake), size, replace=False)]) for _ in range(subsets)]
    return KIDResult(mean=float(np.mean(values)), std=float(np.std(values)), subset_size=size, subsets=subsets)
