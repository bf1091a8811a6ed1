"""The one image convention every metric accepts, so callers never convert by hand.

Metrics take either
- float images ``[N, 1, H, W]`` (or ``[N, H, W]``) in [-1, 1], as a torch tensor or numpy array
  (what ``Dataset.images`` and ``Synthesizer.generate_tensor`` give), or
- uint8 grey images ``[N, H, W]`` in 0..255 (what ``Synthesizer.generate`` and PNG files give),
and turn them into float32 tensors ``[N, 1, H, W]`` in [-1, 1] on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from braingan.errors import BrainganError

Images = torch.Tensor | np.ndarray


def as_tensor(images: Images, name: str = "images") -> torch.Tensor:
    """float32 [N, 1, H, W] in [-1, 1]; uint8 input is mapped 0..255 -> -1..1."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise BrainganError(f"{name}: expected an array or tensor of images, not {type(images).__name__}")
    if images.dtype == torch.uint8:
        images = images.float() / 127.5 - 1.0
    images = images.detach().float().cpu()
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] != 1:
        raise BrainganError(f"{name}: expected grey images [N, 1, H, W] or [N, H, W], not shape {tuple(images.shape)}")
    if len(images) == 0:
        raise BrainganError(f"{name}: no images")
    return images


def same_size(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape[-2:] != b.shape[-2:]:
        raise BrainganError(f"{what}: images differ in size ({a.shape[-1]} px vs {b.shape[-1]} px); "
                            "preprocess both to the run's resolution")
