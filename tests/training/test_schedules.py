"""Schedules in images shown, wall-clock budgets, the time estimate, and resuming at or past the end."""

import re

import torch

import braingan
from braingan.cli import build_parser
from braingan.cli.train import build_config
from braingan.data import load_dataset
from braingan.io.generator_files import read_generator_file
from braingan.training import hooks
from braingan.training.checkpoint import load_checkpoint
from braingan.training.logs import LossLog
from braingan.training.loop import Trainer
from conftest import tiny_config


def quiet(_: str) -> None:
    pass


def checkpoint(run):
    return load_checkpoint(run / "checkpoints" / "last.pt")


def same_weights(a, b) -> bool:
    return all(torch.equal(a[part][k], b[part][k]) for part in ("generator", "discriminator") for k in a[part])


def logged_steps(run) -> list[int]:
    return [int(r["step"]) for r in LossLog(run / "log.csv").read()]


def samples(run) -> list[str]:
    return sorted(p.name for p in (run / "samples").iterdir())


def test_images_trains_exactly_the_matching_steps(small_mri, tmp_path):
    by_steps = braingan.train(tiny_config(small_mri, steps=6), tmp_path / "steps", log=quiet)  # 6 steps of 4
    config = tiny_config(small_mri, steps=4)  # a grid every 4 steps
    config.run.images = 24
    by_images = braingan.train(config, tmp_path / "images", log=quiet)
    a, b = checkpoint(by_steps), checkpoint(by_images)
    assert a["step"] == b["step"] == 6 and same_weights(a, b)
    assert [r["d_loss"] for r in LossLog(by_steps / "log.csv").read()] == \
           [r["d_loss"] for r in LossLog(by_images / "log.csv").read()]
    assert samples(by_images) == ["step_000004.png", "step_000006.png"]  # the last grid between two epochs
    assert [r["kimg"] for r in LossLog(by_images / "log.csv").read()] == [0.004 * s for s in range(1, 7)]
    config.run.images = 21  # rounded up to whole steps
    assert (config.total_steps, config.total_images) == (6, 24)


def test_images_and_epochs_the_later_layer_gives_the_schedule(tmp_path):
    parser = build_parser()
    toml = tmp_path / "run.toml"
    toml.write_text("[run]\nimages = 1000\n")
    base = ["train", "DATA", "--preset", "seed", "--batch-size", "4", "--config", str(toml)]
    assert build_config(parser.parse_args(base)).total_steps == 250
    flags = build_config(parser.parse_args([*base, "--epochs", "2", "--steps-per-epoch", "5"]))
    assert (flags.run.images, flags.total_steps) == (0, 10)  # --epochs replaced the file's images
    both = build_config(parser.parse_args([*base, "--epochs", "2", "--images", "100"]))
    assert both.total_steps == 25
    assert type(both).from_dict(both.to_dict()).total_steps == 25  # as a checkpoint's config reads back


def test_minutes_stops_checkpoints_and_exports_and_counts_over_resumes(small_mri, tmp_path):
    lines = []
    config = tiny_config(small_mri, steps=100_000, minutes=0.01)  # 0.6 s of a schedule far longer
    run = braingan.train(config, tmp_path / "run", log=lines.append)
    state = checkpoint(run)
    step = state["step"]
    assert 0 < step < config.total_steps and state["seconds"] >= 0.6
    assert read_generator_file(run).steps == step and (run / "losses.png").is_file()
    assert logged_steps(run) == list(range(1, step + 1))
    assert samples(run) == [f"step_{step:06d}.png"]
    assert f"the 0.01-minute budget (--minutes) is spent at step {step:,} of 100,000" in lines[-1]
    assert not any(line.startswith("about ") for line in lines)  # a run this short ends before the estimate

    again = braingan.api.saved_config(run)  # the budget counts the first session: nothing left
    braingan.train(again, run, resume=True, log=lines.append)
    assert checkpoint(run)["step"] == step
    assert lines[-1].startswith(f"{run} has spent its 0.01-minute budget") and "a larger --minutes" in lines[-1]
    again.run.minutes = 0.02
    braingan.train(again, run, resume=True, log=quiet)
    assert checkpoint(run)["step"] > step and checkpoint(run)["seconds"] >= 1.2


def test_resuming_at_or_past_the_end_of_the_schedule_trains_nothing_and_says_so(small_mri, tmp_path):
    run = braingan.train(tiny_config(small_mri, steps=6), tmp_path / "run", log=quiet)
    written = {name: (run / name).read_bytes() for name in ("config.toml", "checkpoints/last.pt")}
    (run / "generator.safetensors").unlink()  # as a kill between the last checkpoint and the export leaves it
    shorter = braingan.api.saved_config(run)
    shorter.run.images = 16  # 4 steps
    lines = []
    braingan.train(shorter, run, resume=True, log=lines.append)
    assert lines[-1] == (f"{run} is at step 6 (24 images shown), already past the schedule it was resumed with "
                         "(4 steps, 16 images): nothing to train; the generator is exported from step 6. To train on, "
                         "resume with a longer schedule (--images or --epochs).")
    assert not any(line.startswith("resumed") for line in lines)
    assert {name: (run / name).read_bytes() for name in written} == written
    assert read_generator_file(run).steps == 6
    braingan.train(braingan.api.saved_config(run), run, resume=True, log=lines.append)
    assert lines[-1].startswith(f"{run} has finished its schedule (6 steps, 24 images): nothing to train")


def test_progress_lines_show_kimg_images_per_s_and_the_time_left(small_mri, tmp_path):
    lines = []
    braingan.train(tiny_config(small_mri, steps=4, log_every=2, progress_every=0.0), tmp_path / "run",
                   log=lines.append)
    progress = [line for line in lines if line.startswith("step ")]
    number = r"[-+.\deinaf]+"
    assert re.fullmatch(rf"step 2/4: d_loss {number}, g_loss {number}, 0\.008/0\.016 kimg, {number} images/s, "
                        r"about \d+ s left", progress[0]), progress[0]
    assert re.fullmatch(rf"step 4/4: d_loss {number}, g_loss {number}, 0\.016/0\.016 kimg, {number} images/s",
                        progress[-1]), progress[-1]


def test_the_estimate_times_the_runs_own_steps(small_mri, tmp_path, monkeypatch):
    plain = braingan.train(tiny_config(small_mri, steps=8), tmp_path / "plain", log=quiet)
    monkeypatch.setattr(hooks.TimeEstimate, "window", 0.0)  # the line after the warm-up steps and one more
    lines = []
    timed = braingan.train(tiny_config(small_mri, steps=8), tmp_path / "timed", log=lines.append)
    said = [line for line in lines if line.startswith("about ")]
    assert len(said) == 1
    assert re.fullmatch(r"about \d+ s on cpu at [\d,.]+ img/s for 32 images \(use --minutes to cap it\)", said[0])
    assert same_weights(checkpoint(plain), checkpoint(timed)) and logged_steps(timed) == list(range(1, 9))


def test_the_estimate_of_the_seed_schedule_on_a_cpu_says_it_is_long(small_mri, tmp_path):
    """The user of the issue: `braingan train DATA`, 37,500 steps of 4 at 128 px, 1.6 s a step on a CPU."""
    config = tiny_config(small_mri, device="cpu")
    config.run.steps_per_epoch, config.run.epochs = 3750, 10
    trainer = Trainer(config, load_dataset(config.data, log=quiet), tmp_path / "run", log=quiet)
    assert hooks.estimate(trainer, 1.6) == [
        "about 16 h 40 min on cpu at 2.5 img/s for 150,000 images (use --minutes to cap it)",
        "that is a long run for a CPU (16 h 40 min): cap it with --minutes M, train at 64 px (--preset fewshot-fast), "
        "or train on a GPU",
    ]
    config.run.minutes = 30
    assert hooks.estimate(trainer, 1.6) == [
        "about 16 h 40 min on cpu at 2.5 img/s for 150,000 images; the 30-minute budget (--minutes) stops it at "
        "about 4,500 images"
    ]
