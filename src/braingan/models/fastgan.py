"""The fastgan family's generator: FastGAN's layout with StyleGAN2's layers, class-conditional.

FastGAN (Liu et al. 2021, "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot
Image Synthesis") trains on ~100 images in hours because its generator is shallow where the
image is large (one or two thin convolutions per level, nearest upsampling) and its skip-layer
excitations (models/excitation.py) link each fine level to one 16 times coarser. The layers are
StyleGAN2's (Karras et al. 2020) instead of FastGAN's batch norm: a small mapping network turns
the noise, and with classes the label, into a style that modulates every convolution
(models/modulated_conv.py), so the label reaches every level, and no image depends on the
others of its batch. As in conditional StyleGAN2-ADA, noise and label embedding are each
normalised to unit second moment and concatenated before the mapping. There are no per-pixel
noise inputs: an image is a function of its noise vector and label alone, so `generate` is
reproducible from a seed and the ONNX export matches PyTorch. The parameter named ``embed.*``
is the class head that fine-tuning re-initialises when the class count changes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from braingan.models import pyramid
from braingan.models.excitation import SkipLayerExcitation
from braingan.models.modulated_conv import ModulatedConv2d

LEAK = 0.2
GAIN = math.sqrt(2)  # keeps the second moment through a leaky ReLU (StyleGAN's gain)
EXCITATION_SPAN = 16  # a level of size s >= 64 is gated by the level of size s / 16 (FastGAN's)


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, LEAK) * GAIN


def _linear(in_features: int, out_features: int) -> nn.Linear:
    """A dense layer that keeps a unit-scale input at unit scale through ``_act`` (He et al. 2015):
    the noise's variety reaches the style at full strength instead of shrinking layer by layer."""
    layer = nn.Linear(in_features, out_features)
    nn.init.normal_(layer.weight, std=in_features**-0.5)
    nn.init.zeros_(layer.bias)
    return layer


def _unit(x: Tensor) -> Tensor:
    """Scaled to unit second moment per row."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class UpBlock(nn.Module):
    """Nearest upsampling, then ``depth`` modulated 3x3 convolutions with leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, depth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(ModulatedConv2d(in_channels if i == 0 else out_channels, out_channels, style_dim)
                                   for i in range(depth))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        for conv in self.convs:
            x = _act(conv(x, w))
        return x


class FastGenerator(nn.Module):
    """(noise, label) -> mapping -> style w; w -> 4x4 map -> UpBlock per level (+ excitation) -> conv 3x3 -> tanh.

    ``depth``: convolutions per level; ``mapping``: layers of the mapping network (0: the
    normalised noise and embedding are the style). ``num_classes`` 0 or 1 is unconditional."""

    def __init__(self, resolution: int = 128, width: int = 32, num_classes: int = 0, latent_dim: int = 128,
                 depth: int = 2, mapping: int = 2) -> None:
        super().__init__()
        self.levels = pyramid.levels(resolution)
        pyramid.at_least("width", width, 1)
        pyramid.at_least("depth", depth, 1)
        pyramid.at_least("mapping", mapping, 0)
        self.latent_dim, self.resolution, self.num_classes = latent_dim, resolution, num_classes
        ch = {s: pyramid.channels(width, resolution, s) for s in self.levels}
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes > 1 else None
        style_dim = latent_dim * (2 if self.embed is not None else 1)
        self.mapping = nn.ModuleList(_linear(style_dim, style_dim) for _ in range(mapping))
        self.start = _linear(style_dim, ch[4] * 16)
        self.blocks = nn.ModuleList(UpBlock(ch[s // 2], ch[s], style_dim, depth) for s in self.levels[1:])
        self.excite = nn.ModuleDict({
            str(s): SkipLayerExcitation(ch[s // EXCITATION_SPAN], ch[s], s // EXCITATION_SPAN)
            for s in self.levels if s // EXCITATION_SPAN >= 4
        })
        self.out = nn.Conv2d(ch[resolution], 1, 3, padding=1)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """[N, latent_dim] noise (and [N] labels when conditional) -> [N, 1, H, W] in [-1, 1]."""
        x = _unit(z)
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            x = torch.cat([x, _unit(self.embed(labels))], dim=1)
        w = x
        for layer in self.mapping:
            w = _act(layer(w))
        # z.shape[0], not len(z): len() is a Python int and would freeze the batch size in exports.
        h = _act(self.start(w)).view(z.shape[0], -1, 4, 4)
        maps = {4: h}
        for size, block in zip(self.levels[1:], self.blocks):
            h = block(h, w)
            if str(size) in self.excite:
                h = self.excite[str(size)](maps[size // EXCITATION_SPAN], h)
            maps[size] = h
        return torch.tanh(self.out(h))
