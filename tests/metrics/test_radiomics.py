"""Radiomic features and the Frechet Radiomic Distance on real MRI (32 px scans of the fixtures)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from braingan.errors import BrainganError
from braingan.metrics.frd import frd
from braingan.metrics.radiomics import DESCRIPTION, FEATURE_NAMES, radiomic_features

SEEDS = range(5)


def blurred(images: torch.Tensor, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(images.numpy(), (0, 0, sigma, sigma))


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[:n // 2], order[n // 2:]


@pytest.fixture(scope="module")
def real_features(real32: torch.Tensor) -> np.ndarray:
    return radiomic_features(real32)


def test_features_are_finite_named_and_deterministic(real32: torch.Tensor, real_features: np.ndarray) -> None:
    assert real_features.dtype == np.float64
    assert real_features.shape == (len(real32), len(FEATURE_NAMES))
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert str(len(FEATURE_NAMES)) in DESCRIPTION
    assert np.isfinite(real_features).all()
    assert (real_features.std(axis=0) > 0).all()  # every feature varies over real scans
    # the same slices give the same numbers, alone or in a batch, as floats or as 8-bit grey
    np.testing.assert_array_equal(radiomic_features(real32[5:9]), real_features[5:9])
    grey = ((real32[:8, 0] + 1) * 127.5).round().to(torch.uint8)
    np.testing.assert_array_equal(radiomic_features(grey), radiomic_features(grey.float() / 127.5 - 1))


def test_blank_and_noise_slices_give_finite_features(noise32: torch.Tensor) -> None:
    black, white = -torch.ones(2, 1, 32, 32), torch.ones(2, 1, 32, 32)
    for images in (black, white, noise32[:8]):
        assert np.isfinite(radiomic_features(images)).all()


def test_too_small_slices_are_refused(real32: torch.Tensor) -> None:
    with pytest.raises(BrainganError, match="at least 16 px"):
        radiomic_features(real32[:, :, :8, :8])


def test_texture_features_see_blur(real32: torch.Tensor, real_features: np.ndarray) -> None:
    """Blur lowers fine-scale contrast, detail energy and LoG response, and lengthens grey-level runs."""
    smooth = radiomic_features(blurred(real32, 1.0))
    for name in ("glcm_d1_contrast", "haar1_h_energy", "haar1_v_energy", "log_sigma1_std"):
        i = FEATURE_NAMES.index(name)
        assert (smooth[:, i] < real_features[:, i]).all(), name
    i = FEATURE_NAMES.index("glrlm_lre")
    assert (smooth[:, i] > real_features[:, i]).mean() > 0.8


def test_frd_is_zero_for_identical_sets_and_small_for_halves(real32: torch.Tensor, real_features: np.ndarray,
                                                            noise32: torch.Tensor) -> None:
    assert abs(frd(real_features, real_features)) < 1e-6
    noise = radiomic_features(noise32)
    smooth = radiomic_features(blurred(real32, 1.0))
    for seed in SEEDS:
        a, b = halves(len(real32), seed)
        between_halves = frd(real_features[a], real_features[b])
        assert 0 < between_halves < 0.5 * frd(real_features[a], smooth[b])
        assert frd(real_features[a], noise[b]) > 50 * between_halves


def test_frd_grows_with_blur(real32: torch.Tensor, real_features: np.ndarray) -> None:
    distances = [frd(real_features, radiomic_features(blurred(real32, sigma))) for sigma in (0.5, 1.0, 2.0, 3.0)]
    assert distances[0] > 1.0
    assert all(later > 1.2 * earlier for earlier, later in zip(distances, distances[1:])), distances


def test_frd_drops_features_constant_in_the_reference(real_features: np.ndarray) -> None:
    real, fake = real_features[:70].copy(), real_features[70:].copy()
    real[:, 0] = 0.5  # constant over the real set, varying over the other
    value = frd(real, fake)
    assert np.isfinite(value)
    assert value == pytest.approx(frd(real[:, 1:], fake[:, 1:]))


def test_frd_refuses_mismatched_or_tiny_sets(real_features: np.ndarray) -> None:
    with pytest.raises(BrainganError, match="same F"):
        frd(real_features, real_features[:, :-1])
    with pytest.raises(BrainganError, match="at least 2"):
        frd(real_features, real_features[:1])
    with pytest.raises(BrainganError, match="constant"):
        frd(np.ones((5, 3)), real_features[:5, :3])
