"""Kills, stop signals, NaN/inf and crafted checkpoints: a run survives them with nothing torn or lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save as save_safetensors

import braingan
from braingan.cli import main
from braingan.config import load_toml
from braingan.io.generator_files import GeneratorFile, load_generator, save_generator
from braingan.models.seed_dcgan import SeedGenerator
from braingan.training import loop
from braingan.training.checkpoint import load_checkpoint
from braingan.training.health import NumericalFault
from braingan.training.logs import LossLog
from conftest import REPO, tiny_config

EVERY = 10  # checkpoint interval of the subprocess runs


def start_training(data: Path, run: Path, steps: int, resume: bool = False) -> subprocess.Popen:
    """``python -m braingan train`` on a tiny 32 px config, as a real process that can be killed."""
    args = [sys.executable, "-m", "braingan", "train", "--out", str(run), "--resolution", "32",
            "--g-width", "16", "--d-width", "8", "--steps-per-epoch", "25", "--epochs", str(steps // 25),
            "--checkpoint-every", str(EVERY), "--log-every", "1"]
    args += ["--resume"] if resume else [str(data)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"training ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("training made no progress")
        time.sleep(poll)


def logged_steps(run: Path) -> list[int]:
    return [int(r["step"]) for r in LossLog(run / "log.csv").read()]


def assert_nothing_torn(run: Path) -> int:
    """Every visible file of the run is complete; returns the checkpoint's step."""
    step = load_checkpoint(run / "checkpoints" / "last.pt")["step"]
    assert step % EVERY == 0
    load_toml(run / "config.toml")
    lines = (run / "log.csv").read_text().splitlines()
    commas = lines[0].count(",")  # every complete row has the header's fields; a torn last one is ignored
    assert lines[0].startswith("step,") and all(line.count(",") == commas for line in lines[:-1])
    for png in (run / "samples").glob("*.png"):
        with Image.open(png) as image:
            image.load()
    if (run / "generator.json").exists():
        load_generator(run)
    return step


def test_sigkill_at_random_moments_and_inside_a_checkpoint_write(small_mri, tmp_path):
    """Kill -9 several times, once proven inside a write (its temporary file is left behind)."""
    run, total, rng = tmp_path / "run", 200, random.Random(7)
    proc = start_training(small_mri, run, total)
    for trial in range(4):
        checkpoints = run / "checkpoints"
        if trial == 0:  # after the first checkpoint, poll for the writer's temporary file; kill when it appears
            wait_for(lambda: (checkpoints / "last.pt").exists(), proc)
            wait_for(lambda: checkpoints.is_dir() and any(p.suffix == ".tmp" for p in checkpoints.iterdir()),
                     proc, poll=0)
        else:
            # A random number of steps on, counted from the log: random moments, whatever the machine's speed.
            target = len(logged_steps(run)) + rng.randint(1, 2 * EVERY)
            wait_for(lambda: len(logged_steps(run)) >= target, proc, poll=0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if trial == 0:
            assert any(p.suffix == ".tmp" for p in checkpoints.iterdir()), "the kill did not land inside a write"
        reached = max(logged_steps(run))
        resumed_from = assert_nothing_torn(run)
        assert reached - resumed_from <= EVERY, "more than one checkpoint interval lost"
        proc = start_training(small_mri, run, total, resume=True)
        wait_for(lambda: len(logged_steps(run)) > resumed_from, proc)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"at step {resumed_from} of {total}" in out  # continued from the last complete checkpoint
    assert logged_steps(run) == list(range(1, total + 1))  # every step once: replayed rows were replaced
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == total


def test_generator_weights_describe_themselves_when_a_crash_splits_the_export(tmp_path):
    """The export writes weights, then generator.json; a crash between them leaves new weights
    beside the old JSON, and the weights' own header still says what they are."""
    kwargs = {"resolution": 32, "width": 16, "latent_dim": 100}
    meta = {"arch": "seed_dcgan", "kwargs": kwargs, "resolution": 32, "latent_dim": 100, "classes": ["yes"]}
    torch.manual_seed(0)
    old, new = SeedGenerator(**kwargs), SeedGenerator(**kwargs)
    save_generator(tmp_path, old, GeneratorFile(**meta, steps=10))
    stale = (tmp_path / "generator.json").read_text()
    save_generator(tmp_path, new, GeneratorFile(**meta, steps=20))
    (tmp_path / "generator.json").write_text(stale)  # as if the process died before the second write
    generator, loaded = load_generator(tmp_path)
    assert loaded.steps == 20
    assert all(torch.equal(a, b) for a, b in zip(generator.state_dict().values(), new.state_dict().values()))
    # Weights written before they carried a header still load, described by the JSON.
    (tmp_path / "generator.safetensors").write_bytes(save_safetensors(dict(old.state_dict())))
    assert load_generator(tmp_path)[1].steps == 10


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_stop_signals_save_then_exit(signum, code, small_mri, tmp_path):
    run = tmp_path / "run"
    proc = start_training(small_mri, run, 1000)
    wait_for(lambda: (run / "log.csv").exists() and len(logged_steps(run)) > 3, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "checkpoint saved" in err and "Traceback" not in err
    step = load_checkpoint(run / "checkpoints" / "last.pt")["step"]
    assert step == max(logged_steps(run)) and 3 < step < 1000
    assert load_generator(run)[1].steps == step


def poison_after(monkeypatch, fault_step: int, fault) -> None:
    """Wrap the loop's train_step so that step ``fault_step`` goes bad the way ``fault`` says."""
    real_step, count = loop.train_step, [0]

    def step(models, *args, **kwargs):
        stats = real_step(models, *args, **kwargs)
        count[0] += 1
        return fault(models, stats) if count[0] == fault_step else stats

    monkeypatch.setattr(loop, "train_step", step)


def nan_loss(models, stats):
    return stats._replace(g_loss=torch.tensor(float("nan")))


def inf_weight(models, stats):
    with torch.no_grad():
        next(models.discriminator.parameters()).view(-1)[0] = float("inf")
    return stats


@pytest.mark.parametrize("fault_step, fault, what", [(5, nan_loss, "g_loss (nan)"),
                                                     (7, inf_weight, "the discriminator's weights")])
def test_numerical_fault_stops_within_one_interval_and_keeps_the_good_checkpoint(fault_step, fault, what, monkeypatch,
                                                                                 small_mri, tmp_path, capsys):
    run = tmp_path / "run"
    config = tiny_config(small_mri, steps=12, checkpoint_every=4, log_every=3)  # 3 does not divide 4
    poison_after(monkeypatch, fault_step, fault)
    with pytest.raises(NumericalFault) as caught:
        braingan.train(config, run, log=lambda _: None)
    error = caught.value
    # Detected at the read of steps 5..7 (step 4 was read early because a checkpoint was due);
    # the weights go bad at step 7 with that step's losses still finite.
    assert str(error).startswith(f"step {fault_step}: NaN/inf in {what}; training stopped")
    assert (error.step, error.what, error.last_good_step) == (fault_step, what, 4)
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["discriminator"].values())
    assert max(logged_steps(run)) == 4  # no NaN row reaches log.csv

    # From the command line, a fault comes with the advice of how to go on.
    monkeypatch.undo()
    poison_after(monkeypatch, 1, fault)
    assert main(["train", "--resume", "--out", str(run)]) == 2
    message = capsys.readouterr().err
    assert f"braingan train --resume --out {run}" in message and "--lr 0.0001" in message
    monkeypatch.undo()  # the fault was transient: resume with the lower rate it suggests
    assert main(["train", "--resume", "--out", str(run), "--lr", "0.0001"]) == 0
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 12 and state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-4)


def test_numerical_fault_before_any_checkpoint_says_so(monkeypatch, small_mri, tmp_path, capsys):
    poison_after(monkeypatch, 2, nan_loss)
    config = tiny_config(small_mri, steps=12, checkpoint_every=6)
    with pytest.raises(NumericalFault, match=r"step 2: NaN/inf in g_loss \(nan\).* no checkpoint was written yet"):
        braingan.train(config, tmp_path / "run", log=lambda _: None)


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_crafted_pickle_checkpoint_is_refused_without_running_code(small_mri, tmp_path, capsys):
    run = braingan.train(tiny_config(small_mri, steps=2), tmp_path / "run", log=lambda _: None)
    marker = tmp_path / "pwned"
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    torch.save({**state, "payload": Exploit(marker)}, run / "checkpoints" / "last.pt")
    assert main(["train", "--resume", "--out", str(run)]) == 2
    assert "refused, the checkpoint holds more than weights" in capsys.readouterr().err
    assert not marker.exists()


def test_a_second_writer_into_the_same_run_is_refused(small_mri, tmp_path, capsys):
    run = tmp_path / "run"
    proc = start_training(small_mri, run, 1000)
    try:
        wait_for(lambda: (run / "checkpoints" / "last.pt").exists(), proc)
        for argv in (["train", str(small_mri), "--out", str(run)], ["train", "--resume", "--out", str(run)]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"another braingan process (pid {proc.pid}) is training into this folder" in err
            assert len(err.strip().splitlines()) == 1
    finally:
        proc.kill()
        proc.wait()
    # The kernel dropped the lock with the killed process: the run resumes.
    assert main(["train", "--resume", "--out", str(run), "--epochs", "0"]) == 0
