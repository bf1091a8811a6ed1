"""The run's bookkeeping around the loop: each hook one job, called at fixed moments.

The loop (training/loop.py) calls, in list order, ``start`` before the first step, ``losses``
after every read of the losses (every ``run.log_every`` steps, before checkpoints and at the
end), ``step_end`` after every step, and ``end`` when the run finishes or stops, which must
leave the run directory usable. Only rank 0 writes files; every rank checks its health.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

from braingan.io.images import grid, save_png, to_uint8
from braingan.report.plots import plot_losses
from braingan.training import health
from braingan.training.logs import LossLog

if TYPE_CHECKING:
    from braingan.training.loop import Trainer

GRID_ROWS, GRID_COLS = 2, 5  # the seed's sample_images
LossRows = list[dict[str, float]]


class Hook:
    """All moments are optional: a hook overrides the ones it needs."""

    def start(self, trainer: Trainer) -> None:
        pass

    def losses(self, trainer: Trainer, rows: LossRows) -> None:
        pass

    def step_end(self, trainer: Trainer) -> None:
        pass

    def end(self, trainer: Trainer) -> None:
        pass


class HealthCheck(Hook):
    """NaN/inf in a loss or a weight stops the run before anything of it is saved or logged."""

    def losses(self, trainer: Trainer, rows: LossRows) -> None:
        m = trainer.models
        health.check([int(r["step"]) for r in rows], [(r["d_loss"], r["g_loss"]) for r in rows],
                     {"generator": m.generator, "discriminator": m.discriminator}, trainer.saved_step)


class Checkpoints(Hook):
    """``checkpoints/last.pt`` every ``run.checkpoint_every`` steps and at the end."""

    def step_end(self, trainer: Trainer) -> None:
        r = trainer.config.run
        if trainer.step % r.checkpoint_every == 0 and trainer.step < trainer.config.total_steps \
                and not trainer.stopping:
            trainer.save()

    def end(self, trainer: Trainer) -> None:
        trainer.save()


class GeneratorExport(Hook):
    """generator.safetensors + generator.json from the sampler, whenever the run ends."""

    def end(self, trainer: Trainer) -> None:
        trainer.export_generator()


class LossLogHook(Hook):
    """log.csv rows, the progress bar's numbers, a line now and then without a terminal, losses.png."""

    def __init__(self, trainer: Trainer) -> None:
        self.log = LossLog(trainer.run_dir / "log.csv")
        self.last_line = 0.0  # when the last progress line was printed (set at start)

    def start(self, trainer: Trainer) -> None:
        self.log.start(trainer.step)
        self.last_line = time.monotonic()

    def losses(self, trainer: Trainer, rows: LossRows) -> None:
        self.log.append(rows)
        last = rows[-1]
        trainer.bar.set_postfix(d_loss=f"{last['d_loss']:.3f}", g_loss=f"{last['g_loss']:.3f}",
                                img_s=f"{last['images_per_s']:.1f}")
        total, now = trainer.config.total_steps, time.monotonic()
        if trainer.bar.disable and (now - self.last_line >= trainer.config.run.progress_every or trainer.step == total):
            self.last_line = now
            trainer.log(f"step {trainer.step}/{total}: d_loss {last['d_loss']:.3f}, g_loss {last['g_loss']:.3f}, "
                        f"{last['images_per_s']:.1f} images/s")

    def end(self, trainer: Trainer) -> None:
        rows = self.log.read()
        if rows:
            plot_losses(rows, trainer.run_dir / "losses.png")


class SampleGrids(Hook):
    """samples/step_XXXXXX.png at the end of every epoch, from noise fixed for the whole run."""

    def __init__(self, trainer: Trainer) -> None:
        # From its own generator, so drawing it never shifts training's random stream.
        fixed = torch.Generator().manual_seed(trainer.config.run.seed)
        n = GRID_ROWS * GRID_COLS
        self.z = torch.randn(n, trainer.config.model.latent_dim, generator=fixed).to(trainer.device)
        self.labels = (torch.arange(n) % len(trainer.class_names)).to(trainer.device)

    @torch.no_grad()
    def step_end(self, trainer: Trainer) -> None:
        if trainer.step % trainer.config.run.steps_per_epoch:
            return
        G = trainer.sampler
        training = G.training
        G.eval()
        images = to_uint8(G(self.z, self.labels))
        G.train(training)
        save_png(trainer.run_dir / "samples" / f"step_{trainer.step:06d}.png", grid(images, GRID_ROWS, GRID_COLS))


def default_hooks(trainer: Trainer) -> list[Hook]:
    """In this order: health before anything is written; at the end the checkpoint, then the
    generator files, then the loss plot."""
    if not trainer.world.is_main:
        return [HealthCheck()]
    return [HealthCheck(), Checkpoints(), GeneratorExport(), LossLogHook(trainer), SampleGrids(trainer)]
