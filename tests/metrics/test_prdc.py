"""PRDC on controls: identical sets score 1, far sets 0, a collapsed set has low recall/coverage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from braingan.metrics.features import random_cnn_features
from braingan.metrics.prdc import prdc


def test_identical_sets_have_precision_and_recall_one() -> None:
    x = np.random.default_rng(0).normal(size=(200, 8))
    r = prdc(x, x)
    assert r.precision == 1 and r.recall == 1 and r.coverage == 1
    assert r.density == pytest.approx(1.0, abs=0.3)


def test_disjoint_and_collapsed_sets() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 8))
    far = prdc(real, rng.normal(10, 1, size=(300, 8)))
    assert far.precision == 0 and far.recall == 0 and far.coverage == 0
    collapsed = prdc(real, rng.normal(0, 0.05, size=(300, 8)))
    assert collapsed.precision > 0.9 and collapsed.recall < 0.2 and collapsed.coverage < 0.2


def test_random_cnn_features_separate_mri_from_noise(real32: torch.Tensor, noise32: torch.Tensor) -> None:
    real = random_cnn_features(real32)
    assert real.shape == (len(real32), 512)
    assert np.array_equal(real, random_cnn_features(real32))  # fixed seed: same space every time
    half = len(real) // 2
    same = prdc(real[:half], real[half:])
    noise = prdc(real, random_cnn_features(noise32))
    assert same.precision > 0.6 and same.coverage > 0.6
    # precision is fooled by real outliers' large balls (why Naeem et al. add density and coverage)
    assert noise.recall < 0.1 and noise.coverage < 0.1 and noise.density < 0.5 * same.density
