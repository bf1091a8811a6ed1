"""Device choice: CUDA when present, else CPU, unless the user names one."""

from __future__ import annotations

import torch

from braingan.errors import BrainganError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise BrainganError(f"unknown device {name!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BrainganError(f"device {name!r} asked for, but CUDA is not available")
    return device
