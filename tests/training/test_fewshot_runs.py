"""Few-shot runs end to end: variety terms, exact resume with EMA/R1/ADA, conditioning, mirror, fine-tuning."""

import numpy as np
import pytest
import torch

import braingan
from braingan.cli import main
from braingan.config import preset
from braingan.data import load_dataset
from braingan.errors import BrainganError
from braingan.training.checkpoint import load_checkpoint
from braingan.training.logs import LossLog
from braingan.training.loop import Trainer
from braingan.training.step import train_step

QUIET = {"log": lambda _: None}


def tiny_fewshot(data, steps=4, resolution=32):
    """The fewshot recipe at 32 px with tiny widths; R1 and ADA every 2 steps so both act."""
    config = preset("fewshot-dcgan")
    config.data.path = str(data)
    config.data.resolution = resolution
    config.model.g_width, config.model.d_width, config.model.latent_dim = 8, 8, 16
    r, a = config.run, config.augment
    r.batch_size, r.steps_per_epoch, r.epochs, r.checkpoint_every = 4, steps, 1, steps
    config.loss.r1_every, a.mode, a.p, a.ada_every, a.ada_images = 2, "ada", 0.2, 2, 40
    return config


def test_fewshot_fast_trains_with_mbstd_groups_that_fit_the_batch_and_mode_seeking(small_mri, tmp_path):
    weights = {}
    for mode_seeking in (0.1, 0.0):  # the preset's weight, then none
        config = preset("fewshot-fast")
        assert config.model.d_mbstd and config.loss.mode_seeking == 0.1
        config.data.path, config.data.resolution = str(small_mri), 32
        config.model.g_width, config.model.d_width = 8, 4
        r = config.run
        r.batch_size, r.steps_per_epoch, r.epochs, r.checkpoint_every = 2, 2, 1, 2
        config.loss.mode_seeking = mode_seeking
        braingan.train(config, tmp_path / str(mode_seeking), **QUIET)
        weights[mode_seeking] = load_checkpoint(tmp_path / str(mode_seeking) / "checkpoints" / "last.pt")
    assert weights[0.1]["discriminator"]["head.weight"].shape == (1, (4 * 4 + 1) * 4 * 4)  # the std channel
    g_with, g_without = weights[0.1]["generator"], weights[0.0]["generator"]
    assert not all(torch.equal(g_with[k], g_without[k]) for k in g_with)  # the term reached G's update



def test_fewshot_run_resumes_exactly_with_ema_r1_and_ada(small_mri, tmp_path):
    braingan.train(tiny_fewshot(small_mri, steps=8), tmp_path / "straight", **QUIET)
    braingan.train(tiny_fewshot(small_mri, steps=4), tmp_path / "resumed", **QUIET)
    second = braingan.api.saved_config(tmp_path / "resumed")
    second.run.epochs = 2
    braingan.train(second, tmp_path / "resumed", resume=True, **QUIET)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    for part in ("generator", "discriminator", "ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert a["ada"] == b["ada"]
    rows = LossLog(tmp_path / "straight" / "log.csv").read()
    assert [r["augment_p"] for r in rows] == [r["augment_p"] for r in LossLog(tmp_path / "resumed" / "log.csv").read()]
    assert len({r["augment_p"] for r in rows}) > 1  # ADA moved p, and the log shows it
    # The exported generator is the EMA copy, not the live one.
    exported = braingan.load(tmp_path / "straight").generator.state_dict()
    assert all(torch.equal(exported[k], a["ema"][k]) for k in exported)
    assert not all(torch.equal(a["generator"][k], a["ema"][k]) for k in exported)


def test_tiny_conditional_run_end_to_end(two_classes, tmp_path):
    run = tmp_path / "run"
    tiny = ["--preset", "fewshot-dcgan", "--resolution", "32", "--g-width", "8", "--d-width", "8", "--batch-size", "4",
            "--steps-per-epoch", "3", "--epochs", "1"]
    assert main(["train", str(two_classes), "--conditional", "--out", str(run), *tiny]) == 0
    synth = braingan.load(run)
    assert synth.class_names == ["no", "yes"] and synth.conditional
    yes, no = synth.generate(4, seed=1, label="yes"), synth.generate(4, seed=1, label="no")
    assert not np.array_equal(yes, no)
    assert np.array_equal(yes, synth.generate(4, seed=1, label=1))
    assert main(["generate", str(run), "-n", "2", "--class", "yes", "--seed", "1", "--out", str(tmp_path / "png")]) == 0
    assert len(list((tmp_path / "png").iterdir())) == 2
    assert main(["generate", str(run), "-n", "2", "--class", "maybe", "--out", str(tmp_path / "x")]) == 2
    # Unconditional on the same two classes: choosing a class is refused, not silently ignored.
    plain = tmp_path / "plain"
    assert main(["train", str(two_classes), "--out", str(plain), *tiny]) == 0
    with pytest.raises(BrainganError, match="--conditional"):
        braingan.load(plain).generate(1, label="yes")


def test_unconditional_run_gives_every_image_one_label_so_mode_seeking_pairs_them_all(two_classes, tmp_path):
    config = tiny_fewshot(two_classes)
    dataset = load_dataset(config.data, **QUIET)
    assert set(dataset.labels.tolist()) == {0, 1}
    assert Trainer(config, dataset, tmp_path / "plain", **QUIET).labels.unique().tolist() == [0]
    config.model.conditional = True
    assert torch.equal(Trainer(config, dataset, tmp_path / "cond", **QUIET).labels, dataset.labels)


def test_mode_seeking_weight_rises_linearly_over_the_ramp_then_stays(small_mri, tmp_path):
    config = tiny_fewshot(small_mri)
    config.loss.mode_seeking, config.loss.mode_seeking_ramp = 0.1, 40  # batch 4: 10 steps
    trainer = Trainer(config, load_dataset(config.data, **QUIET), tmp_path, **QUIET)

    def weight_at(step: int) -> float:
        trainer.step = step  # as a resumed run would have it
        return trainer.step_options().mode_seeking

    assert [weight_at(s) for s in (0, 4, 9, 30)] == pytest.approx([0.01, 0.05, 0.1, 0.1])
    config.loss.mode_seeking_ramp = 0
    assert weight_at(0) == 0.1


def _rows_found(rows: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """1.0 for each of ``rows`` equal to one of ``images`` (flattened), else 0.0."""
    return (rows[:, None] == images.flatten(1)[None]).all(-1).any(1).float()


def test_mirror_shows_d_each_real_scan_flipped_about_half_the_time(small_mri, tmp_path, monkeypatch):
    config = tiny_fewshot(small_mri, steps=25)
    dataset = load_dataset(config.data, **QUIET)
    shown = []

    def spy(models, loss, real, *args):
        shown.append(real.detach().clone())
        return train_step(models, loss, real, *args)

    monkeypatch.setattr("braingan.training.loop.train_step", spy)
    for mirror in (False, True):
        config.augment.mirror, shown[:] = mirror, []
        Trainer(config, dataset, tmp_path / str(mirror), **QUIET).fit()
        reals = torch.cat(shown).flatten(1)
        as_is, flipped = (_rows_found(reals, images) for images in (dataset.images, dataset.images.flip(-1)))
        assert torch.all(torch.maximum(as_is, flipped) == 1)  # every real is a scan, as it is or flipped
        if mirror:
            assert 0.3 < flipped.mean() < 0.7
        else:
            assert flipped.sum() == 0


def test_fine_tune_starts_from_the_trained_weights(two_classes, small_mri, tmp_path):
    source = tiny_fewshot(two_classes, steps=3)
    source.model.conditional = True
    braingan.train(source, tmp_path / "four", **QUIET)
    before = load_checkpoint(tmp_path / "four" / "checkpoints" / "last.pt")

    target = tiny_fewshot(small_mri, steps=1)
    target.model.conditional = True
    target.run.epochs = 0  # no step: what is saved is what --init loaded
    target.run.init = str(tmp_path / "four")
    messages = []
    braingan.train(target, tmp_path / "tuned", log=messages.append)
    after = load_checkpoint(tmp_path / "tuned" / "checkpoints" / "last.pt")
    assert any("start afresh" in m for m in messages)
    for part in ("generator", "discriminator", "ema"):
        kept = [k for k in after[part] if not k.startswith("embed.")]
        assert kept and all(torch.equal(after[part][k], before[part][k]) for k in kept), part
        head = "embed.weight" if part != "discriminator" else "embed.parametrizations.weight.original"
        assert after[part][head].shape[0] == 1
    assert after["step"] == 0 and after["opt_g"]["state"] == {}

    wider = tiny_fewshot(small_mri, steps=1)
    wider.model.g_width = 16
    wider.run.init = str(tmp_path / "four")
    with pytest.raises(BrainganError, match="--init needs the same"):
        braingan.train(wider, tmp_path / "wider", **QUIET)
    # a run from before `fewshot` had minibatch std in D: the message names the switch
    with_mbstd = tiny_fewshot(small_mri, steps=1)
    with_mbstd.model.d_mbstd = True
    with_mbstd.run.init = str(tmp_path / "four")
    with pytest.raises(BrainganError, match="--no-d-mbstd"):
        braingan.train(with_mbstd, tmp_path / "mbstd", **QUIET)
    missing = tiny_fewshot(small_mri, steps=1)
    missing.run.init = str(tmp_path / "nothing")
    with pytest.raises(BrainganError, match="neither a trained run"):
        braingan.train(missing, tmp_path / "missing", **QUIET)
