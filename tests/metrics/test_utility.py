"""Augmentation utility on arrays: AUC formula, a learnable task, and synthetic copies as control."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.errors import BrainganError
from braingan.metrics.utility import auc_one_vs_rest, utility


def test_auc_matches_hand_counts() -> None:
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    assert auc_one_vs_rest(probs, np.array([0, 0, 1, 1])) == 1.0
    assert auc_one_vs_rest(probs, np.array([1, 1, 0, 0])) == 0.0
    assert auc_one_vs_rest(probs, np.array([0, 1, 0, 1])) == 0.75


def test_utility_reports_both_arms_over_seeds(real_classes: tuple[Path, tuple[str, str]]) -> None:
    """Two real classes: the seed's tumour / no tumour scans, or upper / lower MNI152 slices."""
    folder, _ = real_classes
    data = load_dataset(DataConfig(path=str(folder), resolution=32, cache=False), log=lambda _: None)
    assert len(data.class_names) == 2 and len(data.labels) > 60
    labels = data.labels.numpy()
    # "synthetic" images: flipped real ones, a stand-in generator that certainly keeps the classes apart
    result = utility(data.images, labels, data.images.flip(-1)[:60], labels[:60], data.class_names,
                     seeds=(0, 1), epochs=3)
    summary = result.summary()
    assert summary["seeds"] == 2 and summary["n_synthetic"] == 60
    assert result.n_train_real + result.n_test_real == len(labels)
    for arm in ("real_only", "real_plus_synthetic"):
        assert 0 <= summary[arm]["accuracy"]["mean"] <= 1
        assert 0 <= summary[arm]["auc"]["mean"] <= 1 and len(summary[arm]["auc"]["per_seed"]) == 2


def test_one_class_is_refused() -> None:
    x = torch.zeros(10, 1, 32, 32)
    with pytest.raises(BrainganError, match="two classes"):
        utility(x, np.zeros(10), x, np.zeros(10), ["yes"])
