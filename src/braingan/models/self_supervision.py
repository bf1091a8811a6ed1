"""FastGAN's self-supervised discriminator (Liu et al. 2021, sec. 3.2): D must also redraw what it saw.

Two small decoders read D's own feature maps of the real images it is shown: one redraws the
whole image at half resolution from the 8x8 map, the other one quadrant of it at full
resolution from the matching 8x8 corner of the 16x16 map. A D that has to keep enough of its
input to redraw it learns features that describe the whole scan and its texture, not only the
few cues that tell a handful of training scans from fakes, which is what lets FastGAN's D train
on ~100 images without overfitting. The paper compares the drawings with LPIPS (a pretrained
VGG); there is no pretrained network for grey MRI here, so the distance is the mean absolute
pixel error. Beyond 256 px the targets are average-pooled to 128 px, as the paper's are.

The quadrant an image redraws is set by its place in the batch (i % 4), not drawn at random: the
batch is a random draw of scans, so every scan meets every quadrant over a run, and D stays a
function of its inputs (no random numbers, so a resumed run replays exactly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from braingan.models import pyramid

LEAK = 0.2
MAX_TARGET = 128  # the largest drawing a decoder makes (FastGAN's)


def quadrant(x: Tensor) -> Tensor:
    """[N, C, H, W] -> [N, C, H/2, W/2]: image i's quadrant i % 4 (row-major: top left, top right, ...)."""
    n, c, h, w = x.shape
    quarters = x.reshape(n, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5).reshape(n, 4, c, h // 2, w // 2)
    index = torch.arange(n, device=x.device)
    return quarters[index, index % 4]


class Decoder(nn.Module):
    """An 8x8 feature map -> (nearest upsampling, conv 3x3, leaky ReLU) per level -> conv 3x3 -> tanh."""

    def __init__(self, in_channels: int, width: int, size: int) -> None:
        super().__init__()
        sizes = [2**i for i in range(4, size.bit_length())]  # 16, 32, ..., size
        ch = [in_channels] + [pyramid.channels(width, size, s) for s in sizes]
        self.blocks = nn.Sequential(*(
            nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1),
                          nn.LeakyReLU(LEAK))
            for c_in, c_out in zip(ch[:-1], ch[1:])
        ))
        self.out = nn.Conv2d(ch[-1], 1, 3, padding=1)

    def forward(self, features: Tensor) -> Tensor:
        return torch.tanh(self.out(self.blocks(features)))


class SelfSupervision(nn.Module):
    """The two decoders of a discriminator for ``resolution`` px images, and the error of their drawings."""

    def __init__(self, resolution: int, width: int, channels_8: int, channels_16: int) -> None:
        super().__init__()
        self.size = min(resolution // 2, MAX_TARGET)
        self.whole = Decoder(channels_8, width, self.size)
        self.part = Decoder(channels_16, width, self.size)

    def forward(self, images: Tensor, features_8: Tensor, features_16: Tensor) -> Tensor:
        """Mean absolute error of the whole image redrawn from ``features_8`` plus that of each
        image's quadrant redrawn from the same corner of ``features_16``."""
        whole = _pooled(images, self.size)
        part = _pooled(quadrant(images), self.size)
        return ((self.whole(features_8) - whole).abs().mean()
                + (self.part(quadrant(features_16)) - part).abs().mean())


def _pooled(images: Tensor, size: int) -> Tensor:
    factor = images.shape[-1] // size
    return F.avg_pool2d(images, factor) if factor > 1 else images
