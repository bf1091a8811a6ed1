"""Grey slice -> square, head-centred, fixed-size array in [-1, 1].

The steps follow common brain-MRI practice: crop to the bounding box of the head (the
Kaggle scans have wide black borders and text marks), pad to a square with background,
resize with antialiasing, scale to the generator's tanh range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Preprocessing:
    """Settings that change the pixels; part of the cache key and of generator.json."""

    resolution: int
    crop: bool = True
    # A pixel is head, not background, above this fraction of the image's 99th percentile.
    threshold: float = 0.1
    version: int = 1  # bump when the algorithm changes, to invalidate caches

    def to_dict(self) -> dict:
        return asdict(self)


def head_box(grey: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """Bounding box (top, bottom, left, right) of the pixels brighter than the background."""
    level = threshold * float(np.percentile(grey, 99))
    rows = np.flatnonzero((grey > level).any(axis=1))
    cols = np.flatnonzero((grey > level).any(axis=0))
    if level <= 0 or rows.size == 0:
        return 0, grey.shape[0], 0, grey.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def pad_square(grey: np.ndarray) -> np.ndarray:
    """Pad with background (0) equally on both sides of the shorter axis."""
    h, w = grey.shape
    size = max(h, w)
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(grey, ((top, size - h - top), (left, size - w - left)))


def preprocess(grey: np.ndarray, settings: Preprocessing) -> np.ndarray:
    """[H, W] in [0, 1] -> float32 [S, S] in [-1, 1]."""
    if settings.crop:
        top, bottom, left, right = head_box(grey, settings.threshold)
        grey = grey[top:bottom, left:right]
    square = torch.from_numpy(np.ascontiguousarray(pad_square(grey)))[None, None]
    size = settings.resolution
    if square.shape[-1] != size:
        # Area-weighted bilinear downsampling (antialias) avoids aliasing from 1920 px sources.
        square = F.interpolate(square, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (square[0, 0].clamp(0.0, 1.0) * 2.0 - 1.0).numpy()
