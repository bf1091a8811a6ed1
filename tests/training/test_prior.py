"""A brain prior: --exclude cleans its data, export --prior packs it, --init fine-tunes from it (FreezeD)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

import braingan
from braingan import evaluation
from braingan.cli import main
from braingan.config import DataConfig, RunConfig, preset
from braingan.data import load_dataset
from braingan.errors import BrainganError
from braingan.io.generator_files import load_generator
from braingan.io.prior_files import load_prior, named_priors, priors_dir
from braingan.training.checkpoint import load_checkpoint

QUIET = {"log": lambda _: None}


def _copies(originals: list[Path], folder: Path) -> list[str]:
    """Each scan as another collection holds it: re-encoded harder, shrunk, brightened (gamma 0.7,
    black staying black), mirrored, or framed with a wider border."""
    changes = [
        lambda im: im,
        lambda im: im.resize((im.width * 3 // 5, im.height * 3 // 5), Image.LANCZOS),
        lambda im: im.point(lambda v: int(255 * (v / 255) ** 0.7)),
        lambda im: ImageOps.mirror(im).resize((im.width // 2, im.height // 2), Image.LANCZOS),
        lambda im: ImageOps.expand(im, border=im.width // 10, fill=0),
    ]
    names = []
    for i, (path, change) in enumerate(zip(originals, changes)):
        name = f"copy_{i}.jpg"
        change(Image.open(path).convert("L")).save(folder / name, format="JPEG", quality=60)
        names.append(name)
    return names


def test_exclude_drops_planted_copies_of_the_fine_tuning_scans_and_keeps_the_rest(detection_dir, tmp_path):
    fine, pool = tmp_path / "fine", tmp_path / "pool"
    fine.mkdir(), pool.mkdir()
    originals = sorted((detection_dir / "yes").iterdir())[:5]
    for path in originals:
        (fine / path.name).write_bytes(path.read_bytes())
    planted = _copies(originals, pool)
    others = sorted((detection_dir / "no").iterdir())[:15]
    for path in others:
        (pool / path.name).write_bytes(path.read_bytes())
    messages = []
    kept = load_dataset(DataConfig(path=str(pool), resolution=64, exclude=str(fine)), log=messages.append)
    assert sorted(Path(name).name for name in kept.excluded) == planted
    assert sorted(Path(name).name for name in kept.files) == sorted(p.name for p in others)
    assert any("5 of 20 images dropped" in m for m in messages)
    with pytest.raises(BrainganError, match="nothing is left"):
        load_dataset(DataConfig(path=str(fine), resolution=64, exclude=str(pool)), **QUIET)


def _tiny_prior(data: Path, out: Path) -> RunConfig:
    """The prior preset at 32 px with tiny widths, a few steps."""
    config = preset("prior")
    config.data.path, config.data.resolution = str(data), 32
    config.model.g_width, config.model.d_width = 8, 4
    r = config.run
    r.batch_size, r.images, r.checkpoint_every = 4, 12, 3
    braingan.train(config, out, **QUIET)
    return config


def test_a_tiny_pretrain_exports_a_prior_that_fine_tunes_on_new_classes(two_classes, small_mri, tmp_path):
    _tiny_prior(two_classes, tmp_path / "pretrain")
    assert main(["export", str(tmp_path / "pretrain"), "--prior", str(tmp_path / "prior")]) == 0
    prior = load_prior(str(tmp_path / "prior"))
    assert prior["class_names"] == ["no", "yes"] and all(v.dtype == torch.float32 for v in prior["generator"].values())
    trained = load_checkpoint(tmp_path / "pretrain" / "checkpoints" / "last.pt")
    assert all(torch.equal(prior["generator"][k], trained["ema"][k].half().float()) for k in prior["generator"])
    generator, card = load_generator(tmp_path / "prior")  # a prior is a generator folder too
    assert generator(torch.randn(2, card.latent_dim)).shape == (2, 1, 32, 32)

    # No --preset: the run takes the prior's networks and recipe at the small-set schedule.
    tuned = tmp_path / "tuned"
    assert main(["train", str(small_mri), "--init", str(tmp_path / "prior"), "--epochs", "0", "--out", str(tuned),
                 "--freeze-d-layers", "2"]) == 0
    config = braingan.api.saved_config(tuned)
    assert (config.model.g_width, config.model.d_width, config.data.resolution) == (8, 4, 32)
    assert config.run.batch_size == 4 and not config.augment.mirror and config.optim.freeze_d_layers == 2
    after = load_checkpoint(tuned / "checkpoints" / "last.pt")
    assert after["class_names"] == ["scans"] and after["step"] == 0
    for part in ("generator", "ema", "discriminator"):
        assert all(torch.equal(after[part][k], prior[part][k]) for k in after[part]), part

    # Fine-tuning runs are audited against the prior's training images as well as their own.
    report = evaluation.evaluate(tuned, n=16, metrics="memorization,prior_memorization", protocol=None, **QUIET)
    audit = report["metrics"]["prior_memorization"]
    assert report["prior"] == str(tmp_path / "prior") and audit["flagged"] >= 0
    assert 0 < audit["threshold_distance"] < report["metrics"]["memorization"]["threshold_distance"] * 10


def test_freeze_d_layers_keeps_the_priors_first_layers_and_trains_the_rest(two_classes, small_mri, tmp_path):
    _tiny_prior(two_classes, tmp_path / "pretrain")
    before = load_checkpoint(tmp_path / "pretrain" / "checkpoints" / "last.pt")["discriminator"]
    config = RunConfig.from_dict(braingan.api.saved_config(tmp_path / "pretrain").to_dict())
    config.data.path, config.run.images, config.run.init = str(small_mri), 8, str(tmp_path / "pretrain")
    config.optim.freeze_d_layers = 2
    braingan.train(config, tmp_path / "frozen", **QUIET)
    after = load_checkpoint(tmp_path / "frozen" / "checkpoints" / "last.pt")
    frozen = ("features.0.", "features.2.")  # the seed D's first two convolutions
    assert all(torch.equal(after["discriminator"][k], before[k]) for k in before if k.startswith(frozen))
    assert not all(torch.equal(after["discriminator"][k], before[k]) for k in before if not k.startswith(frozen))
    assert len(after["opt_d"]["state"]) == len(before) - 4  # no Adam state for what does not train

    config.optim.freeze_d_layers = 4
    with pytest.raises(BrainganError, match="freeze at most 3"):
        braingan.train(config, tmp_path / "all", **QUIET)
    config.optim.freeze_d_layers, config.run.init = 1, None
    with pytest.raises(BrainganError, match="needs --init"):
        braingan.train(config, tmp_path / "scratch", **QUIET)


def test_a_prior_in_the_cache_is_found_by_name_offline(two_classes, small_mri, tmp_path, capsys):
    _tiny_prior(two_classes, tmp_path / "pretrain")
    assert main(["train", str(small_mri), "--init", "brain64", "--epochs", "0", "--out", str(tmp_path / "none")]) != 0
    assert "make prior builds brain64" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "pretrain"), "--prior", str(priors_dir() / "brain64")]) == 0
    assert named_priors() == ["brain64"]
    card = (priors_dir() / "brain64" / "generator.card.md").read_text()
    assert str(two_classes) in card and "## Recipe" in card
    assert main(["train", str(small_mri), "--init", "brain64", "--epochs", "0", "--out", str(tmp_path / "t")]) == 0
    assert braingan.api.saved_config(tmp_path / "t").run.init == "brain64"  # the name, wherever the cache is
    generator, card = load_generator(priors_dir() / "brain64")
    images = generator(torch.randn(4, card.latent_dim)).detach()
    assert images.shape == (4, 1, 32, 32) and images.isfinite().all() and np.std(images.numpy()) > 0
