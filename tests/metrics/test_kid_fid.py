"""FID against closed-form Gaussians, KID unbiasedness, and real Inception features on real MRI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from braingan.metrics.inception import InceptionFeatures, locate_weights
from braingan.metrics.kid_fid import fd_infinity, fid, frechet_distance, kid, kid_scorer, polynomial_kernel


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
    draws = [kid(rng.normal(size=(100, 16)), rng.normal(size=(100, 16))) for _ in range(40)]
    assert abs(np.mean(draws)) < 3 * np.std(draws) / np.sqrt(len(draws))  # centred on 0: unbiased
    assert min(draws) < 0  # and so sometimes negative
    a = rng.normal(size=(300, 16))
    assert kid(a, rng.normal(0.5, 1, size=(300, 16))) > 20 * abs(kid(a, rng.normal(size=(300, 16))))


def test_kid_scorer_leaves_out_an_image_paired_with_its_own_copy() -> None:
    """A bootstrap draw repeats images: the scorer weights them and never pairs a draw with
    itself, so on a set drawn without repeats it is the plain unbiased estimator, and repeating
    every image leaves the within-set mean of the distinct pairs unchanged."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(30, 8)), rng.normal(0.2, 1, size=(40, 8))
    score = kid_scorer(np.concatenate([a, b]))
    ref, cand = np.arange(30), 30 + np.arange(40)
    assert score(ref, cand)["value"] == pytest.approx(kid(a, b), rel=1e-12)
    k = polynomial_kernel(np.concatenate([a, b]))
    kxx = k[:30, :30]
    by_hand = (kxx.sum() - np.trace(kxx)) / (30 * 29) + (k[30:, 30:].sum() - np.trace(k[30:, 30:])) / (40 * 39) \
        - 2 * k[:30, 30:].mean()
    assert kid(a, b) == pytest.approx(by_hand, rel=1e-12)
    twice = score(np.concatenate([ref, ref]), cand)["value"]
    assert abs(twice - kid(a, b)) < 0.05 * abs(kid(a, b)) + 1e-3


def test_fd_infinity_removes_the_small_sample_bias_of_fid() -> None:
    rng = np.random.default_rng(6)
    real = rng.normal(size=(4000, 32))
    fake = rng.normal(size=(400, 32))  # the same distribution: the population FID is 0
    assert fid(real, fake) > 0.05
    assert abs(fd_infinity(real, fake)) < 0.3 * fid(real, fake)
    assert fd_infinity(real, fake[:40]) is None


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
    assert kid(a, b) < kid(a, noise)


def test_onnxruntime_features_equal_torch_features(inception: InceptionFeatures, real32: torch.Tensor) -> None:
    if inception.runtime is None:
        pytest.skip(f"features run with {inception.backend}")
    assert inception.backend.startswith("onnxruntime") and inception.identity.endswith("-onnxruntime-cpu")
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
