"""The math of one GAN training step, apart from logging, checkpoints and the loop around it."""

from __future__ import annotations

from dataclasses import dataclass

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


def train_step(models: GanModels, loss: GanLoss, real: Tensor, z: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """One D update then one G update, as the seed notebook does; returns detached (D, G) losses.

    The fake batch is generated once: the seed regenerates it for the G update from the same
    noise and unchanged G weights, which gives the same images at twice the cost.
    """
    G, D = models.generator, models.discriminator
    fake = G(z, labels)
    n = len(real)

    # D sees real and fake together in one batch (the seed's train_on_batch on the concatenation).
    logits = D(torch.cat([real, fake.detach()]), torch.cat([labels, labels]))
    d_loss = loss.discriminator(logits[:n], logits[n:])
    models.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    models.opt_d.step()

    # G through a frozen D: no gradients for D's weights are computed at all (nor all-reduced).
    D = unwrap(D)
    D.requires_grad_(False)
    g_loss = loss.generator(D(fake, labels))
    models.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    models.opt_g.step()
    D.requires_grad_(True)
    return d_loss.detach(), g_loss.detach()
