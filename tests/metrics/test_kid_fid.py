"""FID against closed-form Gaussians, KID unbiasedness, and real Inception features on real MRI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from braingan.metrics.inception import InceptionFeatures, locate_weights
from braingan.metrics.kid_fid import fid, frechet_distance, kid


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def test_frechet_distance_matches_closed_form_for_commuting_covariances() -> None:
    d = 6
    r = _rotation(d, 0)
    v1, v2 = np.linspace(0.5, 3, d), np.linspace(2, 0.2, d)
    mu1, mu2 = np.zeros(d), np.arange(d, dtype=float)
    s1, s2 = r @ np.diag(v1) @ r.T, r @ np.diag(v2) @ r.T
    expected = mu2 @ mu2 + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-8)


def test_fid_of_samples_approaches_the_population_value() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, size=(20000, 4))
    b = rng.normal(1, 2, size=(20000, 4))
    # N(0, I) vs N(1, 4I) in 4-d: 4 * 1 + 4 * (1 + 4 - 2 * 2) = 8
    assert fid(a, b) == pytest.approx(8, rel=0.02)
    assert fid(a[:10000], a[10000:]) < 0.01


def test_low_rank_fid_equals_the_covariance_formula() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(12, 30)), rng.normal(0.3, 1.5, size=(9, 30))
    full = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fid(a, b) == pytest.approx(full, rel=1e-5)


def test_kid_is_unbiased_on_two_samples_of_one_distribution() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same = kid(a, b, subsets=200)
    assert same.subset_size == 300
    assert abs(same.mean) < 3 * same.std / np.sqrt(same.subsets) + 1e-3
    shifted = kid(a, rng.normal(0.5, 1, size=(300, 16)))
    assert shifted.mean > 20 * abs(same.mean) and shifted.mean > 0


def test_kid_subset_size_adapts_to_small_sets() -> None:
    rng = np.random.default_rng(3)
    assert kid(rng.normal(size=(40, 8)), rng.normal(size=(1200, 8)), subsets=5).subset_size == 40


def _weights() -> Path:
    path, note = locate_weights()
    if path is None:
        pytest.skip(note)
    return path


@pytest.fixture(scope="module")
def inception(tmp_path_factory: pytest.TempPathFactory) -> InceptionFeatures:
    with pytest.MonkeyPatch.context() as patch:  # the ONNX conversion goes to a private cache
        patch.setenv("BRAINGAN_CACHE", str(tmp_path_factory.mktemp("inception_cache")))
        return InceptionFeatures(_weights())


def test_real_fid_and_kid_on_inception_features(inception: InceptionFeatures, real32: torch.Tensor,
                                                noise32: torch.Tensor) -> None:
    real = inception(real32[:24])
    assert real.shape == (24, 2048) and np.isfinite(real).all() and real.min() >= 0  # pool3 follows a ReLU
    noise = inception(noise32[:12])
    a, b = real[:12], real[12:]
    assert fid(a, a) == pytest.approx(0, abs=1e-3)
    assert fid(a, b) < 0.5 * fid(a, noise)
    assert kid(a, b).mean < kid(a, noise).mean


def test_onnxruntime_features_equal_torch_features(inception: InceptionFeatures, real32: torch.Tensor) -> None:
    if inception.runtime is None:
        pytest.skip(f"features run with {inception.backend}")
    assert inception.backend.startswith("onnxruntime")
    fast = inception(real32[:6])
    inception.runtime, runtime = None, inception.runtime
    try:
        plain = inception(real32[:6])
    finally:
        inception.runtime = runtime
    assert np.abs(fast - plain).max() < 1e-4


def test_a_damaged_onnx_cache_entry_is_converted_again(isolated_cache: Path, real32: torch.Tensor) -> None:
    pytest.importorskip("onnxruntime")
    path = _weights()
    first = InceptionFeatures(path)
    assert first.runtime is not None, first.backend
    (converted,) = (isolated_cache / "inception").glob("*.onnx")
    converted.write_bytes(b"not an onnx graph")
    again = InceptionFeatures(path)
    assert again.runtime is not None, again.backend
    assert converted.stat().st_size > 1_000_000
    assert np.abs(again(real32[:2]) - first(real32[:2])).max() < 1e-5
