"""DICOM files -> grey slices, as a viewer shows them (pydicom decodes; we only present).

Per frame: modality LUT (rescale slope/intercept), then the VOI window (Window Center/Width,
or a VOI LUT); frames without one are clipped at percentiles of all of them in the file
together; MONOCHROME1 is inverted so that bright means signal.
Enhanced multi-frame files keep these values in functional groups, which are read per frame.
Every value used is checked (a number, finite, as many as the standard says), so a damaged
file is refused by name instead of failing later in numpy.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pydicom
from pydicom.datadict import dictionary_description
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from braingan.data.slices import Slice, VolumeOptions, check_size, reading, scale_percentiles
from braingan.errors import BrainganError, shown

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def is_dicom(data: bytes) -> bool:
    """Part 10 files carry 'DICM' after a 128-byte preamble."""
    return data[128:132] == b"DICM"


def read_dicom(data: bytes, name: str, options: VolumeOptions) -> list[Slice]:
    """Every frame of one DICOM file as a ``Slice`` of its series."""
    label = shown(name)
    with reading(label, "DICOM"):
        ds = pydicom.dcmread(io.BytesIO(data))
        if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
            kind = getattr(ds.get("SOPClassUID"), "name", "unknown SOP class")
            raise BrainganError(f"{label}: DICOM without pixel data ({kind})")
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise BrainganError(f"{label}: colour DICOM ({photometric}); braingan reads grey MONOCHROME images")
        count = _frames(ds, label)
        pixels = _decode(ds, label, count)
        frames = pixels if count > 1 else pixels[None]
        series = str(ds.get("SeriesInstanceUID", name))
        shown_frames = [_present(frame, ds, i, label) for i, frame in enumerate(frames)]
        unwindowed = [i for i, (_, windowed) in enumerate(shown_frames) if not windowed]
        if unwindowed:  # no window: clip at percentiles of all such frames of the file together
            scaled = scale_percentiles(np.stack([shown_frames[i][0] for i in unwindowed]), options.clip_low,
                                       options.clip_high)
            for i, grey in zip(unwindowed, scaled):
                shown_frames[i] = (grey, True)
        slices = []
        for i, (grey, _) in enumerate(shown_frames):
            if photometric == "MONOCHROME1":
                grey = 1.0 - grey
            frame_name = name if len(frames) == 1 else f"{name}#frame{i}"
            slices.append(Slice(frame_name, grey.astype(np.float32), series, _position(ds, i, label)))
        return slices


def _frames(ds: Dataset, label: str) -> int:
    value = ds.get("NumberOfFrames", 1) or 1
    count = _numbers(value, "NumberOfFrames", label, 1)[0]
    if count != int(count) or count < 1:
        raise BrainganError(f"{label}: invalid {dictionary_description('NumberOfFrames')} {str(value)!r}")
    return int(count)


def _decode(ds: Dataset, label: str, count: int) -> np.ndarray:
    """The stored pixel values, once the header's claim is known to fit the caps and the file."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    check_size(label, rows, cols, count)
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or not syntax.is_compressed:  # native data: its length is known before decoding
        keyword = next(k for k in PIXEL_KEYWORDS if k in ds)
        bits = int(ds.get("BitsAllocated", 0)) or {"FloatPixelData": 32, "DoubleFloatPixelData": 64}.get(keyword, 8)
        needed = (rows * cols * count * int(ds.get("SamplesPerPixel", 1) or 1) * bits + 7) // 8
        held = len(ds[keyword].value or b"")
        if held < needed:
            raise BrainganError(f"{label}: corrupt DICOM (the header claims {count} frames of {rows} x {cols} "
                                f"{bits}-bit pixels, {needed:,} bytes; the file holds {held:,})")
    try:
        return ds.pixel_array
    except MemoryError:
        raise  # not a missing handler: reading() says so
    except Exception as e:  # pydicom raises RuntimeError, NotImplementedError, ValueError, ...
        reason = " ".join(str(e).split()) or type(e).__name__  # pydicom lists the missing plugins
        if syntax is not None and syntax.is_compressed:
            raise BrainganError(f"{label}: cannot decode {syntax.name} pixel data, no installed handler "
                                f"can; install one of the plugins ({reason})") from e
        raise BrainganError(f"{label}: unreadable DICOM pixel data ({reason})") from e


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


def _numbers(value: object, keyword: str, label: str, count: int | None = None) -> list[float]:
    """A DICOM value as finite numbers (``count`` of them when the standard fixes it; window
    values may be multi-valued, and a viewer starts with the first)."""
    values = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        numbers = []
    if not numbers or not all(math.isfinite(n) for n in numbers) or (count is not None and len(numbers) != count):
        want = f", needs {count} numbers" if count is not None and count > 1 else ""
        raise BrainganError(f"{label}: invalid {dictionary_description(keyword)} {_text(value)}{want}")
    return numbers


def _text(value: object) -> str:
    """A value from the file, quoted and cut short: it may hold anything."""
    text = "\\".join(str(v) for v in value) if type(value).__name__ == "MultiValue" else str(value)
    text = text if len(text) <= 40 else text[:40] + "..."
    return f"'{text}'" if text.isprintable() else repr(text)


def _number(ds: Dataset, frame: int, macro: str, keyword: str, label: str) -> float | None:
    value = _functional(ds, frame, macro, keyword)
    return None if value is None else _numbers(value, keyword, label)[0]


def _present(frame: np.ndarray, ds: Dataset, index: int, label: str) -> tuple[np.ndarray, bool]:
    """Stored values -> ([0, 1] display values, True) of one frame, or (modality values, False)
    when the file gives no window to display them with."""
    if "ModalityLUTSequence" in ds:
        values = apply_modality_lut(frame, ds).astype(np.float64)
    else:
        slope = _number(ds, index, "PixelValueTransformationSequence", "RescaleSlope", label)
        intercept = _number(ds, index, "PixelValueTransformationSequence", "RescaleIntercept", label)
        values = frame * (1.0 if slope is None else slope) + (0.0 if intercept is None else intercept)
    center = _number(ds, index, "FrameVOILUTSequence", "WindowCenter", label)
    width = _number(ds, index, "FrameVOILUTSequence", "WindowWidth", label)
    if center is not None and width is not None and width >= 1:
        # The linear VOI function of PS3.3 C.11.2.1.2.1, with output range [0, 1].
        return np.clip((values - (center - 0.5)) / max(width - 1.0, 1.0) + 0.5, 0.0, 1.0), True
    if "VOILUTSequence" in ds:
        lut = apply_voi_lut(values, ds, prefer_lut=True).astype(np.float64)
        lo, hi = float(lut.min()), float(lut.max())
        return ((lut - lo) / (hi - lo) if hi > lo else np.zeros_like(lut)), True
    return values, False


def _position(ds: Dataset, frame: int, label: str) -> float:
    """Distance along the slice normal (mm) when the geometry is known, else the instance number."""
    position = _functional(ds, frame, "PlanePositionSequence", "ImagePositionPatient")
    orientation = _functional(ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient")
    if position is not None and orientation is not None:
        rows_and_cols = _numbers(orientation, "ImageOrientationPatient", label, 6)
        normal = np.cross(rows_and_cols[:3], rows_and_cols[3:])
        return float(np.dot(normal, _numbers(position, "ImagePositionPatient", label, 3)))
    number = ds.get("InstanceNumber")
    return (0.0 if number in (None, "") else _numbers(number, "InstanceNumber", label)[0]) + frame
