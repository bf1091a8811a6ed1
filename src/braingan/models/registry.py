"""Architectures by name: what configs, checkpoints and generator.json refer to."""

from __future__ import annotations

from torch import nn

from braingan.errors import BrainganError
from braingan.models.seed_dcgan import SeedDiscriminator, SeedGenerator

GENERATORS: dict[str, type[nn.Module]] = {"seed_dcgan": SeedGenerator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"seed_dcgan": SeedDiscriminator}


def generator_kwargs(arch: str, latent_dim: int, resolution: int, g_width: int, num_classes: int) -> dict:
    """The constructor arguments of a generator: stored in generator.json to rebuild it."""
    _check(arch)
    return {"latent_dim": latent_dim, "resolution": resolution, "g_width": g_width}


def build_generator(arch: str, **kwargs) -> nn.Module:
    _check(arch)
    return GENERATORS[arch](**kwargs)


def build_discriminator(arch: str, resolution: int, d_width: int, num_classes: int) -> nn.Module:
    _check(arch)
    return DISCRIMINATORS[arch](resolution=resolution, d_width=d_width)


def _check(arch: str) -> None:
    if arch not in GENERATORS:
        raise BrainganError(f"unknown architecture {arch!r}; known: {', '.join(GENERATORS)}")
