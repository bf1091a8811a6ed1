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
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from braingan.errors import BrainganError
from braingan.metrics import presentation
from braingan.metrics.protocol import STANDARD, Pool, Protocol, Scorer, uncertainty
from braingan.metrics.result import (
    Artifact,
    Block,
    MetricResult,
    Row,
    Section,
    flat_numbers,
    number_rows,
    string_notes,
    with_uncertainty,
)

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
    train: torch.Tensor | None = None  # what the generator trained on, when not the real set above (copies, membership)
    mirror: bool = False  # the run trained on left-right flips: the audit searches the flipped real images too
    prior_train: torch.Tensor | None = None  # what the prior of a fine-tuned run (--init) trained on
    prior_mirror: bool = False  # the prior trained on left-right flips
    groups: np.ndarray | None = None  # scan group of each real image, which the bootstrap resamples together
    protocol: Protocol | None = STANDARD  # floors and intervals; None: the readings alone
    generator: Callable[[torch.Tensor], torch.Tensor] | None = None  # latents -> images, for attacks that invert it
    latent_dim: int | None = None
    _cache: dict = field(default_factory=dict)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """Computed once per evaluation (features, kernels, scorers) and shared by the metrics."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def scorer(self, build: Callable[[EvalInputs], Scorer]) -> Scorer:
        """The scorer ``build`` makes for these inputs, made once (a metric's reading and its
        protocol draws share it)."""
        return self.cached(f"scorer:{build.__name__}", lambda: build(self))

    def inception_features(self) -> tuple[np.ndarray, np.ndarray]:
        """(real, generated) Inception features; the real set's come from disk when this set met
        these weights before (the protocol allows caching what depends on the real set alone)."""
        from braingan.metrics.feature_cache import cached_features

        def features() -> tuple[np.ndarray, np.ndarray]:
            identity = getattr(self.extractor, "identity", None)  # a stand-in extractor (tests) has none
            real = (cached_features("inception", identity, self.real, self.extractor) if identity
                    else self.extractor(self.real))
            return real, self.extractor(self.fake)

        return self.cached("inception", features)

    def inception_pool(self) -> np.ndarray:
        """Real then generated Inception features, the pool ``metrics.protocol`` indexes."""
        return self.cached("inception_pool", lambda: np.concatenate(self.inception_features()))

    @property
    def pool(self) -> Pool:
        groups = self.groups if self.groups is not None else np.arange(len(self.real))
        return Pool(len(self.real), len(self.fake), groups)

    @property
    def training_images(self) -> torch.Tensor:
        return self.train if self.train is not None else self.real


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
    needs_holdout: bool = False  # skipped without them
    needs_prior: bool = False  # only for runs fine-tuned from a prior whose training data is at hand
    inverts_generator: bool = False  # searches the generator's latent space when the run's generator is at hand
    rows_of: Callable[[Mapping[str, Any]], list[Row]] | None = None  # instead of a row per top-level number
    section_of: Callable[[Mapping[str, Any]], Section | None] | None = None  # its own part of the report
    headline_of: Callable[[Mapping[str, Any]], tuple[Block, ...]] | None = None  # its lines in the summary
    # re-scores the metric on other index sets, for the floor and interval of ``metrics.protocol``
    scorer: Callable[[EvalInputs], Scorer] | None = None
    protocol_of: Callable[[Protocol], Protocol] | None = None  # this metric's draws, where they differ
    guide: str = ""  # how to read it, in a sentence or two, for the report
    privacy: bool = False  # a privacy reading: the generator card quotes its headline

    def uncertainty(self, inputs: EvalInputs, values: Mapping[str, Any]) -> dict[str, Any]:
        """Floors and intervals of the readings in ``values`` (nothing without a scorer or a protocol)."""
        if self.scorer is None or inputs.protocol is None:
            return {}
        protocol = self.protocol_of(inputs.protocol) if self.protocol_of else inputs.protocol
        return uncertainty(inputs.scorer(self.scorer), inputs.pool, protocol, reading=flat_numbers(values))

    def compute(self, inputs: EvalInputs) -> MetricResult:
        start = time.perf_counter()
        values, artifacts = self.measure(inputs)
        values.update(self.uncertainty(inputs, values))
        values["seconds"] = round(time.perf_counter() - start, 2)
        return self.result(values, artifacts)

    def result(self, values: dict[str, Any], artifacts: dict[str, Artifact] | None = None) -> MetricResult:
        """The result of ``values`` (as computed, or as read back from metrics.json)."""
        rows = self.rows_of(values) if self.rows_of else number_rows(values, self.readings)
        return MetricResult(values=values, rows=with_uncertainty(rows, values), notes=string_notes(values),
                            artifacts=dict(artifacts or {}),
                            section=self.section_of(values) if self.section_of else None,
                            headline=self.headline_of(values) if self.headline_of else ())


# Each metric imports its module when it runs: the registry itself stays light, so the command
# line can list the metrics without loading torch.

def _swd(x: EvalInputs) -> Measured:
    from braingan.metrics import swd

    r = swd.swd(x.real, x.fake)
    return {"mean": r.mean, "per_level": {f"{k}px": v for k, v in r.levels.items()}}, {}


def _full(x: EvalInputs, scorer: Callable[[EvalInputs], Scorer]) -> Mapping[str, float]:
    """A metric's readings on the whole real and generated sets, from its (cached) scorer."""
    pool = x.pool
    return x.scorer(scorer)(pool.real, pool.fake)


def _fid_scorer(x: EvalInputs) -> Scorer:
    from braingan.metrics import kid_fid

    return kid_fid.fid_scorer(x.inception_pool())


def _fid(x: EvalInputs) -> Measured:
    from braingan.metrics import inception, kid_fid

    real, fake = x.inception_features()
    return {"value": _full(x, _fid_scorer)["value"], "fd_infinity": kid_fid.fd_infinity(real, fake),
            "features": "inception-2015-12-05 pool3", "preprocessing": inception.PREPROCESSING}, {}


def _kid_scorer(x: EvalInputs) -> Scorer:
    from braingan.metrics import kid_fid

    return kid_fid.kid_scorer(x.inception_pool())


def _kid(x: EvalInputs) -> Measured:
    return {"value": _full(x, _kid_scorer)["value"], "estimator": "unbiased MMD^2 over the whole sets",
            "features": "inception-2015-12-05 pool3"}, {}


def _prdc_space(x: EvalInputs) -> tuple[np.ndarray, str]:
    """The pooled features PRDC is computed on, and a sentence naming them."""
    import torch

    from braingan.metrics import features

    if x.extractor is not None:
        return x.inception_pool(), "Inception-v3 pool3 (2048-d), the space of Naeem et al. 2020"
    pool = x.cached("random_cnn_pool", lambda: features.random_cnn_features(torch.cat([x.real, x.fake])))
    return pool, f"{features.DESCRIPTION}; used because {x.inception_note or 'no Inception weights were found'}"


def _prdc_scorer(x: EvalInputs) -> Scorer:
    from braingan.metrics import prdc

    return prdc.prdc_scorer(_prdc_space(x)[0])


def _prdc(x: EvalInputs) -> Measured:
    from braingan.metrics import prdc

    return {**_full(x, _prdc_scorer), "k": prdc.K, "feature_space": _prdc_space(x)[1]}, {}


def _swd_scorer(x: EvalInputs) -> Scorer:
    import torch

    from braingan.metrics import swd

    # fewer random directions than the reading's: each draw re-sorts every projection, and fewer
    # directions add only noise (a wider, not a shifted, interval)
    return swd.swd_scorer(torch.cat([x.real, x.fake]), directions=swd.DIRECTIONS // 8, repeats=1)


def _diversity_scorer(x: EvalInputs) -> Scorer:
    from braingan.metrics import diversity

    return diversity.DiversityScorer(x.real, x.fake)


def _diversity(x: EvalInputs) -> Measured:
    from braingan.metrics import diversity

    full = _full(x, _diversity_scorer)
    scorer = x.scorer(_diversity_scorer)
    # "pairs" counts the generated pairs compared; a set of n has at most n(n-1)/2 of them
    values = {"fake": full["fake"], "real": full["real"], "ratio": full["ratio"], "pairs": scorer.fake_pairs,
              "real_pairs": scorer.real_pairs, "pairs_requested": diversity.PAIRS}
    if x.holdout is not None:  # the ratio new patients' scans score: the yardstick for "ratio"
        unseen = diversity.not_in(x.holdout, x.training_images)
        if len(unseen) >= 2:
            held, pairs = diversity.pairwise_ms_ssim_counted(unseen)
            values.update(holdout=held, holdout_ratio=held / full["real"], holdout_n=len(unseen),
                          holdout_pairs=pairs)
    return values, {}


def _radiomic_pool(x: EvalInputs) -> np.ndarray:
    """Real then generated radiomic features (metrics/radiomics.py), computed once."""
    import torch

    from braingan.metrics import radiomics

    return x.cached("radiomic_pool", lambda: radiomics.radiomic_features(torch.cat([x.real, x.fake])))


def _frd_scorer(x: EvalInputs) -> Scorer:
    from braingan.metrics.frd import frd

    pool = _radiomic_pool(x)
    return lambda ref, cand: {"value": frd(pool[ref], pool[cand])}


def _frd(x: EvalInputs) -> Measured:
    from braingan.metrics import radiomics

    return {"value": _full(x, _frd_scorer)["value"], "features": radiomics.DESCRIPTION}, {}


def _two_sample_spaces(x: EvalInputs) -> dict[str, np.ndarray]:
    """The pooled features the two-sample test runs in: radiomic always, Inception when at hand."""
    spaces = {"radiomic": _radiomic_pool(x)}
    if x.extractor is not None:
        spaces["inception"] = x.inception_pool()
    return spaces


def _two_sample_scorer(x: EvalInputs) -> Scorer:
    from braingan.metrics.two_sample import two_sample_test

    spaces = _two_sample_spaces(x)
    return lambda ref, cand: {space: two_sample_test(f[ref], f[cand]).accuracy for space, f in spaces.items()}


def _two_sample(x: EvalInputs) -> Measured:
    """The classifier two-sample test in each feature space, with its own (Wilson) interval; its
    floor comes from the protocol's halves, as for the others."""
    from braingan.metrics.two_sample import two_sample_test

    pool = x.pool
    values: dict[str, Any] = {"interval": {}}
    for space, features in _two_sample_spaces(x).items():
        result = two_sample_test(features[pool.real], features[pool.fake])
        values[space] = result.accuracy
        values["interval"][space] = list(result.interval)
        values[f"{space}_per_class"] = result.n_per_class
    values["classifier"] = "L2 logistic regression, 5-fold cross-validated, classes balanced"
    values["interval_over"] = "Wilson interval of the held-out predictions"
    return values, {}


def _audit(train: torch.Tensor, fake: torch.Tensor, holdout: torch.Tensor | None, mirror: bool) -> Measured:
    from braingan.metrics import memorization

    r = memorization.audit(train, fake, holdout=holdout, mirror=mirror)
    values = r.summary()
    values["pairs"] = [{"sample": int(i), "train_index": int(r.nearest[i]), "flipped": bool(r.mirrored[i]),
                        "distance": float(r.distance[i]), "ssim": float(r.ssim[i])}
                       for i in np.argsort(r.distance, kind="stable")[:8]]
    return values, {"pairs": memorization.closest_pairs_image(r, train, fake)}


def _memorization(x: EvalInputs) -> Measured:
    return _audit(x.training_images, x.fake, x.holdout, x.mirror)


def _prior_memorization(x: EvalInputs) -> Measured:
    return _audit(x.prior_train, x.fake, x.holdout, x.prior_mirror)


def _membership_of(x: EvalInputs, invert: bool) -> Measured:
    from braingan.metrics.membership import membership_inference

    if invert and x.generator is None:
        raise BrainganError("reconstruction needs the run's own unconditional generator (not --fake, a conditional "
                            "run, or --run-per-class)")
    result = membership_inference(x.training_images, x.holdout, x.fake, generator=x.generator if invert else None,
                                  latent_dim=x.latent_dim if invert else None)
    values = result.summary()
    if invert:  # the latent search only: the sample-based attacks are the membership metric's
        values["attacks"] = {k: v for k, v in values["attacks"].items() if k == "reconstruction"}
    values["notes"] = "; ".join(values["notes"])
    for attack in values["attacks"].values():
        attack["notes"] = "; ".join(attack["notes"])
    return values, {}


def _membership(x: EvalInputs) -> Measured:
    return _membership_of(x, invert=False)


def _reconstruction(x: EvalInputs) -> Measured:
    return _membership_of(x, invert=True)


def _utility(x: EvalInputs) -> Measured:
    from braingan.metrics import utility

    if x.real_labels is None or x.fake_labels is None:
        raise BrainganError("utility needs labelled real and synthetic images (a conditional run or one run per class)")
    # the module's seeds and epochs read at call time, so a test can make the study short
    return utility.utility(x.real, x.real_labels, x.fake, x.fake_labels, x.class_names, seeds=utility.SEEDS,
                           epochs=utility.EPOCHS, groups=x.groups).summary(), {}


_PRDC_BETTER = "higher (about 1 when matched)"
_DIVERSITY_BETTER = "closer to real (higher = less diverse)"
_TWO_SAMPLE_BETTER = "closer to 0.5 (below: copies)"
_MEMBERSHIP_BETTER_ALL = "closer to chance"
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fid", "Frechet distance between Gaussians fitted to Inception features of real and generated images",
           "lower", _fid, readings={"value": "lower", "fd_infinity": "lower"}, needs_inception=True,
           headline_of=presentation.fid_headline, scorer=_fid_scorer,
           guide="FID is biased upward with few images, so set it beside 'real vs real' and 'samples, same n', "
                 "which are at equal n; fd_infinity removes the samples' share of that bias."),
    Metric("kid", "Kernel (MMD^2) distance on Inception features; unbiased, so fair for small sets", "lower", _kid,
           readings={"value": "lower"}, needs_inception=True, scorer=_kid_scorer,
           guide="About 0 (it can be negative) when the samples match the real scans; an interval that holds 0 "
                 "means the two sets are not told apart."),
    Metric("swd", "Sliced Wasserstein distance of 7x7 patches across a Laplacian pyramid (x1e3); weight-free",
           "lower", _swd, rows_of=lambda values: presentation.swd_rows(values, "lower"),
           headline_of=presentation.swd_headline, scorer=_swd_scorer,
           protocol_of=lambda p: replace(p, bootstrap=min(p.bootstrap, 20)),
           guide="Needs no network weights. The finest level measures edges and noise, the coarsest the layout; "
                 "read each beside 'real vs real' at the same n."),
    Metric("prdc", "Precision (realism), recall (variety), density, coverage with k=5 nearest neighbours",
           _PRDC_BETTER, _prdc, readings=dict.fromkeys(("precision", "recall", "density", "coverage"), _PRDC_BETTER),
           uses_inception_if_available=True, headline_of=presentation.prdc_headline, scorer=_prdc_scorer,
           protocol_of=lambda p: replace(p, resample_real=False),  # a repeated scan is no new k-NN ball
           guide="Low precision: samples unlike any real scan; low recall or coverage: part of the real scans' "
                 "variety missing; all 0: no sample near any real scan."),
    Metric("diversity", "Mean pairwise MS-SSIM within the generated set, beside the real set's own value",
           _DIVERSITY_BETTER, _diversity,
           readings={"fake": _DIVERSITY_BETTER, "ratio": "closer to 1 (or to holdout_ratio)"}, reads_holdout=True,
           headline_of=presentation.diversity_headline, scorer=_diversity_scorer,
           guide="A ratio near 1 (or near holdout_ratio) is healthy; well above 1, the samples are more alike than "
                 "real scans are (mode collapse)."),
    Metric("frd", "Frechet Radiomic Distance: FID's formula on radiomic texture and intensity features (Konz et al.)",
           "lower", _frd, readings={"value": "lower"}, scorer=_frd_scorer,
           guide="Weight-free and in features radiologists use (intensity statistics, GLCM, run lengths, "
                 "filtered textures); read it beside 'real vs real' at the same n."),
    Metric("two_sample", "Accuracy of a classifier telling samples from real scans on held-out images (C2ST)",
           _TWO_SAMPLE_BETTER, _two_sample, readings=dict.fromkeys(("radiomic", "inception"), _TWO_SAMPLE_BETTER),
           uses_inception_if_available=True, headline_of=presentation.two_sample_headline, scorer=_two_sample_scorer,
           protocol_of=lambda p: replace(p, bootstrap=0),  # its interval is its own
           guide="0.5: the classifier cannot tell samples from real scans; 1.0: it always can; well below 0.5: "
                 "the samples are copies of real scans (a copy's twin sits in the training fold)."),
    Metric("memorization", "Generated images closer to a training image than distinct real scans come to each other",
           "fewer", _memorization, rows_of=presentation.memorization_rows,
           section_of=presentation.memorization_section, reads_holdout=True, privacy=True,
           headline_of=presentation.memorization_headline,
           guide="Read the flagged fraction beside the base rate of held-out real scans (--holdout): far more "
                 "samples flagged than new patients' scans means the generator copies."),
    Metric("prior_memorization", "The copy audit against the training images of the prior the run was fine-tuned "
           "from (--init)", "fewer", _prior_memorization, rows_of=presentation.memorization_rows,
           section_of=partial(presentation.memorization_section, title="Copy audit against the prior's data",
                              image="prior's training image"),
           reads_holdout=True, needs_prior=True, privacy=True,
           headline_of=partial(presentation.memorization_headline, audit="Copy audit against the prior",
                               image="prior's training image"),
           guide="As memorization, against the public scans the prior learned from: a fine-tuned generator can "
                 "still give back the prior's images."),
    Metric("membership", "Membership inference from the samples alone: distance to the closest sample (GAN-Leaks "
           "black-box) and a density ratio (DOMIAS), on training vs held-out real scans", _MEMBERSHIP_BETTER_ALL,
           _membership, rows_of=presentation.membership_rows, reads_holdout=True, needs_holdout=True, privacy=True,
           headline_of=presentation.membership_headline,
           guide="AUC 0.5 and a TPR equal to the FPR are chance: an attacker learns nothing about who was in the "
                 "training set. An interval above 0.5 means the samples give patients away."),
    Metric("reconstruction", "GAN-Leaks membership attack that searches the generator's latent space for each scan",
           _MEMBERSHIP_BETTER_ALL, _reconstruction, rows_of=presentation.membership_rows, reads_holdout=True,
           needs_holdout=True, inverts_generator=True, privacy=True, headline_of=presentation.membership_headline,
           guide="As membership, for an attacker holding the generator itself; slow on a CPU, so not a default."),
    Metric("utility", "Held-out accuracy/AUC of a small classifier trained on real vs real + synthetic images",
           "higher with synthetic than without", _utility, rows_of=presentation.utility_rows,
           section_of=presentation.utility_section, needs_labels=True, headline_of=presentation.utility_headline,
           guide="Read the difference (with synthetic minus real only, same split and seed) and its interval, and "
                 "only when real only beats the majority class: otherwise the classifier has not learned the task."),
)}
DEFAULT = ("fid", "kid", "swd", "prdc", "frd", "two_sample", "diversity", "memorization", "membership")


def result_of(name: str, values: dict[str, Any]) -> MetricResult:
    """A metric's result read back from metrics.json; a metric this version does not know shows
    its numbers, none of them with a direction."""
    metric = METRICS.get(name)
    if metric is None:
        return MetricResult(values=values, rows=number_rows(values, {}), notes=string_notes(values))
    return metric.result(values)


def parse(names: str | list[str] | None, fine_tuned: bool = False) -> list[str]:
    """Metric names from 'a,b' or a list; unknown names are an error listing the known ones.
    None is DEFAULT, and for a run fine-tuned from a prior also the metrics that need one."""
    if names is None:
        return list(DEFAULT) + [m.name for m in METRICS.values() if fine_tuned and m.needs_prior]
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise BrainganError(f"unknown metric {unknown[0]!r}; choose from: {', '.join(METRICS)}")
    return list(dict.fromkeys(names))
