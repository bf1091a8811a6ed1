"""Generator and discriminator architectures, chosen by name through the registry."""

from braingan.models.registry import build_discriminator, build_generator

__all__ = ["build_discriminator", "build_generator"]
