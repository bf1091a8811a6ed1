"""What every reader returns: named grey slices in [0, 1], and the choices made on volumes.

A 2-D image is one slice; a DICOM series or a NIfTI volume is many. Slices of volumes carry
their series and position so that the central part of each series can be picked
(``--slices``) and nearly empty slices dropped (``--brain-fraction``).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from braingan.errors import BrainganError

# A pixel is head, not background, above this level of the scaled [0, 1] slice
# (the same rule as the head crop in preprocess.py and the demo set's builder).
FOREGROUND = 0.1
# What one file may cost, checked from its header before any pixel is decoded. A slice is padded
# to a square before resizing, so its longer side counts twice: 8k x 8k is far beyond any MRI
# slice. A file's slices together (a volume, a multi-frame DICOM) stay within a 512^3 volume.
MAX_PIXELS = 8192 * 8192
MAX_VOXELS = 512**3


@dataclass(frozen=True)
class Slice:
    name: str  # the file, or the file and the frame/slice index within it
    grey: np.ndarray  # float32 [H, W] in [0, 1]
    series: str | None = None  # volume it belongs to; None for a plain 2-D image
    position: float = 0.0  # order within the series (mm along the slice normal, or an index)


@dataclass(frozen=True)
class VolumeOptions:
    """Settings of the DICOM and NIfTI readers; part of the cache key."""

    slices: float = 1.0  # central fraction of each series kept
    axis: str = "axial"  # NIfTI cutting plane
    brain_fraction: float = 0.05  # minimum fraction of foreground pixels in a volume's slice
    clip_low: float = 0.5  # percentiles that map to 0 and 1 when no DICOM window is given
    clip_high: float = 99.5

    def to_dict(self) -> dict:
        return asdict(self)


def check_size(name: str, rows: int, cols: int, count: int = 1) -> None:
    """Refuse a file whose ``count`` slices of ``rows`` x ``cols`` pixels would cost more than the
    caps, before they are allocated; ``name`` is already shown (errors.shown)."""
    side = max(rows, cols)
    if min(rows, cols, count) < 1:
        raise BrainganError(f"{name}: no pixels ({count} slices of {rows} x {cols})")
    if side * side > MAX_PIXELS:
        raise BrainganError(f"{name}: refused, image too large ({rows:,} x {cols:,} pixels, padded to a square of "
                            f"{side:,} x {side:,}; at most {MAX_PIXELS:,} pixels)")
    if count * rows * cols > MAX_VOXELS:
        raise BrainganError(f"{name}: refused, volume too large ({count:,} slices of {rows:,} x {cols:,} pixels; "
                            f"at most {MAX_VOXELS:,} in one file)")


@contextlib.contextmanager
def reading(name: str, kind: str) -> Iterator[None]:
    """Everything a reader does with one file runs in here: a library raising on a damaged header
    or value becomes a one-line ``BrainganError`` naming the file, so the dataset skips that file
    alone. The libraries' warnings about such values stay off the terminal: the refusal says what
    matters."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except BrainganError:
        raise
    except MemoryError as e:  # within the caps, so the machine is short of memory, not the file damaged
        raise BrainganError(f"{name}: not enough memory to decode it") from e
    except Exception as e:  # the libraries report damage with many exception types
        reason = " ".join(str(e).split())
        raise BrainganError(f"{name}: corrupt {kind} ({type(e).__name__}{': ' + reason if reason else ''})") from e


def scale_percentiles(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip at percentiles of the above-background values and scale to [0, 1].

    The percentiles ignore voxels at the volume's minimum: in a head scan most voxels are air,
    which would otherwise pull the upper percentile down into the tissue.
    """
    values = values.astype(np.float32, copy=False)
    inside = values[values > values.min()]
    if inside.size == 0:
        return np.zeros_like(values)
    lo, hi = (float(v) for v in np.percentile(inside, [low, high]))
    if hi <= lo:
        return (values >= hi).astype(np.float32)  # flat tissue: foreground white, background black
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)


def view(plane: np.ndarray) -> np.ndarray:
    """A plane of a RAS+ volume as an image: superior/anterior up, patient's right on the image right.

    The same ``rot90`` the embedded demo set was built with, so all braingan slices look alike.
    """
    return np.ascontiguousarray(np.rot90(plane))


def square_size(shape: tuple[int, int], row_mm: float, col_mm: float) -> tuple[int, int]:
    """The shape ``square_pixels`` gives a slice of ``shape``: both pixel sides get the smaller of
    the two spacings; square pixels, or spacings that are not positive and finite, keep it."""
    known = all(math.isfinite(mm) and mm > 0 for mm in (row_mm, col_mm))
    if not known or abs(row_mm - col_mm) <= 1e-3 * max(row_mm, col_mm):
        return shape
    step = min(row_mm, col_mm)
    return max(1, round(shape[0] * row_mm / step)), max(1, round(shape[1] * col_mm / step))


def square_pixels(grey: np.ndarray, row_mm: float, col_mm: float) -> np.ndarray:
    """Resample so both pixel sides have the smaller of the two spacings (thick-slice volumes
    cut coronally or sagittally would otherwise look squashed). Square pixels pass unchanged."""
    size = square_size(grey.shape, row_mm, col_mm)
    if size == grey.shape:
        return grey
    resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(grey))[None, None], size=size, mode="bilinear",
                            align_corners=False)
    return resized[0, 0].clamp(0.0, 1.0).numpy()


def central(slices: list[Slice], fraction: float) -> list[Slice]:
    """Keep the central ``fraction`` (at least one) of each series, ordered by position."""
    if fraction >= 1.0:
        return slices
    groups: dict[str | None, list[Slice]] = {}
    for s in slices:
        groups.setdefault(s.series, []).append(s)
    kept: set[int] = set()
    for series, members in groups.items():
        if series is None:
            kept.update(id(s) for s in members)
            continue
        members = sorted(members, key=lambda s: s.position)
        n = max(1, round(fraction * len(members)))
        start = (len(members) - n) // 2
        kept.update(id(s) for s in members[start:start + n])
    return [s for s in slices if id(s) in kept]


def has_brain(grey: np.ndarray, fraction: float) -> bool:
    return float((grey > FOREGROUND).mean()) >= fraction
