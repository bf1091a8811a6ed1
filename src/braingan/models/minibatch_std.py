"""Minibatch standard deviation (Karras et al. 2018): D sees how much a group of images varies.

A generator that loses variety makes groups of look-alike images. One extra feature channel
holding the group's average standard deviation lets D tell such groups from groups of real
scans, and its gradient pushes G back toward the variety of the data.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MinibatchStd(nn.Module):
    """Appends one channel: the mean standard deviation over each group of ``group`` images.

    Groups are contiguous slices of the batch. D's batch is [reals, fakes], so as long as
    ``group`` divides the number of reals, no group mixes real and fake images: whoever builds
    D chooses such a group (training/factory.py), and a batch it does not divide is refused.
    """

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = self.group
        if n % g:
            raise ValueError(f"minibatch std: a batch of {n} does not split into groups of {g}")
        groups = x.float().reshape(n // g, g, c, h, w)
        std = (groups.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
        feature = std.repeat_interleave(g).to(x.dtype).view(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, feature], dim=1)
