"""The scalable DC-GAN family and minibatch std: shapes, resolutions, conditioning."""

import pytest
import torch

from braingan.errors import BrainganError
from braingan.models import build_discriminator, build_generator
from braingan.models.minibatch_std import MinibatchStd


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


def test_minibatch_std_gives_d_the_variety_of_each_half_of_its_batch_separately():
    x = torch.cat([torch.rand(1, 3, 8, 8).expand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)])
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 8, 8) and torch.equal(out[:, :3], x)
    assert out[:4, 3].max() < 1e-3 < 0.1 < out[4:, 3].min()  # look-alike group vs varied group
    D = build_discriminator("seed_dcgan", resolution=32, width=4, num_classes=0, mbstd_group=4).eval()
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    a, b = D(torch.cat([real, torch.rand(4, 1, 32, 32)])), D(torch.cat([real, -torch.ones(4, 1, 32, 32)]))
    assert torch.equal(a[:4], b[:4]) and not torch.allclose(a[4:], b[4:])  # reals never grouped with fakes


