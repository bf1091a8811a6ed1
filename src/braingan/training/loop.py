"""The training loop: batches from memory, steps, logs, sample grids, checkpoints, stop signals."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from braingan import __version__
from braingan.config import RunConfig
from braingan.data import Dataset
from braingan.data.dataset import pixel_settings
from braingan.devices import resolve_device
from braingan.errors import BrainganError
from braingan.io.generator_files import save_generator
from braingan.io.images import grid, save_png, to_uint8
from braingan.models import build_discriminator, build_generator
from braingan.models.registry import generator_kwargs
from braingan.report.plots import plot_losses
from braingan.training import fastpath, health
from braingan.training.augment import AdaptiveP, augment
from braingan.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from braingan.training.distributed import World
from braingan.training.ema import EMA
from braingan.training.logs import LossLog
from braingan.training.losses import get_loss
from braingan.training.signals import TrainingInterrupted, catch_stop_signals
from braingan.training.step import GanModels, StepOptions, train_step

GRID_ROWS, GRID_COLS = 2, 5  # the seed's sample_images
MBSTD_GROUP = 4  # images per minibatch-std group (StyleGAN's default)


class Trainer:
    """Owns a run directory and trains the configured GAN on an in-memory dataset."""

    def __init__(self, config: RunConfig, dataset: Dataset, run_dir: Path, log: Callable[[str], None] = print,
                 world: World | None = None) -> None:
        self.config, self.run_dir, self.log = config, Path(run_dir), log
        self.world = world or World(device=resolve_device(config.train.device))
        self.device = self.world.device
        torch.manual_seed(config.train.seed)
        m, t = config.model, config.train
        self.class_names = dataset.class_names
        num_classes = len(self.class_names) if m.conditional else 0
        self.g_kwargs = generator_kwargs(m.arch, m.latent_dim, config.data.resolution, m.g_width, num_classes,
                                         m.g_batchnorm)
        fastpath.tune_backend(self.device, t.fast)
        G = fastpath.prepare_module(build_generator(m.arch, **self.g_kwargs).to(self.device), t.fast)
        # minibatch-std groups must not straddle this rank's reals and fakes
        mbstd_group = math.gcd(MBSTD_GROUP, t.batch_size // self.world.size) if m.d_mbstd else 0
        D = build_discriminator(m.arch, config.data.resolution, m.d_width, num_classes, mbstd_group).to(self.device)
        D = fastpath.prepare_module(D, t.fast)
        adam = {"lr": t.lr, "betas": (t.beta1, t.beta2), "eps": t.adam_eps}
        self.models = GanModels(G, D, fastpath.adam(G.parameters(), t.fast, **adam),
                                fastpath.adam(D.parameters(), t.fast, **adam))
        # What the step updates: under torchrun, DDP wrappers that all-reduce the gradients.
        self.step_models = GanModels(self.world.wrap(G), self.world.wrap(D), self.models.opt_g, self.models.opt_d)
        self.loss = get_loss(t.loss)
        self.ema = EMA(G, t.ema) if t.ema else None
        self.ada = (AdaptiveP(t.augment_p, t.ada_target, t.ada_every, t.ada_images, t.batch_size,
                              mean_over_ranks=self.world.mean) if t.augment == "ada" else None)
        self.images = fastpath.prepare_images(dataset.images.to(self.device), t.fast)
        # An unconditional run ignores the classes: one label for all, so that mode seeking (which
        # pairs only images of the same label) pairs every image of the batch.
        labels = dataset.labels if m.conditional else torch.zeros_like(dataset.labels)
        self.labels = labels.to(self.device)
        self.step = 0
        # Batch indices and noise: one stream, identical on every rank (each keeps its slice).
        self.batch_rng = torch.Generator(self.device).manual_seed(t.seed)
        self.world.seed_dropout(t.seed, self.step)
        # Fixed noise for the sample grids, from its own generator so it never shifts training's RNG.
        fixed = torch.Generator().manual_seed(t.seed)
        self.fixed_z = torch.randn(GRID_ROWS * GRID_COLS, m.latent_dim, generator=fixed).to(self.device)
        self.fixed_labels = (torch.arange(GRID_ROWS * GRID_COLS) % len(self.class_names)).to(self.device)
        self.losses = LossLog(self.run_dir / "log.csv")

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    # -- state ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        m = self.models
        return {
            "step": self.step,
            "config": self.config.to_dict(),
            "class_names": self.class_names,
            "generator": m.generator.state_dict(),
            "discriminator": m.discriminator.state_dict(),
            "opt_g": m.opt_g.state_dict(),
            "opt_d": m.opt_d.state_dict(),
            "rng": {**rng_state(), "batch": self.batch_rng.get_state()},
            **({"ema": self.ema.average.state_dict()} if self.ema else {}),
            **({"ada": self.ada.state_dict()} if self.ada else {}),
        }

    def resume(self) -> None:
        """Continue from ``checkpoints/last.pt`` exactly where it was written."""
        state = load_checkpoint(self.checkpoint_path)
        if self.world.is_main:  # a kill during a checkpoint write leaves its temporary file behind
            for torn in self.checkpoint_path.parent.glob(f".{self.checkpoint_path.name}.*.tmp"):
                torn.unlink(missing_ok=True)
                self.log(f"removed {torn.name}, an unfinished checkpoint write")
        if state["class_names"] != self.class_names:
            raise BrainganError(f"{self.checkpoint_path}: trained on classes {state['class_names']}, "
                                f"but the data has {self.class_names}")
        m = self.models
        try:
            m.generator.load_state_dict(state["generator"])
            m.discriminator.load_state_dict(state["discriminator"])
            m.opt_g.load_state_dict(state["opt_g"])
            m.opt_d.load_state_dict(state["opt_d"])
            self._apply_optimizer_config()  # the saved state carries the old lr; --lr on resume wins
            if self.ema:
                self.ema.average.load_state_dict(state["ema"])
            if self.ada:
                self.ada.load_state_dict(state["ada"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise BrainganError(f"{self.checkpoint_path}: does not match this run's architecture "
                                f"({str(e).splitlines()[0]})") from e
        set_rng_state(state["rng"])
        self.step = state["step"]
        try:
            self.batch_rng.set_state(state["rng"].get("batch"))
        except (TypeError, RuntimeError):  # an older checkpoint, or one written on another device type
            self.batch_rng.manual_seed(self.config.train.seed + self.step)
        self.world.seed_dropout(self.config.train.seed, self.step)

    def _apply_optimizer_config(self) -> None:
        t = self.config.train
        for optimizer in (self.models.opt_g, self.models.opt_d):
            for group in optimizer.param_groups:
                group.update(lr=t.lr, betas=(t.beta1, t.beta2), eps=t.adam_eps)

    def init_from(self, run_dir: Path) -> None:
        """Start G, D (and the EMA) from another run's weights, for fine-tuning; the step,
        optimizer state and ADA's p start afresh. Class heads (``embed.*``) are kept only when
        both runs have the same class names; otherwise they start from a fresh initialisation."""
        path = Path(run_dir) / "checkpoints" / "last.pt"
        if not path.exists():
            raise BrainganError(f"{run_dir}: no trained run to start from (--init needs its checkpoints/last.pt)")
        state = load_checkpoint(path)
        keep_heads = state["class_names"] == self.class_names
        if not keep_heads and self.config.model.conditional:
            self.log(f"--init: {run_dir} has classes {state['class_names']}, this data {self.class_names}: "
                     "the class embedding of G and projection head of D start afresh")

        def weights(part: str) -> dict[str, torch.Tensor]:
            return state[part] if keep_heads else {k: v for k, v in state[part].items() if not k.startswith("embed.")}

        _transfer(self.models.generator, weights("generator"), path)
        _transfer(self.models.discriminator, weights("discriminator"), path)
        if self.ema:  # fresh class heads start equal to the live generator's
            self.ema.average.load_state_dict(self.models.generator.state_dict())
            _transfer(self.ema.average, weights("ema" if "ema" in state else "generator"), path)

    @property
    def augment_p(self) -> float:
        t = self.config.train
        if self.ada:
            return self.ada.p
        return t.augment_p if t.augment == "fixed" else 0.0

    def step_options(self) -> StepOptions:
        """Augmentation at the current p, R1 (scaled by k) on every k-th step, and the
        mode-seeking weight on its ramp."""
        t, p = self.config.train, self.augment_p
        r1 = t.r1_gamma / 2 * t.r1_every if t.r1_gamma and self.step % t.r1_every == 0 else 0.0
        shown = (self.step + 1) * t.batch_size  # counting this step's images
        ramp = min(1.0, shown / t.mode_seeking_ramp) if t.mode_seeking_ramp else 1.0
        return StepOptions(augment=partial(augment, p=p) if p > 0 else None, r1_weight=r1,
                           mode_seeking=t.mode_seeking * ramp)

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that makes grids and the exported file: the EMA copy when there is one."""
        return self.ema.average if self.ema else self.models.generator

    def save(self) -> None:
        if self.world.is_main:
            save_checkpoint(self.checkpoint_path, self.state())

    def export_generator(self) -> None:
        data = self.config.data
        preprocessing, volumes = pixel_settings(data)
        save_generator(self.run_dir, self.sampler, {
            "arch": self.config.model.arch,
            "kwargs": self.g_kwargs,
            "resolution": data.resolution,
            "latent_dim": self.config.model.latent_dim,
            "classes": self.class_names,
            "conditional": self.config.model.conditional,
            "ema": self.ema is not None,
            "preprocessing": preprocessing.to_dict(),
            "volumes": volumes.to_dict(),  # how DICOM series and NIfTI volumes became slices
            "steps": self.step,
            "braingan": __version__,
        })

    # -- loop -----------------------------------------------------------------------------

    def fit(self) -> None:
        t = self.config.train
        total = self.config.total_steps
        if self.world.is_main:
            self.losses.start(self.step)
        local = self.world.local_batch(t.batch_size)
        pending: list[tuple[int, torch.Tensor, torch.Tensor, float]] = []
        last_time, last_step = time.perf_counter(), self.step
        quiet = None if self.world.is_main else True  # None: on when the output is a terminal
        bar = tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True, disable=quiet)
        with catch_stop_signals() as stop, bar:
            while self.step < total:
                idx = torch.randint(0, len(self.images), (t.batch_size,), device=self.device,
                                    generator=self.batch_rng)[local]
                z = torch.randn(t.batch_size, self.config.model.latent_dim, device=self.device,
                                generator=self.batch_rng)[local]
                reals = self.images[idx]
                if t.mirror:  # drawn after z, so runs without it keep the seed's exact stream
                    flip = torch.rand(t.batch_size, device=self.device, generator=self.batch_rng)[local] < 0.5
                    reals = torch.where(flip[:, None, None, None], reals.flip(-1), reals)
                p = self.augment_p
                stats = train_step(self.step_models, self.loss, reals, z, self.labels[idx], self.step_options())
                if self.ema:
                    self.ema.update(self.models.generator, self.step)
                if self.ada:
                    self.ada.observe(stats.real_signs, len(idx))
                self.step += 1
                pending.append((self.step, stats.d_loss, stats.g_loss, p))
                bar.update(1)
                # Under torchrun the ranks flush and decide to stop together, at the same steps;
                # losses and weights are also checked before every checkpoint (no NaN state is saved).
                checkpoint_due = self.step % t.checkpoint_every == 0
                flush = (len(pending) >= t.log_every or self.step == total or checkpoint_due
                         or (stop and not self.world.distributed))
                stopping = self.world.agree(bool(stop)) if flush else False
                if flush:
                    now = time.perf_counter()
                    rate = (self.step - last_step) * t.batch_size / max(now - last_time, 1e-9)
                    last = self._write_losses(pending, rate, bar)
                    pending, last_time, last_step = [], now, self.step
                    if bar.disable and last and (checkpoint_due or self.step == total):  # no terminal: a line instead
                        self.log(f"step {self.step}/{total}: d_loss {last['d_loss']:.3f}, "
                                 f"g_loss {last['g_loss']:.3f}, {last['images_per_s']:.1f} images/s")
                if self.step % t.steps_per_epoch == 0 and self.world.is_main:
                    self._sample_grid()
                if stopping:
                    self._finish()
                    raise TrainingInterrupted(stop.signum or signal.SIGTERM, self.step)
                if checkpoint_due and self.step < total:
                    self.save()
        self._finish()

    def _write_losses(self, pending: list[tuple[int, torch.Tensor, torch.Tensor, float]], rate: float,
                      bar: tqdm) -> dict[str, float] | None:
        """One device-to-host copy for the whole interval (no sync on every step); NaN/inf stops here.
        Returns the interval's last row (None on the other ranks)."""
        values = self.world.mean(torch.stack([torch.stack([d, g]) for _, d, g, _ in pending])).tolist()
        health.check([s for s, _, _, _ in pending], values,
                     {"generator": self.models.generator, "discriminator": self.models.discriminator},
                     self.checkpoint_path, self.config.train.lr)
        if not self.world.is_main:
            return None
        spe = self.config.train.steps_per_epoch
        rows = [{"step": s, "epoch": (s - 1) // spe + 1, "d_loss": d, "g_loss": g, "images_per_s": rate,
                 "augment_p": p} for (s, _, _, p), (d, g) in zip(pending, values)]
        self.losses.append(rows)
        bar.set_postfix(d_loss=f"{rows[-1]['d_loss']:.3f}", g_loss=f"{rows[-1]['g_loss']:.3f}", img_s=f"{rate:.1f}")
        return rows[-1]

    @torch.no_grad()
    def _sample_grid(self) -> None:
        G = self.sampler
        training = G.training
        G.eval()
        images = to_uint8(G(self.fixed_z, self.fixed_labels))
        G.train(training)
        save_png(self.run_dir / "samples" / f"step_{self.step:06d}.png", grid(images, GRID_ROWS, GRID_COLS))

    def _finish(self) -> None:
        """Checkpoint, generator files and the loss plot: a finished or stopped run is usable."""
        if not self.world.is_main:
            return
        self.save()
        self.export_generator()
        rows = self.losses.read()
        if rows:
            plot_losses(rows, self.run_dir / "losses.png")


def _transfer(module: torch.nn.Module, source: dict[str, torch.Tensor], path: Path) -> None:
    """Load the tensors of ``source`` that fit; only class heads (``embed.*``) may be missing."""
    own = module.state_dict()
    for key, value in own.items():
        theirs = source.get(key)
        if theirs is None and key.startswith("embed."):
            continue
        if theirs is None or theirs.shape != value.shape:
            found = "missing" if theirs is None else f"of shape {tuple(theirs.shape)}, not {tuple(value.shape)}"
            raise BrainganError(f"{path}: {key} is {found}; --init needs the same arch, resolution, widths, "
                                "minibatch std (--d-mbstd / --no-d-mbstd) and conditioning as that run")
    module.load_state_dict({k: v for k, v in source.items() if k in own}, strict=False)
