"""The component contract: every family builds from the same arguments and checks its own."""

from __future__ import annotations

import pytest
import torch

from braingan.errors import BrainganError
from braingan.models import build_discriminator, build_generator
from braingan.models.minibatch_std import MinibatchStd
from braingan.models.registry import DISCRIMINATORS, GENERATORS

CONTRACT = {"resolution": 32, "width": 8, "num_classes": 0}


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_every_family_builds_from_the_shared_arguments(arch):
    assert set(GENERATORS) == set(DISCRIMINATORS)
    G = build_generator(arch, **CONTRACT, latent_dim=16)
    D = build_discriminator(arch, **CONTRACT, mbstd_group=2)
    images = G(torch.randn(4, 16))
    assert images.shape == (4, 1, 32, 32) and images.abs().max() <= 1
    assert D(images).shape == (4,)


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_an_option_a_family_does_not_have_is_refused_by_name(arch):
    with pytest.raises(BrainganError, match="has no option 'style_layers'"):
        build_generator(arch, **CONTRACT, latent_dim=16, style_layers=8)
    with pytest.raises(BrainganError, match="unknown architecture 'stylegan9'; known: "):
        build_generator("stylegan9", **CONTRACT, latent_dim=16)


def test_only_the_seed_generator_refuses_batch_norm():
    with pytest.raises(BrainganError, match="'seed_dcgan': its generator has no option 'batch_norm'"):
        build_generator("seed_dcgan", **CONTRACT, latent_dim=16, batch_norm=True)
    assert build_generator("dcgan", **CONTRACT, latent_dim=16, batch_norm=True)(torch.randn(2, 16)).shape[0] == 2


def test_minibatch_std_refuses_a_batch_its_groups_do_not_divide():
    """Groups are fixed where D is built (they must divide each rank's reals); nothing regroups later."""
    layer = MinibatchStd(4)
    assert layer(torch.randn(8, 3, 4, 4)).shape == (8, 4, 4, 4)
    with pytest.raises(ValueError, match="a batch of 6 does not split into groups of 4"):
        layer(torch.randn(6, 3, 4, 4))


CONDITIONAL = sorted(set(GENERATORS) - {"seed_dcgan"})  # the seed's networks refuse classes (test_dcgan)


@pytest.mark.parametrize("arch", CONDITIONAL)
def test_conditional_output_depends_on_the_label(arch, small_mri):
    from braingan.config import DataConfig
    from braingan.data import load_dataset

    torch.manual_seed(0)
    G = build_generator(arch, resolution=32, width=4, num_classes=3, latent_dim=16)
    D = build_discriminator(arch, resolution=32, width=4, num_classes=3)
    z = torch.randn(1, 16).repeat(3, 1)
    labels = torch.arange(3)
    images = G(z, labels)
    assert not torch.allclose(images[0], images[1]) and not torch.allclose(images[1], images[2])
    scan = load_dataset(DataConfig(path=str(small_mri), resolution=32), log=lambda _: None).images[:1]
    assert len(set(D(scan.repeat(3, 1, 1, 1), labels).tolist())) == 3  # one real scan judged as each class
