"""A weight-free feature space for PRDC when the Inception weights are absent.

A randomly initialised convolutional network with a fixed seed. Naeem et al. (2020, sec. 5)
show that PRDC on random-CNN embeddings still ranks generators sensibly and is free of
ImageNet bias, which matters for grey MRI far from ImageNet; it compares local structure
and texture at several scales, which pixel distances miss. Same seed -> same network on any
machine, so numbers are comparable across runs, but not with Inception-based ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from braingan.metrics.arrays import Images, as_tensor

SIZE = 64
SEED = 0
DESCRIPTION = ("random-CNN features (fixed seed 0, 4 conv layers, mean+std pooled, 512-d) of images resized to "
               "64 px; weight-free, so always available (Naeem et al. 2020 sec. 5 validate random embeddings)")


def _network() -> nn.Module:
    layers: list[nn.Module] = []
    channels = [1, 32, 64, 128, 256]
    for c_in, c_out in zip(channels, channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers)


@torch.inference_mode()
def random_cnn_features(images: Images, batch_size: int = 128) -> np.ndarray:
    """float64 [N, 512]: per-channel mean and std of the last layer."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        net = _network().eval()
    x = as_tensor(images)
    out = []
    for start in range(0, len(x), batch_size):
        batch = F.interpolate(x[start:start + batch_size], size=(SIZE, SIZE), mode="bilinear",
                              align_corners=False, antialias=True)
        h = net(batch)
        out.append(torch.cat([h.mean(dim=(2, 3)), h.std(dim=(2, 3))], dim=1).double())
    return torch.cat(out).numpy()
