"""Classifier two-sample test on real MRI, in the radiomic and the random-CNN feature spaces."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy import ndimage

from braingan.errors import BrainganError
from braingan.metrics.features import random_cnn_features
from braingan.metrics.radiomics import radiomic_features
from braingan.metrics.two_sample import TwoSampleResult, two_sample_test

SEEDS = range(5)
SPACES: dict[str, Callable[[torch.Tensor | np.ndarray], np.ndarray]] = {
    "radiomic": radiomic_features, "random_cnn": random_cnn_features}


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[:n // 2], order[n // 2:]


@pytest.fixture(scope="module", params=sorted(SPACES))
def space(request: pytest.FixtureRequest, real32: torch.Tensor, noise32: torch.Tensor) -> dict[str, np.ndarray]:
    """Features of the real scans, of noise, and of the scans strongly blurred (sigma 2 px at 32 px)."""
    features = SPACES[request.param]
    return {"real": features(real32), "noise": features(noise32),
            "blurred": features(ndimage.gaussian_filter(real32.numpy(), (0, 0, 2.0, 2.0)))}


def test_halves_of_the_real_set_are_indistinguishable(space: dict[str, np.ndarray]) -> None:
    real = space["real"]
    accuracies = [two_sample_test(real[a], real[b], seed=seed).accuracy
                  for seed, (a, b) in ((s, halves(len(real), s)) for s in SEEDS)]
    assert abs(np.mean(accuracies) - 0.5) < 0.1, accuracies
    assert all(abs(accuracy - 0.5) < 0.2 for accuracy in accuracies), accuracies


def test_noise_and_blurred_scans_are_told_apart(space: dict[str, np.ndarray]) -> None:
    real = space["real"]
    a, b = halves(len(real), 0)  # the blurred scans are others than the real ones they are compared with
    noise = two_sample_test(real[a], space["noise"][b])
    blurred = two_sample_test(real[a], space["blurred"][b])
    assert noise.accuracy > 0.95
    assert blurred.accuracy > 0.85
    assert blurred.interval[0] > 0.75


def test_copies_of_the_real_scans_fall_below_chance(space: dict[str, np.ndarray]) -> None:
    """Each fake is a real scan: in a test fold it meets its twin from training under the other label."""
    real = space["real"]
    for seed in SEEDS:
        copies = two_sample_test(real, real.copy(), seed=seed)
        assert copies.accuracy < 0.4
        assert copies.interval[1] < 0.5


def test_result_is_balanced_seeded_and_json_ready(real32: torch.Tensor) -> None:
    features = radiomic_features(real32)
    real, fake = features[:40], features[40:]  # 40 and the rest (59 or more): both classes get 40
    result = two_sample_test(real, fake, folds=4, seed=3)
    assert isinstance(result, TwoSampleResult)
    assert (result.n_per_class, result.folds) == (40, 4)
    assert result.interval[0] <= result.accuracy <= result.interval[1]
    assert two_sample_test(real, fake, folds=4, seed=3) == result
    summary = json.loads(json.dumps(result.summary()))
    assert summary["accuracy"] == result.accuracy and summary["n_per_class"] == 40
    assert summary["interval"] == list(result.interval)


def test_too_few_images_or_mismatched_features_are_refused(real32: torch.Tensor) -> None:
    features = radiomic_features(real32[:12])
    with pytest.raises(BrainganError, match="at least 5 real and 5 generated"):
        two_sample_test(features, features[:4])
    with pytest.raises(BrainganError, match="same D"):
        two_sample_test(features, features[:, :-1])
    with pytest.raises(BrainganError, match="at least 2 folds"):
        two_sample_test(features, features, folds=1)
