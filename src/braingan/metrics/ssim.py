"""SSIM and multi-scale SSIM (Wang et al. 2003) for grey images in [-1, 1], batched over pairs.

Written here rather than taken from pytorch-msssim because that library needs images over
160 px for five scales; braingan trains at 32-128 px, so the number of scales adapts to the
image size (the coarsest scale keeps at least the window's width) and the standard scale
weights are renormalised over the scales used.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

WINDOW, SIGMA = 11, 1.5
DATA_RANGE = 2.0  # images in [-1, 1]
C1, C2 = (0.01 * DATA_RANGE) ** 2, (0.03 * DATA_RANGE) ** 2
SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
CHUNK = 32


def _window(size: int) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * SIGMA ** 2))
    return g / g.sum()


@functools.lru_cache(maxsize=16)
def _band(n: int, size: int) -> torch.Tensor:
    """[n - size + 1, n]: row i holds the Gaussian window at columns i .. i + size - 1."""
    m = n - size + 1
    band = torch.zeros(m, n)
    rows = torch.arange(m)[:, None]
    band[rows, rows + torch.arange(size)] = _window(size)
    return band


def _blur(x: torch.Tensor, size: int) -> torch.Tensor:
    """Separable Gaussian blur, valid positions only, as two banded matrix products.

    A one-channel convolution is oneDNN's slowest case; the same sums through BLAS ran about
    8x faster at 128 px on CPU (SSIM dominated the memorization audit before)."""
    x = x @ _band(x.shape[-1], size).T
    return _band(x.shape[-2], size) @ x


def _ssim_terms(mu_a: torch.Tensor, mu_b: torch.Tensor, sq_a: torch.Tensor, sq_b: torch.Tensor,
                ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair, from the blurred a, b, a², b² and a·b: mean SSIM and mean contrast-structure term
    over valid window positions."""
    cs = (2 * (ab - mu_a * mu_b) + C2) / (sq_a - mu_a ** 2 + sq_b - mu_b ** 2 + C2)
    luminance = (2 * mu_a * mu_b + C1) / (mu_a ** 2 + mu_b ** 2 + C1)
    return (luminance * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def _ssim_parts(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair: mean SSIM and mean contrast-structure term, blurring all five maps."""
    size = min(WINDOW, a.shape[-1], a.shape[-2])
    return _ssim_terms(_blur(a, size), _blur(b, size), _blur(a * a, size), _blur(b * b, size), _blur(a * b, size))


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM of each pair a[i], b[i] ([N, 1, H, W] in [-1, 1]) -> [N]; 1 means identical.

    CHUNK pairs at a time: the dozen intermediate maps then stay in the CPU's cache, which is
    faster than one batch of thousands of pairs."""
    if len(a) == 0:
        return torch.empty(0)
    return torch.cat([_ssim_parts(a[k:k + CHUNK].float(), b[k:k + CHUNK].float())[0] for k in range(0, len(a), CHUNK)])


def scales_for(size: int) -> int:
    """How many dyadic scales fit while the coarsest keeps a full window (1..5)."""
    scales = 1
    while scales < len(SCALE_WEIGHTS) and size // 2 ** scales >= WINDOW:
        scales += 1
    return scales


def ms_ssim_pairs(x: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Multi-scale SSIM of the pairs x[i[k]], x[j[k]] of one set ([N, 1, H, W] in [-1, 1]) ->
    [len(i)] in [0, 1]; 1 means identical.

    Each image's blurred mean and square are computed once per scale, not once for every pair
    it is in, which leaves one blur per pair instead of five (the same values to float rounding).
    Holds those maps for all of ``x``: pass a set of bounded size."""
    x = x.float()
    scales = scales_for(min(x.shape[-2:]))
    terms = []
    for level in range(scales):
        size = min(WINDOW, x.shape[-1], x.shape[-2])
        mu, sq = _blur(x, size), _blur(x * x, size)
        last = level == scales - 1
        parts = [_ssim_terms(mu[a], mu[b], sq[a], sq[b], _blur(x[a] * x[b], size))[0 if last else 1]
                 for a, b in zip(i.split(CHUNK), j.split(CHUNK))]
        terms.append(torch.cat(parts) if parts else torch.empty(0))
        if not last:
            x = F.avg_pool2d(x, 2)
    weights = torch.tensor(SCALE_WEIGHTS[:scales])
    # Negative terms -> 0 before the fractional powers.
    return torch.stack(terms, dim=1).clamp(min=0).pow(weights / weights.sum()).prod(dim=1)
