"""SWD on controls with known answers: one distribution ~ 0, noise large, order preserved."""

from __future__ import annotations

import numpy as np
import torch

from braingan.io.images import to_uint8
from braingan.metrics.swd import laplacian_pyramid, swd


def test_pyramid_levels_reconstruct_the_image(real32: torch.Tensor) -> None:
    levels = laplacian_pyramid(real32[:4])
    assert [lv.shape[-1] for lv in levels] == [32, 16]
    up = torch.nn.functional.interpolate(levels[1], size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(levels[0] + up, real32[:4])


def test_identical_sets_near_zero_and_noise_far(real32: torch.Tensor, noise32: torch.Tensor) -> None:
    same = swd(real32, real32)
    noise = swd(real32, noise32)
    assert set(same.levels) == {32, 16}
    assert same.mean < 0.1 * noise.mean
    assert all(noise.levels[k] > 5 * same.levels[k] for k in same.levels)


def test_halves_of_real_closer_than_blurred_or_flipped_contrast(real32: torch.Tensor) -> None:
    a, b = real32[0::2], real32[1::2]
    halves = swd(a, b).mean
    blurred = torch.nn.functional.avg_pool2d(b, 3, stride=1, padding=1)
    assert halves < swd(a, blurred).mean
    assert halves < swd(a, -b).mean


def test_uint8_input_matches_float_and_is_deterministic(real32: torch.Tensor) -> None:
    as_u8 = to_uint8(real32)
    assert isinstance(as_u8, np.ndarray)
    r1 = swd(as_u8, real32.flip(0), seed=3)
    r2 = swd(real32, real32.flip(0), seed=3)
    assert abs(r1.mean - r2.mean) < 0.05 * max(r2.mean, 1.0)
    assert swd(real32, real32.flip(0), seed=3).mean == r2.mean
