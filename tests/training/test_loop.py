import numpy as np
import pytest
import torch

import braingan
from braingan.errors import BrainganError
from braingan.training.checkpoint import load_checkpoint
from braingan.training.logs import LossLog
from conftest import tiny_config


def weights(run_dir, part):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")[part]


def test_tiny_run_changes_both_networks_and_writes_the_run(small_mri, tmp_path):
    config = tiny_config(small_mri, steps=4)
    config.run.epochs = 2
    run = braingan.train(config, tmp_path / "run", log=lambda _: None)
    torch.manual_seed(config.run.seed)
    from braingan.models import build_discriminator, build_generator

    initial_g = build_generator("seed_dcgan", resolution=32, width=16, latent_dim=100).state_dict()
    initial_d = build_discriminator("seed_dcgan", resolution=32, width=8, num_classes=1).state_dict()
    for part, initial in (("generator", initial_g), ("discriminator", initial_d)):
        trained = weights(run, part)
        assert trained.keys() == initial.keys()
        assert all(not torch.equal(trained[k], initial[k]) for k in initial if k.endswith("weight"))
    for name in ("config.toml", "log.csv", "losses.png", "generator.safetensors", "generator.json"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000004.png", "step_000008.png"]
    rows = LossLog(run / "log.csv").read()
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)


@pytest.mark.parametrize("seconds, expected", [(0.0, ["step 2/4", "step 4/4"]), (3600.0, ["step 4/4"])])
def test_without_a_terminal_progress_is_a_log_line_every_so_often(seconds, expected, small_mri, tmp_path):
    lines = []
    config = tiny_config(small_mri, steps=4)
    config.run.log_every = 2  # pytest's output is not a terminal, so the bar is off
    config.run.progress_every = seconds  # a line at the first loss read this long after the last one
    braingan.train(config, tmp_path / "run", log=lines.append)
    progress = [line for line in lines if line.startswith("step ")]
    assert [line.split(":")[0] for line in progress] == expected
    assert "images/s" in progress[-1]


def test_resume_continues_exactly(small_mri, tmp_path):
    k = 3
    straight = tiny_config(small_mri, steps=k)
    straight.run.epochs = 2
    braingan.train(straight, tmp_path / "straight", log=lambda _: None)

    # k steps (one epoch of k), then the same run extended to two epochs: 2k steps in all.
    first = tiny_config(small_mri, steps=k)
    braingan.train(first, tmp_path / "resumed", log=lambda _: None)
    second = braingan.api.saved_config(tmp_path / "resumed")
    second.run.epochs = 2
    torn = tmp_path / "resumed" / "checkpoints" / ".last.pt.x1y2.tmp"  # as a kill mid-write leaves it
    torn.write_bytes(b"half a checkpoint")
    braingan.train(second, tmp_path / "resumed", resume=True, log=lambda _: None)
    assert not torn.exists()

    for part in ("generator", "discriminator", "opt_g", "opt_d"):
        a, b = weights(tmp_path / "straight", part), weights(tmp_path / "resumed", part)
        if part.startswith("opt"):
            assert all(torch.equal(a["state"][i][m], b["state"][i][m])
                       for i in a["state"] for m in ("exp_avg", "exp_avg_sq"))
        else:
            assert all(torch.equal(a[key], b[key]) for key in a), part
    losses_a = LossLog(tmp_path / "straight" / "log.csv").read()
    losses_b = LossLog(tmp_path / "resumed" / "log.csv").read()
    assert [r["d_loss"] for r in losses_a] == [r["d_loss"] for r in losses_b]


def test_training_into_an_existing_run_needs_resume(small_mri, tmp_path):
    config = tiny_config(small_mri, steps=2)
    braingan.train(config, tmp_path / "run", log=lambda _: None)
    with pytest.raises(BrainganError, match="--resume"):
        braingan.train(config, tmp_path / "run", log=lambda _: None)


def test_generate_is_reproducible_and_independent_of_batch_size(small_mri, tmp_path):
    run = braingan.train(tiny_config(small_mri, steps=2), tmp_path / "run", log=lambda _: None)
    synth = braingan.load(run)
    a = synth.generate(7, seed=3)
    assert a.shape == (7, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, braingan.load(run).generate(7, seed=3, batch_size=2))
    assert not np.array_equal(a, synth.generate(7, seed=4))
    with pytest.raises(BrainganError, match="unknown class"):
        synth.generate(1, label="glioma")


def test_checkpoint_loader_refuses_pickled_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Exploit()}, path)
    with pytest.raises(BrainganError, match="refused"):
        load_checkpoint(path)


def test_the_loop_calls_its_hooks_at_their_moments(small_mri, tmp_path):
    """Bookkeeping is hooks around a short loop: with none, the run trains and writes nothing."""
    from braingan.data import load_dataset
    from braingan.training.hooks import Hook
    from braingan.training.loop import Trainer

    class Recorder(Hook):
        def __init__(self) -> None:
            self.moments: list[tuple[str, int]] = []

        def start(self, trainer):
            self.moments.append(("start", trainer.step))

        def losses(self, trainer, rows):
            self.moments.append(("losses", [int(r["step"]) for r in rows]))

        def step_end(self, trainer):
            self.moments.append(("step_end", trainer.step))

        def end(self, trainer):
            self.moments.append(("end", trainer.step))

    config = tiny_config(small_mri, steps=4)
    config.run.log_every = 2
    recorder = Recorder()
    trainer = Trainer(config, load_dataset(config.data, log=lambda _: None), tmp_path / "run", log=lambda _: None,
                      hooks=[recorder])
    before = {k: v.clone() for k, v in trainer.models.generator.state_dict().items()}
    trainer.fit()
    assert recorder.moments == [("start", 0), ("step_end", 1), ("losses", [1, 2]), ("step_end", 2), ("step_end", 3),
                                ("losses", [3, 4]), ("step_end", 4), ("end", 4)]
    assert any(not torch.equal(before[k], v) for k, v in trainer.models.generator.state_dict().items())
    assert not (tmp_path / "run").exists()  # no hook, no file
