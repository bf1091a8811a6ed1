"""Architecture families by name: what configs, checkpoints and generator.json refer to.

Every family takes the same arguments: generators ``(resolution, width, num_classes,
latent_dim, **options)``, discriminators ``(resolution, width, num_classes, **options)``,
where ``num_classes`` 0 is unconditional and the options are the family's own. Every
discriminator lists its layers from the input side in ``input_layers()`` (FreezeD keeps the
first K at their fine-tuning start). Each class
checks what it is given and raises ``ValueError`` for what it cannot build; here that
becomes a ``BrainganError`` naming the family.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from braingan.errors import BrainganError
from braingan.models.dcgan import DCDiscriminator, DCGenerator
from braingan.models.fastgan import FastGenerator
from braingan.models.fastgan_discriminator import FastDiscriminator
from braingan.models.seed_dcgan import SeedDiscriminator, SeedGenerator

GENERATORS: dict[str, type[nn.Module]] = {"seed_dcgan": SeedGenerator, "dcgan": DCGenerator,
                                          "fastgan": FastGenerator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"seed_dcgan": SeedDiscriminator, "dcgan": DCDiscriminator,
                                              "fastgan": FastDiscriminator}


def build_generator(arch: str, **kwargs: Any) -> nn.Module:
    return _build(GENERATORS, arch, "generator", kwargs)


def build_discriminator(arch: str, **kwargs: Any) -> nn.Module:
    return _build(DISCRIMINATORS, arch, "discriminator", kwargs)


def _build(family: dict[str, type[nn.Module]], arch: str, part: str, kwargs: dict[str, Any]) -> nn.Module:
    if arch not in family:
        raise BrainganError(f"unknown architecture {arch!r}; known: {', '.join(family)}")
    cls = family[arch]
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise BrainganError(f"architecture {arch!r}: its {part} has no option {unknown[0]!r} "
                            f"(it takes {', '.join(accepted)})")
    try:
        return cls(**kwargs)
    except ValueError as e:
        raise BrainganError(f"architecture {arch!r}: {e}") from e
