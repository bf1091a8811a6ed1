"""GAN losses, R1 and the mode-seeking term, on known values and inside the step."""

import math

import numpy as np
import pytest
import torch

from braingan.errors import BrainganError
from braingan.models import build_discriminator, build_generator
from braingan.training.losses import get_loss
from braingan.training.step import GanModels, StepOptions, mode_seeking_penalty, r1_penalty, train_step


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
    D = build_discriminator(
        "dcgan", resolution=32, width=4, num_classes=0
    ).eval()  # eval: spectral norm's estimate stays put
    real, z, labels = torch.rand(4, 1, 32, 32) * 2 - 1, torch.randn(4, 8), torch.zeros(4, dtype=torch.long)
    losses = []
    for weight in (0.0, 1.0):
        models = GanModels(G, D, torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.0))
        losses.append(train_step(models, get_loss("logistic"), real, z, labels, StepOptions(mode_seeking=weight)))
    assert torch.equal(losses[0].d_loss, losses[1].d_loss)
    expected = mode_seeking_penalty(G(z, labels), z, labels)
    assert (losses[1].g_loss - losses[0].g_loss).item() == pytest.approx(expected.item(), rel=1e-4)
