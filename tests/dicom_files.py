"""Small DICOM files written with pydicom, for the reader and writer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid


def write_mr(path: Path, pixels: np.ndarray, series: str, instance: int = 1, z: float = 0.0,
             syntax: str = ExplicitVRLittleEndian, **attributes: object) -> Path:
    """An MR image (pixels [H, W], or [F, H, W] for multi-frame) stored as 16-bit unsigned.

    With a compressed ``syntax`` the pixel data is one encapsulated fragment of junk: enough
    for a file that a decoder must be asked to open.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.InstanceNumber = "MR", series, instance
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, z], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = len(pixels)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if UID(syntax).is_compressed:
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7 not a real codestream \xff\xd9"])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = pixels.astype("<u2").tobytes()
    for key, value in attributes.items():
        setattr(ds, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def head(size: int = 32, level: int = 1000) -> np.ndarray:
    """A bright disc (the 'head') on a black background."""
    yy, xx = np.mgrid[:size, :size]
    return np.where((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2, level, 0).astype(np.uint16)
