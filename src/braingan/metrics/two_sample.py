"""Classifier two-sample test (Lopez-Paz & Oquab 2017, "Revisiting classifier two-sample tests").

Train a classifier to tell real from generated feature vectors and report its accuracy on
images it did not train on. 0.5: the two sets are indistinguishable in that feature space;
1.0: they are always told apart. Well below 0.5 means the generated images are copies of real
ones: a copy in a test fold has its twin in a training fold under the other label, so the
classifier confidently calls it by its twin's class. Unlike FID, the accuracy has a scale that
needs no reference value.

Both classes get min(n_real, n_fake) images (a seeded draw), so 0.5 is chance whatever the set
sizes. Each fold standardises on its training part only (a Pipeline), then fits an L2 logistic
regression with C = 0.1. With 2048-d Inception features and about 100 images per class any two
sets are linearly separable, so held-out accuracy hardly depends on C once the weights are
shrunk: strong shrinkage keeps them near the (standardised) difference of class means, a stable
detector of a shift between the sets that fits no noise and converges in few iterations. C = 0.1
is that strong in 2048 dimensions yet leaves low-dimensional features (the 72 radiomic ones,
fewer than the images) free enough to be used, where C = 0.01 would blunt them. It is the same
for every feature space, so accuracies stay comparable between runs in one space.

Accuracy is over all 2n held-out predictions of a stratified k-fold; its 95% interval is
Wilson's for a proportion of 2n trials, which treats the predictions as independent (folds
share training images, so it is a little narrow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from braingan.errors import BrainganError

C = 0.1
Z95 = 1.959963984540054


@dataclass
class TwoSampleResult:
    accuracy: float  # held-out accuracy of telling real from generated
    interval: tuple[float, float]  # 95% Wilson interval of the accuracy
    n_per_class: int
    folds: int

    def summary(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "interval": list(self.interval),
            "n_per_class": self.n_per_class,
            "folds": self.folds,
            "reading": "0.5 indistinguishable from real, 1.0 always told apart, well below 0.5 copies of real images",
        }


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def two_sample_test(real: np.ndarray, fake: np.ndarray, folds: int = 5, seed: int = 0) -> TwoSampleResult:
    """Cross-validated accuracy of a logistic regression telling ``real`` from ``fake`` features [N, D]."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise BrainganError(f"two-sample test needs two feature arrays [N, D] with the same D, "
                            f"not {real.shape} and {fake.shape}")
    if folds < 2:
        raise BrainganError(f"two-sample test needs at least 2 folds, not {folds}")
    n = min(len(real), len(fake))
    if n < folds:
        raise BrainganError(f"two-sample test with {folds} folds needs at least {folds} real and {folds} generated "
                            f"images, not {len(real)} and {len(fake)}")
    rng = np.random.default_rng(seed)
    x = np.concatenate([real[rng.choice(len(real), n, replace=False)], fake[rng.choice(len(fake), n, replace=False)]])
    y = np.repeat([0, 1], n)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    predicted = cross_val_predict(model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    correct = int((predicted == y).sum())
    return TwoSampleResult(accuracy=correct / (2 * n), interval=wilson(correct, 2 * n), n_per_class=n, folds=folds)
