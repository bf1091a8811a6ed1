"""The files of ``braingan generate`` in its ``--out`` folder: one format, numbered as images arrive.

The folder is generate's: samples an earlier generate left there (``sample_*`` files,
``samples.nii.gz``) are refused without ``--force`` and removed with it, so a folder never holds a
mix of two generations, and temporary files of an interrupted generate are removed. Each file is
written atomically, so after Ctrl-C or a full disk every file left is complete.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from braingan.errors import BrainganError, shown
from braingan.io.atomic import refuse_special, remove_orphans
from braingan.io.images import save_png
from braingan.io.nifti import save_nifti

SAMPLE = re.compile(r"sample_\d+\.(png|dcm|nii\.gz)|samples\.nii\.gz")  # every name generate writes
STACKED = "samples.nii.gz"


def clear_earlier_samples(out: Path, force: bool, log: Callable[[str], None]) -> None:
    """Refuse, or with ``force`` remove, the samples of an earlier generate in ``out``; remove the
    temporary files of one that was interrupted. Names alone tell them: generate's own names."""
    if not out.is_dir():
        return
    remove_orphans(out, "sample*", log)
    first = next(_samples(out), None)
    if first is None:
        return
    if not force:
        raise BrainganError(f"{shown(out)}: holds the samples of an earlier generate ({shown(first)}, ...); "
                            "add --force to replace them, or choose another --out")
    for name in _samples(out):  # nothing is removed when one of them is not a regular file
        refuse_special(out / name)
    removed = 0
    for name in _samples(out):
        (out / name).unlink()
        removed += 1
    log(f"removed {removed:,} samples of an earlier generate from {shown(out)}")


def _samples(out: Path) -> Iterator[str]:
    """Names in ``out`` that generate writes, streamed (a folder may hold millions)."""
    with os.scandir(out) as entries:
        yield from (entry.name for entry in entries if SAMPLE.fullmatch(entry.name))


class SampleWriter:
    """uint8 images to files of one format in ``out``: sample_XXXXX.png / .dcm / .nii.gz, or one
    stacked samples.nii.gz (its slices are kept until ``close``)."""

    def __init__(self, out: Path, format: str, per_slice: bool, run_name: str, width: int) -> None:
        self.out, self.format, self.width = out, format, width
        self.stacked = format == "nifti" and not per_slice
        self.description = f"braingan synthetic, run {run_name}"
        self.written = 0  # images in complete files on disk
        self.stack: list[np.ndarray] = []
        if format == "dicom":
            from braingan.io.dicom import DicomSeries

            self.series = DicomSeries(run_name)

    def write(self, images: np.ndarray) -> None:
        """uint8 [N, H, W]."""
        if self.stacked:
            self.stack.append(images)
            return
        for image in images:
            name = f"sample_{self.written:0{self.width}d}"
            if self.format == "png":
                save_png(self.out / f"{name}.png", image)
            elif self.format == "dicom":
                self.series.write(self.out / f"{name}.dcm", image, self.written)
            else:
                save_nifti(self.out / f"{name}.nii.gz", image[None], self.description)
            self.written += 1

    def close(self) -> None:
        if self.stack:
            images = np.concatenate(self.stack)
            save_nifti(self.out / STACKED, images, self.description)
            self.written = len(images)
