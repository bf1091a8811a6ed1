"""Data-parallel training under ``torchrun``: one process per device, gradients all-reduced.

``torchrun --nproc-per-node K -m braingan train ...`` starts K processes with RANK,
WORLD_SIZE and LOCAL_RANK set; without them (plain ``braingan train``) everything here
is a no-op and the run is the single-process one.

How a step is split, so that K processes compute what one process computes:
- ``train.batch_size`` is the global batch; each rank takes its slice of it
  (``batch_size / K`` images), so the schedule and the checkpoint mean the same for any K
  and a run resumes with a different K;
- every rank draws the whole global batch's indices and noise from the same seeded
  generator (identical on all ranks, saved in the checkpoint) and keeps its own slice:
  together the ranks hold exactly the single-process batch;
- DDP averages the gradients (each rank's loss is the mean over its slice, so the
  average is the mean over the global batch) and starts from rank 0's weights;
- dropout draws from the global RNG, seeded per rank from (seed, step, rank), so the ranks'
  masks are independent, as one process's masks over the whole batch are. A K>1 run
  therefore resumes statistically, not bit for bit (single-process resume is exact);
- rank 0 alone writes checkpoints, logs, sample grids and the generator; logged losses
  are the mean over the ranks.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from braingan.devices import resolve_device
from braingan.errors import BrainganError


@dataclass(frozen=True)
class World:
    """This process's place among the ranks (rank 0 of 1 outside torchrun)."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def local_batch(self, global_batch: int) -> slice:
        """This rank's slice of a global batch."""
        if global_batch % self.size:
            raise BrainganError(f"batch_size {global_batch} does not split over {self.size} processes; "
                                f"use a multiple of {self.size}")
        n = global_batch // self.size
        return slice(self.rank * n, (self.rank + 1) * n)

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP around ``module`` when distributed (weights broadcast from rank 0), else the module."""
        if not self.distributed:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def mean(self, values: Tensor) -> Tensor:
        """The mean of ``values`` over the ranks (a collective: every rank must call it)."""
        if not self.distributed:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.size

    def agree(self, flag: bool) -> bool:
        """True on every rank if it is true on any (a collective: every rank must call it)."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def seed_dropout(self, seed: int, step: int) -> None:
        """Give each rank its own global RNG stream (dropout) from (seed, step, rank)."""
        if self.distributed:
            torch.manual_seed(int(np.random.SeedSequence([seed, step, self.rank]).generate_state(1)[0]))

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. fills the data cache), then the others."""
        if self.distributed and not self.is_main:
            dist.barrier()
        yield
        if self.distributed and self.is_main:
            dist.barrier()


@contextlib.contextmanager
def world(device: str = "auto") -> Iterator[World]:
    """The process group of a torchrun launch for the block's duration, or the single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        yield World(device=resolve_device(device))
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        if resolved.index is not None:
            raise BrainganError(f"device {device!r} names one GPU; under torchrun use 'cuda' or 'auto' "
                                f"(rank r uses cuda:LOCAL_RANK)")
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    if dist.is_initialized():  # the caller's own process group: use it, leave it to them
        yield World(rank=dist.get_rank(), size=dist.get_world_size(), device=resolved)
        return
    dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo", rank=rank, world_size=size)
    try:
        yield World(rank=rank, size=size, device=resolved)
        # A rank that tears its connections down while another still finishes (rank 0 writes the
        # samples and the generator) can abort in Gloo's threads; so every rank waits for the
        # others, and objects of the block that still hold the group (DDP) are collected first.
        dist.barrier()
        gc.collect()
    finally:
        dist.destroy_process_group()


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (for forwards that must not all-reduce)."""
    return module.module if isinstance(module, DistributedDataParallel) else module
