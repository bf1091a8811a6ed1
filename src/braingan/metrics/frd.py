"""Frechet Radiomic Distance (Konz et al. 2025, "Frechet Radiomic Distance (FRD): a versatile
metric for comparing medical imaging datasets"), on features from ``radiomic_features``.

As in the paper's FRDv1, every feature is z-scored with the mean and standard deviation of the
reference (real) set alone, so the generated set is measured in units of real variation and
cannot rescale the axes by being odd itself (FRDv0 min-max scaled over both sets together, so
an outlying fake set widened the ranges and shrank its own distance). Features are not
transformed otherwise (no log or robust scaling), as in the paper. A feature constant over the reference
set has no spread to measure in; the paper's code drops such features (their z-scores are NaN
or infinite), and so does this. Then the Frechet distance of Gaussians fitted to the two sets,
as for FID. The paper reports log(d_F) (and its code log(d_F^2)); this returns d_F^2 itself,
on the scale of FID, so that identical sets give 0 rather than minus infinity; the log is
monotone, so rankings agree. Values are comparable only between runs with the same
radiomic features at the same resolution, not with Inception FID.
"""

from __future__ import annotations

import numpy as np

from braingan.errors import BrainganError
from braingan.metrics.kid_fid import fid

MIN_SPREAD = 1e-12  # a reference feature with a smaller standard deviation counts as constant


def frd(real: np.ndarray, fake: np.ndarray) -> float:
    """FRD of fake against real radiomic features [N, F] (N >= 2 each): lower is closer, 0 for equal sets."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise BrainganError(f"FRD needs two feature arrays [N, F] with the same F, not {real.shape} and {fake.shape}")
    if min(len(real), len(fake)) < 2:
        raise BrainganError("FRD needs at least 2 real and 2 generated images")
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):
        raise BrainganError("FRD: the radiomic features hold NaN or infinite values")
    mean, std = real.mean(0), real.std(0)
    varying = std > MIN_SPREAD * np.maximum(np.abs(mean), 1.0)
    if not varying.any():
        raise BrainganError("FRD: every radiomic feature is constant over the real images")
    return fid((real[:, varying] - mean[varying]) / std[varying], (fake[:, varying] - mean[varying]) / std[varying])
