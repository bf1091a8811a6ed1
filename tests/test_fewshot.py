"""Issue 3: the scalable DC-GAN, losses, R1, EMA, augmentation, ADA, conditioning, fine-tuning."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import braingan
from braingan.cli import main
from braingan.config import preset
from braingan.data import load_dataset
from braingan.errors import BrainganError
from braingan.models import build_discriminator, build_generator
from braingan.models.minibatch_std import MinibatchStd
from braingan.training.augment import AdaptiveP, augment
from braingan.training.checkpoint import load_checkpoint
from braingan.training.ema import EMA
from braingan.training.logs import LossLog
from braingan.training.loop import Trainer
from braingan.training.losses import get_loss
from braingan.training.step import (
    GanModels,
    StepOptions,
    mode_seeking_penalty,
    r1_penalty,
    train_step,
)

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


@pytest.fixture
def two_classes(tmp_path, detection_dir):
    """Six real scans each of yes/ and no/."""
    for name in ("yes", "no"):
        folder = tmp_path / "two" / name
        folder.mkdir(parents=True)
        for source in sorted((detection_dir / name).iterdir())[:6]:
            (folder / source.name).write_bytes(source.read_bytes())
    return tmp_path / "two"


# -- models ---------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution", [64, 128, 256])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_dcgan_shapes(resolution, batch_norm):
    G = build_generator("dcgan", resolution=resolution, width=4, num_classes=0, latent_dim=16, batch_norm=batch_norm)
    D = build_discriminator("dcgan", resolution=resolution, width=4)
    images = G(torch.randn(2, 16))
    assert images.shape == (2, 1, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert D(images).shape == (2,)


def test_dcgan_refuses_resolutions_that_are_not_powers_of_two():
    with pytest.raises(BrainganError, match="power of two"):
        build_generator("dcgan", resolution=96, width=4, latent_dim=8)


def test_seed_arch_refuses_conditioning():
    for build in (build_generator, build_discriminator):
        with pytest.raises(BrainganError, match="no class embedding; the dcgan family has one"):
            build("seed_dcgan", resolution=64, width=16, num_classes=2)


def test_conditional_output_depends_on_the_label():
    torch.manual_seed(0)
    G = build_generator("dcgan", resolution=32, width=4, num_classes=3, latent_dim=16)
    D = build_discriminator("dcgan", resolution=32, width=4, num_classes=3)
    z = torch.randn(1, 16).repeat(3, 1)
    labels = torch.arange(3)
    images = G(z, labels)
    assert not torch.allclose(images[0], images[1]) and not torch.allclose(images[1], images[2])
    same = images[:1].repeat(3, 1, 1, 1)
    logits = D(same, labels)
    assert len(set(logits.tolist())) == 3


# -- losses and R1 --------------------------------------------------------------------------

def test_losses_on_known_values():
    zero = torch.zeros(2)
    assert get_loss("bce").discriminator(zero, zero).item() == pytest.approx(math.log(2))
    assert get_loss("logistic").discriminator(zero, zero).item() == pytest.approx(2 * math.log(2))
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert get_loss("hinge").discriminator(real, fake).item() == pytest.approx(0.25 + 0.75)
    assert get_loss("hinge").generator(fake).item() == pytest.approx(0.75)
    x = torch.tensor([1.0, -3.0])
    expected = np.mean(np.log1p(np.exp(-x.numpy())))  # -log sigmoid(x)
    assert get_loss("logistic").generator(x).item() == pytest.approx(expected)
    assert get_loss("bce").generator(x).item() == pytest.approx(expected)
    with pytest.raises(BrainganError, match="unknown loss"):
        get_loss("wasserstein")


def test_r1_is_the_squared_gradient_norm_at_the_reals():
    w = torch.randn(1, 1, 4, 4)
    real = torch.randn(3, 1, 4, 4, requires_grad=True)
    logits = (real * w).sum(dim=(1, 2, 3))
    assert r1_penalty(logits, real).item() == pytest.approx(w.square().sum().item(), rel=1e-5)


def test_mode_seeking_penalty_is_noise_over_image_distance_for_pairs_that_share_a_label():
    z = torch.zeros(4, 10)
    z[2:] = 2.0  # every pair's noise differs by 2 per entry
    fake = torch.zeros(4, 1, 4, 4, requires_grad=True)
    with torch.no_grad():
        fake[2] += 0.5  # pair (0, 2): images 0.5 apart; pair (1, 3): identical images
    labels = torch.tensor([0, 0, 0, 0])
    assert mode_seeking_penalty(fake, z, labels).item() == pytest.approx(1 / (0.125 + 1e-5))
    # Only pair (1, 3) shares a label: identical images for different noise, the worst case.
    assert mode_seeking_penalty(fake, z, torch.tensor([0, 1, 1, 1])).item() == pytest.approx(1e5)
    none = mode_seeking_penalty(fake, z, torch.tensor([0, 1, 1, 0]))
    none.backward()
    assert none.item() == 0 and fake.grad.abs().sum() == 0
    # Minimising it pushes the images of a pair apart.
    fake.grad = None
    mode_seeking_penalty(fake, z, labels).backward()
    assert (fake.grad[2] < 0).all() and (fake.grad[0] > 0).all()


def test_mode_seeking_enters_g_loss_only():
    torch.manual_seed(0)
    G = build_generator("dcgan", resolution=32, width=4, num_classes=0, latent_dim=8, batch_norm=False)
    D = build_discriminator("dcgan", resolution=32, width=4, num_classes=0).eval()  # eval: spectral norm's estimate stays put
    real, z, labels = torch.rand(4, 1, 32, 32) * 2 - 1, torch.randn(4, 8), torch.zeros(4, dtype=torch.long)
    losses = []
    for weight in (0.0, 1.0):
        models = GanModels(G, D, torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.0))
        losses.append(train_step(models, get_loss("logistic"), real, z, labels, StepOptions(mode_seeking=weight)))
    assert torch.equal(losses[0].d_loss, losses[1].d_loss)
    expected = mode_seeking_penalty(G(z, labels), z, labels)
    assert (losses[1].g_loss - losses[0].g_loss).item() == pytest.approx(expected.item(), rel=1e-4)


def test_minibatch_std_gives_d_the_variety_of_each_half_of_its_batch_separately():
    x = torch.cat([torch.rand(1, 3, 8, 8).expand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)])
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 8, 8) and torch.equal(out[:, :3], x)
    assert out[:4, 3].max() < 1e-3 < 0.1 < out[4:, 3].min()  # look-alike group vs varied group
    D = build_discriminator("seed_dcgan", resolution=32, width=4, num_classes=0, mbstd_group=4).eval()
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    a, b = D(torch.cat([real, torch.rand(4, 1, 32, 32)])), D(torch.cat([real, -torch.ones(4, 1, 32, 32)]))
    assert torch.equal(a[:4], b[:4]) and not torch.allclose(a[4:], b[4:])  # reals never grouped with fakes


def test_fewshot_fast_trains_with_mbstd_groups_that_fit_the_batch_and_mode_seeking(small_yes, tmp_path):
    weights = {}
    for mode_seeking in (0.1, 0.0):  # the preset's weight, then none
        config = preset("fewshot-fast")
        assert config.model.d_mbstd and config.loss.mode_seeking == 0.1
        config.data.path, config.data.resolution = str(small_yes), 32
        config.model.g_width, config.model.d_width = 8, 4
        r = config.run
        r.batch_size, r.steps_per_epoch, r.epochs, r.checkpoint_every = 2, 2, 1, 2
        config.loss.mode_seeking = mode_seeking
        braingan.train(config, tmp_path / str(mode_seeking), **QUIET)
        weights[mode_seeking] = load_checkpoint(tmp_path / str(mode_seeking) / "checkpoints" / "last.pt")
    assert weights[0.1]["discriminator"]["head.weight"].shape == (1, (4 * 4 + 1) * 4 * 4)  # the std channel
    g_with, g_without = weights[0.1]["generator"], weights[0.0]["generator"]
    assert not all(torch.equal(g_with[k], g_without[k]) for k in g_with)  # the term reached G's update


# -- augmentation and ADA -------------------------------------------------------------------

def test_augmentation_is_differentiable_and_changes_images():
    x = torch.rand(6, 1, 32, 32, requires_grad=True) * 2 - 1
    x.retain_grad()
    y = augment(x, p=1.0)
    assert y.shape == x.shape and not torch.equal(y, x)
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()


def test_augmentation_transforms_real_and_fake_alike_and_p0_is_identity():
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    fake = real.clone().requires_grad_(True)
    a = augment(real, 0.7, torch.Generator().manual_seed(5))
    b = augment(fake, 0.7, torch.Generator().manual_seed(5))
    assert torch.equal(a, b.detach())
    assert augment(real, 0.0) is real


def test_step_shows_d_real_and_fake_through_the_same_augmentation():
    calls = []

    def spy(x):
        calls.append(len(x))
        return augment(x, 1.0)

    G = build_generator("dcgan", resolution=32, width=4, num_classes=0, latent_dim=8)
    D = build_discriminator("dcgan", resolution=32, width=4, num_classes=0)
    models = GanModels(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()))
    real, labels = torch.rand(3, 1, 32, 32) * 2 - 1, torch.zeros(3, dtype=torch.int64)
    stats = train_step(models, get_loss("hinge"), real, torch.randn(3, 8), labels, StepOptions(augment=spy, r1_weight=1.0))
    assert calls == [6, 3]  # D step: real+fake in one batch; G step: fake
    assert all(torch.isfinite(v) for v in stats)


class _GridSampleOnce(torch.autograd.Function):
    """grid_sample whose backward cannot itself be differentiated, as on CUDA."""

    @staticmethod
    def forward(ctx, x, grid, sample):
        ctx.save_for_backward(x, grid)
        ctx.sample = sample
        return sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, grid = (t.detach().requires_grad_(True) for t in ctx.saved_tensors)
        with torch.enable_grad():
            out = ctx.sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return (*torch.autograd.grad(out, (x, grid), grad), None)


def test_r1_with_augmentation_needs_no_double_backward_through_the_resampling(monkeypatch):
    """CUDA cannot differentiate grid_sample's backward (the CPU can): R1 must not need it."""
    sample = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample", lambda x, grid, **_: _GridSampleOnce.apply(x, grid, sample))
    G = build_generator("seed_dcgan", resolution=32, width=8, num_classes=0, latent_dim=8)
    D = build_discriminator("seed_dcgan", resolution=32, width=4, num_classes=0)
    models = GanModels(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()))
    real, labels = torch.rand(4, 1, 32, 32) * 2 - 1, torch.zeros(4, dtype=torch.int64)
    stats = train_step(models, get_loss("bce"), real, torch.randn(4, 8), labels,
                       StepOptions(augment=lambda x: augment(x, 1.0), r1_weight=1.0))
    assert all(torch.isfinite(v) for v in stats)


class AlwaysReal(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(50.0))

    def forward(self, x, labels=None):
        return self.bias + 0 * x.sum(dim=(1, 2, 3))


def test_ada_raises_p_when_d_always_says_real_and_lowers_it_otherwise():
    G = build_generator("dcgan", resolution=32, width=4, num_classes=0, latent_dim=8)
    D = AlwaysReal()
    models = GanModels(G, D, torch.optim.SGD(G.parameters(), lr=0), torch.optim.SGD(D.parameters(), lr=0))
    ada = AdaptiveP(p=0.0, target=0.6, every=2, images=80, batch_size=4)
    real, labels = torch.rand(4, 1, 32, 32) * 2 - 1, torch.zeros(4, dtype=torch.int64)
    history = []
    for _ in range(6):
        stats = train_step(models, get_loss("logistic"), real, torch.randn(4, 8), labels,
                           StepOptions(augment=lambda x: augment(x, ada.p)))
        assert stats.real_signs.item() == 4
        ada.observe(stats.real_signs, 4)
        history.append(ada.p)
    assert history == pytest.approx([0.0, 0.1, 0.1, 0.2, 0.2, 0.3])
    for _ in range(2):
        ada.observe(torch.tensor(-4.0), 4)
    assert ada.p == pytest.approx(0.2)


def test_ada_moves_p_by_the_sign_averaged_over_ranks_and_exchanges_only_when_it_adjusts():
    """This rank's D says "real", the other rank's says "fake": their mean (0) is below the target."""
    exchanged = []

    def mean_over_ranks(local_sum):
        exchanged.append(float(local_sum))
        return (local_sum + torch.tensor(-8.0)) / 2  # the other rank's sum over the same 2 steps

    ada = AdaptiveP(p=0.5, target=0.6, every=2, images=80, batch_size=4, mean_over_ranks=mean_over_ranks)
    ada.observe(torch.tensor(4.0), 4)
    assert exchanged == [] and ada.p == 0.5
    ada.observe(torch.tensor(4.0), 4)
    assert exchanged == [8.0] and ada.p == pytest.approx(0.4)  # alone, this rank would have raised p


# -- EMA ------------------------------------------------------------------------------------

def test_ema_update_math():
    live = nn.Linear(1, 1)
    with torch.no_grad():
        live.weight.fill_(0.0)
    ema = EMA(live, decay=0.9)
    with torch.no_grad():
        live.weight.fill_(1.0)
    ema.update(live, step=1000)  # past the warm-up: decay 0.9
    assert ema.average.weight.item() == pytest.approx(0.1)
    ema.update(live, step=1000)
    assert ema.average.weight.item() == pytest.approx(0.19)
    assert ema.effective_decay(0) == pytest.approx(0.1)  # warm-up: the first steps follow closely
    assert not any(p.requires_grad for p in ema.average.parameters())


# -- runs -----------------------------------------------------------------------------------

def test_fewshot_run_resumes_exactly_with_ema_r1_and_ada(small_yes, tmp_path):
    braingan.train(tiny_fewshot(small_yes, steps=8), tmp_path / "straight", **QUIET)
    braingan.train(tiny_fewshot(small_yes, steps=4), tmp_path / "resumed", **QUIET)
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


def test_mode_seeking_weight_rises_linearly_over_the_ramp_then_stays(small_yes, tmp_path):
    config = tiny_fewshot(small_yes)
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


def test_mirror_shows_d_each_real_scan_flipped_about_half_the_time(small_yes, tmp_path, monkeypatch):
    config = tiny_fewshot(small_yes, steps=25)
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


def test_fine_tune_starts_from_the_trained_weights(two_classes, small_yes, tmp_path):
    source = tiny_fewshot(two_classes, steps=3)
    source.model.conditional = True
    braingan.train(source, tmp_path / "four", **QUIET)
    before = load_checkpoint(tmp_path / "four" / "checkpoints" / "last.pt")

    target = tiny_fewshot(small_yes, steps=1)
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
        assert after[part]["embed.weight" if part != "discriminator" else "embed.parametrizations.weight.original"].shape[0] == 1
    assert after["step"] == 0 and after["opt_g"]["state"] == {}

    wider = tiny_fewshot(small_yes, steps=1)
    wider.model.g_width = 16
    wider.run.init = str(tmp_path / "four")
    with pytest.raises(BrainganError, match="--init needs the same"):
        braingan.train(wider, tmp_path / "wider", **QUIET)
    # a run from before `fewshot` had minibatch std in D: the message names the switch
    with_mbstd = tiny_fewshot(small_yes, steps=1)
    with_mbstd.model.d_mbstd = True
    with_mbstd.run.init = str(tmp_path / "four")
    with pytest.raises(BrainganError, match="--no-d-mbstd"):
        braingan.train(with_mbstd, tmp_path / "mbstd", **QUIET)
    missing = tiny_fewshot(small_yes, steps=1)
    missing.run.init = str(tmp_path / "nothing")
    with pytest.raises(BrainganError, match="no trained run"):
        braingan.train(missing, tmp_path / "missing", **QUIET)
