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

K = 5


@dataclass
class PRDCResult:
    precision: float
    recall: float
    density: float
    coverage: float
    k: int


def _pairwise(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    return torch.cdist(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64))


def _kth_neighbour_radius(x: np.ndarray, k: int) -> torch.Tensor:
    d = _pairwise(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself sits at distance 0


def prdc(real: np.ndarray, fake: np.ndarray, k: int = K) -> PRDCResult:
    """PRDC of ``fake`` against ``real`` features [N, D] (needs more than k of each)."""
    if min(len(real), len(fake)) <= k:
        raise BrainganError(f"PRDC with k={k} needs more than {k} real and generated images")
    real_radius = _kth_neighbour_radius(real, k)
    fake_radius = _kth_neighbour_radius(fake, k)
    d = _pairwise(real, fake)  # [n_real, n_fake]
    inside_real = d < real_radius[:, None]
    precision = inside_real.any(dim=0).double().mean()
    recall = (d < fake_radius[None, :]).any(dim=1).double().mean()
    density = inside_real.double().sum(dim=0).mean() / k
    coverage = (d.min(dim=1).values < real_radius).double().mean()
    return PRDCResult(float(precision), float(recall), float(density), float(coverage), k)
