"""The training loop: batches from memory, the step, stop signals; everything else is a hook.

``build_training`` (training/factory.py) makes what is trained; the hooks (training/hooks.py)
log, check, draw grids, checkpoint and export. This module keeps the run's state (step, RNG
streams) and how it is saved, resumed and initialised from another run.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from braingan.config import RunConfig
from braingan.data import Dataset
from braingan.data.dataset import pixel_settings
from braingan.data.fingerprint import check_same_data, fingerprint
from braingan.devices import resolve_device
from braingan.errors import BrainganError
from braingan.io.atomic import WriteError, remove_orphans
from braingan.io.generator_files import GeneratorFile, save_generator
from braingan.io.model_card import training_summary, write_model_card
from braingan.io.prior_files import load_init
from braingan.training import fastpath, graphs
from braingan.training.augment import augment
from braingan.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from braingan.training.distributed import World
from braingan.training.factory import build_training
from braingan.training.health import bad_weights
from braingan.training.hooks import Hook, LossRows, default_hooks
from braingan.training.signals import TrainingInterrupted, catch_stop_signals
from braingan.training.step import StepOptions, StepStats, train_step


class Trainer:
    """Owns a run directory and trains the configured GAN on an in-memory dataset."""

    def __init__(self, config: RunConfig, dataset: Dataset, run_dir: Path, log: Callable[[str], None] = print,
                 world: World | None = None, hooks: list[Hook] | None = None) -> None:
        self.config, self.run_dir, self.log = config, Path(run_dir), log
        self.world = world or World(device=resolve_device(config.run.device))
        self.device = self.world.device
        self.class_names = dataset.class_names
        self.training_data = training_summary(config, dataset)
        self.data = fingerprint(dataset)  # resume checks it: the run goes on only on the same data
        no_graphs = graphs.unavailable(config, self.world) if config.run.cuda_graphs else "not asked for"
        if config.run.cuda_graphs and no_graphs:
            log(f"--cuda-graphs: {no_graphs}; training with the eager step")
        parts = build_training(config, len(self.class_names) if config.model.conditional else 0, self.world,
                               capturable=no_graphs is None)
        self.models, self.step_models, self.loss = parts.models, parts.step_models, parts.loss
        self.ema, self.ada, self.g_kwargs = parts.ema, parts.ada, parts.generator_kwargs
        self.graphed = (graphs.GraphedStep(self.step_models, self.loss, graphs.backend(self.device))
                        if no_graphs is None else None)
        self.images = fastpath.prepare_images(dataset.images.to(self.device), config.run.fast)
        # An unconditional run ignores the classes: one label for all, so that mode seeking (which
        # pairs only images of the same label) pairs every image of the batch.
        labels = dataset.labels if config.model.conditional else torch.zeros_like(dataset.labels)
        self.labels = labels.to(self.device)
        self.step = 0
        self.saved_step: int | None = None  # the step of the checkpoint on disk, if any
        self.stopping = False  # a stop signal or the time budget was agreed on: the run ends after this step
        self.seconds = 0.0  # seconds trained by the run's earlier sessions (what --minutes budgets, with this one)
        self.session_start: float | None = None  # perf_counter() when this session's loop started
        self.session_step = 0  # the step it started from
        # Batch indices and noise: one stream, identical on every rank (each keeps its slice).
        self.batch_rng = torch.Generator(self.device).manual_seed(config.run.seed)
        self.world.seed_dropout(config.run.seed, self.step)
        self.bar = tqdm(disable=True)  # replaced by fit's progress bar
        if config.run.precision == "bf16" and not fastpath.computes_bf16(self.device):
            log(f"--precision bf16: {self.device} has no bf16 arithmetic (no avx512_bf16 or AMX on a CPU), so "
                "PyTorch emulates it, many times slower than fp32; --precision fp32 is faster here")
        self.hooks = default_hooks(self) if hooks is None else hooks

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    # -- state ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        m = self.models
        return {
            "step": self.step,
            "seconds": self.trained_seconds,
            "config": self.config.to_dict(),
            "class_names": self.class_names,
            "data": self.data,
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
        if self.world.is_main:  # a kill during a checkpoint or generator write leaves its temporary file behind
            remove_orphans(self.checkpoint_path.parent, self.checkpoint_path.name, self.log)
            remove_orphans(self.run_dir, "generator.*", self.log)
        if state["class_names"] != self.class_names:
            raise BrainganError(f"{self.checkpoint_path}: trained on classes {state['class_names']}, "
                                f"but the data has {self.class_names}")
        check_same_data(state.get("data"), self.data, self.config.data.path,
                        "resume it on the data it trained on (give that folder as DATA), or train a new run on "
                        f"this data starting from its weights (--init {self.run_dir})")
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
        self.seconds = float(state.get("seconds", 0.0))  # older checkpoints did not count
        try:
            self.batch_rng.set_state(state["rng"].get("batch"))
        except (TypeError, RuntimeError):  # an older checkpoint, or one written on another device type
            self.batch_rng.manual_seed(self.config.run.seed + self.step)
        self.world.seed_dropout(self.config.run.seed, self.step)
        self.saved_step = self.step

    def _apply_optimizer_config(self) -> None:
        o = self.config.optim
        for optimizer in (self.models.opt_g, self.models.opt_d):
            for group in optimizer.param_groups:
                group.update(lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)

    def init_from(self, source: str) -> None:
        """Start G, D (and the EMA) from a prior or another run's weights, for fine-tuning; the
        step, optimizer state and ADA's p start afresh. Class heads (``embed.*``) are kept only when
        both have the same class names; otherwise they start from a fresh initialisation."""
        state = load_init(source)
        keep_heads = state["class_names"] == self.class_names
        if not keep_heads and self.config.model.conditional:
            self.log(f"--init: {source} has classes {state['class_names']}, this data {self.class_names}: "
                     "the class embedding of G and projection head of D start afresh")

        def weights(part: str) -> dict[str, torch.Tensor]:
            return state[part] if keep_heads else {k: v for k, v in state[part].items() if not k.startswith("embed.")}

        _transfer(self.models.generator, weights("generator"), source)
        _transfer(self.models.discriminator, weights("discriminator"), source)
        if self.ema:  # fresh class heads start equal to the live generator's
            self.ema.average.load_state_dict(self.models.generator.state_dict())
            _transfer(self.ema.average, weights("ema" if "ema" in state else "generator"), source)

    # -- time ---------------------------------------------------------------------------------

    @property
    def trained_seconds(self) -> float:
        """Wall-clock seconds of training in this run, its earlier sessions included."""
        session = 0.0 if self.session_start is None else time.perf_counter() - self.session_start
        return self.seconds + session

    @property
    def budget_left(self) -> float | None:
        """Seconds left of the ``run.minutes`` budget; None without one."""
        minutes = self.config.run.minutes
        return max(0.0, minutes * 60 - self.trained_seconds) if minutes else None

    def time_left(self) -> float | None:
        """Seconds until the run ends: the rest of the schedule at this session's mean pace, or
        the rest of the budget when that is sooner; None before the first step without a budget."""
        done, budget = self.step - self.session_step, self.budget_left
        if not done or self.session_start is None:
            return budget
        schedule = (self.config.total_steps - self.step) * (time.perf_counter() - self.session_start) / done
        return schedule if budget is None else min(schedule, budget)

    @property
    def out_of_time(self) -> bool:
        return self.budget_left == 0.0

    def finished(self) -> str | None:
        """Why a resumed run has nothing left to train (at or past the end of its schedule, or its
        budget spent), or None."""
        c, step = self.config, self.step
        longer = "a longer schedule (--images or --epochs)"
        if step > c.total_steps:
            why = (f"is at step {step:,} ({step * c.run.batch_size:,} images shown), already past the schedule "
                   f"it was resumed with ({c.total_steps:,} steps, {c.total_images:,} images)")
        elif step == c.total_steps:
            why = f"has finished its schedule ({c.total_steps:,} steps, {c.total_images:,} images)"
        elif self.out_of_time:
            why = (f"has spent its {c.run.minutes:g}-minute budget ({self.seconds:,.0f} s trained, "
                   f"step {step:,} of {c.total_steps:,})")
            longer = "a larger --minutes (0: no budget)"
        else:
            return None
        return (f"{self.run_dir} {why}: nothing to train; the generator is exported from step {step:,}. "
                f"To train on, resume with {longer}.")

    def say(self, message: str) -> None:
        """Log a line without tearing the progress bar (it is cleared, then redrawn)."""
        with tqdm.external_write_mode():
            self.log(message)

    @property
    def augment_p(self) -> float:
        a = self.config.augment
        if self.ada:
            return self.ada.p
        return a.p if a.mode == "fixed" else 0.0

    def step_options(self) -> StepOptions:
        """Augmentation at the current p, R1 (scaled by k) on every k-th step, and the
        mode-seeking weight on its ramp."""
        loss, p = self.config.loss, self.augment_p
        r1 = loss.r1_gamma / 2 * loss.r1_every if loss.r1_gamma and self.step % loss.r1_every == 0 else 0.0
        shown = (self.step + 1) * self.config.run.batch_size  # counting this step's images
        ramp = min(1.0, shown / loss.mode_seeking_ramp) if loss.mode_seeking_ramp else 1.0
        return StepOptions(augment=partial(augment, p=p) if p > 0 else None, r1_weight=r1,
                           mode_seeking=loss.mode_seeking * ramp)

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that makes grids and the exported file: the EMA copy when there is one."""
        return self.ema.average if self.ema else self.models.generator

    def save(self) -> None:
        if self.world.is_main:
            save_checkpoint(self.checkpoint_path, self.state())
        self.saved_step = self.step

    def export_generator(self) -> None:
        preprocessing, volumes = pixel_settings(self.config.data)
        m = self.config.model
        save_generator(self.run_dir, self.sampler, GeneratorFile(
            arch=m.arch, kwargs=self.g_kwargs, resolution=self.config.data.resolution, latent_dim=m.latent_dim,
            classes=self.class_names, conditional=m.conditional, ema=self.ema is not None,
            preprocessing=preprocessing.to_dict(),
            volumes=volumes.to_dict(),  # how DICOM series and NIfTI volumes became slices
            steps=self.step, training_data=self.training_data,
        ))
        write_model_card(self.run_dir)

    # -- loop -----------------------------------------------------------------------------

    def fit(self) -> None:
        """Train to the end of the schedule, a stop signal or the budget. When a write fails (a
        full disk, log.csv included), the checkpoint is saved if it can be, and the error says
        which step it holds."""
        try:
            self._fit()
        except WriteError as e:
            raise WriteError(f"{e}; {self._save_after_failed_write()}") from e

    def _fit(self) -> None:
        r = self.config.run
        total = self.config.total_steps
        local = self.world.local_batch(r.batch_size)
        pending: list[tuple[int, StepStats, float]] = []
        self.session_start, self.session_step = time.perf_counter(), self.step
        last_time, last_step = self.session_start, self.step
        timed_out = False
        quiet = None if self.world.is_main else True  # None: on when the output is a terminal
        # Counted in images: tqdm then shows images shown (k), images/s and the schedule's time left.
        self.bar = tqdm(total=total * r.batch_size, initial=self.step * r.batch_size, unit="img", unit_scale=True,
                        dynamic_ncols=True, disable=quiet)
        self._call("start")
        with catch_stop_signals() as stop, self.bar:
            while self.step < total:
                p = self.augment_p
                stats = self._train_one(local)
                self.step += 1
                pending.append((self.step, stats, p))
                self.bar.update(r.batch_size)
                over = self.out_of_time
                # Under torchrun the ranks read losses and decide to stop together, at the same
                # steps (each rank's clock may differ: any rank out of time stops all); losses are
                # read before every checkpoint, so no NaN state is saved.
                flush = (len(pending) >= r.log_every or self.step == total or self.step % r.checkpoint_every == 0
                         or ((stop or over) and not self.world.distributed))
                signalled = self.world.agree(bool(stop)) if flush else False
                timed_out = self.world.agree(over) if flush and r.minutes else False
                self.stopping = signalled or timed_out
                if flush:
                    now = time.perf_counter()
                    rate = (self.step - last_step) * r.batch_size / max(now - last_time, 1e-9)
                    self._call("losses", self._read_losses(pending, rate))
                    pending, last_time, last_step = [], now, self.step
                self._call("step_end")
                if signalled:
                    self._call("end")
                    raise TrainingInterrupted(stop.signum or signal.SIGTERM, self.step)
                if timed_out:
                    break
        if timed_out:
            self.log(f"the {r.minutes:g}-minute budget (--minutes) is spent at step {self.step:,} of {total:,} "
                     f"({self.step * r.batch_size:,} of {self.config.total_images:,} images): saving the checkpoint "
                     "and the generator as at the end of the schedule")
        self._call("end")

    def _save_after_failed_write(self) -> str:
        """Save the checkpoint when it is behind and the weights are sound; what it holds, in words."""
        m = self.models
        sound = bad_weights({"generator": m.generator, "discriminator": m.discriminator}) is None
        if self.step != self.saved_step and sound:
            with contextlib.suppress(WriteError):
                self.save()
                return f"the checkpoint was saved at step {self.step}; free some space, then resume the run"
        held = (f"{self.checkpoint_path} keeps step {self.saved_step}" if self.saved_step is not None
                else "no checkpoint could be written")
        return f"{held} of the {self.step} trained; free some space, then resume the run"

    def _train_one(self, local: slice) -> StepStats:
        """One step on a batch drawn from the run's stream: indices, noise, then (with mirror) flips."""
        batch = self.config.run.batch_size
        idx = torch.randint(0, len(self.images), (batch,), device=self.device, generator=self.batch_rng)[local]
        z = torch.randn(batch, self.config.model.latent_dim, device=self.device, generator=self.batch_rng)[local]
        reals = self.images[idx]
        if self.config.augment.mirror:  # drawn after z, so runs without it keep the seed's exact stream
            flip = torch.rand(batch, device=self.device, generator=self.batch_rng)[local] < 0.5
            reals = torch.where(flip[:, None, None, None], reals.flip(-1), reals)
        labels, options = self.labels[idx], self.step_options()
        with fastpath.autocast(self.device, self.config.run.precision, graphs=self.graphed is not None):
            stats = self._graphed(reals, z, labels, options) if self.graphed is not None else None
            if stats is None:
                stats = train_step(self.step_models, self.loss, reals, z, labels, options)
        if self.ema:
            self.ema.update(self.models.generator, self.step)
        if self.ada:
            self.ada.observe(stats.real_signs, len(idx))
        return stats

    def _graphed(self, reals: torch.Tensor, z: torch.Tensor, labels: torch.Tensor,
                 options: StepOptions) -> StepStats | None:
        """The step replayed from its CUDA graph; None (and the eager step from now on) when the
        graph cannot be captured."""
        try:
            return self.graphed(reals, z, labels, options, self.augment_p)
        except graphs.GraphUnavailable as e:
            self.say(f"--cuda-graphs: the step could not be captured as a CUDA graph ({e}); "
                     "training on with the eager step")
            self.graphed = None
            return None

    def _read_losses(self, pending: list[tuple[int, StepStats, float]], rate: float) -> LossRows:
        """One device-to-host copy for the whole interval (no sync on every step), averaged over ranks."""
        values = self.world.mean(torch.stack([torch.stack([s.d_loss, s.g_loss]) for _, s, _ in pending])).tolist()
        spe = self.config.run.steps_per_epoch
        return [{"step": step, "epoch": (step - 1) // spe + 1, "d_loss": d, "g_loss": g, "images_per_s": rate,
                 "augment_p": p} for (step, _, p), (d, g) in zip(pending, values)]

    def _call(self, moment: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, moment)(self, *args)


def _transfer(module: torch.nn.Module, source: dict[str, torch.Tensor], path: str) -> None:
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
