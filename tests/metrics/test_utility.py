"""Augmentation utility on real MRI: the real-only classifier learns the task, the study says so
plainly when it has not, and synthetic images that carry nothing do not raise the score.

The tests train at 32 px with 3 seeds; the defaults (64 px, 5 seeds, 25 epochs) are for real use."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.errors import BrainganError
from braingan.metrics.registry import METRICS
from braingan.metrics.result import Paragraph
from braingan.metrics.utility import TEST_FRACTION, auc_one_vs_rest, balanced_accuracy, interval, utility

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def labelled(real_classes: tuple[Path, tuple[str, str]]) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Two real classes at 32 px: the seed's tumour / no tumour scans, or upper / lower MNI152 slices."""
    folder, _ = real_classes
    data = load_dataset(DataConfig(path=str(folder), resolution=32, cache=False), log=lambda _: None)
    assert len(data.class_names) == 2 and len(data.labels) > 60
    return data.images, data.labels.numpy(), data.class_names


def test_auc_matches_hand_counts() -> None:
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    assert auc_one_vs_rest(probs, np.array([0, 0, 1, 1])) == 1.0
    assert auc_one_vs_rest(probs, np.array([1, 1, 0, 0])) == 0.0
    assert auc_one_vs_rest(probs, np.array([0, 1, 0, 1])) == 0.75


def test_balanced_accuracy_gives_the_majority_answer_chance() -> None:
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    assert balanced_accuracy(np.zeros(8), labels) == 0.5  # its accuracy would be 0.75
    assert balanced_accuracy(np.array([0, 0, 0, 0, 0, 1, 1, 0]), labels) == pytest.approx((5 / 6 + 1 / 2) / 2)


def test_interval_is_the_corrected_resampled_t_interval() -> None:
    half = stats.t.ppf(0.975, 2) * 0.1 * math.sqrt(1 / 3 + 0.5)  # Nadeau & Bengio: 1/seeds + n_test/n_train
    score = interval([0.7, 0.8, 0.9], test_over_train=0.5)
    assert score["mean"] == pytest.approx(0.8) and score["std"] == pytest.approx(0.1)
    assert score["low"] == pytest.approx(0.8 - half) and score["high"] == 1.0  # clipped to what a score can be
    assert interval([0.7], test_over_train=0.5)["low"] is None


def test_real_only_learns_and_flat_grey_images_do_not_help(labelled: tuple[torch.Tensor, np.ndarray, list[str]]
                                                           ) -> None:
    x, y, names = labelled
    grey = torch.zeros_like(x)  # mid-grey: "synthetic" images that say nothing about either class
    summary = utility(x, y, grey, y, names, seeds=SEEDS, epochs=25, size=32).summary()
    json.dumps(summary, allow_nan=False)
    base, change = summary["real_only"], summary["difference"]
    # Kaggle yes/no at 32 px: balanced accuracy 0.80 [0.63, 0.97], AUC 0.86, accuracy 0.81 vs majority 0.62
    assert summary["beats_majority"] and base["balanced_accuracy"]["low"] > summary["chance"] == 0.5
    assert base["balanced_accuracy"]["mean"] >= 0.7 and base["auc"]["mean"] >= 0.75
    assert base["accuracy"]["mean"] >= summary["majority"] + 0.1
    assert change["balanced_accuracy"]["low"] <= 0 and change["auc"]["low"] <= 0
    assert "no difference beyond noise" in summary["verdict"] or "hurt" in summary["verdict"]
    # balanced: as many synthetic images per class as the real training part has
    counts = np.bincount(y)
    train = {name: int(n - max(1, round(n * TEST_FRACTION))) for name, n in zip(names, counts, strict=True)}
    assert summary["synthetic_per_class"] == train and summary["n_synthetic"] == summary["n_train_real"]
    result = METRICS["utility"].result(summary)
    readings = {r.label: r for r in result.rows if r.better}
    assert set(readings) == {"difference.balanced_accuracy", "difference.auc"}
    assert all(" – " in r.interval for r in readings.values())  # the paired difference's interval, in its column
    verdict, _, table, _ = result.section.blocks
    assert verdict == Paragraph(summary["verdict"])
    assert [row[0] for row in table.rows] == ["real only", "real plus synthetic", "difference (paired)"]


def test_a_classifier_that_learned_nothing_is_called_meaningless(
        labelled: tuple[torch.Tensor, np.ndarray, list[str]]) -> None:
    x, y, names = labelled
    shuffled = np.random.default_rng(0).permutation(y)  # real scans under labels that say nothing about them
    summary = utility(x, shuffled, x[:4], shuffled[:4], names, seeds=SEEDS, epochs=10, size=32).summary()
    json.dumps(summary, allow_nan=False)
    assert not summary["beats_majority"] and summary["real_only"]["balanced_accuracy"]["low"] <= 0.5
    assert summary["verdict"].startswith("Not meaningful")
    section = METRICS["utility"].result(summary).section
    assert section.blocks[0] == Paragraph(summary["verdict"], "warn")


def test_utility_reports_both_arms_over_seeds(labelled: tuple[torch.Tensor, np.ndarray, list[str]]) -> None:
    x, y, names = labelled
    # "synthetic" images: flipped real ones, a stand-in generator that certainly keeps the classes apart
    result = utility(x, y, x.flip(-1), y, names, seeds=(0, 1), epochs=3, synthetic_ratio=0.5, size=32)
    summary = result.summary()
    json.dumps(summary, allow_nan=False)
    assert summary["seeds"] == 2 and summary["synthetic_available"] == len(y)
    assert abs(summary["n_synthetic"] - result.n_train_real / 2) <= 1
    assert result.n_train_real + result.n_test_real == len(y)
    for arm in ("real_only", "real_plus_synthetic"):
        for score in ("accuracy", "balanced_accuracy", "auc"):
            assert 0 <= summary[arm][score]["low"] <= summary[arm][score]["mean"] <= summary[arm][score]["high"] <= 1
            assert len(summary[arm][score]["per_seed"]) == 2
    assert summary["difference"]["auc"]["per_seed"] == pytest.approx(
        np.subtract(summary["real_plus_synthetic"]["auc"]["per_seed"], summary["real_only"]["auc"]["per_seed"]))


def test_one_class_and_unlabelled_images_are_refused() -> None:
    x = torch.zeros(10, 1, 32, 32)
    with pytest.raises(BrainganError, match="two classes"):
        utility(x, np.zeros(10), x, np.zeros(10), ["yes"])
    with pytest.raises(BrainganError, match="exactly one label"):
        utility(x, np.arange(9) % 2, x, np.zeros(10), ["no", "yes"])
    with pytest.raises(BrainganError, match="two real scans of each class"):  # a scan's slices stay on one side
        utility(x, np.arange(10) // 5, x, np.zeros(10), ["no", "yes"], groups=np.arange(10) // 5)
