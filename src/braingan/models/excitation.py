"""FastGAN's skip-layer excitation (Liu et al. 2021, sec. 3.1): a coarse map gates a fine one.

A 4x4 summary of a low-resolution feature map becomes one gate in (0, 1) per channel of a
map 16 times finer. The shortcut carries the gradient from the fine layers straight to the
coarse ones (where a deep generator's gradient is weakest), and lets the global layout decided
early switch the fine texture's channels on and off, at the cost of one channel multiplication.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SkipLayerExcitation(nn.Module):
    """``target * gate(source)``: pool to 4x4, conv 4x4 (to 1x1), swish, conv 1x1, sigmoid."""

    def __init__(self, source_channels: int, target_channels: int, source_size: int) -> None:
        super().__init__()
        self.pool = source_size // 4  # a fixed pooling (not adaptive): static shapes in exports
        self.gate = nn.Sequential(
            nn.Conv2d(source_channels, target_channels, 4), nn.SiLU(),
            nn.Conv2d(target_channels, target_channels, 1), nn.Sigmoid(),
        )

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        if self.pool > 1:
            source = F.avg_pool2d(source, self.pool)
        return target * self.gate(source)
