"""The seed notebook's DC-GAN, layer for layer (Keras 'same' padding, Glorot init, no batch norm).

With the defaults (128 px, generator width 256, discriminator width 64) the generator has exactly
27,265,281 parameters and the discriminator 582,785. Smaller widths and resolutions give
the same shape scaled down (the demo uses 64 px).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from braingan.models.keras_same import KerasSameConv2d, glorot_init, keras_same_conv_transpose
from braingan.models.minibatch_std import MinibatchStd

LEAK = 0.2


class SeedGenerator(nn.Module):
    """Dense -> 1/4-size feature map -> two stride-2 transposed convolutions -> 4x4 conv -> tanh."""

    def __init__(self, resolution: int = 128, width: int = 256, num_classes: int = 0, latent_dim: int = 100) -> None:
        super().__init__()
        if resolution % 4:
            raise ValueError(f"resolution {resolution} is not a multiple of 4")
        _unconditional(num_classes)
        self.latent_dim, self.resolution, self.base = latent_dim, resolution, resolution // 4
        mid = width // 2
        self.dense = nn.Linear(latent_dim, width * self.base * self.base)
        self.up1 = keras_same_conv_transpose(width, mid, 4, 2)
        self.up2 = keras_same_conv_transpose(mid, mid, 4, 2)
        self.out = KerasSameConv2d(mid, 1, 4)
        self.act = nn.LeakyReLU(LEAK)
        glorot_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        # z.shape[0], not len(z): len() is a Python int and would freeze the batch size in exports.
        x = self.act(self.dense(z)).view(z.shape[0], -1, self.base, self.base)
        x = self.act(self.up1(x))
        x = self.act(self.up2(x))
        return torch.tanh(self.out(x))


class SeedDiscriminator(nn.Module):
    """Four 3x3 convolutions (three with stride 2) -> flatten -> dropout 0.4 -> one logit."""

    def __init__(self, resolution: int = 128, width: int = 64, num_classes: int = 0, dropout: float = 0.4,
                 mbstd_group: int = 0) -> None:
        """``mbstd_group`` > 0 adds a minibatch-std channel before the head (not the seed's)."""
        super().__init__()
        if resolution % 8:
            raise ValueError(f"resolution {resolution} is not a multiple of 8")
        _unconditional(num_classes)
        w = width
        self.features = nn.Sequential(
            KerasSameConv2d(1, w, 3), nn.LeakyReLU(LEAK),
            KerasSameConv2d(w, 2 * w, 3, stride=2), nn.LeakyReLU(LEAK),
            KerasSameConv2d(2 * w, 2 * w, 3, stride=2), nn.LeakyReLU(LEAK),
            KerasSameConv2d(2 * w, 4 * w, 3, stride=2), nn.LeakyReLU(LEAK),
            *([MinibatchStd(mbstd_group)] if mbstd_group else []),
            nn.Flatten(),
            nn.Dropout(dropout),
        )
        self.head = nn.Linear((4 * w + bool(mbstd_group)) * (resolution // 8) ** 2, 1)
        glorot_init(self)

    def input_layers(self) -> list[nn.Module]:
        """The convolutions from the input side: what ``--freeze-d-layers`` counts."""
        return [m for m in self.features if isinstance(m, KerasSameConv2d)]

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits [N]; the seed's sigmoid lives in the loss, where it is numerically stable."""
        return self.head(self.features(x)).squeeze(1)


def _unconditional(num_classes: int) -> None:
    """The notebook's networks have no class inputs; one class needs none."""
    if num_classes > 1:
        raise ValueError("the seed's networks have no class embedding; the dcgan family has one "
                         "(preset fewshot-dcgan)")
