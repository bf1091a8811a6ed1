"""The fastgan family's discriminator: FastGAN's two-path down blocks, a patch head, class projection
and, on request, the self-supervised decoders (models/self_supervision.py).

As FastGAN's (Liu et al. 2021), the first layer halves the image, and each level down has two
paths that are averaged: strided 4x4 convolution(s), and average pooling with a 1x1
convolution, an easy path for the gradient. The head judges the 8x8 map as a 5x5 grid of
overlapping patches, whose logits are summed, as SN-GAN sums its features over positions: with
every layer's gain held at 1, an average would keep the logits far below the hinge loss's
margins of +-1, and D could hardly tell reals from fakes. Every layer is spectrally normalised (Miyato et
al. 2018), FastGAN's batch norm is left out: D is shown reals and fakes in one batch, and batch
statistics would let it tell them apart by the company they keep. With classes, D adds a
projection term ``<embed(y), h>`` (Miyato & Koyama 2018) on the head's summed features; the
parameter named ``embed.*`` is the class head fine-tuning re-initialises. FastGAN's second
branch, which judges a 128 px copy of 1024 px images, is left out: at 32-256 px one branch
sees the whole image.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from braingan.models import pyramid
from braingan.models.minibatch_std import MinibatchStd
from braingan.models.self_supervision import SelfSupervision

LEAK = 0.2


class DownBlock(nn.Module):
    """Half the size: (conv 4x4 stride 2, then ``depth`` - 1 convs 3x3) averaged with (avg pool, conv 1x1)."""

    def __init__(self, in_channels: int, out_channels: int, depth: int) -> None:
        super().__init__()
        main: list[nn.Module] = [spectral_norm(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1)),
                                 nn.LeakyReLU(LEAK)]
        for _ in range(depth - 1):
            main += [spectral_norm(nn.Conv2d(out_channels, out_channels, 3, padding=1)), nn.LeakyReLU(LEAK)]
        self.main = nn.Sequential(*main)
        self.skip = nn.Sequential(nn.AvgPool2d(2), spectral_norm(nn.Conv2d(in_channels, out_channels, 1)),
                                  nn.LeakyReLU(LEAK))

    def forward(self, x: Tensor) -> Tensor:
        return (self.main(x) + self.skip(x)) / 2


class FastDiscriminator(nn.Module):
    """Conv 4x4 stride 2 -> DownBlock per level down to 8x8 -> [minibatch std] -> conv 1x1 -> 5x5 patch logits.

    ``depth``: convolutions on each down block's strided path; ``mbstd_group`` > 0 adds a
    minibatch-std channel at 8x8; ``reconstruct`` builds the decoders that
    ``forward(..., reconstruct=n)`` uses."""

    def __init__(self, resolution: int = 128, width: int = 32, num_classes: int = 0, depth: int = 2,
                 mbstd_group: int = 0, reconstruct: bool = False) -> None:
        super().__init__()
        levels = pyramid.levels(resolution)
        pyramid.at_least("width", width, 1)
        pyramid.at_least("depth", depth, 1)
        ch = {s: pyramid.channels(width, resolution, s) for s in levels}
        sizes = [s for s in reversed(levels) if 8 <= s < resolution]  # the maps' sizes: resolution / 2 .. 8
        self.stem = nn.Sequential(spectral_norm(nn.Conv2d(1, ch[sizes[0]], 4, stride=2, padding=1)),
                                  nn.LeakyReLU(LEAK))
        self.blocks = nn.ModuleList(DownBlock(ch[s], ch[s // 2], depth) for s in sizes[:-1])
        self.mbstd = MinibatchStd(mbstd_group) if mbstd_group else nn.Identity()
        self.head = nn.Sequential(spectral_norm(nn.Conv2d(ch[8] + bool(mbstd_group), ch[8], 1)), nn.LeakyReLU(LEAK))
        self.patches = spectral_norm(nn.Conv2d(ch[8], 1, 4))
        self.embed = spectral_norm(nn.Embedding(num_classes, ch[8])) if num_classes > 1 else None
        self.decoders = SelfSupervision(resolution, width, ch[8], ch[16]) if reconstruct else None

    def input_layers(self) -> list[nn.Module]:
        """The stem and the down blocks from the input side: what ``--freeze-d-layers`` counts."""
        return [self.stem, *self.blocks]

    def forward(self, x: Tensor, labels: Tensor | None = None, reconstruct: int = 0) -> Tensor | tuple[Tensor, Tensor]:
        """Logits [N]; with ``reconstruct`` n > 0, also the decoders' error on the first n images
        (D's batch is [reals, fakes]: the reals are redrawn)."""
        maps = [self.stem(x)]
        for block in self.blocks:
            maps.append(block(maps[-1]))
        h = self.head(self.mbstd(maps[-1]))
        logits = self.patches(h).sum(dim=(1, 2, 3))
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            logits = logits + (self.embed(labels) * h.sum(dim=(2, 3))).sum(dim=1)
        if not reconstruct:
            return logits
        if self.decoders is None:
            raise ValueError("this discriminator has no decoders (build it with reconstruct=True)")
        n = reconstruct
        return logits, self.decoders(x[:n], maps[-1][:n], maps[-2][:n])
