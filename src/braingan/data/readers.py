"""Read an image file, whatever its suffix claims, as one grey channel in [0, 1].

Formats are recognised by content (the Kaggle set has PNGs named ``.jpg``). Every failure
becomes a ``BrainganError`` naming the file, so callers can skip it with a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from braingan.errors import BrainganError

# Refuse decompression bombs early: 8k x 8k is far beyond any MRI slice.
MAX_PIXELS = 8192 * 8192
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def read_grey(source: Path | BinaryIO, name: Path | str | None = None) -> np.ndarray:
    """Decode a file (a path, or bytes already read from ``name``) to float32 [H, W] in [0, 1]."""
    path = name if name is not None else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                image.load()
                return _to_grey(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BrainganError(f"{path}: refused, image too large ({e})") from e
    except UnidentifiedImageError as e:
        raise BrainganError(f"{path}: not an image file") from e
    except OSError as e:  # truncated data, permissions, symlink loops, ...
        raise BrainganError(f"{path}: cannot read ({e.strerror or e})") from e
    except (ValueError, SyntaxError) as e:  # PIL raises these for some corrupt headers
        raise BrainganError(f"{path}: corrupt image ({e})") from e


def _to_grey(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit and float images: scale by the range the data actually uses.
        values = np.asarray(image, dtype=np.float32)
        lo, hi = float(values.min()), float(values.max())
        return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA"):
        # Transparent pixels are background: composite over black.
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.float32) / 255.0
