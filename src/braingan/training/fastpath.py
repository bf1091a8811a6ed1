"""The fast path of ``train.fast``: the same math as the plain eager step, laid out for the hardware.

The levers (their effect on the seed preset: benchmarks/bench_speed.py, RESULTS.md):
- channels_last (NHWC) weights and images: oneDNN (CPU) and cuDNN (GPU) convolve NHWC
  natively, so the reorders around every convolution disappear;
- fused Adam: one kernel over all 27M generator parameters instead of a chain of foreach ops;
- on CUDA, cuDNN's autotuner (``cudnn.benchmark``): a GAN's shapes never change.

``run.precision = "bf16"`` (not part of ``fast``, since it changes the math) runs forward and
backward under bf16 autocast with fp32 weights and optimizer state.

``torch.compile`` is not used: on CPU it was slower than this path, after a long compilation.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

import torch
from torch import Tensor, nn


def tune_backend(device: torch.device, fast: bool) -> None:
    """On CUDA, let cuDNN time its algorithms once per shape (a GAN's shapes never change)."""
    if fast and device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def prepare_module(module: nn.Module, fast: bool) -> nn.Module:
    """The module in the layout its convolutions run fastest in (in place; returned for chaining)."""
    return module.to(memory_format=torch.channels_last) if fast else module


def prepare_images(images: Tensor, fast: bool) -> Tensor:
    """An [N, C, H, W] batch in the layout matching ``prepare_module``."""
    return images.contiguous(memory_format=torch.channels_last) if fast else images


def adam(params: Iterable[Tensor], fast: bool, **kwargs: object) -> torch.optim.Adam:
    """Adam with the fused kernel on the fast path; its state dict is the plain Adam's."""
    return torch.optim.Adam(params, fused=True, **kwargs) if fast else torch.optim.Adam(params, **kwargs)


def autocast(device: torch.device, precision: str, graphs: bool = False) -> AbstractContextManager:
    """bf16 autocast for ``precision`` "bf16"; a no-op context for "fp32". Under CUDA graphs the
    cast weights are not cached (PyTorch's rule: a cached cast would outlive the capture)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=not graphs)


def computes_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware; without it PyTorch emulates bf16 convolutions
    many times slower than fp32 (benchmarks/RESULTS.md). The CPU checks are PyTorch's own
    (private, so absent ones read as no)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return any(check() for check in checks if check is not None)
