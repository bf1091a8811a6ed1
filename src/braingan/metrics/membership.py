"""Membership inference: could an attacker tell from the synthetic images whether a scan was trained on?

The question a data-protection officer asks of a generator trained on patients' scans. Every
attack gives each member (a training scan) and non-member (a real scan of the same kind that was
never trained on) a score, higher meaning "member"; how well the scores separate the two is the
leak, read as ROC AUC and as the true-positive rate at a low false-positive rate (Carlini et al.
2022, "Membership inference attacks from first principles": an attack matters when it is sure of
a few patients, which the AUC averages away). Each comes with a 95% bootstrap interval and beside
what chance gives (AUC 0.5, TPR equal to the FPR). Attacks:

- ``dcr``: distance to the closest synthetic record, the black-box attack of GAN-Leaks (Chen et
  al. 2020) and the DCR test of the synthetic-data privacy literature: a generator that copies its
  training scans puts a synthetic image next to each of them.
- ``density_ratio``: in the spirit of DOMIAS (van Breugel et al. 2023): log p_synth(x) - log
  p_ref(x), where p_ref is the density of real non-members. Closeness to the synthetic set alone
  also rewards scans that are merely typical; dividing by the density of real scans leaves what
  the generator over-represents, which is where it has memorised.
- ``reconstruction``: the partial black-box attack of GAN-Leaks, given the generator itself: the
  best pixel reconstruction of the scan any latent code reaches; a memorised scan is reached.

With n non-members no false-positive rate under 1/n can be measured: the TPR there is None with a
note, not a number. A held-out scan that is the same scan as a training scan (closer to one than
the memorization audit's duplicate distance: the Kaggle sets hold scans under several names) is a
member and no new patient, so it is set aside and counted, as ``memorization.holdout_baseline``
does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist
from scipy.special import logsumexp
from scipy.stats import rankdata
from sklearn.decomposition import PCA
from sklearn.neighbors import KernelDensity

from braingan.errors import BrainganError
from braingan.metrics.arrays import Images, as_tensor, same_size
from braingan.metrics.memorization import CHUNK, _distances, calibrate

FPRS = (0.01, 0.001)
DRAWS = 1000  # bootstrap draws: the intervals cost a sort of each draw's scores, cheap at any count here
CONFIDENCE = 0.95
FEATURE_SIZE = 32  # the density attack's default features: images at most this many pixels a side
# Principal components the densities are fitted in: in fewer, a different scan is often about as near
# to a member in the projection as the member's own copy, and the copy no longer stands out.
COMPONENTS = 10
# In units of the reference scans' spread (their RMS per component): from near-copies to smoother than the set
BANDWIDTHS = np.logspace(-2, 1, 25)
FOLDS = 5  # cross-validation folds choosing each density's bandwidth
BANDWIDTH_SAMPLE = 1000  # points the bandwidth is chosen on (the density is then fitted on all of them)
STEPS = 100  # the reconstruction attack's Adam steps per latent code
RESTARTS = 3  # random latent codes per query; the best reconstruction counts
LR = 0.05
BATCH = 256  # latent codes optimised together (each independent of the others in its batch): bounds the memory
MIN_NONMEMBERS = 4  # the density attack splits the non-members into two halves of at least two
# A memorised scan shows in a density only where several synthetic images fall on it: with fewer per
# training scan than this, the result says the density attack may miss a memorising generator.
SYNTHETIC_PER_MEMBER = 4

Features = Callable[[torch.Tensor], np.ndarray]
Generator = Callable[[torch.Tensor], torch.Tensor]


def _auc_rows(members: np.ndarray, nonmembers: np.ndarray) -> np.ndarray:
    """AUC of each row pair [B, m] vs [B, n] by the Mann-Whitney statistic on mid-ranks, so a tie
    between a member and a non-member counts one half."""
    m, n = members.shape[1], nonmembers.shape[1]
    ranks = rankdata(np.concatenate([members, nonmembers], axis=1), axis=1)
    return (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)


def _false_positives_allowed(fpr: float, n_nonmembers: int) -> int:
    if not 0 < fpr < 1:
        raise BrainganError(f"membership inference: a false-positive rate is between 0 and 1, not {fpr:g}")
    return int(np.floor(fpr * n_nonmembers + 1e-9))  # 1e-9: 0.01 * 100 is one false positive, not 0.9999


def _tpr_rows(members: np.ndarray, nonmembers: np.ndarray, fpr: float) -> np.ndarray | None:
    """TPR of each row at ``fpr``, or None where the non-members are too few to resolve it.

    A scan is called a member when its score is strictly above the (k+1)-th highest non-member
    score, k = floor(fpr * n): at most k non-members pass, so ties at the threshold lower the TPR
    rather than push the FPR above what was asked for."""
    k = _false_positives_allowed(fpr, nonmembers.shape[1])
    if k < 1:
        return None
    threshold = -np.sort(-nonmembers, axis=1)[:, k]
    return (members > threshold[:, None]).mean(axis=1)


def _scores(values: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).ravel()
    if len(scores) == 0:
        raise BrainganError(f"membership inference: no {what}")
    if np.isnan(scores).any():
        raise BrainganError(f"membership inference: {what} hold NaN scores")
    return scores


def roc_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """Probability that a random member scores above a random non-member (ties count one half)."""
    m, n = _scores(member_scores, "member scores"), _scores(nonmember_scores, "non-member scores")
    return float(_auc_rows(m[None], n[None])[0])


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, fpr: float) -> float | None:
    """Fraction of members called members when at most ``fpr`` of the non-members are; None when
    ``fpr`` is below 1 / (number of non-members), which no threshold can resolve."""
    m, n = _scores(member_scores, "member scores"), _scores(nonmember_scores, "non-member scores")
    tpr = _tpr_rows(m[None], n[None], fpr)
    return None if tpr is None else float(tpr[0])


@dataclass(frozen=True)
class AttackResult:
    attack: str
    auc: float
    auc_interval: tuple[float, float]  # 95% bootstrap interval, members and non-members resampled apart
    tpr_at: dict[float, float | None]  # FPR -> TPR; None where 1/n_nonmembers is above that FPR
    tpr_intervals: dict[float, tuple[float, float] | None]
    n_members: int
    n_nonmembers: int
    min_fpr: float  # the smallest FPR the non-members resolve: 1 / n_nonmembers
    member_scores: np.ndarray = field(repr=False)
    nonmember_scores: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()

    def summary(self) -> dict:
        def key(fpr: float) -> str:
            return f"{fpr:g}"

        return {
            "auc": self.auc, "auc_interval": list(self.auc_interval), "auc_chance": 0.5,
            "tpr_at_fpr": {key(f): t for f, t in self.tpr_at.items()},
            "tpr_interval": {key(f): None if i is None else list(i) for f, i in self.tpr_intervals.items()},
            "tpr_chance": {key(f): f for f in self.tpr_at},
            "n_members": self.n_members, "n_nonmembers": self.n_nonmembers, "min_fpr": self.min_fpr,
            "notes": list(self.notes),
        }


def evaluate_attack(attack: str, member_scores: np.ndarray, nonmember_scores: np.ndarray,
                    fprs: tuple[float, ...] = FPRS, draws: int = DRAWS, seed: int = 0) -> AttackResult:
    """AUC and TPR at each FPR of one attack's scores, with percentile bootstrap intervals that
    resample members and non-members separately (each set keeps its size, as in the study). The
    scores stay fixed: the intervals cover which scans happened to be drawn, not a refit attack."""
    m, n = _scores(member_scores, "member scores"), _scores(nonmember_scores, "non-member scores")
    rng = np.random.default_rng(seed)
    m_draws = m[rng.integers(0, len(m), (draws, len(m)))]
    n_draws = n[rng.integers(0, len(n), (draws, len(n)))]
    tail = 100 * (1 - CONFIDENCE) / 2

    def interval(values: np.ndarray) -> tuple[float, float]:
        low, high = np.percentile(values, [tail, 100 - tail])
        return float(low), float(high)

    tpr_at: dict[float, float | None] = {}
    tpr_intervals: dict[float, tuple[float, float] | None] = {}
    notes = []
    for fpr in fprs:
        point = _tpr_rows(m[None], n[None], fpr)
        if point is None:
            tpr_at[fpr] = tpr_intervals[fpr] = None
            notes.append(f"TPR at {fpr:.2g} FPR not measurable: it needs at least {int(np.ceil(1 / fpr - 1e-9))} "
                         f"non-members, {len(n)} here resolve FPRs down to 1/{len(n)} = {1 / len(n):.2g}")
            continue
        tpr_at[fpr] = float(point[0])
        tpr_intervals[fpr] = interval(_tpr_rows(m_draws, n_draws, fpr))
    return AttackResult(attack=attack, auc=float(_auc_rows(m[None], n[None])[0]),
                        auc_interval=interval(_auc_rows(m_draws, n_draws)), tpr_at=tpr_at,
                        tpr_intervals=tpr_intervals, n_members=len(m), n_nonmembers=len(n), min_fpr=1 / len(n),
                        member_scores=m, nonmember_scores=n, notes=tuple(notes))


def _nearest_distance(queries: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """RMS pixel distance from every query to its nearest reference image, CHUNK queries at a time."""
    return torch.cat([_distances(queries[start:start + CHUNK], reference).min(dim=1).values
                      for start in range(0, len(queries), CHUNK)])


def dcr_scores(queries: Images, synthetic: Images) -> np.ndarray:
    """Minus each query's RMS pixel distance to its closest synthetic image."""
    q, s = as_tensor(queries, "query images"), as_tensor(synthetic, "synthetic images")
    same_size(q, s, "membership inference (distance to closest record)")
    return -_nearest_distance(q, s).double().numpy()


def downsampled_pixels(images: Images) -> np.ndarray:
    """float64 [N, D]: the images shrunk to at most FEATURE_SIZE px a side, flattened.

    The density attack's default features. Memorisation is a copy of where things are in the
    scan, which pixels keep and the random-CNN features of ``metrics.features`` pool away (their
    per-channel mean and std discard position); 32 px keeps the coarse anatomy the few principal
    components describe anyway, and costs nothing to compute."""
    x = as_tensor(images)
    if max(x.shape[-2:]) > FEATURE_SIZE:
        x = F.interpolate(x, size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear", align_corners=False, antialias=True)
    return x.flatten(1).double().numpy()


def _features(features: Features, images: torch.Tensor, what: str) -> np.ndarray:
    out = np.asarray(features(images), dtype=np.float64)
    if out.ndim != 2 or len(out) != len(images):
        raise BrainganError(f"membership inference: the features of the {what} have shape {out.shape}, "
                            f"not [{len(images)}, D]")
    if not np.isfinite(out).all():
        raise BrainganError(f"membership inference: the features of the {what} are not all finite")
    return out


def _halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    return order[: n // 2], order[n // 2:]


def _bandwidth(points: np.ndarray, rng: np.random.Generator) -> float:
    """The one of BANDWIDTHS under which a Gaussian kernel density of ``points`` gives held-out points
    the highest likelihood (FOLDS-fold cross-validation, seeded folds, on at most BANDWIDTH_SAMPLE points)."""
    if len(points) > BANDWIDTH_SAMPLE:
        points = points[rng.choice(len(points), BANDWIDTH_SAMPLE, replace=False)]
    h2 = BANDWIDTHS[:, None, None] ** 2
    dims = points.shape[1]
    likelihood = np.zeros(len(BANDWIDTHS))
    for held in np.array_split(rng.permutation(len(points)), min(FOLDS, len(points))):
        fit = np.setdiff1d(np.arange(len(points)), held)
        squared = cdist(points[held], points[fit], "sqeuclidean")[None]
        log_density = (logsumexp(-squared / (2 * h2), axis=2) - np.log(len(fit))
                       - dims / 2 * np.log(2 * np.pi * h2[:, :, 0]))
        likelihood += log_density.sum(axis=1)
    return float(BANDWIDTHS[np.argmax(likelihood)])


def _kde(points: np.ndarray, rng: np.random.Generator) -> KernelDensity:
    return KernelDensity(bandwidth=_bandwidth(points, rng)).fit(points)


def density_ratio_scores(members: Images, nonmembers: Images, synthetic: Images, *, features: Features | None = None,
                         components: int = COMPONENTS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """log p_synth(x) - log p_ref(x) of every member and non-member, cross-fitted.

    The non-members are split in two halves (seeded); each half in turn is the reference: the
    principal components and p_ref are fitted on it, p_synth on the synthetic images in those
    components, and it scores the other half of the non-members and half of the members (split
    alike). So every non-member is scored by densities it did not shape, and each pair of densities
    scores members and non-members in the same proportion.

    The components are scaled by one number, the reference's RMS spread in them, not whitened one by
    one: distances stay pixel distances within the components, and a direction in which a small
    reference barely varies is not blown up into the one that decides. The densities are Gaussian
    kernel estimates there, each bandwidth chosen by held-out likelihood: a memorising generator's
    density is spiky at its training scans and a new-patient generator's is not, and only a bandwidth
    the data choose can follow either (Scott's rule assumes one smooth bump and blurs the copies
    away). A density shows spikes only where several synthetic images fall, so give this attack
    several times as many synthetic images as training scans. A Gaussian mixture would need a number
    of components chosen and a covariance fitted per component from a reference of a few dozen scans,
    with an EM that can collapse onto single points; a kernel estimate has one parameter and no fit to
    go wrong, and is one of the estimators DOMIAS's own implementation offers (beside a flow)."""
    m, n = as_tensor(members, "member images"), as_tensor(nonmembers, "non-member images")
    s = as_tensor(synthetic, "synthetic images")
    same_size(m, s, "membership inference (density ratio)")
    same_size(n, s, "membership inference (density ratio)")
    if len(n) < MIN_NONMEMBERS:
        raise BrainganError(f"membership inference: the density attack needs at least {MIN_NONMEMBERS} held-out "
                            f"scans (two halves of two), not {len(n)}")
    if components < 1:
        raise BrainganError(f"membership inference: components must be at least 1, not {components}")
    features = features or downsampled_pixels
    fm, fn, fs = (_features(features, x, what) for x, what in ((m, "members"), (n, "non-members"),
                                                                (s, "synthetic images")))
    rng = np.random.default_rng(seed)
    n_halves, m_halves = _halves(len(n), rng), _halves(len(m), rng)
    m_scores, n_scores = np.empty(len(m)), np.empty(len(n))
    for ref, (scored_n, scored_m) in zip(n_halves, ((n_halves[1], m_halves[1]), (n_halves[0], m_halves[0]))):
        pca = PCA(n_components=min(components, len(ref) - 1, fn.shape[1]), svd_solver="full").fit(fn[ref])
        spread = float(np.sqrt(pca.explained_variance_.mean()))
        if not spread > 0:
            raise BrainganError("membership inference: the held-out scans of one half are all the same image")

        def project(x: np.ndarray) -> np.ndarray:
            return pca.transform(x) / spread

        p_ref, p_synth = _kde(project(fn[ref]), rng), _kde(project(fs), rng)
        for scores, feats, rows in ((n_scores, fn, scored_n), (m_scores, fm, scored_m)):
            if len(rows):
                z = project(feats[rows])
                scores[rows] = p_synth.score_samples(z) - p_ref.score_samples(z)
    return m_scores, n_scores


def reconstruction_scores(queries: Images, generator: Generator, latent_dim: int, *, steps: int = STEPS,
                          restarts: int = RESTARTS, lr: float = LR, batch_size: int = BATCH, seed: int = 0,
                          device: str | torch.device = "cpu") -> np.ndarray:
    """Minus the lowest pixel MSE between each query and ``generator(z)`` that Adam finds.

    ``generator`` maps latent codes [B, latent_dim] to images [B, 1, H, W] in [-1, 1] (a network in
    eval mode: batch statistics would tie the codes of one batch together). Every query gets
    ``restarts`` codes drawn from N(0, 1) (seeded), each optimised for ``steps`` Adam steps on its
    own MSE; the lowest MSE any of them reached counts. Codes are optimised ``batch_size`` at a
    time; the result does not depend on it, since Adam and each code's loss are per code."""
    q = as_tensor(queries, "query images")
    if latent_dim < 1 or steps < 1 or restarts < 1 or batch_size < 1:
        raise BrainganError("membership inference: latent_dim, steps, restarts and batch_size must be at least 1")
    codes = torch.randn(len(q) * restarts, latent_dim, generator=torch.Generator().manual_seed(seed))
    best = torch.empty(len(codes))
    with torch.enable_grad():
        for start in range(0, len(codes), batch_size):
            rows = torch.arange(start, min(start + batch_size, len(codes)))
            target = q[rows // restarts].to(device)
            z = codes[rows].to(device).requires_grad_(True)
            optimiser = torch.optim.Adam([z], lr=lr)
            lowest = torch.full((len(rows),), float("inf"), device=device)
            for step in range(steps + 1):
                image = generator(z)
                if image.shape != target.shape:
                    raise BrainganError(f"membership inference: the generator made shape {tuple(image.shape)} "
                                        f"from {len(z)} codes; the scans are {tuple(target.shape[1:])}")
                error = (image - target).pow(2).flatten(1).mean(dim=1)
                lowest = torch.minimum(lowest, error.detach())
                if step == steps:
                    break
                # grad with respect to z alone: the generator's own parameters are left untouched
                (z.grad,) = torch.autograd.grad(error.sum(), z)
                optimiser.step()
            best[rows] = lowest.cpu()
    return -best.view(len(q), restarts).min(dim=1).values.double().numpy()


@dataclass(frozen=True)
class MembershipResult:
    attacks: dict[str, AttackResult]  # by name: "dcr", "density_ratio" and, given a generator, "reconstruction"
    n_members: int
    n_nonmembers: int  # held-out scans scored, those set aside not counted
    holdout_set_aside: int  # held-out scans that are a training scan (within the duplicate distance)
    n_synthetic: int
    notes: tuple[str, ...] = ()

    def summary(self) -> dict:
        return {"n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
                "holdout_set_aside": self.holdout_set_aside, "n_synthetic": self.n_synthetic,
                "attacks": {name: attack.summary() for name, attack in self.attacks.items()},
                "notes": list(self.notes)}


def new_patients(train: Images, holdout: Images) -> torch.Tensor:
    """Boolean [len(holdout)]: True for held-out scans farther from every training scan than the
    memorization audit's duplicate distance (pixel-identical ones never are)."""
    train_t, holdout_t = as_tensor(train, "training images"), as_tensor(holdout, "held-out images")
    same_size(train_t, holdout_t, "membership inference (held-out scans)")
    return _nearest_distance(holdout_t, train_t) > calibrate(train_t).duplicate_distance


def membership_inference(train: Images, holdout: Images, synthetic: Images, *, generator: Generator | None = None,
                         latent_dim: int | None = None, features: Features | None = None,
                         fprs: tuple[float, ...] = FPRS, draws: int = DRAWS, steps: int = STEPS,
                         restarts: int = RESTARTS, seed: int = 0) -> MembershipResult:
    """Every attack on members ``train`` against non-members ``holdout`` (all of both, less the
    held-out scans that are training scans), from ``synthetic`` and, given, ``generator``."""
    members, holdout_t = as_tensor(train, "training images"), as_tensor(holdout, "held-out images")
    fake = as_tensor(synthetic, "synthetic images")
    same_size(members, fake, "membership inference")
    if (generator is None) != (latent_dim is None):
        raise BrainganError("membership inference: the reconstruction attack needs both a generator and its latent_dim")
    new = new_patients(members, holdout_t)
    nonmembers = holdout_t[new]
    if len(nonmembers) < MIN_NONMEMBERS:
        raise BrainganError(f"membership inference: {len(nonmembers)} held-out scans are not training scans; "
                            f"at least {MIN_NONMEMBERS} are needed")
    scores = {"dcr": (dcr_scores(members, fake), dcr_scores(nonmembers, fake)),
              "density_ratio": density_ratio_scores(members, nonmembers, fake, features=features, seed=seed)}
    notes = []
    if len(fake) < SYNTHETIC_PER_MEMBER * len(members):
        notes.append(f"density_ratio: {len(fake)} synthetic images for {len(members)} training scans; a density shows "
                     f"memorisation only where several fall on one scan, so with fewer than {SYNTHETIC_PER_MEMBER} "
                     "per training scan this attack can miss it")
    if generator is None:
        notes.append("reconstruction attack not run: no generator given")
    else:
        both = reconstruction_scores(torch.cat([members, nonmembers]), generator, latent_dim, steps=steps,
                                     restarts=restarts, seed=seed)
        scores["reconstruction"] = (both[: len(members)], both[len(members):])
    attacks = {name: evaluate_attack(name, m, n, fprs, draws, seed) for name, (m, n) in scores.items()}
    return MembershipResult(attacks=attacks, n_members=len(members), n_nonmembers=len(nonmembers),
                            holdout_set_aside=int((~new).sum()), n_synthetic=len(fake), notes=tuple(notes))
