"""Memorization audit: copies of training images are all flagged; new images and noise are not."""

from __future__ import annotations

import numpy as np
import torch

from braingan.io.images import to_uint8
from braingan.metrics.memorization import audit, calibrate, closest_pairs_image


def test_exact_copies_are_all_flagged(real32: torch.Tensor, noise32: torch.Tensor) -> None:
    copies = real32[[3, 7, 11, 20]]
    fake = torch.cat([noise32[:10], copies])
    result = audit(real32, fake)
    assert sorted(result.flagged) == [10, 11, 12, 13]
    assert list(result.nearest[10:]) == [3, 7, 11, 20]
    assert np.allclose(result.distance[10:], 0, atol=1e-3)
    assert np.allclose(result.ssim[10:], 1, atol=1e-4)


def test_copies_as_uint8_and_lightly_perturbed_are_flagged(real32: torch.Tensor) -> None:
    noisy = (real32[:6] + 0.01 * torch.randn(6, 1, 32, 32, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert len(audit(real32, to_uint8(noisy)).flagged) == 6


def test_held_out_real_scans_are_flagged_only_when_they_duplicate_a_training_scan(kaggle32: torch.Tensor) -> None:
    """Kaggle-specific: that set holds a few near-identical scans under different names, which the
    calibration sets aside and the audit flags (the MNI152 slices have no such twins)."""
    train, held_out = kaggle32[: len(kaggle32) * 2 // 3], kaggle32[len(kaggle32) * 2 // 3:]
    result = audit(train, held_out)
    # exactly the near-identical scans are flagged
    near_duplicates = set(np.flatnonzero(result.distance < 0.02).tolist())
    assert set(result.flagged) == near_duplicates
    assert len(near_duplicates) < 0.2 * len(held_out)
    t = calibrate(train)
    assert t.distance > 0.02 and 0 < t.ssim < 1 and 0 < t.duplicates < 0.2 * len(train)
    assert result.threshold_distance == t.distance


def test_holdout_base_rate_sets_aside_the_training_scans_and_their_twins(real32: torch.Tensor) -> None:
    train = real32[:19]
    result = audit(train, train.clone(), holdout=real32)  # the whole set: 19 trained on, the rest new
    summary = result.summary()
    assert summary["flagged_fraction"] == 1.0  # copies are flagged...
    assert 19 <= summary["holdout_set_aside"] < 19 + 10  # ...the training scans (and a few twins) set aside...
    assert summary["holdout_n"] == len(real32) - summary["holdout_set_aside"]
    # ...and new patients' scans are flagged now and then (against only 19 scans at 32 px, often): the base rate.
    assert 0 < summary["holdout_flagged"] < 0.5 * summary["holdout_n"]
    assert "holdout_n" not in audit(train, train).summary()


def test_closest_pairs_image_shows_sample_over_its_neighbour(real32: torch.Tensor, noise32: torch.Tensor) -> None:
    fake = torch.cat([noise32[:3], real32[5:6]])
    result = audit(real32, fake)
    picture = closest_pairs_image(result, real32, fake, pairs=2, gap=4)
    assert picture.shape == (2 * 32 + 4, 2 * 32 + 4) and picture.dtype == np.uint8
    assert np.array_equal(picture[:32, :32], picture[36:, :32])  # the copy sits over its original


def test_mirror_audit_flags_flipped_copies_and_keeps_the_unflipped_thresholds(real32: torch.Tensor) -> None:
    train = real32[:40]
    # Two scans that are not their own mirror image: no patient's scan is (the Kaggle ones are 2 and 9),
    # but the MNI152 template is symmetric by construction, half its slices to the pixel at 32 px.
    asymmetry = (train - train.flip(-1)).flatten(1).pow(2).mean(1).sqrt()
    picks = [i for i in range(2, 40, 7) if asymmetry[i] > 0.01][:2]
    flipped = train[picks].flip(-1)
    plain, mirrored = audit(train, flipped), audit(train, flipped, mirror=True)
    assert sorted(mirrored.flagged) == [0, 1] and list(mirrored.nearest) == picks and mirrored.mirrored.all()
    assert np.allclose(mirrored.distance, 0, atol=1e-3)
    assert np.all(plain.distance > 0.01) and not plain.mirrored.any()  # a flipped scan is no pixel copy
    assert mirrored.threshold_distance == plain.threshold_distance  # a scan's mirror is not another scan
    picture = closest_pairs_image(mirrored, train, flipped, pairs=1, gap=0)
    assert np.array_equal(picture[:32], picture[32:])  # the neighbour is shown flipped, as matched
