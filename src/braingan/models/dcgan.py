"""A DC-GAN family that scales from 32 to 256 px, for few-shot training.

Both networks work on a pyramid 4 px <-> ``resolution``; the channels at a level of size
``r`` are ``width * resolution / r`` capped at ``8 * width``, so the costly high-resolution
layers stay thin. The generator upsamples (nearest) then convolves, which avoids the
checkerboard of transposed convolutions; batch norm is optional (the seed's "future
improvement"). The discriminator is spectrally normalised (Miyato et al. 2018), which keeps
it Lipschitz without the seed's dropout. With ``num_classes > 0`` the generator concatenates
a class embedding to the noise and the discriminator adds a projection term
``<embed(y), h>`` to its logit (Miyato & Koyama 2018). Parameters named ``embed.*`` are the
class heads: fine-tuning re-initialises them when the class count changes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from braingan.models.minibatch_std import MinibatchStd

LEAK = 0.2
MAX_WIDTH_FACTOR = 8


def _levels(resolution: int) -> list[int]:
    """Sizes 4, 8, ..., resolution; the resolution must be a power of two from 8."""
    n = int(math.log2(resolution)) if resolution > 0 else 0
    if resolution < 8 or 2**n != resolution:
        raise ValueError(f"resolution {resolution} is not a power of two from 8 (dcgan)")
    return [2**i for i in range(2, n + 1)]


def _channels(width: int, resolution: int, size: int) -> int:
    return width * min(resolution // size, MAX_WIDTH_FACTOR)


class DCGenerator(nn.Module):
    """Noise (+ class embedding) -> 4x4 map -> (upsample, conv 3x3, [BN], LReLU) per level -> tanh."""

    def __init__(self, resolution: int = 128, width: int = 32, num_classes: int = 0, latent_dim: int = 128,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.resolution, self.num_classes = latent_dim, resolution, num_classes
        levels = _levels(resolution)
        ch = [_channels(width, resolution, s) for s in levels]
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.dense = nn.Linear(in_dim, ch[0] * 16)
        self.dense_norm = nn.BatchNorm2d(ch[0]) if batch_norm else nn.Identity()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm),
                nn.BatchNorm2d(c_out) if batch_norm else nn.Identity(),
                nn.LeakyReLU(LEAK),
            )
            for c_in, c_out in zip(ch[:-1], ch[1:])
        )
        self.out = nn.Conv2d(ch[-1], 1, 3, padding=1)
        self.act = nn.LeakyReLU(LEAK)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        # z.shape[0], not len(z): len() is a Python int and would freeze the batch size in exports.
        x = self.act(self.dense_norm(self.dense(z).view(z.shape[0], -1, 4, 4)))
        for block in self.blocks:
            x = block(x)
        return torch.tanh(self.out(x))


class DCDiscriminator(nn.Module):
    """Conv 3x3 -> (conv 4x4 stride 2, LReLU) per level down to 4x4 -> dense -> logit (+ projection)."""

    def __init__(self, resolution: int = 128, width: int = 32, num_classes: int = 0, mbstd_group: int = 0) -> None:
        """``mbstd_group`` > 0 adds a minibatch-std channel at 4x4."""
        super().__init__()
        levels = _levels(resolution)[::-1]
        ch = [_channels(width, resolution, s) for s in levels]
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(1, ch[0], 3, padding=1)), nn.LeakyReLU(LEAK)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(LEAK)]
        if mbstd_group:
            layers.append(MinibatchStd(mbstd_group))
        flat = (ch[-1] + bool(mbstd_group)) * 16
        layers += [nn.Flatten(), spectral_norm(nn.Linear(flat, ch[-1])), nn.LeakyReLU(LEAK)]
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Linear(ch[-1], 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, ch[-1])) if num_classes else None

    def input_layers(self) -> list[nn.Module]:
        """The convolutions from the input side: what ``--freeze-d-layers`` counts."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits [N]."""
        h = self.features(x)
        logits = self.head(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            logits = logits + (self.embed(labels) * h).sum(dim=1)
        return logits
