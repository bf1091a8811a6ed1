"""The sizes and channel counts of the fastgan family's networks.

Every network of the family works on the pyramid 4 px <-> ``resolution``. The channels at a
level of size ``s`` are ``width * resolution / s``, capped at ``8 * width``: as in FastGAN
(Liu et al. 2021), the costly high-resolution levels stay thin and the cheap low-resolution
ones, where the layout of the head is decided, are wide.
"""

from __future__ import annotations

import math

MIN_RESOLUTION = 32  # D's decoders read its 16x16 and 8x8 maps, which a smaller image does not reach
MAX_WIDTH_FACTOR = 8


def levels(resolution: int) -> list[int]:
    """Sizes 4, 8, ..., resolution; the resolution must be a power of two from 32."""
    n = int(math.log2(resolution)) if resolution > 0 else 0
    if resolution < MIN_RESOLUTION or 2**n != resolution:
        raise ValueError(f"resolution {resolution} is not a power of two from {MIN_RESOLUTION} (fastgan)")
    return [2**i for i in range(2, n + 1)]


def channels(width: int, resolution: int, size: int) -> int:
    return width * min(resolution // size, MAX_WIDTH_FACTOR)


def at_least(name: str, value: int, least: int) -> None:
    """A network option (width, depth, ...) below what the family can build is refused."""
    if value < least:
        raise ValueError(f"{name} must be at least {least}, not {value} (fastgan)")
