"""Architectures by name: what configs, checkpoints and generator.json refer to."""

from __future__ import annotations

from torch import nn

from braingan.errors import BrainganError
from braingan.models.dcgan import DCDiscriminator, DCGenerator
from braingan.models.seed_dcgan import SeedDiscriminator, SeedGenerator

GENERATORS: dict[str, type[nn.Module]] = {"seed_dcgan": SeedGenerator, "dcgan": DCGenerator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"seed_dcgan": SeedDiscriminator, "dcgan": DCDiscriminator}
# What only the scalable family has: the seed networks stay exactly the notebook's.
CONDITIONAL = {"dcgan"}


def generator_kwargs(arch: str, latent_dim: int, resolution: int, g_width: int, num_classes: int,
                     batch_norm: bool = False) -> dict:
    """The constructor arguments of a generator: stored in generator.json to rebuild it.

    ``num_classes`` > 1 makes a conditional generator (0 or 1: unconditional).
    """
    _check(arch)
    kwargs = {"latent_dim": latent_dim, "resolution": resolution, "g_width": g_width}
    if arch not in CONDITIONAL:
        if num_classes > 1 or batch_norm:
            raise BrainganError(f"architecture {arch!r} has no class embedding or batch norm; use arch 'dcgan' "
                               "(--preset fewshot-dcgan)")
        return kwargs
    return {**kwargs, "num_classes": num_classes, "batch_norm": batch_norm}


def build_generator(arch: str, **kwargs) -> nn.Module:
    _check(arch)
    try:
        return GENERATORS[arch](**kwargs)
    except ValueError as e:
        raise BrainganError(f"architecture {arch!r}: {e}") from e


def build_discriminator(arch: str, resolution: int, d_width: int, num_classes: int, mbstd_group: int = 0) -> nn.Module:
    """``num_classes`` > 0 adds the projection head (dcgan only); ``mbstd_group`` > 0 a
    minibatch-std channel over groups of that many images (it must divide the reals per step)."""
    _check(arch)
    try:
        if arch in CONDITIONAL:
            return DISCRIMINATORS[arch](resolution=resolution, d_width=d_width, num_classes=num_classes,
                                        mbstd_group=mbstd_group)
        return DISCRIMINATORS[arch](resolution=resolution, d_width=d_width, mbstd_group=mbstd_group)
    except ValueError as e:
        raise BrainganError(f"architecture {arch!r}: {e}") from e


def _check(arch: str) -> None:
    if arch not in GENERATORS:
        raise BrainganError(f"unknown architecture {arch!r}; known: {', '.join(GENERATORS)}")
