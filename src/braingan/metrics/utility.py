"""Augmentation utility: does adding synthetic images help a small tumour classifier?

For each seed, the real labelled images are split (stratified by class, each scan group whole on
one side, so no patient's slices are on both) into a training and a held-out part; a small CNN
is trained on the real training part alone, and again, from the same initialisation, on it plus
synthetic images (per class, ``synthetic_ratio`` times as many as the real training part has,
drawn with the seed); both are scored on the held-out real part.
The reading is the paired difference, synthetic arm minus real-only arm on the same split and
seed, in balanced accuracy and AUC (binary, or macro one-vs-rest).

The comparison only means something when the real-only classifier has learned the task, so the
study first checks it against always answering the majority class (whose balanced accuracy is
chance, 1/classes) and says plainly when it does not clear it.

Intervals over seeds use the corrected resampled t-test of Nadeau & Bengio ("Inference for the
Generalization Error", Machine Learning 52, 2003): the seeds' random splits share most images,
so their scores are correlated and the plain t-interval would be too narrow; the variance of
the mean is taken as (1/seeds + n_test/n_train) times the seeds' sample variance.

The classifier is small enough to train on a CPU (four conv-BatchNorm-pool blocks, left-right
flips). Batch normalisation, a class-weighted loss and a one-cycle schedule let it learn from a
hundred or so scans; without them a small CNN tends to answer the majority class whatever it
sees, which is why the study checks for exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from braingan.errors import BrainganError
from braingan.metrics.arrays import Images, as_tensor

SIZE = 64
SEEDS = (0, 1, 2, 3, 4)
EPOCHS = 25
BATCH = 32
WIDTH = 12  # channels of the first block; each later block doubles them
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
TEST_FRACTION = 0.3
SYNTHETIC_RATIO = 1.0
CONFIDENCE = 0.95
SCORES = ("accuracy", "balanced_accuracy", "auc")
READINGS = ("balanced_accuracy", "auc")  # accuracy rewards answering the majority class
INTERVAL_OVER = (f"{CONFIDENCE:.0%} interval over seeds: Student t with the Nadeau-Bengio correction for "
                 "overlapping random splits (variance x (1/seeds + n_test/n_train)); none with one seed")


@dataclass
class Scores:
    """One arm's scores on the held-out real images, one entry per seed."""

    accuracy: list[float] = field(default_factory=list)
    balanced_accuracy: list[float] = field(default_factory=list)
    auc: list[float] = field(default_factory=list)

    def minus(self, other: Scores) -> Scores:
        """Seed by seed differences: paired, since both arms share split and seed."""
        return Scores(*([a - b for a, b in zip(getattr(self, s), getattr(other, s), strict=True)] for s in SCORES))

    def summary(self, test_over_train: float, bounds: tuple[float, float] = (0.0, 1.0)) -> dict:
        return {s: interval(getattr(self, s), test_over_train, bounds) for s in SCORES}


def interval(values: Sequence[float], test_over_train: float, bounds: tuple[float, float] = (0.0, 1.0)) -> dict:
    """Mean, sample std and the corrected resampled t-interval of per-seed values, clipped to
    the values' possible range (interval and std None where one value gives no spread)."""
    v = np.asarray(values, dtype=float)
    out = {"mean": float(v.mean()), "std": None, "low": None, "high": None, "per_seed": [float(x) for x in v]}
    if len(v) > 1:
        std = float(v.std(ddof=1))
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(v) - 1)) * std * math.sqrt(1 / len(v) + test_over_train)
        out.update(std=std, low=max(bounds[0], out["mean"] - half), high=min(bounds[1], out["mean"] + half))
    return out


@dataclass
class UtilityResult:
    """Both arms over the seeds, and what they were trained and tested on."""

    real_only: Scores
    real_plus_synthetic: Scores
    class_names: list[str]
    n_train_real: int  # per seed (the mean, where scan groups make it vary)
    n_test_real: int
    test_over_train: float  # the mean over seeds of n_test / n_train, for the interval's correction
    n_synthetic: int  # synthetic training images per seed, all classes
    synthetic_per_class: dict[str, int]
    synthetic_available: int
    synthetic_ratio: float
    majority: float  # accuracy of always answering the training part's most common class, on the test part
    chance: float  # balanced accuracy of any constant answer, the majority class's included
    epochs: int
    size: int

    @property
    def difference(self) -> Scores:
        return self.real_plus_synthetic.minus(self.real_only)

    def summary(self) -> dict:
        """JSON-ready (no NaN): both arms, their paired difference, and whether it means anything."""
        base = self.real_only.summary(self.test_over_train)
        difference = self.difference.summary(self.test_over_train, bounds=(-1.0, 1.0))
        learned = base["balanced_accuracy"]["low"] is not None and base["balanced_accuracy"]["low"] > self.chance
        readings = {f"difference.{s}": [difference[s]["low"], difference[s]["high"]] for s in READINGS
                    if difference[s]["low"] is not None}
        return {"real_only": base, "real_plus_synthetic": self.real_plus_synthetic.summary(self.test_over_train),
                "difference": difference, "interval": readings, "interval_over": INTERVAL_OVER,
                "majority": self.majority, "chance": self.chance, "beats_majority": learned,
                "verdict": verdict(base, difference, self.chance, self.majority, learned),
                "classes": self.class_names, "n_train_real": self.n_train_real, "n_test_real": self.n_test_real,
                "n_synthetic": self.n_synthetic,
                "synthetic_per_class": self.synthetic_per_class, "synthetic_available": self.synthetic_available,
                "synthetic_ratio": self.synthetic_ratio, "seeds": len(self.real_only.accuracy),
                "epochs": self.epochs, "resolution": self.size}


def _bracket(score: dict, signed: bool = False) -> str:
    form = "+.3f" if signed else ".3f"
    if score["low"] is None:
        return f"{score['mean']:{form}} (one seed: no interval)"
    return f"{score['mean']:{form}} [{score['low']:{form}}, {score['high']:{form}}]"


def verdict(base: dict, difference: dict, chance: float, majority: float, learned: bool) -> str:
    """The reading in plain words: first whether the real-only classifier learned at all."""
    balanced = base["balanced_accuracy"]
    yardstick = (f"chance {chance:.2f}, what always answering the majority class scores (its accuracy here: "
                 f"{majority:.3f})")
    if not learned:
        return (f"Not meaningful: the real-only classifier does not beat the majority class by a clear margin "
                f"(balanced accuracy {_bracket(balanced)}; {yardstick}). It has not learned the real task, so "
                "adding synthetic images cannot be judged by it.")
    change = difference["balanced_accuracy"]
    if change["low"] > 0:
        reading = "the synthetic images help"
    elif change["high"] < 0:
        reading = "the synthetic images hurt"
    else:
        reading = "no difference beyond noise"
    return (f"The real-only classifier learns the task (balanced accuracy {_bracket(balanced)} against {yardstick}). "
            f"Adding synthetic images changes its balanced accuracy by {_bracket(change, signed=True)}: {reading}.")


def _classifier(classes: int, width: int = WIDTH) -> nn.Module:
    layers: list[nn.Module] = []
    channels = 1
    for block in range(4):
        out = width * 2 ** block
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(channels, classes))


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


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Mean recall over the classes present in ``labels``: chance is 1/classes however unequal they are."""
    return float(np.mean([(predicted[labels == c] == c).mean() for c in np.unique(labels)]))


def _group_labels(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct scan groups and each one's class (its most common label)."""
    ids, inverse = np.unique(groups, return_inverse=True)
    votes = np.zeros((len(ids), labels.max() + 1), dtype=int)
    np.add.at(votes, (inverse, labels), 1)
    return ids, votes.argmax(1)


def _split(labels: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Image indices (train, test): TEST_FRACTION of each class's scan groups held out, each group whole."""
    ids, group_class = _group_labels(labels, groups)
    held_out = []
    for c in np.unique(group_class):
        members = rng.permutation(ids[group_class == c])
        held_out.extend(members[:max(1, int(round(len(members) * TEST_FRACTION)))])
    test = np.isin(groups, held_out)
    return np.flatnonzero(~test), np.flatnonzero(test)


def _draw_synthetic(labels: np.ndarray, train_counts: np.ndarray, ratio: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Indices of the synthetic images to add: per class, ``ratio`` times its real training count
    (all of that class's synthetic images where fewer were given)."""
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:int(round(ratio * n))] for c, n in enumerate(train_counts)]
    return np.concatenate(chosen).astype(int)


def _fit_and_score(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: np.ndarray, classes: int,
                   seed: int, epochs: int) -> tuple[float, float, float]:
    torch.manual_seed(seed)  # the same initial weights in both arms of a seed
    model = _classifier(classes)
    counts = torch.bincount(y, minlength=classes).float()
    weight = counts.sum() / (classes * counts.clamp(min=1))  # each class weighs the same in the loss
    opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, LEARNING_RATE, total_steps=epochs * math.ceil(len(x) / BATCH))
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=g).split(BATCH):
            xb = x[batch]
            flip = torch.rand(len(xb), generator=g) < 0.5  # left-right flips: brains are near-symmetric
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = F.cross_entropy(model(xb), y[batch], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        probs = torch.cat([model(xb).softmax(dim=1) for xb in x_test.split(256)]).numpy()
    predicted = probs.argmax(1)
    return float((predicted == y_test).mean()), balanced_accuracy(predicted, y_test), auc_one_vs_rest(probs, y_test)


def _resize(images: Images, size: int) -> torch.Tensor:
    return F.interpolate(as_tensor(images), size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _labels(labels: np.ndarray, count: int, classes: int, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise BrainganError(f"utility: each {what} image needs exactly one label ({count} images, "
                            f"{labels.size} labels)")
    if labels.size and (labels.min() < 0 or labels.max() >= classes or not np.all(labels == labels.astype(int))):
        raise BrainganError(f"utility: {what} labels must be class indices 0..{classes - 1}")
    return labels.astype(int)


def utility(real: Images, real_labels: np.ndarray, synthetic: Images, synthetic_labels: np.ndarray,
            class_names: list[str], seeds: Sequence[int] = SEEDS, epochs: int = EPOCHS,
            synthetic_ratio: float = SYNTHETIC_RATIO, size: int = SIZE,
            groups: np.ndarray | None = None) -> UtilityResult:
    """Held-out real scores of a classifier trained on real vs real + synthetic images.

    Labels are indices into ``class_names``, the same for real and synthetic images. Per seed and
    class, ``synthetic_ratio`` times as many synthetic images as the real training part has of
    that class are added (fewer where fewer were given); images are resized to ``size`` px.
    ``groups``: the scan group of each real image (slices of one volume), kept on one side of
    every split; None: each image its own.
    """
    classes = len(class_names)
    real_labels = _labels(real_labels, len(real), classes, "real")
    if len(np.unique(real_labels)) < 2:
        raise BrainganError("utility needs real images of at least two classes (e.g. --real with yes/ and no/)")
    groups = np.arange(len(real_labels)) if groups is None else np.asarray(groups)
    if groups.shape != real_labels.shape:
        raise BrainganError(f"utility: each real image needs one scan group ({len(real_labels)} images, "
                            f"{groups.size} groups)")
    group_counts = np.bincount(_group_labels(real_labels, groups)[1], minlength=classes)
    if group_counts[np.unique(real_labels)].min() < 2:
        raise BrainganError("utility needs at least two real scans of each class (one to train on, one to test)")
    if not seeds:
        raise BrainganError("utility needs at least one seed")
    if synthetic_ratio <= 0:
        raise BrainganError(f"utility: synthetic_ratio must be positive, not {synthetic_ratio}")
    if size < 16:
        raise BrainganError(f"utility: size must be at least 16 px (the classifier halves it four times), not {size}")
    x_real, x_synth = _resize(real, size), _resize(synthetic, size)
    synthetic_labels = _labels(synthetic_labels, len(x_synth), classes, "synthetic")
    base, augmented = Scores(), Scores()
    sizes, synthetic_counts, majority = [], [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train, test = _split(real_labels, groups, rng)
        train_counts = np.bincount(real_labels[train], minlength=classes)
        majority.append(float((real_labels[test] == train_counts.argmax()).mean()))
        extra = _draw_synthetic(synthetic_labels, train_counts, synthetic_ratio, rng)
        sizes.append((len(train), len(test)))
        synthetic_counts.append(np.bincount(synthetic_labels[extra], minlength=classes))
        y_train = torch.as_tensor(real_labels[train])
        for scores, x, y in (
            (base, x_real[train], y_train),
            (augmented, torch.cat([x_real[train], x_synth[extra]]),
             torch.cat([y_train, torch.as_tensor(synthetic_labels[extra])])),
        ):
            for name, value in zip(SCORES, _fit_and_score(x, y.long(), x_real[test], real_labels[test], classes,
                                                          seed, epochs), strict=True):
                getattr(scores, name).append(value)
    n_train, n_test = np.mean(sizes, axis=0)
    per_class = np.mean(synthetic_counts, axis=0).round().astype(int)
    return UtilityResult(base, augmented, [str(c) for c in class_names], int(round(n_train)), int(round(n_test)),
                         float(np.mean([b / a for a, b in sizes])), int(per_class.sum()),
                         {str(name): int(n) for name, n in zip(class_names, per_class, strict=True)}, len(x_synth),
                         float(synthetic_ratio), float(np.mean(majority)), 1 / len(np.unique(real_labels)), epochs,
                         size)
