"""The Python API; the command line only wraps these functions."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from braingan.config import PRECISIONS, RunConfig, dump_toml
from braingan.data import load_dataset
from braingan.devices import resolve_device
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_text
from braingan.io.generator_files import GeneratorFile, load_generator
from braingan.io.images import to_uint8
from braingan.io.prior_files import init_source
from braingan.io.run_lock import run_lock
from braingan.training import fastpath
from braingan.training.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from braingan.training.distributed import World


def train(config: RunConfig, run_dir: str | Path, resume: bool = False, log: Callable[[str], None] = print) -> Path:
    """Train ``config`` into ``run_dir``; with ``resume`` continue from its last checkpoint."""
    from braingan.training.distributed import world

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise BrainganError(f"{run_dir}: exists and is not a folder")
    config = resolved(config)
    with world(config.run.device) as ranks:  # this rank of a torchrun launch
        _train_rank(config, run_dir, resume, log, ranks)
    return run_dir


def _train_rank(config: RunConfig, run_dir: Path, resume: bool, log: Callable[[str], None], ranks: World) -> None:
    """This rank's share of ``train``, a function of its own so that the trainer and its DDP
    wrappers, which hold the process group, are gone before ``world`` tears the group down."""
    from braingan.training.factory import check_networks
    from braingan.training.loop import Trainer  # the loop pulls in plotting; keep `load` light

    check_networks(config, ranks)  # before the data: a bad combination should not wait for it
    with contextlib.ExitStack() as held:
        if ranks.is_main:  # rank 0 writes the run directory: it alone holds its lock
            held.enter_context(run_lock(run_dir))
        else:
            log = _silent
        if not resume and (run_dir / "checkpoints" / "last.pt").exists():
            raise BrainganError(f"{run_dir}: already holds a run; use --resume to continue it or choose another --out")
        with ranks.main_first():  # rank 0 fills the preprocessing cache, the others read it
            dataset = load_dataset(config.data, log=log)
        log(f"{len(dataset)} images of {config.data.resolution} px in classes {', '.join(dataset.class_names)}")
        trainer = Trainer(config, dataset, run_dir, log=log, world=ranks)
        if resume:
            trainer.resume()
            finished = trainer.finished()
            if finished is not None:  # config.toml and the checkpoint stay as they are
                log(finished)
                if ranks.is_main:
                    trainer.export_generator()
                return
            log(f"resumed {run_dir} at step {trainer.step:,} of {config.total_steps:,} "
                f"({trainer.step * config.run.batch_size:,} of {config.total_images:,} images shown)")
        elif config.run.init is not None:
            trainer.init_from(config.run.init)
            log(f"G and D start from {config.run.init}")
        if ranks.is_main:
            atomic_write_text(run_dir / "config.toml", dump_toml(config))
        trainer.fit()


def _silent(message: str) -> None:
    """The log of ranks other than 0 (rank 0 speaks for the run)."""


def resolved(config: RunConfig) -> RunConfig:
    """``config`` with its paths absolute, so the saved config means the same from any folder."""
    data, run = config.data, config.run
    return dataclasses.replace(
        config, data=dataclasses.replace(data, path=_absolute(data.path), exclude=_absolute(data.exclude)),
        run=dataclasses.replace(run, init=None if run.init is None else init_source(run.init)))


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def saved_config(run_dir: str | Path) -> RunConfig:
    """The config a run was trained with, from its last checkpoint."""
    state = load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt")
    return RunConfig.from_dict(state["config"], source=f"{run_dir} checkpoint")


def saved_data(run_dir: str | Path) -> dict[str, Any] | None:
    """The fingerprint of the data a run trained on (``data.fingerprint``), from its last checkpoint;
    None for runs saved before it was kept."""
    return load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt").get("data")


BF16_PROBE = 16  # images drawn in both precisions before bf16 is trusted
BF16_TOLERANCE = 0.001  # share of pixels bf16 may move by more than one grey level


class Synthesizer:
    """A trained generator ready to make images.

    It takes the module over: moves it to ``device`` and to channels_last in place, as
    ``nn.Module.to`` does (same weights, so a training loop can keep using it). ``precision``
    "bf16" computes under bf16 autocast (weights stay fp32; images come back as fp32), for
    devices with bf16 arithmetic, only where it keeps the 8-bit images: a probe batch is drawn
    in both precisions first, and a generator whose bf16 images differ by more than one grey
    level on more than ``BF16_TOLERANCE`` of the pixels generates in fp32
    (``precision_note`` says why; some families do, benchmarks/bench_precision.py)."""

    def __init__(self, generator: torch.nn.Module, card: GeneratorFile, device: torch.device,
                 precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise BrainganError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        # channels_last: more images/s than the plain layout on CPU (benchmarks/bench_speed.py)
        self.generator = fastpath.prepare_module(generator.to(device), fast=True)
        self.card, self.device, self.precision = card, device, "fp32"
        self.precision_note: str | None = None  # what became of a bf16 request, when it is worth saying
        if precision == "bf16":
            self.precision_note = self._bf16_changes()
            if self.precision_note is None:
                self.precision = "bf16"
                if not fastpath.computes_bf16(device):
                    self.precision_note = (f"--precision bf16: {device} has no bf16 arithmetic (no avx512_bf16 or "
                                           "AMX on a CPU), so PyTorch emulates it, many times slower than fp32")

    def _bf16_changes(self) -> str | None:
        """Why bf16 would change this generator's images (None: it keeps them within tolerance)."""
        z = torch.randn(BF16_PROBE, self.card.latent_dim, generator=torch.Generator().manual_seed(0))
        labels = self.labels(BF16_PROBE, None)
        images = {p: to_uint8(self._draw(z, labels, p)).astype(np.int16) for p in PRECISIONS}
        changed = float((np.abs(images["bf16"] - images["fp32"]) > 1).mean())
        if changed <= BF16_TOLERANCE:
            return None
        return (f"bf16 changes {100 * changed:.2f}% of this generator's pixels by more than one grey level "
                f"(at most {100 * BF16_TOLERANCE:g}% allowed): generating in fp32")

    @torch.no_grad()
    def _draw(self, z: torch.Tensor, labels: torch.Tensor, precision: str) -> torch.Tensor:
        """One batch of images in ``precision``, as fp32 on the CPU."""
        with fastpath.autocast(self.device, precision):
            images = self.generator(z.to(self.device), labels.to(self.device))
        return images.float().cpu()

    @property
    def class_names(self) -> list[str]:
        return self.card.classes

    @property
    def resolution(self) -> int:
        return self.card.resolution

    @property
    def conditional(self) -> bool:
        return self.card.conditional

    def labels(self, n: int, label: int | str | None, start: int = 0) -> torch.Tensor:
        """The class of images ``start`` to ``start + n``: ``label`` for all, or with none given, a
        conditional generator's classes in turn (evenly, in class order), never silently the first class."""
        if label is None and self.conditional:
            return torch.arange(start, start + n, dtype=torch.int64) % len(self.class_names)
        return torch.full((n,), 0 if label is None else self.label_index(label), dtype=torch.int64)

    def label_index(self, label: int | str) -> int:
        """The class to generate; an unconditional generator of several classes refuses to pick one."""
        if not self.conditional and len(self.class_names) > 1:
            raise BrainganError(f"this generator was trained unconditionally on {', '.join(self.class_names)}; "
                                "train with --conditional to choose a class")
        if isinstance(label, str):
            if label not in self.class_names:
                raise BrainganError(f"unknown class {label!r}; this generator knows {', '.join(self.class_names)}")
            return self.class_names.index(label)
        if not 0 <= label < len(self.class_names):
            raise BrainganError(f"class index {label} out of range 0..{len(self.class_names) - 1}")
        return label

    def noise(self, n: int, seed: int | None = None, batch_size: int = 64) -> Iterator[torch.Tensor]:
        """The latents of ``n`` images in batches of about ``batch_size``: the same numbers as one
        ``randn(n, latent_dim)`` from ``seed``, so the images do not depend on the batch size.

        PyTorch's CPU normal sampler turns uniforms into normals 16 at a time and redraws a tail
        shorter than 16; a batch of a multiple of 16 numbers (and a last batch that takes in any
        shorter rest) therefore reads the stream exactly as the single draw does."""
        rng = torch.Generator()
        if seed is None:
            rng.seed()
        else:
            rng.manual_seed(seed)
        d = self.card.latent_dim
        rows = -(-batch_size // 16) * 16
        start = 0
        while start < n:
            take = min(rows, n - start)
            if 0 < (n - start - take) * d < 16:
                take = n - start
            yield torch.randn(take, d, generator=rng)
            start += take

    @torch.no_grad()
    def batches(self, n: int, seed: int | None = None, label: int | str | None = None,
                batch_size: int = 64) -> Iterator[torch.Tensor]:
        """[b, 1, H, W] float in [-1, 1], batch after batch, for ``n`` images in all: only one
        batch is ever held, so any ``n`` streams. Without ``label``, a conditional generator
        makes its classes in turn."""
        if n < 0:
            raise BrainganError(f"number of images must not be negative, not {n}")
        self.labels(0, label)  # an unknown class is refused before any work
        start = 0
        for z in self.noise(n, seed, batch_size):
            labels = self.labels(len(z), label, start)
            for i in range(0, len(z), batch_size):
                yield self._draw(z[i:i + batch_size], labels[i:i + batch_size], self.precision)
            start += len(z)

    def generate_tensor(self, n: int, seed: int | None = None, label: int | str | None = None,
                        batch_size: int = 64) -> torch.Tensor:
        """[n, 1, H, W] float in [-1, 1]; the same images for the same ``seed`` whatever the
        batch size or device."""
        chunks = list(self.batches(n, seed=seed, label=label, batch_size=batch_size))
        return torch.cat(chunks) if chunks else torch.empty(0, 1, self.resolution, self.resolution)

    def generate(self, n: int, seed: int | None = None, label: int | str | None = None,
                 batch_size: int = 64) -> np.ndarray:
        """uint8 [n, H, W] grey images."""
        return to_uint8(self.generate_tensor(n, seed=seed, label=label, batch_size=batch_size))


def load(run_dir: str | Path, device: str = "auto", precision: str = "fp32") -> Synthesizer:
    """Load a run's ``generator.safetensors`` + ``generator.json`` (on CUDA when present)."""
    generator, card = load_generator(Path(run_dir))
    return Synthesizer(generator, card, resolve_device(device), precision)
