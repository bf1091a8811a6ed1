"""Differentiable augmentation of grey MRI in [-1, 1], applied to everything D sees.

With a few dozen scans D memorises the training set within a few hundred steps. Showing
D real *and* generated images through the same random, differentiable transforms
(DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020) stops that without the generator
learning the transforms, because G's gradient flows back through them. Each transform is
applied to each image independently with probability ``p``: horizontal flip (brains are
roughly symmetric), translation, small scale and rotation (one affine resampling, padded
with black background), brightness, contrast and cutout (a black square). Everything runs
on the images' device, inside the autograd graph.

``AdaptiveP`` is ADA's controller: it raises ``p`` while D is too sure about the reals
(``E[sign D(real)]`` above the target) and lowers it otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

BACKGROUND = -1.0  # black in [-1, 1]
MAX_SHIFT = 0.125  # of the image size
SCALE_STD = 0.1  # log2 of the scale factor
MAX_ROTATION = math.radians(10)
BRIGHTNESS = 0.2  # added, in [-1, 1] units
CONTRAST_STD = 0.3  # log2 of the contrast factor
CUTOUT = 0.25  # side of the black square, of the image size


def augment(x: Tensor, p: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Randomly transformed copy of ``x`` [N, 1, H, W]; a float ``p == 0`` returns ``x`` itself.
    ``p`` may be a device scalar (a CUDA graph's, training/graphs.py), never read on the host.

    All random numbers come from ``generator`` (default: the global one of x's device), drawn
    in a fixed order, so two calls with equally seeded generators transform alike.
    """
    if not torch.is_tensor(p) and p <= 0:
        return x
    n, device = len(x), x.device

    def draw(*shape: int) -> Tensor:
        return torch.rand(n, *shape, device=device, generator=generator)

    def gate() -> Tensor:
        return (draw() < p).float()

    # Geometry: flip, scale, rotation and translation as one affine map of output -> input.
    flip = 1.0 - 2.0 * gate() * (draw() < 0.5).float()
    scale = torch.exp2(gate() * SCALE_STD * torch.randn(n, device=device, generator=generator))
    angle = gate() * MAX_ROTATION * (2 * draw() - 1)
    shift = gate()[:, None] * 2 * MAX_SHIFT * (2 * draw(2) - 1)  # grid units span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, shift[:, 0]], dim=1),
        torch.stack([sin * flip, cos, shift[:, 1]], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # Sample (x - background) so that what comes in from outside the image is background.
    x = F.grid_sample(x - BACKGROUND, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + BACKGROUND

    # Intensity: brightness, then contrast around each image's mean.
    x = x + (gate() * BRIGHTNESS * (2 * draw() - 1)).view(n, 1, 1, 1)
    contrast = torch.exp2(gate() * CONTRAST_STD * torch.randn(n, device=device, generator=generator))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast.view(n, 1, 1, 1) + mean

    # Cutout: one black square per selected image.
    h, w = x.shape[-2:]
    centre = draw(2)
    keep = gate()
    ys = torch.arange(h, device=device).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=device).view(1, 1, w) + 0.5
    inside = (((ys / h - centre[:, 0, None, None]).abs() < CUTOUT / 2)
              & ((xs / w - centre[:, 1, None, None]).abs() < CUTOUT / 2))
    mask = (inside.float() * keep.view(n, 1, 1)).unsqueeze(1)
    return x * (1 - mask) + BACKGROUND * mask


class AdaptiveP:
    """ADA's p: every ``every`` steps, move by at most ``batch * every / images`` toward keeping
    ``E[sign D(real)]`` at ``target``. The running sums stay on the device between adjustments."""

    def __init__(self, p: float, target: float, every: int, images: int, batch_size: int,
                 mean_over_ranks: Callable[[Tensor], Tensor] = lambda t: t) -> None:
        self.p, self.target, self.every = p, target, every
        self.rate = batch_size * every / images
        self.mean_over_ranks = mean_over_ranks  # under torchrun: one p on every rank
        self._signs: Tensor | float = 0.0
        self._count = 0

    def observe(self, real_sign_sum: Tensor, n: int) -> None:
        """Add one step's sum of sign(D(real)) over its ``n`` reals; adjusts p every ``every`` calls
        (the only moment the ranks exchange their sums, not every step)."""
        self._signs = self._signs + real_sign_sum.detach()
        self._count += n
        if self._count >= self.every * n:
            r = float(self.mean_over_ranks(torch.as_tensor(self._signs))) / self._count
            self.p = min(max(self.p + math.copysign(self.rate, r - self.target), 0.0), 1.0)
            self._signs, self._count = 0.0, 0

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "signs": float(self._signs), "count": self._count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p, self._signs, self._count = state["p"], state["signs"], state["count"]
