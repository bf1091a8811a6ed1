"""The fastgan family: shapes at every size and class, conditioning, its layers' math, D's decoders on real MRI."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from braingan.config import DataConfig, preset
from braingan.data import load_dataset
from braingan.errors import BrainganError
from braingan.models import build_discriminator, build_generator
from braingan.models.excitation import SkipLayerExcitation
from braingan.models.modulated_conv import ModulatedConv2d
from braingan.models.self_supervision import quadrant
from braingan.training.distributed import World
from braingan.training.factory import check_networks, generator_kwargs


def scans(folder, resolution: int) -> torch.Tensor:
    """The real scans of ``folder`` as [N, 1, S, S] in [-1, 1]."""
    config = DataConfig(path=str(folder), resolution=resolution)
    return load_dataset(config, log=lambda _: None).images


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_shapes_at_every_size_and_for_every_class(resolution, small_mri):
    torch.manual_seed(0)
    G = build_generator("fastgan", resolution=resolution, width=2, num_classes=3, latent_dim=16)
    D = build_discriminator("fastgan", resolution=resolution, width=2, num_classes=3, mbstd_group=2,
                            reconstruct=True)
    real = scans(small_mri, resolution)[:6]
    for label in range(3):
        labels = torch.full((2,), label)
        images = G(torch.randn(2, 16), labels)
        assert images.shape == (2, 1, resolution, resolution)
        assert images.min() >= -1 and images.max() <= 1
        logits, redrawn = D(torch.cat([real[:2], images]), torch.cat([labels, labels]), reconstruct=2)
        assert logits.shape == (4,) and redrawn.shape == () and redrawn > 0


def test_depth_and_width_set_the_size_and_bad_options_are_refused():
    def params(**options):
        return sum(p.numel() for p in build_generator("fastgan", resolution=64, num_classes=0, latent_dim=16,
                                                      **options).parameters())

    assert params(width=4, depth=1) < params(width=4, depth=2) < params(width=8, depth=2)
    assert params(width=4, mapping=0) < params(width=4, mapping=2)
    with pytest.raises(BrainganError, match="'fastgan': resolution 96 is not a power of two from 32"):
        build_generator("fastgan", resolution=96, width=4, latent_dim=16)
    with pytest.raises(BrainganError, match="'fastgan': resolution 16 is not a power of two from 32"):
        build_discriminator("fastgan", resolution=16, width=4)
    with pytest.raises(BrainganError, match="depth must be at least 1, not 0"):
        build_discriminator("fastgan", resolution=32, width=4, depth=0)


def test_depth_and_mapping_come_from_the_config_and_other_families_refuse_them():
    config = preset("fastgan-fast")
    config.model.g_depth, config.model.mapping_layers = 1, 0
    assert generator_kwargs(config, 0) == {"resolution": 64, "width": 16, "num_classes": 0, "latent_dim": 128,
                                           "depth": 1, "mapping": 0}
    assert "depth" not in generator_kwargs(preset("fastgan-fast"), 0)  # the family's default is left to it
    seed = preset("seed")
    seed.model.g_depth = 3
    with pytest.raises(BrainganError, match="'seed_dcgan': its generator has no option 'depth'"):
        check_networks(seed, World())


def test_a_conditional_generator_needs_labels_and_one_class_is_unconditional():
    """(That the label changes G's output and D's judgement: test_registry, for every family.)"""
    torch.manual_seed(0)
    G = build_generator("fastgan", resolution=32, width=4, num_classes=3, latent_dim=16)
    z = torch.randn(3, 16)
    with pytest.raises(ValueError, match="needs labels"):
        G(z)
    for num_classes in (0, 1):  # no class head at all: nothing for a label to change
        G1 = build_generator("fastgan", resolution=32, width=4, num_classes=num_classes, latent_dim=16)
        D1 = build_discriminator("fastgan", resolution=32, width=4, num_classes=num_classes)
        assert not any(name.startswith("embed.") for name in [*G1.state_dict(), *D1.state_dict()])
        assert torch.equal(G1(z[:1]), G1(z[:1], torch.zeros(1, dtype=torch.long)))


def test_modulated_convolution_is_a_convolution_with_each_images_own_normalised_weights():
    torch.manual_seed(0)
    conv = ModulatedConv2d(3, 5, style_dim=4)
    x, w = torch.randn(2, 3, 6, 6), torch.randn(2, 4)
    out = conv(x, w)
    for i in range(2):
        weight = conv.weight * conv.style(w[i:i + 1]).view(1, 3, 1, 1)
        weight = weight / weight.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        expected = F.conv2d(x[i:i + 1], weight, conv.bias, padding=1)
        torch.testing.assert_close(out[i:i + 1], expected, rtol=1e-4, atol=1e-5)
    # Demodulated, the output's scale does not follow the weights' or the style's.
    with torch.no_grad():
        conv.weight.mul_(10)
    torch.testing.assert_close(conv(x, w), out, rtol=1e-4, atol=1e-5)


def test_skip_layer_excitation_gates_each_channel_of_the_fine_map_from_the_coarse_one():
    torch.manual_seed(0)
    excite = SkipLayerExcitation(source_channels=6, target_channels=3, source_size=8)
    source, target = torch.randn(2, 6, 8, 8), torch.randn(2, 3, 32, 32)
    out = excite(source, target)
    gate = out / target
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-5)  # one gate per channel
    assert (gate > 0).all() and (gate < 1).all()
    assert not torch.allclose(excite(-source, target), out)  # the coarse map decides the gate


def test_each_image_redraws_the_quadrant_its_place_in_the_batch_names(small_mri):
    real = scans(small_mri, 64)[:5]
    corners = quadrant(real)
    assert corners.shape == (5, 1, 32, 32)
    assert torch.equal(corners[0], real[0, :, :32, :32]) and torch.equal(corners[1], real[1, :, :32, 32:])
    assert torch.equal(corners[2], real[2, :, 32:, :32]) and torch.equal(corners[3], real[3, :, 32:, 32:])
    assert torch.equal(corners[4], real[4, :, :32, :32])


def test_discriminator_redraws_real_scans_and_learns_to_redraw_them_better(small_mri):
    """The decoders' error is a function of D's input (no random quadrant), and it falls as D trains on it."""
    torch.manual_seed(0)
    real = scans(small_mri, 32)[:8]
    D = build_discriminator("fastgan", resolution=32, width=8, reconstruct=True).eval()  # spectral norm held
    _, first = D(real, reconstruct=8)
    assert torch.equal(D(real, reconstruct=8)[1], first)
    assert torch.equal(D(real), D(real, reconstruct=8)[0])  # the logits do not change with the redrawing
    D.train()
    optimiser = torch.optim.Adam(D.parameters(), lr=2e-3)
    for _ in range(30):
        _, error = D(real, reconstruct=8)
        optimiser.zero_grad()
        error.backward()
        optimiser.step()
    assert error.item() < 0.7 * first.item()
    with pytest.raises(ValueError, match="no decoders"):
        build_discriminator("fastgan", resolution=32, width=8)(real, reconstruct=8)
