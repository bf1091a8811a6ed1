"""Precision, recall, density and coverage (Naeem et al. 2020, "Reliable fidelity and diversity
metrics for generative models"), k = 5, on feature arrays.

Each real feature gets a ball reaching its k-th nearest real neighbour. Precision: share of
generated samples inside some real ball (realism). Recall: share of real samples inside some
generated ball (variety). Density: how many real balls a generated sample falls in, /k (about
1 when the distributions match; robust to real outliers). Coverage: share of real balls holding
at least one generated sample. All higher-is-better, about 1 for matching sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from braingan.errors import BrainganError
from braingan.metrics.protocol import Scorer

K = 5


@dataclass
class PRDCResult:
    precision: float
    recall: float
    density: float
    coverage: float
    k: int


def prdc_scorer(pool: np.ndarray, k: int = K) -> Scorer:
    """PRDC of any two index sets of the pooled features, from one distance matrix. Each set's
    k-NN radii come from within that set, with an image never its own neighbour (a bootstrap
    draw repeats images)."""
    x = torch.as_tensor(np.asarray(pool), dtype=torch.float64)
    distances = torch.cdist(x, x).numpy()

    def radii(index: np.ndarray) -> np.ndarray:
        d = distances[np.ix_(index, index)]
        d[index[:, None] == index[None, :]] = np.inf
        return np.partition(d, k - 1, axis=1)[:, k - 1]

    def score(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
        real_radius, fake_radius = radii(ref), radii(cand)
        d = distances[np.ix_(ref, cand)]  # [n_real, n_fake]
        inside_real = d < real_radius[:, None]
        return {"precision": float(inside_real.any(axis=0).mean()),
                "recall": float((d < fake_radius[None, :]).any(axis=1).mean()),
                "density": float(inside_real.sum(axis=0).mean() / k),
                "coverage": float((d.min(axis=1) < real_radius).mean())}

    return score


def prdc(real: np.ndarray, fake: np.ndarray, k: int = K) -> PRDCResult:
    """PRDC of ``fake`` against ``real`` features [N, D] (needs more than k of each)."""
    if min(len(real), len(fake)) <= k:
        raise BrainganError(f"PRDC with k={k} needs more than {k} real and generated images")
    score = prdc_scorer(np.concatenate([real, fake]), k)
    return PRDCResult(**score(np.arange(len(real)), len(real) + np.arange(len(fake))), k=k)
