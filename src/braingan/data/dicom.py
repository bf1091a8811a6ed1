"""DICOM files -> grey slices, as a viewer shows them (pydicom decodes; we only present).

Per frame: modality LUT (rescale slope/intercept), then the VOI window (Window Center/Width,
or a VOI LUT); frames without one are clipped at percentiles of all of them in the file
together; MONOCHROME1 is inverted so that bright means signal.
Enhanced multi-frame files keep these values in functional groups, which are read per frame.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from braingan.data.slices import Slice, VolumeOptions, scale_percentiles
from braingan.errors import BrainganError


def is_dicom(data: bytes) -> bool:
    """Part 10 files carry 'DICM' after a 128-byte preamble."""
    return data[128:132] == b"DICM"


def read_dicom(data: bytes, name: str, options: VolumeOptions) -> list[Slice]:
    """Every frame of one DICOM file as a ``Slice`` of its series."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as e:  # pydicom reports damaged files with many exception types
        raise BrainganError(f"{name}: corrupt DICOM ({type(e).__name__}: {' '.join(str(e).split())})") from e
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        kind = getattr(ds.get("SOPClassUID"), "name", "unknown SOP class")
        raise BrainganError(f"{name}: DICOM without pixel data ({kind})")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise BrainganError(f"{name}: colour DICOM ({photometric}); braingan reads grey MONOCHROME images")
    pixels = _decode(ds, name)
    frames = pixels if int(ds.get("NumberOfFrames", 1) or 1) > 1 else pixels[None]
    series = str(ds.get("SeriesInstanceUID", name))
    slices = []
    shown = [_present(frame, ds, i) for i, frame in enumerate(frames)]
    unwindowed = [i for i, (_, windowed) in enumerate(shown) if not windowed]
    if unwindowed:  # no window: clip at percentiles of all such frames of the file together
        scaled = scale_percentiles(np.stack([shown[i][0] for i in unwindowed]), options.clip_low, options.clip_high)
        for i, grey in zip(unwindowed, scaled):
            shown[i] = (grey, True)
    for i, (grey, _) in enumerate(shown):
        if photometric == "MONOCHROME1":
            grey = 1.0 - grey
        label = name if len(frames) == 1 else f"{name}#frame{i}"
        slices.append(Slice(label, grey.astype(np.float32), series, _position(ds, i)))
    return slices


def _decode(ds: Dataset, name: str) -> np.ndarray:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    try:
        return ds.pixel_array
    except Exception as e:  # pydicom raises RuntimeError, NotImplementedError, ValueError, ...
        reason = " ".join(str(e).split()) or type(e).__name__  # pydicom lists the missing plugins
        if syntax is not None and syntax.is_compressed:
            raise BrainganError(f"{name}: cannot decode {syntax.name} pixel data, no installed handler "
                                f"can; install one of the plugins ({reason})") from e
        raise BrainganError(f"{name}: unreadable DICOM pixel data ({reason})") from e


def _functional(ds: Dataset, frame: int, macro: str, keyword: str) -> object | None:
    """``keyword`` at the top level, else in the frame's or the shared functional group ``macro``."""
    if keyword in ds:
        return ds[keyword].value
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        if groups in ds and len(ds[groups].value) > index:
            items = ds[groups].value[index].get(macro)
            if items and keyword in items[0]:
                return items[0][keyword].value
    return None


def _first(value: object) -> float:
    """Window values may be multi-valued; a viewer starts with the first."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0]
    return float(value)


def _present(frame: np.ndarray, ds: Dataset, index: int) -> tuple[np.ndarray, bool]:
    """Stored values -> ([0, 1] display values, True) of one frame, or (modality values, False)
    when the file gives no window to display them with."""
    if "ModalityLUTSequence" in ds or "RescaleSlope" in ds:
        values = apply_modality_lut(frame, ds).astype(np.float64)
    else:
        slope = _functional(ds, index, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _functional(ds, index, "PixelValueTransformationSequence", "RescaleIntercept")
        values = frame * (1.0 if slope is None else float(slope)) + (0.0 if intercept is None else float(intercept))
    center = _functional(ds, index, "FrameVOILUTSequence", "WindowCenter")
    width = _functional(ds, index, "FrameVOILUTSequence", "WindowWidth")
    if center is not None and width is not None and _first(width) >= 1:
        # The linear VOI function of PS3.3 C.11.2.1.2.1, with output range [0, 1].
        c, w = _first(center), _first(width)
        return np.clip((values - (c - 0.5)) / max(w - 1.0, 1.0) + 0.5, 0.0, 1.0), True
    if "VOILUTSequence" in ds:
        lut = apply_voi_lut(values, ds, prefer_lut=True).astype(np.float64)
        lo, hi = float(lut.min()), float(lut.max())
        return ((lut - lo) / (hi - lo) if hi > lo else np.zeros_like(lut)), True
    return values, False


def _position(ds: Dataset, frame: int) -> float:
    """Distance along the slice normal (mm) when the geometry is known, else the instance number."""
    position = _functional(ds, frame, "PlanePositionSequence", "ImagePositionPatient")
    orientation = _functional(ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient")
    if position is not None and orientation is not None and len(orientation) == 6:
        normal = np.cross([float(v) for v in orientation[:3]], [float(v) for v in orientation[3:]])
        return float(np.dot(normal, [float(v) for v in position]))
    return float(ds.get("InstanceNumber", 0) or 0) + frame
