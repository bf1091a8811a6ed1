"""Generated slices as NIfTI: one volume of stacked slices, or one single-slice volume each.

Orientation: voxel axes are RAS+ with 1 mm isotropic voxels and the volume centred on the
origin; each image is an axial plane shown as braingan's readers show it (anterior up,
patient's right on the image right), so reading the file back with braingan's NIfTI reader
returns the same pixels. Stacked samples are independent images, not a scanned volume: the
1 mm spacing along z only lets viewers page through them.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

from braingan.errors import BrainganError, shown
from braingan.io.atomic import atomic_write_bytes

MAX_SLICES = 32767  # NIfTI-1 stores each dimension as a signed 16-bit number


def slices_to_volume(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W] images -> uint8 [W, H, N] RAS volume (the inverse of ``data.slices.view``)."""
    return np.ascontiguousarray(np.stack([np.rot90(image, -1) for image in images], axis=-1))


def nifti_bytes(images: np.ndarray, description: str, compress: bool = True) -> bytes:
    """A NIfTI-1 file of uint8 [N, H, W] images, gzipped unless ``compress`` is False."""
    volume = slices_to_volume(images)
    affine = np.eye(4)
    affine[:3, 3] = -(np.array(volume.shape) - 1) / 2.0  # the centre of the volume at (0, 0, 0) mm
    image = nib.Nifti1Image(volume, affine)
    image.header.set_xyzt_units("mm")
    image.header.set_qform(affine, code="aligned")
    image.header.set_sform(affine, code="aligned")
    image.header["descrip"] = description.encode()[:79]
    data = image.to_bytes()
    return gzip.compress(data, mtime=0) if compress else data


def save_nifti(path: str | Path, images: np.ndarray, description: str) -> None:
    """Write ``images`` to ``path`` (``.nii`` or ``.nii.gz``) atomically."""
    if len(images) > MAX_SLICES:
        raise BrainganError(f"{shown(path)}: {len(images):,} slices do not fit in one NIfTI-1 volume "
                            f"(at most {MAX_SLICES:,})")
    atomic_write_bytes(path, nifti_bytes(images, description, compress=str(path).endswith(".gz")))
