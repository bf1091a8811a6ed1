"""Memorization audit: is any generated image a near copy of a training image?

For every sample: its nearest training image by pixel distance (RMS over pixels in [-1, 1],
after the same preprocessing as training), and the SSIM with the closest of its few nearest
candidates. What counts as "too close" is calibrated on the training set itself: the distance
from each real image to its nearest *other* real image, whose low percentile (and the matching
high percentile of SSIM) marks how close two different scans ever come. A sample closer than
that to a training image is flagged. Exact copies (distance 0, SSIM 1) are always flagged.

Those thresholds also flag some genuinely new scans, the more the fewer the training scans
(benchmarks/RESULTS.md). So the flagged count means something only beside that
base rate, which ``holdout`` measures (the distance-to-closest-record test of the synthetic
data privacy literature): real scans never trained on, put through the same audit. Samples
flagged far more often than held-out scans are memorised; at the same rate, they are as close
to the training images as new patients' scans are.
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
    ssim_nearest: np.ndarray  # [n_fake] index of the training image with that SSIM (either way round)
    mirrored: np.ndarray  # [n_fake] True where the nearest is that training image flipped left-right
    threshold_distance: float
    threshold_ssim: float
    percentile: float
    real_near_duplicates: int  # real images left out of the calibration as near-copies of another
    flagged: list[int] = field(default_factory=list)  # sample indices, closest first
    holdout: HoldoutBaseline | None = None

    def summary(self) -> dict:
        baseline = {} if self.holdout is None else {
            "holdout_flagged": self.holdout.flagged, "holdout_n": self.holdout.n,
            "holdout_flagged_fraction": self.holdout.flagged / self.holdout.n if self.holdout.n else None,
            "holdout_set_aside": self.holdout.set_aside,
        }
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
            **baseline,
        }


@dataclass
class HoldoutBaseline:
    """The audit applied to real scans that were not trained on: how often it flags new patients."""

    flagged: int
    n: int  # held-out scans audited
    set_aside: int  # held-out scans left out as near-duplicates of a training image (the same scan twice)


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


@dataclass(frozen=True)
class Thresholds:
    distance: float  # flag at or below this RMS pixel distance...
    ssim: float  # ...or at or above this SSIM
    duplicates: int  # training images set aside as near-copies of another
    duplicate_distance: float  # closer than this, two real images are the same scan


def calibrate(train: torch.Tensor, percentile: float = PERCENTILE) -> Thresholds:
    """Thresholds from each real image's nearest other real image, with near-duplicates set aside
    (closer than DUPLICATE_FRACTION of the median distance: the Kaggle sets hold the same scan
    under several names, and letting those set the threshold would make it far too strict)."""
    if len(train) < 2:
        return Thresholds(0.0, 1.0, 0, 0.0)
    d, _, s, _ = _nearest(train, train, exclude_self=True)
    finite = torch.isfinite(d) & torch.isfinite(s)
    d, s = d[finite].numpy(), s[finite].numpy()
    if len(d) == 0:  # every training image has a pixel twin: only exact copies can be told apart
        return Thresholds(0.0, 1.0, len(train), 0.0)
    duplicate_distance = DUPLICATE_FRACTION * float(np.median(d))
    distinct = d > duplicate_distance
    return Thresholds(float(np.percentile(d[distinct], percentile)),
                      float(np.percentile(s[distinct], 100 - percentile)), len(train) - int(distinct.sum()),
                      duplicate_distance)


def _flags(distance: np.ndarray, ssim_: np.ndarray, t: Thresholds) -> np.ndarray:
    return (distance <= t.distance) | (ssim_ >= t.ssim) | (distance == 0)


def audit(train: Images, fake: Images, percentile: float = PERCENTILE, holdout: Images | None = None,
          mirror: bool = False) -> MemorizationResult:
    """Nearest training image of every generated image; flag those closer than real scans come.

    A sample is flagged when its pixel distance is at or below the calibrated distance, or its
    SSIM at or above the calibrated SSIM (so exact copies are always caught). With ``holdout``
    (real scans not trained on), the same thresholds are applied to them too: the base rate.
    ``mirror`` (for runs trained with left-right flips): the flipped training images count as
    training images too. The thresholds still come from the unflipped scans, since a scan's own
    mirror image is not a different scan.
    """
    train, fake = as_tensor(train, "training images"), as_tensor(fake, "generated images")
    same_size(train, fake, "memorization audit")
    thresholds = calibrate(train, percentile)
    searched = torch.cat([train, train.flip(-1)]) if mirror else train
    d, idx, s, s_idx = _nearest(fake, searched, exclude_self=False)
    d_np, s_np = d.numpy(), s.numpy()
    hit = _flags(d_np, s_np, thresholds)
    flagged = [int(i) for i in np.flatnonzero(hit)[np.argsort(d_np[hit], kind="stable")]]
    baseline = (None if holdout is None
                else holdout_baseline(searched, as_tensor(holdout, "held-out images"), thresholds))
    n = len(train)
    return MemorizationResult(distance=d_np, nearest=idx.numpy() % n, ssim=s_np, ssim_nearest=s_idx.numpy() % n,
                              mirrored=idx.numpy() >= n,
                              threshold_distance=thresholds.distance, threshold_ssim=thresholds.ssim,
                              percentile=percentile, real_near_duplicates=thresholds.duplicates, flagged=flagged,
                              holdout=baseline)


def holdout_baseline(train: torch.Tensor, holdout: torch.Tensor, thresholds: Thresholds) -> HoldoutBaseline:
    """How many held-out real scans the audit flags against ``train`` (with its mirror images when
    the audit searches those). Those that are the same scan as a training image (closer than the
    calibration's duplicate distance) are set aside: they are the training image, not a new patient."""
    same_size(train, holdout, "memorization audit (held-out scans)")
    d, _, s, _ = _nearest(holdout, train, exclude_self=False)
    d_np, s_np = d.numpy(), s.numpy()
    new = d_np > thresholds.duplicate_distance
    return HoldoutBaseline(flagged=int(_flags(d_np[new], s_np[new], thresholds).sum()), n=int(new.sum()),
                           set_aside=int((~new).sum()))


def closest_pairs_image(result: MemorizationResult, train: Images, fake: Images, pairs: int = 8,
                        gap: int = 4) -> np.ndarray:
    """uint8 image: the ``pairs`` closest (sample, nearest training image) pairs, one pair per column."""
    from braingan.io.images import grid, to_uint8

    train_u8, fake_u8 = to_uint8(as_tensor(train)), to_uint8(as_tensor(fake))
    order = np.argsort(result.distance, kind="stable")[:pairs]
    top = fake_u8[order]
    bottom = train_u8[result.nearest[order]]
    bottom[result.mirrored[order]] = bottom[result.mirrored[order]][..., ::-1]
    return grid(np.concatenate([top, bottom]), rows=2, cols=len(order), gap=gap)
