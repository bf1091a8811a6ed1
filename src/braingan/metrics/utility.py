"""Augmentation utility: does adding synthetic images help a small tumour classifier?

For each seed, the real labelled images are split (stratified) into a training and a held-out
part; a small CNN is trained on the real training part alone, and again on it plus the
synthetic images of each class; both are scored on the held-out real part (accuracy and
AUC: binary, or macro one-vs-rest). Mean and spread over seeds tell whether the difference is
more than noise. Kept small (64 px, a 3-layer CNN, few epochs) so it runs on a CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from braingan.errors import BrainganError
from braingan.metrics.arrays import Images, as_tensor

SIZE = 64
SEEDS = (0, 1, 2)
EPOCHS = 12
BATCH = 32
TEST_FRACTION = 0.3


@dataclass
class Scores:
    accuracy: list[float] = field(default_factory=list)
    auc: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        return {name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "per_seed": v}
                for name, v in asdict(self).items()}


@dataclass
class UtilityResult:
    real_only: Scores
    real_plus_synthetic: Scores
    class_names: list[str]
    n_train_real: int
    n_test_real: int
    n_synthetic: int

    def summary(self) -> dict:
        return {"real_only": self.real_only.summary(), "real_plus_synthetic": self.real_plus_synthetic.summary(),
                "classes": self.class_names, "n_train_real": self.n_train_real,
                "n_test_real": self.n_test_real, "n_synthetic": self.n_synthetic,
                "seeds": len(self.real_only.accuracy), "resolution": SIZE}


def _classifier(classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes),
    )


def auc_one_vs_rest(probs: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula; binary for 2 classes, else the macro one-vs-rest mean."""
    classes = range(1, 2) if probs.shape[1] == 2 else range(probs.shape[1])
    values = []
    for c in classes:
        positive = labels == c
        if positive.all() or not positive.any():
            continue
        score = probs[:, c]
        order = score.argsort(kind="stable")
        ranks = np.empty(len(score))
        ranks[order] = np.arange(1, len(score) + 1)
        for value in np.unique(score):  # ties share their mean rank
            tied = score == value
            ranks[tied] = ranks[tied].mean()
        n_pos, n_neg = positive.sum(), (~positive).sum()
        values.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(values)) if values else float("nan")


def _split(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = max(1, int(round(len(idx) * TEST_FRACTION)))
        test.extend(idx[:cut])
        train.extend(idx[cut:])
    return np.array(train), np.array(test)


def _fit_and_score(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: np.ndarray, classes: int,
                   seed: int, epochs: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    model = _classifier(classes)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=g).split(BATCH):
            xb = x[batch]
            flip = torch.rand(len(xb), generator=g) < 0.5  # left-right flips: brains are near-symmetric
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = F.cross_entropy(model(xb), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        probs = model(x_test).softmax(dim=1).numpy()
    return float((probs.argmax(1) == y_test).mean()), auc_one_vs_rest(probs, y_test)


def _resize(images: Images) -> torch.Tensor:
    return F.interpolate(as_tensor(images), size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)


def utility(real: Images, real_labels: np.ndarray, synthetic: Images, synthetic_labels: np.ndarray,
            class_names: list[str], seeds: tuple[int, ...] = SEEDS, epochs: int = EPOCHS) -> UtilityResult:
    """Held-out real accuracy/AUC of a classifier trained on real vs real + synthetic images.

    Labels are indices into ``class_names``, the same for real and synthetic images.
    """
    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    if len(np.unique(real_labels)) < 2:
        raise BrainganError("utility needs real images of at least two classes (e.g. --real with yes/ and no/)")
    x_real, x_synth = _resize(real), _resize(synthetic)
    if len(x_real) != len(real_labels) or len(x_synth) != len(synthetic_labels):
        raise BrainganError("utility: each image needs exactly one label")
    classes = len(class_names)
    base, augmented = Scores(), Scores()
    for seed in seeds:
        train, test = _split(real_labels, np.random.default_rng(seed))
        y_train = torch.as_tensor(real_labels[train])
        for scores, x, y in (
            (base, x_real[train], y_train),
            (augmented, torch.cat([x_real[train], x_synth]), torch.cat([y_train, torch.as_tensor(synthetic_labels)])),
        ):
            accuracy, auc = _fit_and_score(x, y.long(), x_real[test], real_labels[test], classes, seed, epochs)
            scores.accuracy.append(accuracy)
            scores.auc.append(auc)
    return UtilityResult(base, augmented, list(class_names), len(train), len(test), len(x_synth))
