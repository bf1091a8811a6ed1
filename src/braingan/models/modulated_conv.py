"""StyleGAN2's modulated, demodulated convolution (Karras et al. 2020, "Analyzing and Improving
the Image Quality of StyleGAN", sec. 2.2), written as scale, convolve, scale.

A per-image style scales the input channels; demodulation divides each output channel by the
norm its weights have after that scaling, which keeps the activations' scale steady from layer
to layer without statistics of the batch. FastGAN's batch norm would tie each image to the
others of its batch and lean on running statistics, which neither the EMA generator nor a
`generate` of one image has. Scaling the input and the output around one shared convolution is
the same math as convolving each image with its own weights, and runs as an ordinary
convolution: fast on a CPU, and plain operators in an ONNX export.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ModulatedConv2d(nn.Module):
    """A ``kernel_size`` convolution (same padding) whose input channels each image's style scales."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, kernel_size: int = 3,
                 demodulate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's initialisation
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # Styles start at 1 (the plain convolution) give or take about 1: each image's own from the first step.
        self.style = nn.Linear(style_dim, in_channels)
        nn.init.normal_(self.style.weight, std=style_dim**-0.5)
        nn.init.ones_(self.style.bias)
        self.padding, self.demodulate = kernel_size // 2, demodulate

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """``x`` [N, C_in, H, W], ``w`` [N, style_dim] -> [N, C_out, H, W]."""
        s = self.style(w)
        x = F.conv2d(x * s[:, :, None, None], self.weight, padding=self.padding)
        if self.demodulate:
            # Each image's squared weight norm per output channel: sum_i s_i^2 * sum_k w_oik^2.
            norm = s.square() @ self.weight.square().sum(dim=(2, 3)).t()
            x = x * torch.rsqrt(norm + 1e-8)[:, :, None, None]
        return x + self.bias[None, :, None, None]
