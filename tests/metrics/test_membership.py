"""Membership inference: the ROC pieces match hand-checked values; on real MRI every attack is at chance
against a generator of new patients and far above it against one that memorises its training scans."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from braingan.errors import BrainganError
from braingan.io.images import to_uint8
from braingan.metrics.membership import (
    evaluate_attack,
    membership_inference,
    reconstruction_scores,
    roc_auc,
    tpr_at_fpr,
)

# Against a generator of new patients a member and a non-member are exchangeable, and the AUC of ~40
# scores against ~40 spreads by a standard deviation near 0.07 (Mann-Whitney): three of them.
CHANCE_TOLERANCE = 0.2
NOISE = 0.05  # "slight": 2.5% of the intensity range
COPIES = 4  # samples the memorising generator is asked for per training scan


def split(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train, holdout and a third part of other real scans, by a fixed seeded permutation."""
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(real)))
    third = len(real) // 3
    return real[order[:third]], real[order[third:2 * third]], real[order[2 * third:]]


def mixer(images: torch.Tensor) -> tuple[torch.nn.Module, int]:
    """A differentiable generator that mixes ``images``: G(z) = softmax(z @ W) @ images, W a fixed
    random rotation (latent_dim = len(images), so every mixture, each single scan included, is some
    code's output). A stand-in: making a real GAN memorise its training set takes far too long for a
    unit test, and this one memorises by construction (or, over other scans, makes new patients)."""
    rotation, _ = torch.linalg.qr(torch.randn(len(images), len(images), generator=torch.Generator().manual_seed(1)))
    flat = images.flatten(1)

    class Mixer(torch.nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return (torch.softmax(z @ rotation, dim=1) @ flat).view(len(z), *images.shape[1:])

    return Mixer(), len(images)


def test_auc_by_ranks_counts_a_tie_as_one_half() -> None:
    assert roc_auc(np.array([3.0, 2, 1]), np.array([0.0, -1])) == 1.0
    assert roc_auc(np.array([0.0]), np.array([1.0])) == 0.0
    assert roc_auc(np.array([1.0, 1]), np.array([1.0, 1, 1])) == 0.5
    assert roc_auc(np.array([1.0, 2]), np.array([1.0, 0])) == 0.875  # (0.5 + 1 + 1 + 1) / 4
    # 0.9 beats all four; 0.4 beats 0.1 and ties 0.4; 0.6 beats three: 8.5 of 12 pairs
    assert roc_auc(np.array([0.9, 0.4, 0.6]), np.array([0.5, 0.4, 0.1, 0.7])) == pytest.approx(8.5 / 12)
    rng = np.random.default_rng(0)
    members, nonmembers = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 30).astype(float)  # many ties
    truth = np.r_[np.ones(40), np.zeros(30)]
    assert roc_auc(members, nonmembers) == pytest.approx(roc_auc_score(truth, np.r_[members, nonmembers]))


def test_tpr_thresholds_above_the_quantile_and_never_exceeds_the_fpr() -> None:
    nonmembers = np.arange(100.0)
    members = np.array([99.5, 99, 98.5, 98, 10])
    assert tpr_at_fpr(members, nonmembers, 0.01) == 0.6  # one false positive allowed: above 98, the 2nd highest
    assert tpr_at_fpr(members, nonmembers, 0.05) == 0.8  # five allowed: above 94
    assert tpr_at_fpr(members, nonmembers, 0.001) is None  # 100 non-members cannot resolve 0.1%
    # three non-members tie at the top: calling 100 a member would be an FPR of 3%, so only 100.5 is
    tied = np.r_[100.0, 100, 100, np.arange(97.0)]
    assert tpr_at_fpr(np.array([100.0, 100.5]), tied, 0.01) == 0.5
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 20, 300).astype(float)
    for fpr in (0.01, 0.02, 0.1, 0.5):
        assert tpr_at_fpr(scores, scores, fpr) <= fpr  # the non-members' own rate is the FPR achieved


def test_attack_result_states_chance_and_what_the_holdout_cannot_resolve() -> None:
    rng = np.random.default_rng(2)
    few = evaluate_attack("x", rng.normal(1, 1, 40), rng.normal(0, 1, 50), draws=200)
    assert few.min_fpr == 1 / 50 and few.tpr_at == {0.01: None, 0.001: None}
    assert few.tpr_intervals == {0.01: None, 0.001: None} and len(few.notes) == 2
    assert few.auc_interval[0] < few.auc < few.auc_interval[1]
    assert few.auc == roc_auc(few.member_scores, few.nonmember_scores)
    summary = json.loads(json.dumps(few.summary(), allow_nan=False))
    assert summary["auc_chance"] == 0.5 and summary["tpr_chance"] == {"0.01": 0.01, "0.001": 0.001}
    assert summary["tpr_at_fpr"] == {"0.01": None, "0.001": None} and "at least 100 non-members" in summary["notes"][0]

    many = evaluate_attack("x", rng.normal(3, 1, 40), rng.normal(0, 1, 200), draws=200)
    assert many.tpr_at[0.001] is None and len(many.notes) == 1
    low, high = many.tpr_intervals[0.01]
    assert low <= many.tpr_at[0.01] <= high and many.tpr_at[0.01] == tpr_at_fpr(many.member_scores,
                                                                              many.nonmember_scores, 0.01)
    again = evaluate_attack("x", many.member_scores, many.nonmember_scores, draws=200)
    assert again.auc_interval == many.auc_interval and again.tpr_intervals == many.tpr_intervals  # seeded


def test_every_attack_is_at_chance_when_the_synthetic_scans_are_new_patients(real32: torch.Tensor) -> None:
    train, holdout, other = split(real32)
    generator, latent_dim = mixer(other)
    result = membership_inference(train, holdout, other, generator=generator, latent_dim=latent_dim)
    assert set(result.attacks) == {"dcr", "density_ratio", "reconstruction"}
    assert len(result.notes) == 1 and "fewer than 4 per training scan" in result.notes[0]  # as many as trained on
    assert result.n_members == len(train) and result.n_nonmembers + result.holdout_set_aside == len(holdout)
    assert result.holdout_set_aside < 0.1 * len(holdout)  # only the Kaggle set's near-twins
    for name, attack in result.attacks.items():
        assert abs(attack.auc - 0.5) < CHANCE_TOLERANCE, name
        assert attack.auc_interval[0] < 0.5 < attack.auc_interval[1], name
        assert attack.n_nonmembers == result.n_nonmembers and attack.min_fpr == 1 / result.n_nonmembers
    json.dumps(result.summary(), allow_nan=False)


def test_every_attack_catches_a_generator_that_memorises(real32: torch.Tensor) -> None:
    train, holdout, _ = split(real32)
    copies = train.repeat(COPIES, 1, 1, 1)
    noisy = (copies + NOISE * torch.randn(copies.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    generator, latent_dim = mixer(train)
    result = membership_inference(train, holdout, to_uint8(noisy), generator=generator, latent_dim=latent_dim)
    assert not result.notes
    for name, attack in result.attacks.items():
        assert attack.auc > 0.9 and attack.auc_interval[0] > 0.75, name


def test_held_out_copies_of_training_scans_are_set_aside(real32: torch.Tensor) -> None:
    train, holdout, other = split(real32)
    before = membership_inference(train, holdout, other, draws=10)
    after = membership_inference(train, torch.cat([holdout, train[:5]]), other, draws=10)
    assert after.holdout_set_aside == before.holdout_set_aside + 5 and after.n_nonmembers == before.n_nonmembers
    assert after.attacks["dcr"].auc == before.attacks["dcr"].auc
    assert "reconstruction" not in after.attacks
    assert "reconstruction attack not run: no generator given" in after.summary()["notes"]


def test_reconstruction_is_seeded_batch_free_and_leaves_the_generator_alone(real32: torch.Tensor) -> None:
    torch.manual_seed(0)
    generator = torch.nn.Sequential(torch.nn.Linear(8, 32 * 32), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 32, 32)))
    queries = real32[:6]
    scores = reconstruction_scores(queries, generator, 8, steps=5, restarts=2)
    assert np.allclose(scores, reconstruction_scores(queries, generator, 8, steps=5, restarts=2, batch_size=5))
    assert np.all(scores < 0) and all(p.grad is None for p in generator.parameters())
    assert not np.allclose(scores, reconstruction_scores(queries, generator, 8, steps=5, restarts=2, seed=1))


def test_user_errors_are_one_line_braingan_errors(real32: torch.Tensor) -> None:
    train, holdout, other = split(real32)
    generator, latent_dim = mixer(other)
    with pytest.raises(BrainganError, match="both a generator and its latent_dim"):
        membership_inference(train, holdout, other, generator=generator)
    with pytest.raises(BrainganError, match="differ in size"):
        membership_inference(train, holdout, other[:, :, :16, :16])
    with pytest.raises(BrainganError, match="at least 4 are needed"):
        membership_inference(train, train[:3], other)
    with pytest.raises(BrainganError, match="have shape"):
        membership_inference(train, holdout, other, features=lambda images: np.zeros((1, 3)))
    with pytest.raises(BrainganError, match="the generator made shape"):
        reconstruction_scores(train[:, :, :16, :16], generator, latent_dim, steps=1)
    with pytest.raises(BrainganError, match="between 0 and 1"):
        tpr_at_fpr(np.ones(3), np.ones(3), 1.5)
