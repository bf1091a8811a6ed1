"""Pairwise MS-SSIM: identical images score 1, a collapsed set near 1, real scans lower, noise lowest."""

from __future__ import annotations

import pytest
import torch

from braingan.metrics.diversity import diversity, not_in, pairwise_ms_ssim
from braingan.metrics.ssim import ms_ssim, scales_for, ssim


def test_ssim_and_ms_ssim_of_identical_images_are_one(real32: torch.Tensor) -> None:
    assert torch.allclose(ssim(real32[:5], real32[:5]), torch.ones(5), atol=1e-5)
    assert torch.allclose(ms_ssim(real32[:5], real32[:5]), torch.ones(5), atol=1e-5)
    assert scales_for(32) == 2 and scales_for(128) == 4 and scales_for(256) == 5


def test_collapsed_set_has_low_diversity(real32: torch.Tensor, noise32: torch.Tensor) -> None:
    jitter = torch.randn(40, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.02
    collapsed = (real32[:1].repeat(40, 1, 1, 1) + jitter).clamp(-1, 1)
    result = diversity(real32, collapsed)
    assert result.fake > 0.95
    assert result.real is not None and result.real < result.fake - 0.2
    assert pairwise_ms_ssim(noise32) < result.real


def test_pairs_are_capped_and_tiny_sets_are_nan(real32: torch.Tensor) -> None:
    assert pairwise_ms_ssim(real32, pairs=10, seed=0) == pytest.approx(pairwise_ms_ssim(real32, pairs=10, seed=0))
    assert torch.isnan(torch.tensor(pairwise_ms_ssim(real32[:1])))


def test_holdout_yardstick_leaves_out_the_training_scans(real32: torch.Tensor) -> None:
    train = real32[:19]
    unseen = not_in(real32, train)
    assert len(unseen) <= len(real32) - 19  # (fewer if a left-out file decodes to a training scan)
    assert not any(torch.equal(u, t) for u in unseen for t in train)
    result = diversity(train, real32[19:], holdout=real32)
    assert result.holdout_n == len(unseen) and result.holdout == pytest.approx(pairwise_ms_ssim(unseen))
    assert diversity(real32, real32[:5], holdout=real32).holdout is None  # nothing left out: no yardstick
