"""NIfTI volumes -> grey slices: reoriented to RAS+, cut along one axis, intensity clipped,
resampled to square pixels when the voxels are not.

nibabel parses the header and applies scl_slope/scl_inter; ``as_closest_canonical`` flips and
permutes the voxel axes to RAS+ (no resampling), so 'axial' means the same plane in every file.
"""

from __future__ import annotations

import struct
import zlib

import nibabel as nib
import numpy as np

from braingan.data.slices import Slice, VolumeOptions, scale_percentiles, square_pixels, view
from braingan.errors import BrainganError

# The RAS+ voxel axis perpendicular to each cutting plane.
NORMALS = {"sagittal": 0, "coronal": 1, "axial": 2}
# Refuse to inflate more than this (a 512^3 float32 volume is 512 MiB).
MAX_BYTES = 1 << 30


def is_nifti(data: bytes, name: str) -> bool:
    """NIfTI-1 or -2 by header size and magic; gzip only under the ``.nii.gz`` name."""
    if name.lower().endswith(".nii.gz") and data[:2] == b"\x1f\x8b":
        return True
    return _header_kind(data) is not None


def _header_kind(data: bytes) -> type[nib.Nifti1Image] | None:
    for order in "<>":
        if len(data) >= 4 and struct.unpack(f"{order}i", data[:4])[0] == 348 and data[344:347] in (b"n+1", b"ni1"):
            return nib.Nifti1Image
        if len(data) >= 8 and struct.unpack(f"{order}i", data[:4])[0] == 540 and data[4:7] in (b"n+2", b"ni2"):
            return nib.Nifti2Image
    return None


def read_nifti(data: bytes, name: str, options: VolumeOptions) -> list[Slice]:
    """The slices of one volume along ``options.axis`` (one series per file)."""
    if data[:2] == b"\x1f\x8b":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = inflater.decompress(data, MAX_BYTES)
        except zlib.error as e:
            raise BrainganError(f"{name}: corrupt gzip ({e})") from e
        if inflater.unconsumed_tail:
            raise BrainganError(f"{name}: refused, volume larger than {MAX_BYTES >> 20} MiB")
    kind = _header_kind(data)
    if kind is None:
        raise BrainganError(f"{name}: not a NIfTI volume (no NIfTI header)")
    try:
        image = kind.from_bytes(data)
        shape = image.shape
        if len(shape) > 3 and any(n > 1 for n in shape[3:]):
            raise BrainganError(f"{name}: {len(shape)}-D NIfTI of shape {shape}; braingan reads 3-D volumes, "
                                "extract one volume first (e.g. fslroi or nibabel's image slicing)")
        if len(shape) > 3:
            image = image.slicer[(..., *([0] * (len(shape) - 3)))]
        if len(image.shape) < 3:
            raise BrainganError(f"{name}: {len(shape)}-D NIfTI; braingan reads 3-D volumes")
        canonical = nib.as_closest_canonical(image)
        volume = np.asarray(canonical.get_fdata(dtype=np.float32))
        zooms = [float(z) for z in canonical.header.get_zooms()[:3]]
    except BrainganError:
        raise
    except Exception as e:  # nibabel reports damaged headers and data with many exception types
        raise BrainganError(f"{name}: corrupt NIfTI ({type(e).__name__}: {' '.join(str(e).split())})") from e
    if not np.isfinite(volume).all():
        volume = np.nan_to_num(volume, nan=0.0, posinf=0.0, neginf=0.0)
    grey = scale_percentiles(volume, options.clip_low, options.clip_high)
    normal = NORMALS[options.axis]
    planes = np.moveaxis(grey, normal, 0)  # a view; np.take per plane is slow on nibabel's F-order data
    across, down = (zooms[i] for i in range(3) if i != normal)  # view() turns the plane's 2nd axis into rows
    return [Slice(f"{name}#{options.axis}{k}", square_pixels(view(plane), down, across), name, float(k))
            for k, plane in enumerate(planes)]
