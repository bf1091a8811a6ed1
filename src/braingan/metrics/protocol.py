"""Every reading beside its real-against-real floor and a confidence interval.

A FID of 95 from 1,000 samples against 141 scans says little alone: the estimator is biased
by both set sizes, and two halves of the real set never score 0. So each metric that can be
re-scored on other index sets gives a ``Scorer``, and this module re-scores it three ways:

- **floor**: the real set split in two halves (by scan, so no patient is on both sides), one
  half scored against the other, over several draws: what real scans themselves give at that n;
- **at floor n**: the same reference half against as many generated images as the other half
  holds, so the generated reading can be set beside the floor at equal n;
- **interval**: a 95% normal bootstrap interval, the reading +- 1.96 standard deviations of it
  over draws that resample real images by scan group (slices of one volume or DICOM series
  move together) and generated images one by one. Normal rather than percentile: a draw repeats
  images, which shifts set-size-sensitive readings (k-NN balls, FID's covariances) but hardly
  their spread, so the draws give the width and the reading itself the centre.

Indices address a pool: the real images first (0 .. n_real - 1), then the generated ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Scorer = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]  # (reference, candidate) pool indices -> readings

Z = 1.96  # the two-sided 95% normal quantile
MIN_GROUPS = 4  # fewer scan groups than this cannot be split or resampled by group


@dataclass(frozen=True)
class Protocol:
    """How many draws the floors and intervals take; the defaults keep a 1,000-sample
    evaluation within a minute on a laptop CPU."""

    floor_draws: int = 5
    bootstrap: int = 100
    seed: int = 0
    # False: the bootstrap holds the real set fixed and resamples the generated images only (for
    # metrics whose spread over real draws would be mostly the artefact of repeated scans)
    resample_real: bool = True


STANDARD = Protocol()


@dataclass(frozen=True)
class Pool:
    """Who is who among the pooled images, and the real images' scan groups."""

    n_real: int
    n_fake: int
    groups: np.ndarray  # [n_real] int: scan group of each real image

    @property
    def real(self) -> np.ndarray:
        return np.arange(self.n_real)

    @property
    def fake(self) -> np.ndarray:
        return self.n_real + np.arange(self.n_fake)


def group_ids(names: Sequence[str], n: int) -> np.ndarray:
    """[n] int group ids from the scan name of each image; each image its own group when there
    are no names or too few distinct scans to resample (one volume cut into slices)."""
    if len(names) != n or len(set(names)) < MIN_GROUPS:
        return np.arange(n)
    _, ids = np.unique(np.asarray(names, dtype=object).astype(str), return_inverse=True)
    return ids


def halves(groups: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the real images, whole groups on one side each, the first about half."""
    order = rng.permutation(np.unique(groups))
    sizes = np.bincount(groups)[order]
    first = order[np.cumsum(sizes) <= max(1, len(groups) // 2)]
    if len(first) == 0:
        first = order[:1]
    in_first = np.isin(groups, first)
    return np.flatnonzero(in_first), np.flatnonzero(~in_first)


def resample_groups(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bootstrap draw of real images: as many groups as there are, drawn with replacement."""
    unique = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in unique}
    return np.concatenate([members[g] for g in rng.choice(unique, len(unique), replace=True)])


def _summary(draws: list[Mapping[str, float]]) -> dict[str, np.ndarray]:
    if not draws:
        return {}
    keys = [k for k in draws[0] if all(d.get(k) is not None and np.isfinite(d[k]) for d in draws)]
    return {k: np.array([d[k] for d in draws], dtype=np.float64) for k in keys}


def uncertainty(score: Scorer, pool: Pool, protocol: Protocol = STANDARD,
                reading: Mapping[str, float] | None = None) -> dict[str, dict]:
    """{"floor": {key: mean}, "floor_spread": {key: std}, "at_floor_n": {key: mean},
    "interval": {key: [low, high]}} for every reading ``score`` returns; the interval is centred
    on ``reading`` (default: the score of the whole sets). With no bootstrap draws (a metric with
    an interval of its own), floors only."""
    rng = np.random.default_rng(protocol.seed)
    floor, matched = [], []
    for _ in range(protocol.floor_draws):
        a, b = halves(pool.groups, rng)
        floor.append(score(a, b))
        matched.append(score(a, pool.n_real + rng.choice(pool.n_fake, min(len(b), pool.n_fake), replace=False)))
    boot = [score(resample_groups(pool.groups, rng) if protocol.resample_real else pool.real,
                  pool.n_real + rng.integers(0, pool.n_fake, pool.n_fake)) for _ in range(protocol.bootstrap)]
    out: dict[str, dict] = {"floor": {}, "floor_spread": {}, "at_floor_n": {}}
    if protocol.floor_draws:
        out["floor_n"] = {"reference": int(len(a)), "compared": int(len(b))}
    for key, values in _summary(floor).items():
        out["floor"][key], out["floor_spread"][key] = float(values.mean()), float(values.std())
    for key, values in _summary(matched).items():
        out["at_floor_n"][key] = float(values.mean())
    if not protocol.bootstrap:
        return out
    reading = reading if reading is not None else score(pool.real, pool.fake)
    out["interval"] = {}
    for key, values in _summary(boot).items():
        if reading.get(key) is not None and np.isfinite(reading[key]):
            half = Z * float(values.std(ddof=1)) if len(values) > 1 else 0.0
            out["interval"][key] = [float(reading[key]) - half, float(reading[key]) + half]
    out["interval_over"] = (f"{protocol.bootstrap} bootstrap draws of "
                            + ("real scans (by scan group) and samples" if protocol.resample_real
                               else "the samples, the real scans held fixed"))
    return out


def counts(indices: np.ndarray, size: int) -> np.ndarray:
    """How often each pool index was drawn: the weights of a resampled set."""
    return np.bincount(indices, minlength=size).astype(np.float64)
