"""Sample diversity as mean pairwise MS-SSIM (Odena et al. 2017), beside the real set's own.

Random distinct pairs within a set are compared with multi-scale SSIM; a collapsed generator
gives values near 1, a varied one values near the real set's. Lower means more diverse; the
useful reading is the generated value next to the real value (a ratio near 1 is healthy, far
above 1 is mode collapse). No weights needed.

Against a small training set that ratio has a yardstick: real scans the run never saw (a
held-out folder) give their own value, and their ratio to the training scans is what a
generator of genuinely new patients would score. A few training scans can vary more than
most such draws, so a ratio above 1 against them need not mean collapse (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from braingan.metrics.arrays import Images, as_tensor
from braingan.metrics.protocol import counts
from braingan.metrics.ssim import ms_ssim_pairs

# Random pairs make a reading noisy; with 10,000 its spread over draws is small beside the
# ±10% band a collapse check reads it against (benchmarks/RESULTS.md).
PAIRS = 10_000
# Pairs are drawn among at most this many pixels' worth of images (1,024 at 128 px): the
# per-image maps ms_ssim_pairs keeps then stay near 200 MB.
MAX_PIXELS = 2 ** 24


@dataclass
class DiversityResult:
    fake: float  # mean pairwise MS-SSIM among generated images
    real: float | None  # the same among real images
    pairs: int  # pairs of generated images compared (fewer than asked for when the set has fewer)
    pairs_requested: int = PAIRS
    real_pairs: int = 0  # pairs of real images compared (171 for 19 scans, whatever was asked for)
    holdout: float | None = None  # the same among held-out real scans (training scans left out)
    holdout_n: int = 0  # held-out scans it was measured on
    holdout_pairs: int = 0


def pairwise_ms_ssim(images: Images, pairs: int = PAIRS, seed: int = 0) -> float:
    """Mean MS-SSIM over up to ``pairs`` random pairs of distinct images (all pairs when fewer);
    from a larger set than MAX_PIXELS allows, among a random subset of it."""
    return pairwise_ms_ssim_counted(images, pairs, seed)[0]


def pairwise_ms_ssim_counted(images: Images, pairs: int = PAIRS, seed: int = 0) -> tuple[float, int]:
    """``pairwise_ms_ssim`` and the number of pairs it averaged, which a report must state: a
    small set has fewer distinct pairs than were asked for."""
    _, _, values = pair_scores(images, pairs, seed)
    return (float(values.mean()) if len(values) else float("nan")), len(values)


def pair_scores(images: Images, pairs: int = PAIRS, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, MS-SSIM) of up to ``pairs`` random pairs of distinct images (all pairs when fewer),
    indices into ``images``; from a larger set than MAX_PIXELS allows, among a random subset of it."""
    x = as_tensor(images)
    if len(x) < 2:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    draw = torch.Generator().manual_seed(seed)
    chosen = torch.arange(len(x))
    most = max(2, MAX_PIXELS // (x.shape[-1] * x.shape[-2]))
    if len(x) > most:
        chosen = torch.randperm(len(x), generator=draw)[:most]
        x = x[chosen]
    n = len(x)
    i, j = torch.triu_indices(n, n, offset=1)
    if len(i) > pairs:
        pick = torch.randperm(len(i), generator=draw)[:pairs]
        i, j = i[pick], j[pick]
    return chosen[i].numpy(), chosen[j].numpy(), ms_ssim_pairs(x, i, j).double().numpy()


class DiversityScorer:
    """Pairwise MS-SSIM of any index set of the pooled images and the ratio of two sets (a
    ``metrics.protocol`` scorer), from pairs scored once: each set's mean weights a pair by how
    often its two images were drawn, so a resampled set needs no new MS-SSIM."""

    def __init__(self, real: Images, fake: Images, pairs: int = PAIRS, seed: int = 0) -> None:
        n_real = len(as_tensor(real))
        ri, rj, rv = pair_scores(real, pairs, seed)
        fi, fj, fv = pair_scores(fake, pairs, seed)
        self.real_pairs, self.fake_pairs = len(rv), len(fv)  # fewer than asked for when a set has fewer
        self.i, self.j = np.concatenate([ri, n_real + fi]), np.concatenate([rj, n_real + fj])
        self.values = np.concatenate([rv, fv])
        self.size = n_real + len(as_tensor(fake))

    def mean(self, index: np.ndarray) -> float:
        c = counts(index, self.size)
        weight = c[self.i] * c[self.j]
        return float(weight @ self.values / weight.sum()) if weight.sum() else float("nan")

    def __call__(self, ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
        compared, reference = self.mean(cand), self.mean(ref)
        return {"fake": compared, "real": reference, "ratio": compared / reference if reference else float("nan")}


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
    real_value, real_pairs = (None, 0) if real is None else pairwise_ms_ssim_counted(real, pairs, seed)
    fake_value, fake_pairs = pairwise_ms_ssim_counted(fake, pairs, seed)
    unseen = None if holdout is None else (as_tensor(holdout) if real is None else not_in(holdout, real))
    holdout_value, holdout_pairs = ((None, 0) if unseen is None or len(unseen) < 2
                                    else pairwise_ms_ssim_counted(unseen, pairs, seed))
    return DiversityResult(fake=fake_value, real=real_value, pairs=fake_pairs, pairs_requested=pairs,
                           real_pairs=real_pairs, holdout=holdout_value,
                           holdout_n=0 if unseen is None else len(unseen), holdout_pairs=holdout_pairs)
