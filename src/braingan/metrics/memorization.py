"""Memorization audit: is any generated image a near copy of a training image?

For every sample: its nearest training image by pixel distance (RMS over pixels in [-1, 1],
after the same preprocessing as training), and the SSIM with the closest of its few nearest
candidates. What counts as "too close" is calibrated on the training set itself: the distance
from each real image to its nearest *other* real image, whose low percentile (and the matching
high percentile of SSIM) marks how close two different scans ever come. A sample closer than
that to a training image is flagged. Exact copies (distance 0, SSIM 1) are always flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from braingan.metrics.arrays import Images, as_tensor, same_size
from braingan.metrics.ssim import ssim

CANDIDATES = 5  # SSIM is computed against this many pixel-nearest training images
PERCENTILE = 1.0  # flag what is closer than all but 1% of distinct real scans come to each other
DUPLICATE_FRACTION = 0.1
CHUNK = 512


@dataclass
class MemorizationResult:
    distance: np.ndarray  # [n_fake] RMS pixel distance to the nearest training image
    nearest: np.ndarray  # [n_fake] index of that training image
    ssim: np.ndarray  # [n_fake] best SSIM among the candidates
    ssim_nearest: np.ndarray  # [n_fake] index of the training image with that SSIM
    threshold_distance: float
    threshold_ssim: float
    percentile: float
    real_near_duplicates: int  # real images left out of the calibration as near-copies of another
    flagged: list[int] = field(default_factory=list)  # sample indices, closest first

    def summary(self) -> dict:
        return {
            "flagged": len(self.flagged),
            "flagged_fraction": len(self.flagged) / len(self.distance),
            "flagged_samples": self.flagged,
            "threshold_distance": self.threshold_distance,
            "threshold_ssim": self.threshold_ssim,
            "calibration": f"percentile {self.percentile:g} of real-to-nearest-other-real distance "
                           f"(and percentile {100 - self.percentile:g} of SSIM), near-duplicate real scans set aside",
            "real_near_duplicates": self.real_near_duplicates,
            "min_distance": float(self.distance.min()),
            "max_ssim": float(self.ssim.max()),
        }


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """RMS pixel distance between every a[i] and b[j] -> [len(a), len(b)]."""
    fa, fb = a.flatten(1).double(), b.flatten(1).double()
    squared = (fa ** 2).sum(1, keepdim=True) + (fb ** 2).sum(1) - 2 * fa @ fb.T
    return (squared.clamp(min=0) / fa.shape[1]).sqrt().float()


def _nearest(queries: torch.Tensor, train: torch.Tensor, exclude_self: bool
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel-nearest distance and index, and the best SSIM among the CANDIDATES nearest."""
    k = min(CANDIDATES, len(train) - int(exclude_self))
    dist, idx, best_ssim, best_idx = [], [], [], []
    for start in range(0, len(queries), CHUNK):
        q = queries[start:start + CHUNK]
        d = _distances(q, train)
        if exclude_self:
            rows = torch.arange(len(q))
            d[rows, rows + start] = float("inf")
            # a byte-different but pixel-identical twin is a duplicate in the data, not a neighbour
            d[d == 0] = float("inf")
        top_d, top_i = d.topk(k, dim=1, largest=False)
        scores = ssim(q.repeat_interleave(k, 0), train[top_i.flatten()]).view(len(q), k)
        scores[~torch.isfinite(top_d)] = float("-inf")  # self and pixel twins are no candidates
        s, j = scores.max(dim=1)
        dist.append(top_d[:, 0])
        idx.append(top_i[:, 0])
        best_ssim.append(s)
        best_idx.append(top_i.gather(1, j[:, None])[:, 0])
    return torch.cat(dist), torch.cat(idx), torch.cat(best_ssim), torch.cat(best_idx)


def calibrate(train: torch.Tensor, percentile: float = PERCENTILE) -> tuple[float, float, int]:
    """(distance, SSIM) thresholds from each real image's nearest other real image, and how many
    real images were set aside as near-duplicates of another (closer than DUPLICATE_FRACTION of
    the median distance: the Kaggle sets hold the same scan under several names, and letting
    those set the threshold would make it far too strict)."""
    d, _, s, _ = _nearest(train, train, exclude_self=True)
    finite = torch.isfinite(d) & torch.isfinite(s)
    d, s = d[finite].numpy(), s[finite].numpy()
    if len(d) == 0:  # every training image has a pixel twin: only exact copies can be told apart
        return 0.0, 1.0, len(train)
    distinct = d > DUPLICATE_FRACTION * np.median(d)
    duplicates = len(train) - int(distinct.sum())
    return float(np.percentile(d[distinct], percentile)), float(np.percentile(s[distinct], 100 - percentile)), duplicates


def audit(train: Images, fake: Images, percentile: float = PERCENTILE) -> MemorizationResult:
    """Nearest training image of every generated image; flag those closer than real scans come.

    A sample is flagged when its pixel distance is at or below the calibrated distance, or its
    SSIM at or above the calibrated SSIM (so exact copies are always caught).
    """
    train, fake = as_tensor(train, "training images"), as_tensor(fake, "generated images")
    same_size(train, fake, "memorization audit")
    threshold_d, threshold_s, duplicates = (0.0, 1.0, 0) if len(train) < 2 else calibrate(train, percentile)
    d, idx, s, s_idx = _nearest(fake, train, exclude_self=False)
    d_np, s_np = d.numpy(), s.numpy()
    hit = (d_np <= threshold_d) | (s_np >= threshold_s) | (d_np == 0)
    flagged = [int(i) for i in np.flatnonzero(hit)[np.argsort(d_np[hit], kind="stable")]]
    return MemorizationResult(distance=d_np, nearest=idx.numpy(), ssim=s_np, ssim_nearest=s_idx.numpy(),
                              threshold_distance=threshold_d, threshold_ssim=threshold_s,
                              percentile=percentile, real_near_duplicates=duplicates, flagged=flagged)


def closest_pairs_image(result: MemorizationResult, train: Images, fake: Images, pairs: int = 8,
                        gap: int = 4) -> np.ndarray:
    """uint8 image: the ``pairs`` closest (sample, nearest training image) pairs, one pair per column."""
    from braingan.io.images import grid, to_uint8

    train_u8, fake_u8 = to_uint8(as_tensor(train)), to_uint8(as_tensor(fake))
    order = np.argsort(result.distance, kind="stable")[:pairs]
    top = fake_u8[order]
    bottom = train_u8[result.nearest[order]]
    return grid(np.concatenate([top, bottom]), rows=2, cols=len(order), gap=gap)
