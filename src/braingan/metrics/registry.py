"""Every metric by name: what it means, which way is better, and how to compute it from arrays.

``compute`` functions take an ``EvalInputs`` (real and generated arrays, features computed once
and shared) and return a JSON-ready dict. The report reads ``meaning`` and ``better`` from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from braingan.errors import BrainganError
from braingan.metrics import diversity, features, inception, kid_fid, memorization, prdc, swd


@dataclass
class EvalInputs:
    real: torch.Tensor  # [N, 1, S, S] in [-1, 1]
    fake: torch.Tensor
    extractor: inception.InceptionFeatures | None = None
    inception_note: str = ""
    real_labels: np.ndarray | None = None
    fake_labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    holdout: torch.Tensor | None = None  # real scans not trained on: base rate (memorization), yardstick (diversity)
    mirror: bool = False  # the run trained on left-right flips: the audit searches the flipped real images too
    extras: dict = field(default_factory=dict)  # images for the report (memorization pairs)
    _features: dict = field(default_factory=dict)

    def inception_features(self) -> tuple[np.ndarray, np.ndarray]:
        if "inception" not in self._features:
            self._features["inception"] = (self.extractor(self.real), self.extractor(self.fake))
        return self._features["inception"]


@dataclass(frozen=True)
class Metric:
    name: str
    meaning: str
    better: str  # "lower", "higher", "closer to real", "fewer"
    compute: Callable[[EvalInputs], dict]
    needs_inception: bool = False
    needs_labels: bool = False


def _swd(x: EvalInputs) -> dict:
    r = swd.swd(x.real, x.fake)
    return {"mean": r.mean, "per_level": {f"{k}px": v for k, v in r.levels.items()}}


def _fid(x: EvalInputs) -> dict:
    real, fake = x.inception_features()
    return {"value": kid_fid.fid(real, fake), "features": "inception-2015-12-05 pool3",
            "preprocessing": inception.PREPROCESSING}


def _kid(x: EvalInputs) -> dict:
    real, fake = x.inception_features()
    r = kid_fid.kid(real, fake)
    return {"mean": r.mean, "std": r.std, "subset_size": r.subset_size, "subsets": r.subsets,
            "features": "inception-2015-12-05 pool3"}


def _prdc(x: EvalInputs) -> dict:
    if x.extractor is not None:
        real, fake = x.inception_features()
        space = "Inception-v3 pool3 (2048-d), the space of Naeem et al. 2020"
    else:
        real, fake = features.random_cnn_features(x.real), features.random_cnn_features(x.fake)
        space = f"{features.DESCRIPTION}; used because {x.inception_note or 'no Inception weights were found'}"
    r = prdc.prdc(real, fake)
    return {"precision": r.precision, "recall": r.recall, "density": r.density, "coverage": r.coverage,
            "k": r.k, "feature_space": space}


def _diversity(x: EvalInputs) -> dict:
    r = diversity.diversity(x.real, x.fake, holdout=x.holdout)
    result = {"fake": r.fake, "real": r.real, "ratio": r.fake / r.real if r.real else None, "pairs": r.pairs}
    if r.holdout is not None and r.real:  # the ratio new patients' scans score: the yardstick for "ratio"
        result.update(holdout=r.holdout, holdout_ratio=r.holdout / r.real, holdout_n=r.holdout_n)
    return result


def _memorization(x: EvalInputs) -> dict:
    r = memorization.audit(x.real, x.fake, holdout=x.holdout, mirror=x.mirror)
    x.extras["memorization_pairs"] = memorization.closest_pairs_image(r, x.real, x.fake)
    summary = r.summary()
    summary["pairs"] = [{"sample": int(i), "train_index": int(r.nearest[i]), "flipped": bool(r.mirrored[i]),
                         "distance": float(r.distance[i]), "ssim": float(r.ssim[i])}
                        for i in np.argsort(r.distance, kind="stable")[:8]]
    return summary


def _utility(x: EvalInputs) -> dict:
    from braingan.metrics.utility import utility

    if x.real_labels is None or x.fake_labels is None:
        raise BrainganError("utility needs labelled real and synthetic images (a conditional run or one run per class)")
    return utility(x.real, x.real_labels, x.fake, x.fake_labels, x.class_names).summary()


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fid", "Frechet distance between Gaussians fitted to Inception features of real and generated images",
           "lower", _fid, needs_inception=True),
    Metric("kid", "Kernel (MMD^2) distance on Inception features; unbiased, so fair for small sets", "lower", _kid,
           needs_inception=True),
    Metric("swd", "Sliced Wasserstein distance of 7x7 patches across a Laplacian pyramid (x1e3); weight-free",
           "lower", _swd),
    Metric("prdc", "Precision (realism), recall (variety), density, coverage with k=5 nearest neighbours",
           "higher (about 1 when matched)", _prdc),
    Metric("diversity", "Mean pairwise MS-SSIM within the generated set, beside the real set's own value",
           "closer to real (higher = less diverse)", _diversity),
    Metric("memorization", "Generated images closer to a training image than distinct real scans come to each other",
           "fewer", _memorization),
    Metric("utility", "Held-out accuracy/AUC of a small classifier trained on real vs real + synthetic images",
           "higher with synthetic than without", _utility, needs_labels=True),
)}
DEFAULT = ("fid", "kid", "swd", "prdc", "diversity", "memorization")


def parse(names: str | list[str] | None) -> list[str]:
    """Metric names from 'a,b' or a list; unknown names are an error listing the known ones."""
    if names is None:
        return list(DEFAULT)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise BrainganError(f"unknown metric {unknown[0]!r}; choose from: {', '.join(METRICS)}")
    return list(dict.fromkeys(names))
