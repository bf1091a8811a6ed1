"""Read an image file, whatever its suffix claims, as one grey channel in [0, 1].

Formats are recognised by content (the Kaggle set has PNGs named ``.jpg``). Every failure
becomes a ``BrainganError`` naming the file, so callers can skip it with a warning.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from braingan.data.slices import MAX_PIXELS, check_size
from braingan.errors import BrainganError, shown
from braingan.io.safe_read import read_regular

# PIL refuses decompression bombs by pixel count as it opens the header; check_size then bounds
# the padded square (a 1 x 60,000 image passes a pixel count, not the square).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def read_grey(source: Path | BinaryIO, name: Path | str | None = None) -> np.ndarray:
    """Decode a file (a path, or bytes already read from ``name``) to float32 [H, W] in [0, 1]."""
    label = shown(name if name is not None else source)
    if isinstance(source, (str, Path)):
        source = io.BytesIO(read_regular(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                check_size(label, image.height, image.width)  # before a pixel is decoded
                image.load()
                return _to_grey(image, label)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BrainganError(f"{label}: refused, image too large ({e})") from e
    except UnidentifiedImageError as e:
        raise BrainganError(f"{label}: not an image file") from e
    except OSError as e:  # truncated data, ...
        raise BrainganError(f"{label}: cannot read ({e.strerror or e})") from e
    except (ValueError, SyntaxError) as e:  # PIL raises these for some corrupt headers
        raise BrainganError(f"{label}: corrupt image ({e})") from e


def _to_grey(image: Image.Image, label: str) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit and float images: scale by the range the data actually uses (in float64, so a range
        # as wide as float32's own cannot overflow).
        values = np.asarray(image, dtype=np.float64)
        bad = values.size - int(np.isfinite(values).sum())
        if bad:  # one NaN would make the whole range NaN: refuse rather than guess what the holes show
            raise BrainganError(f"{label}: refused, {bad:,} of {values.size:,} pixels are NaN or infinite")
        lo, hi = float(values.min()), float(values.max())
        return ((values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)).astype(np.float32)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA"):
        # Transparent pixels are background: composite over black.
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.float32) / 255.0
