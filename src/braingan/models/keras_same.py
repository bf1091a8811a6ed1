"""Keras/TensorFlow 'same' padding, which puts the odd extra pixel after, not before.

PyTorch's ``padding='same'`` is symmetric and refuses strides; TF pads
``total = max(k - s, 0)`` (for inputs divisible by the stride) as ``total // 2`` before
and the rest after. Matching it exactly is what lets Keras weights load.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class KerasSameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TF 'same' padding, asymmetric where TF's is."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)
        total = max(kernel_size - stride, 0)
        self.pad = (total // 2, total - total // 2) * 2  # (left, right, top, bottom)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % self.stride[0] or x.shape[-2] % self.stride[0]:
            raise ValueError(f"input {tuple(x.shape[-2:])} is not divisible by the stride {self.stride[0]}")
        return super().forward(F.pad(x, self.pad))


def keras_same_conv_transpose(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.ConvTranspose2d:
    """A transposed convolution whose output is ``stride`` times its input, as Keras 'same'.

    TF pads the implied forward convolution by ``k - s`` in total, split evenly when
    ``k - s`` is even (4x4, stride 2 -> 1 each side), which ``nn.ConvTranspose2d`` expresses.
    """
    total = kernel_size - stride
    if total < 0 or total % 2:
        raise ValueError(f"kernel {kernel_size} with stride {stride} needs asymmetric cropping")
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, padding=total // 2)


def glorot_init(module: nn.Module) -> None:
    """Keras' default initialisation: Glorot-uniform weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
