"""Every metric by name: what it means, which way is better, what it needs, and how to compute it.

A metric's ``measure`` takes an ``EvalInputs`` (real and generated arrays, features computed
once and shared) and returns its JSON-ready values and any pictures; ``Metric.compute`` wraps
them in a ``MetricResult`` with the rows, notes and report section, which ``Metric.result``
rebuilds from the values alone (the report reads metrics.json). The evaluation, the table and
the report learn everything about a metric from here, never from its name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from braingan.errors import BrainganError
from braingan.metrics import presentation
from braingan.metrics.result import Artifact, Block, MetricResult, Row, Section, number_rows, string_notes

if TYPE_CHECKING:
    import torch

    from braingan.metrics.inception import InceptionFeatures

Measured = tuple[dict[str, Any], dict[str, Artifact]]  # values for metrics.json, pictures by name


@dataclass
class EvalInputs:
    real: torch.Tensor  # [N, 1, S, S] in [-1, 1]
    fake: torch.Tensor
    extractor: InceptionFeatures | None = None
    inception_note: str = ""
    real_labels: np.ndarray | None = None
    fake_labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    holdout: torch.Tensor | None = None  # real scans not trained on: base rate (memorization), yardstick (diversity)
    mirror: bool = False  # the run trained on left-right flips: the audit searches the flipped real images too
    _features: dict = field(default_factory=dict)

    def inception_features(self) -> tuple[np.ndarray, np.ndarray]:
        if "inception" not in self._features:
            self._features["inception"] = (self.extractor(self.real), self.extractor(self.fake))
        return self._features["inception"]


@dataclass(frozen=True)
class Metric:
    name: str
    meaning: str
    better: str  # "lower", "higher", "closer to real", "fewer": the metric's reading as a whole
    measure: Callable[[EvalInputs], Measured]
    readings: Mapping[str, str] = field(default_factory=dict)  # value key -> its "better"; other numbers: bookkeeping
    needs_inception: bool = False  # skipped without Inception weights
    uses_inception_if_available: bool = False  # Inception features when there are weights, a stand-in otherwise
    needs_labels: bool = False  # real and generated images with class labels
    reads_holdout: bool = False  # uses held-out real scans when given
    rows_of: Callable[[Mapping[str, Any]], list[Row]] | None = None  # instead of a row per top-level number
    section_of: Callable[[Mapping[str, Any]], Section | None] | None = None  # its own part of the report
    headline_of: Callable[[Mapping[str, Any]], tuple[Block, ...]] | None = None  # its lines in the summary

    def compute(self, inputs: EvalInputs) -> MetricResult:
        start = time.perf_counter()
        values, artifacts = self.measure(inputs)
        values["seconds"] = round(time.perf_counter() - start, 2)
        return self.result(values, artifacts)

    def result(self, values: dict[str, Any], artifacts: dict[str, Artifact] | None = None) -> MetricResult:
        """The result of ``values`` (as computed, or as read back from metrics.json)."""
        rows = self.rows_of(values) if self.rows_of else number_rows(values, self.readings)
        return MetricResult(values=values, rows=rows, notes=string_notes(values), artifacts=dict(artifacts or {}),
                            section=self.section_of(values) if self.section_of else None,
                            headline=self.headline_of(values) if self.headline_of else ())


# Each metric imports its module when it runs: the registry itself stays light, so the command
# line can list the metrics without loading torch.

def _swd(x: EvalInputs) -> Measured:
    from braingan.metrics import swd

    r = swd.swd(x.real, x.fake)
    return {"mean": r.mean, "per_level": {f"{k}px": v for k, v in r.levels.items()}}, {}


def _fid(x: EvalInputs) -> Measured:
    from braingan.metrics import inception, kid_fid

    real, fake = x.inception_features()
    return {"value": kid_fid.fid(real, fake), "features": "inception-2015-12-05 pool3",
            "preprocessing": inception.PREPROCESSING}, {}


def _kid(x: EvalInputs) -> Measured:
    from braingan.metrics import kid_fid

    real, fake = x.inception_features()
    r = kid_fid.kid(real, fake)
    return {"mean": r.mean, "std": r.std, "subset_size": r.subset_size, "subsets": r.subsets,
            "features": "inception-2015-12-05 pool3"}, {}


def _prdc(x: EvalInputs) -> Measured:
    from braingan.metrics import features, prdc

    if x.extractor is not None:
        real, fake = x.inception_features()
        space = "Inception-v3 pool3 (2048-d), the space of Naeem et al. 2020"
    else:
        real, fake = features.random_cnn_features(x.real), features.random_cnn_features(x.fake)
        space = f"{features.DESCRIPTION}; used because {x.inception_note or 'no Inception weights were found'}"
    r = prdc.prdc(real, fake)
    return {"precision": r.precision, "recall": r.recall, "density": r.density, "coverage": r.coverage,
            "k": r.k, "feature_space": space}, {}


def _diversity(x: EvalInputs) -> Measured:
    from braingan.metrics import diversity

    r = diversity.diversity(x.real, x.fake, holdout=x.holdout)
    # "pairs" counts the generated pairs compared; a set of n has at most n(n-1)/2 of them
    values = {"fake": r.fake, "real": r.real, "ratio": r.fake / r.real if r.real else None, "pairs": r.pairs,
              "real_pairs": r.real_pairs, "pairs_requested": r.pairs_requested}
    if r.holdout is not None and r.real:  # the ratio new patients' scans score: the yardstick for "ratio"
        values.update(holdout=r.holdout, holdout_ratio=r.holdout / r.real, holdout_n=r.holdout_n,
                      holdout_pairs=r.holdout_pairs)
    return values, {}


def _memorization(x: EvalInputs) -> Measured:
    from braingan.metrics import memorization

    r = memorization.audit(x.real, x.fake, holdout=x.holdout, mirror=x.mirror)
    values = r.summary()
    values["pairs"] = [{"sample": int(i), "train_index": int(r.nearest[i]), "flipped": bool(r.mirrored[i]),
                        "distance": float(r.distance[i]), "ssim": float(r.ssim[i])}
                       for i in np.argsort(r.distance, kind="stable")[:8]]
    return values, {"pairs": memorization.closest_pairs_image(r, x.real, x.fake)}


def _utility(x: EvalInputs) -> Measured:
    from braingan.metrics.utility import utility

    if x.real_labels is None or x.fake_labels is None:
        raise BrainganError("utility needs labelled real and synthetic images (a conditional run or one run per class)")
    return utility(x.real, x.real_labels, x.fake, x.fake_labels, x.class_names).summary(), {}


_PRDC_BETTER = "higher (about 1 when matched)"
_DIVERSITY_BETTER = "closer to real (higher = less diverse)"
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fid", "Frechet distance between Gaussians fitted to Inception features of real and generated images",
           "lower", _fid, readings={"value": "lower"}, needs_inception=True, headline_of=presentation.fid_headline),
    Metric("kid", "Kernel (MMD^2) distance on Inception features; unbiased, so fair for small sets", "lower", _kid,
           readings={"mean": "lower"}, needs_inception=True),
    Metric("swd", "Sliced Wasserstein distance of 7x7 patches across a Laplacian pyramid (x1e3); weight-free",
           "lower", _swd, rows_of=lambda values: presentation.swd_rows(values, "lower"),
           headline_of=presentation.swd_headline),
    Metric("prdc", "Precision (realism), recall (variety), density, coverage with k=5 nearest neighbours",
           _PRDC_BETTER, _prdc, readings=dict.fromkeys(("precision", "recall", "density", "coverage"), _PRDC_BETTER),
           uses_inception_if_available=True, headline_of=presentation.prdc_headline),
    Metric("diversity", "Mean pairwise MS-SSIM within the generated set, beside the real set's own value",
           _DIVERSITY_BETTER, _diversity,
           readings={"fake": _DIVERSITY_BETTER, "ratio": "closer to 1 (or to holdout_ratio)"}, reads_holdout=True,
           headline_of=presentation.diversity_headline),
    Metric("memorization", "Generated images closer to a training image than distinct real scans come to each other",
           "fewer", _memorization, rows_of=presentation.memorization_rows,
           section_of=presentation.memorization_section, reads_holdout=True,
           headline_of=presentation.memorization_headline),
    Metric("utility", "Held-out accuracy/AUC of a small classifier trained on real vs real + synthetic images",
           "higher with synthetic than without", _utility, rows_of=presentation.utility_rows,
           section_of=presentation.utility_section, needs_labels=True),
)}
DEFAULT = ("fid", "kid", "swd", "prdc", "diversity", "memorization")


def result_of(name: str, values: dict[str, Any]) -> MetricResult:
    """A metric's result read back from metrics.json; a metric this version does not know shows
    its numbers, none of them with a direction."""
    metric = METRICS.get(name)
    if metric is None:
        return MetricResult(values=values, rows=number_rows(values, {}), notes=string_notes(values))
    return metric.result(values)


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
