"""``run.cuda_graphs``: the training step replayed from CUDA graphs, one launch instead of hundreds.

On a GPU the seed's networks are small enough that launching kernels and the step's Python
work cost more than the arithmetic. A CUDA graph records every kernel of one step once and
replays them with a single launch. A graph replays exactly what it recorded, so everything
that changes between steps must live in tensors that stay at fixed addresses: the batch,
the noise and the labels are copied into static buffers, and ADA's p and the mode-seeking
weight on its ramp are device scalars filled before each replay. What cannot be recorded
runs eagerly around the replay:
- lazy R1 (its double backward is the reason torch.compile is not used: it cannot
  differentiate twice) runs the plain step on its steps;
- the EMA update and ADA's bookkeeping follow the replay as on the eager path.

The step's random numbers (dropout, augmentation) come from the device's default generator,
which a graph advances on every replay. Augmentation on or off, and mode seeking on or off,
change which kernels run, so each combination gets its own graph, captured after a few eager
warm-up steps (cuDNN's autotuner and the allocator settle first) and then replayed.

Where a graph cannot be captured, the run says why once and goes on with the eager fast path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import partial
from typing import Protocol

import torch
from torch import Tensor

from braingan.config import RunConfig
from braingan.training.augment import augment
from braingan.training.distributed import World
from braingan.training.losses import GanLoss
from braingan.training.step import GanModels, StepOptions, StepStats, train_step

WARMUP = 3  # eager steps of each graph's kind before its capture (PyTorch's guidance: a few, on a side stream)


class Capture(Protocol):
    """How a step body becomes a replayable graph: ``CudaCapture`` on a GPU, a fake in tests."""

    def warmup(self) -> AbstractContextManager: ...

    def capture(self, body: Callable[[], None]) -> Callable[[], None]: ...


class CudaCapture:
    """torch.cuda graphs: warm-up steps on a side stream, then one capture per body."""

    def __init__(self, device: torch.device) -> None:
        self.stream = torch.cuda.Stream(device)

    @contextlib.contextmanager
    def warmup(self) -> Iterator[None]:
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            yield
        torch.cuda.current_stream().wait_stream(self.stream)

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
        return graph.replay


def unavailable(config: RunConfig, world: World) -> str | None:
    """Why ``run.cuda_graphs`` cannot apply to this run (None: it does)."""
    if world.device.type != "cuda":
        return f"CUDA graphs need a CUDA device, not {world.device}"
    if not config.run.fast:
        return "CUDA graphs replay the fast path; --no-fast asks for the plain eager step"
    if world.distributed:
        return "CUDA graphs are not captured under torchrun (the all-reduces would need NCCL graph support)"
    return None


def backend(device: torch.device) -> Capture:
    """The capture of ``device`` (tests replace it with an eager fake)."""
    return CudaCapture(device)


class GraphUnavailable(RuntimeError):
    """A graph could not be captured; the message says why."""


class _StepGraph:
    """One kind of step (augmentation on or off, mode seeking on or off) on static buffers."""

    def __init__(self, models: GanModels, loss: GanLoss, real: Tensor, z: Tensor, labels: Tensor,
                 augmented: bool, mode_seeking: bool) -> None:
        self.models, self.loss = models, loss
        self.real, self.z, self.labels = torch.empty_like(real), torch.empty_like(z), torch.empty_like(labels)
        device = real.device
        self.p = torch.zeros((), device=device)
        self.mode_seeking = torch.zeros((), device=device)
        self.augmented, self.seeks_modes = augmented, mode_seeking
        self.out = StepStats(torch.zeros((), device=device), torch.zeros((), device=device),
                             torch.zeros((), device=device))
        self.calls = 0
        self.replay: Callable[[], None] | None = None

    def body(self) -> None:
        """The step on the static buffers; results go into ``out`` (a graph's outputs stay put)."""
        options = StepOptions(augment=partial(augment, p=self.p) if self.augmented else None,
                              mode_seeking=self.mode_seeking if self.seeks_modes else 0.0)
        stats = train_step(self.models, self.loss, self.real, self.z, self.labels, options)
        for static, value in zip(self.out, stats):
            static.copy_(value)

    def __call__(self, capture: Capture, real: Tensor, z: Tensor, labels: Tensor, p: float,
                 mode_seeking: float) -> StepStats:
        self.real.copy_(real)
        self.z.copy_(z)
        self.labels.copy_(labels)
        self.p.fill_(p)
        self.mode_seeking.fill_(mode_seeking)
        if self.replay is None and self.calls < WARMUP:
            with capture.warmup():
                self.body()
        else:
            if self.replay is None:
                try:
                    self.replay = capture.capture(self.body)
                except RuntimeError as e:
                    raise GraphUnavailable(str(e).splitlines()[0] if str(e) else type(e).__name__) from e
            self.replay()
        self.calls += 1
        return StepStats(*(value.clone() for value in self.out))  # the next replay overwrites ``out``


class GraphedStep:
    """``train_step`` with the same arguments, replayed from graphs except on R1's steps."""

    def __init__(self, models: GanModels, loss: GanLoss, capture: Capture) -> None:
        self.models, self.loss, self.capture = models, loss, capture
        self.graphs: dict[tuple[bool, bool], _StepGraph] = {}

    def __call__(self, real: Tensor, z: Tensor, labels: Tensor, options: StepOptions, p: float) -> StepStats:
        """``options`` as the eager step takes them, and the augmentation p they were made with."""
        if options.r1_weight:
            return train_step(self.models, self.loss, real, z, labels, options)
        key = (options.augment is not None, bool(options.mode_seeking))
        if key not in self.graphs:
            self.graphs[key] = _StepGraph(self.models, self.loss, real, z, labels, *key)
        return self.graphs[key](self.capture, real, z, labels, p, float(options.mode_seeking))
