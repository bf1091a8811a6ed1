"""NIfTI volumes -> grey slices: reoriented to RAS+, cut along one axis, intensity clipped,
resampled to square pixels when the voxels are not.

nibabel parses the header and applies scl_slope/scl_inter; ``as_closest_canonical`` flips and
permutes the voxel axes to RAS+ (no resampling), so 'axial' means the same plane in every file.
The header alone says what a volume will cost (voxels, their bytes, the resampled slices), so a
volume is refused before it is inflated or decoded when that is more than the caps or more than
the file holds.
"""

from __future__ import annotations

import io
import math
import struct
import zlib

import nibabel as nib
import numpy as np

from braingan.data.slices import (
    Slice,
    VolumeOptions,
    check_size,
    reading,
    scale_percentiles,
    square_pixels,
    square_size,
    view,
)
from braingan.errors import BrainganError, shown

# The RAS+ voxel axis perpendicular to each cutting plane.
NORMALS = {"sagittal": 0, "coronal": 1, "axial": 2}
HEADER_BYTES = 540  # a NIfTI-2 header; NIfTI-1's is 348


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
    label = shown(name)
    with reading(label, "NIfTI"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if data[:2] == b"\x1f\x8b" else None
        head = _inflate(inflater, data, HEADER_BYTES, label) if inflater else data[:HEADER_BYTES]
        kind = _header_kind(head)
        if kind is None:
            raise BrainganError(f"{label}: not a NIfTI volume (no NIfTI header)")
        header = kind.header_class.from_fileobj(io.BytesIO(head), check=False)
        needed, zooms = _plan(header, label, options)
        if inflater:  # no more than the voxels need: a small file may inflate to gigabytes
            data = head + _inflate(inflater, inflater.unconsumed_tail, needed - len(head), label)
        if len(data) < needed:
            raise BrainganError(f"{label}: corrupt NIfTI (the header claims {needed:,} bytes with its voxels; "
                                f"the file holds {len(data):,})")
        image = kind.from_bytes(data)
        if len(image.shape) > 3:
            image = image.slicer[(..., *([0] * (len(image.shape) - 3)))]
        canonical = nib.as_closest_canonical(image)
        volume = np.asarray(canonical.get_fdata(dtype=np.float32))
        if not np.isfinite(volume).all():  # NaN outside a brain mask is common: background
            volume = np.nan_to_num(volume, nan=0.0, posinf=0.0, neginf=0.0)
        grey = scale_percentiles(volume, options.clip_low, options.clip_high)
        normal = NORMALS[options.axis]
        planes = np.moveaxis(grey, normal, 0)  # a view; np.take per plane is slow on nibabel's F-order data
        across, down = (zooms[i] for i in range(3) if i != normal)  # view() turns the plane's 2nd axis into rows
        return [Slice(f"{name}#{options.axis}{k}", square_pixels(view(plane), down, across), name, float(k))
                for k, plane in enumerate(planes)]


def _inflate(inflater: zlib._Decompress, data: bytes, size: int, label: str) -> bytes:
    try:
        return inflater.decompress(data, max(size, 1))
    except zlib.error as e:
        raise BrainganError(f"{label}: corrupt gzip ({e})") from e


def _plan(header: nib.Nifti1Header, label: str, options: VolumeOptions) -> tuple[int, list[float]]:
    """From the header alone: the bytes the file must hold up to the end of its voxels, and the
    RAS+ voxel sizes; refuses volumes that are not 3-D, exceed the caps, or have no geometry."""
    shape = tuple(int(n) for n in header.get_data_shape())
    if len(shape) > 3 and any(n > 1 for n in shape[3:]):
        raise BrainganError(f"{label}: {len(shape)}-D NIfTI of shape {shape}; braingan reads 3-D volumes, "
                            "extract one volume first (e.g. fslroi or nibabel's image slicing)")
    if len(shape) < 3:
        raise BrainganError(f"{label}: {len(shape)}-D NIfTI; braingan reads 3-D volumes")
    affine = header.get_best_affine()
    if not np.isfinite(affine).all():
        raise BrainganError(f"{label}: invalid voxel sizes or orientation (pixdim {_listed(header['pixdim'][1:4])}, "
                            "and no sform to use instead)")
    # The voxel axes as as_closest_canonical orders them, with their sizes in mm from the affine
    # (what nibabel's canonical image reports; pixdim may disagree with an sform).
    orientation = nib.io_orientation(affine)
    if not np.isfinite(orientation).all():
        raise BrainganError(f"{label}: degenerate orientation (affine columns {_listed(affine[:3, :3].T.ravel())})")
    sizes, zooms = [0] * 3, [0.0] * 3
    for axis, (to, _) in enumerate(orientation):
        sizes[int(to)], zooms[int(to)] = shape[axis], float(nib.affines.voxel_sizes(affine)[axis])
    normal = NORMALS[options.axis]
    across, down = (i for i in range(3) if i != normal)
    check_size(label, sizes[down], sizes[across], sizes[normal])  # the volume as decoded
    check_size(label, *square_size((sizes[down], sizes[across]), zooms[down], zooms[across]), sizes[normal])
    voxels = math.prod(shape)
    return int(header.get_data_offset()) + voxels * header.get_data_dtype().itemsize, zooms


def _listed(values: object) -> str:
    return " ".join(f"{float(v):g}" for v in np.asarray(values).ravel())
