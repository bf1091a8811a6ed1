"""Differentiable augmentation and ADA: what D sees, how p moves."""

import pytest
import torch
from torch import nn

from braingan.models import build_discriminator, build_generator
from braingan.training.augment import AdaptiveP, augment
from braingan.training.losses import get_loss
from braingan.training.step import GanModels, StepOptions, train_step


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
    stats = train_step(
        models, get_loss("hinge"), real, torch.randn(3, 8), labels, StepOptions(augment=spy, r1_weight=1.0)
    )
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
    options = StepOptions(augment=lambda x: augment(x, 1.0), r1_weight=1.0)
    stats = train_step(models, get_loss("bce"), real, torch.randn(4, 8), labels, options)
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
