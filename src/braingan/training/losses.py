"""GAN losses on discriminator logits, selected by name in the config, and the weight of D's own term."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from braingan.errors import BrainganError


@dataclass(frozen=True)
class GanLoss:
    discriminator: Callable[[Tensor, Tensor], Tensor]  # (real logits, fake logits) -> loss
    generator: Callable[[Tensor], Tensor]  # fake logits -> loss
    # Weight of D's error redrawing the reals it is shown (FastGAN's self-supervision,
    # models/self_supervision.py), added to D's loss; 0 is off.
    d_reconstruction: float = 0.0


def _bce_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    """The seed's ``train_on_batch`` on real+fake concatenated: one mean over both halves."""
    logits = torch.cat([real, fake])
    targets = torch.cat([torch.ones_like(real), torch.zeros_like(fake)])
    return F.binary_cross_entropy_with_logits(logits, targets)


def _bce_generator(fake: Tensor) -> Tensor:
    """The combined model's BCE against label 1 (the non-saturating generator loss)."""
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def _logistic_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    """Non-saturating logistic (StyleGAN's): softplus(-D(x)) + softplus(D(G(z))), each averaged."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _hinge_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge (SN-GAN): D only learns from samples inside the margin."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _hinge_generator(fake: Tensor) -> Tensor:
    return -fake.mean()


LOSSES: dict[str, GanLoss] = {
    "bce": GanLoss(_bce_discriminator, _bce_generator),
    # The G side of the logistic loss is the seed's BCE-against-1: -log sigmoid = softplus(-x).
    "logistic": GanLoss(_logistic_discriminator, _bce_generator),
    "hinge": GanLoss(_hinge_discriminator, _hinge_generator),
}


def get_loss(name: str, d_reconstruction: float = 0.0) -> GanLoss:
    if name not in LOSSES:
        raise BrainganError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return dataclasses.replace(LOSSES[name], d_reconstruction=d_reconstruction)
