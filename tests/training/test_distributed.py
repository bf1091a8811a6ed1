"""Data-parallel training: 2 CPU processes with Gloo compute what one process computes.

For the comparison to be exact up to float rounding, the two runs must see the same global
batch: the loop draws the whole batch's indices and noise from one seeded generator on
every rank and each rank keeps its half, so that part holds by construction. The one
other source of randomness is D's dropout, whose masks are drawn per rank (independent
streams) and cannot equal one process's masks over the whole batch; the comparison
therefore builds D with dropout 0 in both runs. Everything else (gradient all-reduce,
DDP's averaging, the losses' means over halves, the log) is what the test checks.
"""

import functools
import os
import socket
import subprocess
import sys

import torch
import torch.multiprocessing as mp

import braingan
from braingan.api import saved_config
from braingan.data import load_dataset
from braingan.models import registry
from braingan.models.seed_dcgan import SeedDiscriminator
from braingan.training.checkpoint import load_checkpoint
from braingan.training.distributed import world
from braingan.training.logs import LossLog
from braingan.training.loop import Trainer
from conftest import tiny_config

STEPS = 4


def _no_dropout() -> None:
    registry.DISCRIMINATORS["seed_dcgan"] = functools.partial(SeedDiscriminator, dropout=0.0)


def _rank(rank: int, port: int, data: str, out: str) -> None:
    """One of two Gloo ranks, as torchrun would start it."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    _no_dropout()
    config = tiny_config(data, steps=STEPS, device="cpu")
    with world("cpu") as ranks:
        with ranks.main_first():
            dataset = load_dataset(config.data, log=lambda _: None)
        trainer = Trainer(config, dataset, f"{out}/run", log=lambda _: None, world=ranks)
        trainer.fit()
        torch.save({"generator": trainer.models.generator.state_dict(),
                    "discriminator": trainer.models.discriminator.state_dict()}, f"{out}/rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_hold_identical_weights_equal_to_one_process(small_mri, tmp_path, monkeypatch):
    mp.start_processes(_rank, args=(_free_port(), str(small_mri), str(tmp_path)), nprocs=2, start_method="spawn")
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for part in ("generator", "discriminator"):
        for key in ranks[0][part]:
            assert torch.equal(ranks[0][part][key], ranks[1][part][key]), f"ranks differ in {part}.{key}"

    monkeypatch.setitem(registry.DISCRIMINATORS, "seed_dcgan", functools.partial(SeedDiscriminator, dropout=0.0))
    single = braingan.train(tiny_config(small_mri, steps=STEPS, device="cpu"), tmp_path / "single", log=lambda _: None)
    state = load_checkpoint(single / "checkpoints" / "last.pt")
    for part in ("generator", "discriminator"):
        for key, value in state[part].items():
            torch.testing.assert_close(ranks[0][part][key], value, atol=1e-5, rtol=1e-4, msg=f"{part}.{key}")
    distributed, one = (LossLog(d / "log.csv").read() for d in (tmp_path / "run", single))
    assert [r["step"] for r in distributed] == [r["step"] for r in one] == list(range(1, STEPS + 1))
    for a, b in zip(distributed, one):
        assert abs(a["d_loss"] - b["d_loss"]) < 1e-4 and abs(a["g_loss"] - b["g_loss"]) < 1e-4, (a, b)


def test_torchrun_trains_with_two_processes_and_resumes_with_one(small_mri, tmp_path):
    run = tmp_path / "run"
    flags = ["--resolution", "32", "--g-width", "16", "--d-width", "8", "--steps-per-epoch", str(STEPS),
             "--epochs", "1", "--checkpoint-every", str(STEPS), "--device", "cpu"]
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "braingan", "train", str(small_mri), "--out", str(run), *flags],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == STEPS
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_{STEPS:06d}.png"]
    assert (run / "generator.safetensors").is_file()
    assert [int(r["step"]) for r in LossLog(run / "log.csv").read()] == list(range(1, STEPS + 1))

    # The same run continued by one process (a different K): the global batch is unchanged.
    config = saved_config(run)
    config.run.epochs = 2
    braingan.train(config, run, resume=True, log=lambda _: None)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2 * STEPS
    assert [int(r["step"]) for r in LossLog(run / "log.csv").read()] == list(range(1, 2 * STEPS + 1))
