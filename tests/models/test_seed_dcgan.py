import pytest
import torch

from braingan.models.keras_same import KerasSameConv2d, keras_same_conv_transpose
from braingan.models.seed_dcgan import SeedDiscriminator, SeedGenerator


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_seed_parameter_counts_match_the_notebook():
    assert n_params(SeedGenerator()) == 27_265_281
    assert n_params(SeedDiscriminator()) == 582_785


def test_seed_shapes():
    z = torch.randn(3, 100)
    images = SeedGenerator()(z)
    assert images.shape == (3, 1, 128, 128)
    assert images.abs().max() <= 1.0
    assert SeedDiscriminator()(images).shape == (3,)


@pytest.mark.parametrize(("kernel", "stride", "pad"), [(3, 1, (1, 1)), (3, 2, (0, 1)), (4, 1, (1, 2)), (4, 2, (1, 1))])
def test_keras_same_padding_puts_the_extra_pixel_after(kernel, stride, pad):
    conv = KerasSameConv2d(1, 1, kernel, stride)
    assert conv.pad == pad * 2
    assert conv(torch.zeros(1, 1, 16, 16)).shape[-1] == 16 // stride


def test_keras_same_padding_matches_tensorflow_arithmetic():
    """A 3x3 stride-2 conv that sums its window: TF 'same' on 4x4 reads rows 0-2 and 2-3(+pad)."""
    conv = KerasSameConv2d(1, 1, 3, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = conv(x)[0, 0]
    assert out[0, 0] == x[0, 0, 0:3, 0:3].sum()  # no padding before
    assert out[1, 1] == x[0, 0, 2:4, 2:4].sum()  # padding after


def test_transposed_conv_doubles_the_size():
    up = keras_same_conv_transpose(4, 2, 4, 2)
    assert up(torch.zeros(1, 4, 8, 8)).shape == (1, 2, 16, 16)


def test_scaled_down_seed_shape_for_the_demo():
    G, D = SeedGenerator(resolution=64, width=128), SeedDiscriminator(resolution=64, width=32)
    images = G(torch.randn(2, 100))
    assert images.shape == (2, 1, 64, 64)
    assert D(images).shape == (2,)
