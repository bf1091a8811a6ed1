"""The math of one GAN training step, apart from logging, checkpoints and the loop around it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from braingan.training.distributed import unwrap
from braingan.training.losses import GanLoss


@dataclass
class GanModels:
    """What a step updates: both networks and their optimizers."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


@dataclass(frozen=True)
class StepOptions:
    """What the few-shot recipe adds to the seed's step; the defaults are the seed's (all off)."""

    augment: Callable[[Tensor], Tensor] | None = None  # applied to every image D sees, real or fake
    r1_weight: float = 0.0  # gamma / 2 * k on the steps of lazy R1, else 0
    # Weight of the mode-seeking term in G's loss, 0 is off; a device scalar (a CUDA graph's,
    # training/graphs.py) is on whatever it holds, so that reading it never syncs.
    mode_seeking: float | Tensor = 0.0


class StepStats(NamedTuple):
    """Detached results of a step: losses, and sum of sign(D(real)) for ADA."""

    d_loss: Tensor
    g_loss: Tensor
    real_signs: Tensor


SEED_STEP = StepOptions()


def train_step(models: GanModels, loss: GanLoss, real: Tensor, z: Tensor, labels: Tensor,
               options: StepOptions = SEED_STEP) -> StepStats:
    """One D update then one G update, as the seed notebook does.

    The fake batch is generated once: the seed regenerates it for the G update from the same
    noise and unchanged G weights, which gives the same images at twice the cost.
    """
    G, D = models.generator, models.discriminator
    seen = options.augment or (lambda x: x)
    fake = G(z, labels)
    n = len(real)

    # D sees real and fake together in one batch (the seed's train_on_batch on the concatenation).
    shown = seen(torch.cat([real, fake.detach()]))
    if options.r1_weight:
        # R1 is taken at what D is shown: the augmented reals become the leaf, so the penalty's
        # double backward never passes through the augmentation (CUDA's grid_sample backward
        # cannot be differentiated again).
        real_shown = shown[:n].detach().requires_grad_(True)
        shown = torch.cat([real_shown, shown[n:]])
    both = torch.cat([labels, labels])
    # Losses in fp32 whatever the precision of the networks (.float() is free in fp32).
    if loss.d_reconstruction:  # the same forward also redraws the reals (models/self_supervision.py)
        logits, redrawn = D(shown, both, reconstruct=n)
        logits, redrawn = logits.float(), redrawn.float()
    else:
        logits = D(shown, both).float()
    d_loss = loss.discriminator(logits[:n], logits[n:])
    if loss.d_reconstruction:
        d_loss = d_loss + loss.d_reconstruction * redrawn
    if options.r1_weight:
        d_loss = d_loss + options.r1_weight * r1_penalty(logits[:n], real_shown)
    models.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    models.opt_d.step()

    # G through a frozen D: no gradients for D's weights are computed at all (nor all-reduced).
    D = unwrap(D)
    D.requires_grad_(False)
    g_loss = loss.generator(D(seen(fake), labels).float())
    if torch.is_tensor(options.mode_seeking) or options.mode_seeking:
        g_loss = g_loss + options.mode_seeking * mode_seeking_penalty(fake.float(), z, labels)
    models.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    models.opt_g.step()
    for group in models.opt_d.param_groups:  # D's optimizer holds what D trains (not FreezeD's layers)
        for weight in group["params"]:
            weight.requires_grad_(True)
    return StepStats(d_loss.detach(), g_loss.detach(), logits[:n].detach().sign().sum())


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """Mean squared gradient norm of D at the reals it was shown (Mescheder et al. 2018)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


def mode_seeking_penalty(fake: Tensor, z: Tensor, labels: Tensor) -> Tensor:
    """1 / (image distance / noise distance) over pairs of the batch (first half with second
    half) that share a label (Mao et al. 2019, MSGAN): large when G maps different noise to
    near-identical images, so minimising it pushes G's samples apart. No extra forward pass:
    the pairs are the step's own fakes. 0 when no pair shares a label; no host sync either way."""
    half = len(fake) // 2
    same = (labels[:half] == labels[half:2 * half]).to(fake.dtype)
    images = (fake[:half] - fake[half:2 * half]).abs().flatten(1).mean(1)
    noise = (z[:half] - z[half:2 * half]).abs().mean(1)
    pairs = same.sum()
    ratio = (images / noise * same).sum() / pairs.clamp(min=1)
    return torch.where(pairs > 0, 1.0 / (ratio + 1e-5), torch.zeros_like(ratio))
