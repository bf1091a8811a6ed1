"""Device choice: CUDA when present, else CPU, unless the user names one."""

from __future__ import annotations

import os

import torch

from braingan.errors import BrainganError

# What braingan computes on: torch knows more device types (meta holds no data, the others are
# untested here), and one of those would fail later, inside training or generation.
DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise BrainganError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from e
    if device.type not in DEVICE_TYPES:
        raise BrainganError(f"device {name!r} is not one braingan computes on; use auto, cpu, cuda or cuda:N")
    if device.type == "cpu" and device.index not in (None, 0):
        raise BrainganError(f"device {name!r}: the CPU has no index; use cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BrainganError(f"device {name!r} asked for, but CUDA is not available")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise BrainganError(f"device {name!r}: no such CUDA device (this machine has {count}: "
                                f"cuda:0 to cuda:{count - 1})")
    return device


def memory_of(device: torch.device) -> int:
    """Bytes of memory ``device`` has in all (RAM for the CPU)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
