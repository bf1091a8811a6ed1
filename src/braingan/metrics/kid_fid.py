"""FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) on feature arrays.

Computed here (not with torch-fidelity or clean-fid, which need torchvision) from features
[N, D]: FID is the Frechet distance between Gaussians fitted to the two sets; KID is the
unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3 over the whole
sets (so it works for 141 real scans, where torch-fidelity refuses n < 1000 by default, and
its spread comes from the bootstrap rather than from random subsets). Lower is better for
both; KID is unbiased, so it can be slightly negative when the sets match. Each also gives a
scorer of index sets, which ``metrics.protocol`` re-scores for floors and intervals.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from braingan.errors import BrainganError
from braingan.metrics.protocol import Scorer, counts


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        try:
            covmean = linalg.sqrtm(sigma1 @ sigma2)
        except linalg.LinAlgWarning:  # collinear features (radiomic ones can be): the nudged product below
            covmean = np.full_like(sigma1, np.nan)
    if not np.isfinite(covmean).all():  # singular product: nudge the diagonals
        offset = np.eye(len(sigma1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(np.real(covmean)))


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets [N, D] (needs N >= 2 each).

    With fewer images on one side than feature dimensions (141 scans vs 2048-d), the trace term
    tr((S1 S2)^1/2) equals the nuclear norm of A B^T / sqrt((n1-1)(n2-1)) for the centred feature
    matrices A, B (the nonzero eigenvalues of S1 S2 are the squared singular values of A B^T):
    exact, and an SVD of [n1, n2] instead of a [D, D] matrix square root, cheap enough to re-score
    a bootstrap.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    mu1, mu2 = real.mean(0), fake.mean(0)
    if min(len(real), len(fake)) > real.shape[1]:
        return frechet_distance(mu1, np.cov(real, rowvar=False), mu2, np.cov(fake, rowvar=False))
    a, b = real - mu1, fake - mu2
    n1, n2 = len(real) - 1, len(fake) - 1
    cross = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    diff = mu1 - mu2
    return float(diff @ diff + (a * a).sum() / n1 + (b * b).sum() / n2 - 2 * cross)


def fd_infinity(real: np.ndarray, fake: np.ndarray, points: int = 8, seed: int = 0) -> float | None:
    """FID extrapolated to infinitely many generated images (Chong & Forsyth 2020, "Effectively
    unbiased FID"): FID is linear in 1/n, so fit it over random subsets of ``points`` sizes from
    a fifth of the samples to all of them and read the intercept. None for fewer than 50 samples.
    The real side's bias remains: compare at the same real set."""
    fake = np.asarray(fake, np.float64)
    if len(fake) < 50:
        return None
    rng = np.random.default_rng(seed)
    sizes = np.unique(np.linspace(len(fake) // 5, len(fake), points).astype(int))
    values = [fid(real, fake[rng.choice(len(fake), n, replace=False)]) for n in sizes]
    return float(np.polyfit(1.0 / sizes, values, 1)[1])


def fid_scorer(pool: np.ndarray) -> Scorer:
    """FID of any two index sets of the pooled features (see ``metrics.protocol``)."""
    return lambda ref, cand: {"value": fid(pool[ref], pool[cand])}


def polynomial_kernel(features: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / D + 1)^3 between all pairs: the kernel of KID (Binkowski et al. 2018)."""
    x = np.asarray(features, np.float64)
    return (x @ x.T / x.shape[1] + 1) ** 3


def kid_scorer(pool: np.ndarray) -> Scorer:
    """Unbiased MMD^2 of any two index sets of the pooled features, from one kernel matrix.

    A set is weighted by how often each image was drawn, and pairs of an image with itself are
    left out of the within-set sums: so a bootstrap draw, which repeats images, is scored with
    the unbiased estimator too."""
    kernel = polynomial_kernel(pool)
    diagonal = np.diag(kernel)

    def within(c: np.ndarray) -> float:
        return (c @ kernel @ c - (c * c) @ diagonal) / (c.sum() ** 2 - (c * c).sum())

    def score(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
        cr, cc = counts(ref, len(kernel)), counts(cand, len(kernel))
        return {"value": float(within(cr) + within(cc) - 2 * (cr @ kernel @ cc) / (cr.sum() * cc.sum()))}

    return score


def kid(real: np.ndarray, fake: np.ndarray) -> float:
    """KID: the unbiased MMD^2 between the two whole sets (>= 2 images each); it can be slightly
    negative when they match. Its uncertainty comes from the bootstrap of ``metrics.protocol``."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) < 2:
        raise BrainganError("KID needs at least 2 images in each set")
    score = kid_scorer(np.concatenate([real, fake]))
    return score(np.arange(len(real)), len(real) + np.arange(len(fake)))["value"]
