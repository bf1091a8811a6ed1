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
LONG_ON_CPU = 3600.0  # seconds: a run estimated longer than this on a CPU, without a budget, is called long
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
        self.log = LossLog(trainer.run_dir / "log.csv", trainer.config.run.batch_size)
        self.last_line = 0.0  # when the last progress line was printed (set at start)

    def start(self, trainer: Trainer) -> None:
        self.log.start(trainer.step)
        self.last_line = time.monotonic()

    def losses(self, trainer: Trainer, rows: LossRows) -> None:
        self.log.append(rows)
        last = rows[-1]
        # The bar itself shows images shown, images/s and the schedule's time left; a budget may end sooner.
        budget = trainer.budget_left
        trainer.bar.set_postfix(d_loss=f"{last['d_loss']:.3f}", g_loss=f"{last['g_loss']:.3f}",
                                **({"budget_left": duration(budget)} if budget is not None else {}))
        c, now = trainer.config, time.monotonic()
        ending = trainer.step == c.total_steps or trainer.stopping
        if trainer.bar.disable and (now - self.last_line >= c.run.progress_every or ending):
            self.last_line = now
            left = trainer.time_left()
            trainer.log(f"step {trainer.step}/{c.total_steps}: d_loss {last['d_loss']:.3f}, "
                        f"g_loss {last['g_loss']:.3f}, {kimg(trainer.step * c.run.batch_size, c.total_images)} kimg, "
                        f"{last['images_per_s']:.1f} images/s"
                        + ("" if ending or left is None else f", about {duration(left)} left"))

    def end(self, trainer: Trainer) -> None:
        rows = self.log.read()
        if rows:
            plot_losses(rows, trainer.run_dir / "losses.png")


class SampleGrids(Hook):
    """samples/step_XXXXXX.png at the end of every epoch (and of the run), from noise fixed for the whole run."""

    def __init__(self, trainer: Trainer) -> None:
        # From its own generator, so drawing it never shifts training's random stream.
        fixed = torch.Generator().manual_seed(trainer.config.run.seed)
        n = GRID_ROWS * GRID_COLS
        self.z = torch.randn(n, trainer.config.model.latent_dim, generator=fixed).to(trainer.device)
        self.labels = (torch.arange(n) % len(trainer.class_names)).to(trainer.device)

    def step_end(self, trainer: Trainer) -> None:
        if trainer.step % trainer.config.run.steps_per_epoch == 0:
            self.draw(trainer)

    def end(self, trainer: Trainer) -> None:
        """A last grid when the run ends between epochs (a schedule in images, a budget, a stop)."""
        if trainer.step % trainer.config.run.steps_per_epoch and trainer.step > trainer.session_step:
            self.draw(trainer)

    @torch.no_grad()
    def draw(self, trainer: Trainer) -> None:
        G = trainer.sampler
        training = G.training
        G.eval()
        images = to_uint8(G(self.z, self.labels))
        G.train(training)
        save_png(trainer.run_dir / "samples" / f"step_{trainer.step:06d}.png", grid(images, GRID_ROWS, GRID_COLS))


class TimeEstimate(Hook):
    """One line, seconds into a run, of how long its schedule takes on this device, at the pace of
    its first warm steps; and plainly when that is long for a CPU. It times the run's own steps
    (none are added), so a short run is not slowed: it ends before the line."""

    warmup_steps = 2  # the first steps allocate memory and pick kernels: not timed
    window = 5.0  # seconds of steps timed after them

    def __init__(self) -> None:
        self.mark: tuple[float, int] | None = None  # (clock, step) where the timing began
        self.said = False

    def step_end(self, trainer: Trainer) -> None:
        if self.said or trainer.stopping or trainer.step >= trainer.config.total_steps:
            return
        if self.mark is None:
            if trainer.step - trainer.session_step >= self.warmup_steps:
                self.mark = (_synced_clock(trainer), trainer.step)
            return
        if time.perf_counter() - self.mark[0] < self.window:
            return
        seconds_per_step = (_synced_clock(trainer) - self.mark[0]) / (trainer.step - self.mark[1])
        self.said = True
        for line in estimate(trainer, seconds_per_step):
            trainer.say(line)


def estimate(trainer: Trainer, seconds_per_step: float) -> list[str]:
    """What TimeEstimate prints: the time the rest of the schedule takes at ``seconds_per_step``,
    what a budget cuts it to, and advice when a CPU would be busy for hours."""
    c = trainer.config
    batch, rate = c.run.batch_size, c.run.batch_size / seconds_per_step
    seconds_left = (c.total_steps - trainer.step) * seconds_per_step
    seconds = trainer.trained_seconds - trainer.seconds + seconds_left  # this session's, start to end
    images = (f"{c.total_images:,} images" if trainer.session_step == 0
              else f"the {(c.total_steps - trainer.session_step) * batch:,} images left of {c.total_images:,}")
    line = f"about {duration(seconds)} on {_device_name(trainer)} at {_rate(rate)} img/s for {images}"
    budget = trainer.budget_left
    if budget is None:
        line += " (use --minutes to cap it)"
    elif budget < seconds_left:
        shown = trainer.step * batch + budget * rate
        line += f"; the {c.run.minutes:g}-minute budget (--minutes) stops it at about {shown:,.0f} images"
    lines = [line]
    if budget is None and trainer.device.type == "cpu" and seconds > LONG_ON_CPU:
        lines.append(f"that is a long run for a CPU ({duration(seconds)}): cap it with --minutes M, train at 64 px "
                     "(--preset fewshot-fast), or train on a GPU")
    return lines


def duration(seconds: float) -> str:
    """'17 h 2 min', '12 min', '40 s'."""
    if seconds < 59.5:
        return f"{max(round(seconds), 1)} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def kimg(images: int, total: int) -> str:
    """'12.3/150.0' thousands of images shown; three decimals for schedules under 10,000 images."""
    digits = 1 if total >= 10_000 else 3
    return f"{images / 1000:,.{digits}f}/{total / 1000:,.{digits}f}"


def _rate(images_per_s: float) -> str:
    return f"{images_per_s:,.0f}" if images_per_s >= 100 else f"{images_per_s:.1f}"


def _device_name(trainer: Trainer) -> str:
    device = trainer.device
    name = str(device.type)
    if device.type == "cuda":
        name = f"{name} ({torch.cuda.get_device_name(device)})"
    return f"{trainer.world.size} x {name}" if trainer.world.distributed else name


def _synced_clock(trainer: Trainer) -> float:
    """perf_counter() once the device has finished the queued steps (CUDA runs ahead of Python)."""
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    return time.perf_counter()


def default_hooks(trainer: Trainer) -> list[Hook]:
    """In this order: health before anything is written; at the end the checkpoint, then the
    generator files, then the loss plot."""
    if not trainer.world.is_main:
        return [HealthCheck()]
    return [HealthCheck(), Checkpoints(), GeneratorExport(), LossLogHook(trainer), SampleGrids(trainer),
            TimeEstimate()]
