"""Pairwise MS-SSIM: identical images score 1, a collapsed set near 1, real scans lower, noise lowest."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from braingan.metrics import diversity as diversity_module
from braingan.metrics import registry
from braingan.metrics.diversity import diversity, not_in, pairwise_ms_ssim, pairwise_ms_ssim_counted
from braingan.metrics.ssim import (
    SCALE_WEIGHTS,
    _ssim_parts,
    ms_ssim_pairs,
    scales_for,
    ssim,
)


def test_ssim_and_ms_ssim_of_identical_images_are_one(real32: torch.Tensor) -> None:
    assert torch.allclose(ssim(real32[:5], real32[:5]), torch.ones(5), atol=1e-5)
    same = torch.arange(5)
    assert torch.allclose(ms_ssim_pairs(real32, same, same), torch.ones(5), atol=1e-5)
    assert scales_for(32) == 2 and scales_for(128) == 4 and scales_for(256) == 5


def test_ms_ssim_pairs_equals_the_pair_by_pair_formula(real32: torch.Tensor) -> None:
    """Blurring each image once per scale gives what blurring all five maps of every pair gives."""
    x = F.interpolate(real32[:12], size=64, mode="bilinear")  # 3 scales
    i, j = torch.triu_indices(12, 12, offset=1)
    a, b, terms = x[i], x[j], []
    for level in range(scales_for(64)):
        s, cs = _ssim_parts(a, b)
        terms.append((s if level == scales_for(64) - 1 else cs).clamp(min=0))
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    weights = torch.tensor(SCALE_WEIGHTS[:len(terms)])
    expected = torch.stack(terms, dim=1).pow(weights / weights.sum()).prod(dim=1)
    assert torch.allclose(ms_ssim_pairs(x, i, j), expected, atol=1e-6)


def test_collapsed_set_has_low_diversity(real32: torch.Tensor, noise32: torch.Tensor) -> None:
    jitter = torch.randn(40, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.02
    collapsed = (real32[:1].repeat(40, 1, 1, 1) + jitter).clamp(-1, 1)
    result = diversity(real32, collapsed)
    assert result.fake > 0.95
    assert result.real is not None and result.real < result.fake - 0.2
    assert pairwise_ms_ssim(noise32) < result.real


def test_pairs_are_capped_and_tiny_sets_are_nan(real32: torch.Tensor, monkeypatch) -> None:
    """``pairs`` bounds the pairs compared: 10 asked, 10 distinct pairs of distinct images scored."""
    compared = []
    monkeypatch.setattr(diversity_module, "ms_ssim_pairs",
                        lambda x, i, j: compared.append((i, j)) or ms_ssim_pairs(x, i, j))
    value, used = pairwise_ms_ssim_counted(real32, pairs=10, seed=0)
    (i, j), = compared
    assert used == len(i) == 10 and bool((i < j).all())  # distinct images, each pair once
    assert len({(int(a), int(b)) for a, b in zip(i, j)}) == 10
    assert value == pytest.approx(float(ms_ssim_pairs(real32, i, j).mean()))
    assert value != pytest.approx(pairwise_ms_ssim(real32, pairs=10**9), rel=1e-6)  # not every pair
    assert pairwise_ms_ssim_counted(real32, pairs=10, seed=1)[0] != value  # another draw, other pairs
    assert pairwise_ms_ssim_counted(real32[:1]) == (pytest.approx(float("nan"), nan_ok=True), 0)
    assert torch.isnan(torch.tensor(pairwise_ms_ssim(real32[:1])))


def test_the_pairs_reported_are_the_pairs_used(real32: torch.Tensor) -> None:
    """19 scans have 171 pairs, whatever was asked for; metrics.json says so, and what was asked."""
    result = diversity(real32[:19], real32[19:39], holdout=real32)
    assert (result.pairs, result.real_pairs, result.pairs_requested) == (190, 171, diversity_module.PAIRS)
    assert result.holdout_pairs == min(diversity_module.PAIRS, result.holdout_n * (result.holdout_n - 1) // 2)
    assert diversity(real32[:19], real32, pairs=50).pairs == 50
    values = registry.METRICS["diversity"].compute(registry.EvalInputs(real=real32[:19], fake=real32[19:39])).values
    assert (values["pairs"], values["real_pairs"], values["pairs_requested"]) == (190, 171, diversity_module.PAIRS)


def test_a_set_too_large_for_memory_is_sampled(real32: torch.Tensor, monkeypatch) -> None:
    """Above MAX_PIXELS the pairs come from a random subset: bounded memory, nearly the same mean."""
    everything = pairwise_ms_ssim(real32, pairs=10**9)
    seen = []
    monkeypatch.setattr(
        diversity_module, "ms_ssim_pairs", lambda x, i, j: seen.append(len(x)) or ms_ssim_pairs(x, i, j)
    )
    monkeypatch.setattr(diversity_module, "MAX_PIXELS", 80 * 32 * 32)
    sampled = pairwise_ms_ssim(real32, pairs=10**9)
    assert seen == [80] and len(real32) > 80
    assert sampled == pytest.approx(pairwise_ms_ssim(real32, pairs=10**9))  # the same subset each time
    assert sampled != everything and sampled == pytest.approx(everything, rel=0.1)


def test_holdout_yardstick_leaves_out_the_training_scans(real32: torch.Tensor) -> None:
    train = real32[:19]
    unseen = not_in(real32, train)
    assert len(unseen) <= len(real32) - 19  # (fewer if a left-out file decodes to a training scan)
    assert not any(torch.equal(u, t) for u in unseen for t in train)
    result = diversity(train, real32[19:], holdout=real32)
    assert result.holdout_n == len(unseen) and result.holdout == pytest.approx(pairwise_ms_ssim(unseen))
    assert diversity(real32, real32[:5], holdout=real32).holdout is None  # nothing left out: no yardstick
