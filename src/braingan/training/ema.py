"""Exponential moving average of the generator's weights.

GAN generators oscillate around a good solution; their running average (Karras et al.
2018, Yazici et al. 2019) gives visibly cleaner and more stable samples, which is why the
EMA copy is what a run exports and what `generate` uses.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Holds ``average`` (a frozen copy of the network) and moves it toward the live one."""

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.average = copy.deepcopy(network).eval().requires_grad_(False)

    def effective_decay(self, step: int) -> float:
        """Warm-up (as TensorFlow's ExponentialMovingAverage): early on the live weights are
        far from any good average, so the first steps average over ~``step`` steps only."""
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, network: nn.Module, step: int) -> None:
        """``avg = d * avg + (1 - d) * live`` for parameters; buffers (batch-norm statistics) are copied."""
        decay = self.effective_decay(step)
        for avg, live in zip(self.average.parameters(), network.parameters()):
            avg.lerp_(live, 1.0 - decay)
        for avg, live in zip(self.average.buffers(), network.buffers()):
            avg.copy_(live)
