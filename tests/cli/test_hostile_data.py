"""The hostile-input table, the data part: what a data folder can hold that a reader must survive.

Resources bounded from the header (each such row runs in a forked child under RLIMIT_AS, so a
reader that allocates what a header claims dies of MemoryError instead of passing), only regular
files read, one bad file skipped and never fatal, no silently dropped layout, damaged cache
entries rebuilt, file names that cannot forge log lines. Machinery and outcomes in tests/hostile.py.
"""

from __future__ import annotations

import functools
import os
import socket
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hostile import ERROR, SCALED, SKIP, WORKS, Ctx, bounded, check, encoded, file_, load, read, with_scans
from PIL import Image
from pydicom.uid import RLELossless, generate_uid
from safetensors.torch import load_file, save_file

from braingan.config import DataConfig
from braingan.data import cache, load_dataset
from braingan.data import dataset as dataset_module
from braingan.errors import BrainganError, shown
from braingan.io import safe_read
from dicom_files import write_mr

# --- crafted files from the real scans -------------------------------------------------------

def grey64(c: Ctx) -> np.ndarray:
    """The real scan at 64 x 64, as uint16 stored values."""
    with Image.open(c.mri) as image:
        return (np.asarray(image.convert("L").resize((64, 64)), dtype=np.uint16) * 4)


def volume(c: Ctx) -> np.ndarray:
    """A 64 x 64 x 12 volume of the real scan, a little brighter in every slice."""
    return np.stack([grey64(c).astype(np.float32) * (0.6 + 0.05 * k) for k in range(12)], axis=-1)


def nifti(c: Ctx, affine: np.ndarray | None = None, patch: Callable[[bytearray], None] = lambda _: None) -> bytes:
    data = bytearray(nib.Nifti1Image(volume(c), np.eye(4) if affine is None else affine).to_bytes())
    patch(data)
    return bytes(data)


def nifti_field(offset: int, fmt: str, *values: object) -> Callable[[bytearray], None]:
    """Overwrite a NIfTI-1 header field (dim 40, datatype 70, pixdim 76, qform/sform_code 252/254)."""
    return lambda data: struct.pack_into(fmt, data, offset, *values)


def both(*patches: Callable[[bytearray], None]) -> Callable[[bytearray], None]:
    def patch_all(data: bytearray) -> None:
        for patch in patches:
            patch(data)
    return patch_all


@functools.cache
def zeros_volume_gz(side: int = 1000) -> bytes:
    """A .nii.gz of side^3 uint8 zeros (1000^3: a 1 GB volume in a 1 MB file). After a full flush
    deflate does not look back, so one compressed 16 MiB block of zeros is repeated, not recomputed."""
    header = nib.Nifti1Header()
    header.set_data_shape((side,) * 3)
    header.set_data_dtype(np.uint8)
    header.set_sform(np.eye(4), code=1)
    header["vox_offset"] = 352
    head = header.binaryblock + b"\0" * 4  # no extensions
    deflate, block = zlib.compressobj(9, zlib.DEFLATED, -15), bytes(1 << 24)
    parts = [deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)]
    parts += [deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH) for _ in range(2)]
    assert parts[1] == parts[2]
    blocks, rest = divmod(side**3, len(block))
    parts += [parts[2]] * (blocks - 2) + [deflate.compress(bytes(rest)) + deflate.flush()]
    crc = zlib.crc32(head)
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    trailer = struct.pack("<II", crc, (len(head) + side**3) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\0\0\0\0\x00\xff" + b"".join(parts) + trailer


MARK_DS, MARK_IS = "98765.4321", "1987654321"  # placeholders, then overwritten with the damaged value


def bad_dicom(bad: bytes, **attributes: object) -> Callable[[Ctx, Path], None]:
    """A real scan as DICOM with one value replaced by ``bad`` (same length: the file stays well formed)."""
    def extra(c: Ctx, folder: Path) -> None:
        path = write_mr(folder / "bad.dcm", grey64(c), "1.2.3.4", **attributes)
        data = path.read_bytes()
        mark = next(m.encode() for m in (MARK_DS, MARK_IS) if data.count(m.encode()) == 1)
        path.write_bytes(data.replace(mark, bad.ljust(len(mark))))
    return extra


def dicom(**attributes: object) -> Callable[[Ctx, Path], None]:
    return lambda c, folder: write_mr(folder / "bad.dcm", grey64(c), generate_uid(), **attributes) and None


def add(name: str, data: Callable[[Ctx], bytes]) -> Callable[[Ctx, Path], None]:
    return lambda c, folder: (folder / name).write_bytes(data(c)) and None


def float_tiff(c: Ctx, change: Callable[[np.ndarray], np.ndarray]) -> bytes:
    return encoded(change(c.grey().astype(np.float32)), "TIFF")


def with_hole(value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(grey: np.ndarray) -> np.ndarray:
        grey[grey.shape[0] // 2, grey.shape[1] // 2] = value
        return grey
    return change


def sparse(c: Ctx, folder: Path) -> None:
    with open(folder / "huge.nii", "wb") as f:
        f.truncate(4 << 30)  # 4 GiB that take no disk


def link(target: str) -> Callable[[Ctx, Path], None]:
    return lambda c, folder: (folder / f"{Path(target).name}.jpg").symlink_to(target)


def bound_socket(c: Ctx, folder: Path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(folder / "sock.jpg"))


def limit_folder(c: Ctx) -> Path:
    """Six real scans, each stored as a 1 MB BMP: 30,000 draws of them re-read would be 30 GB."""
    folder = c.tmp / "six"
    folder.mkdir()
    for i in range(6):
        with Image.open(c.mri) as image:
            image.convert("L").rotate(15 * i).resize((1024, 1024)).save(folder / f"{i}.bmp")
    return folder


def classes_beside(files: dict[str, Callable[[Ctx], bytes]]) -> Callable[[Ctx], Path]:
    """A folder with the class sub-folder thumbs/ (one real scan) and ``files`` at its top level."""
    def build(c: Ctx) -> Path:
        root = c.folder("top", {name: data(c) for name, data in files.items()})
        c.folder("top/thumbs", {"t.jpg": c.mri.read_bytes()})
        return root
    return build


def with_fifo(c: Ctx) -> Path:
    root = classes_beside({})(c)
    os.mkfifo(root / "pipe.jpg")
    return root


def named(name: bytes) -> Callable[[Ctx, Path], None]:
    """A text file whose name is raw bytes (newlines, escapes, not UTF-8)."""
    def extra(c: Ctx, folder: Path) -> None:
        fd = os.open(os.fsencode(folder) + b"/" + name, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, b"patient notes\n")
        os.close(fd)
    return extra


def damaged_cache(damage: Callable[[Path], None]) -> Callable[[Ctx], Callable[[], object]]:
    """Two real scans loaded once with the cache on, the entry then damaged: the next load must
    warn, rebuild a valid entry and give the same images."""
    def build(c: Ctx) -> Callable[[], object]:
        config = DataConfig(path=str(with_scans(lambda c, f: None)(c)), resolution=32)
        first = load_dataset(config, log=lambda _: None)
        (entry,) = cache.cache_dir().glob("*.safetensors")
        damage(entry)

        def call() -> object:
            messages: list[str] = []
            again = load_dataset(config, log=messages.append)
            assert any("discarded the damaged data cache entry" in m and "rebuilding it" in m for m in messages)
            assert cache.load_cached(entry.stem, 32, 1, log=pytest.fail) is not None  # rebuilt, and valid
            assert np.array_equal(again.images, first.images)
            return again
        return call
    return build


def tensors_changed(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(entry: Path) -> None:
        tensors = load_file(entry)
        change(tensors)
        save_file(tensors, entry)
    return damage


def replaced_by_fifo(entry: Path) -> None:
    entry.unlink()
    os.mkfifo(entry)


def in_folder(extra: Callable[[Ctx, Path], None]) -> Callable[[Ctx], Callable[[], object]]:
    return load(with_scans(extra))


def bounded_folder(extra: Callable[[Ctx, Path], None]) -> Callable[[Ctx], Callable[[], object]]:
    return bounded(load(with_scans(extra)))


def strip(c: Ctx) -> np.ndarray:
    """60,000 real pixels in a line: a column of the scan, repeated."""
    column = c.grey()[:, 0]
    return np.tile(column, 60000 // len(column) + 1)[:60000]


def nan_pixdim(sform: bool) -> Callable[[Ctx], bytes]:
    nan = nifti_field(80, "<f", float("nan"))
    return lambda c: nifti(c, patch=nan if sform else both(nan, nifti_field(252, "<2h", 0, 0)))


def zero_axis(c: Ctx) -> bytes:
    """The real volume whose sform maps its second axis nowhere (srow_y all zero), and no qform."""
    return nifti(c, patch=both(nifti_field(296, "<4f", 0, 0, 0, 0), nifti_field(252, "<h", 0)))


def masked(c: Ctx) -> bytes:
    """The real volume with NaN outside the head, as masking tools write it."""
    return nib.Nifti1Image(np.where(volume(c) > 100, volume(c), np.nan), np.eye(4)).to_bytes()


def loose_dicom(c: Ctx) -> Path:
    root = classes_beside({})(c)
    write_mr(root / "IM0001", grey64(c), generate_uid())
    return root


def class_with_newline(c: Ctx) -> Path:
    c.folder("classes/yes", {"a.jpg": c.mri.read_bytes()})
    return c.folder("classes/n\no", {}).parent


def fifo_file(c: Ctx) -> Path:
    os.mkfifo(c.tmp / "p.jpg")
    return c.tmp / "p.jpg"


def without_geometry(bad: Callable[[Ctx, Path], None]) -> Callable[[Ctx, Path], None]:
    """``bad``'s DICOM without position and orientation, so its instance number orders it."""
    def extra(c: Ctx, folder: Path) -> None:
        bad(c, folder)
        ds = pydicom.dcmread(folder / "bad.dcm")
        del ds.ImagePositionPatient, ds.ImageOrientationPatient
        ds.save_as(folder / "bad.dcm", enforce_file_format=True)
    return extra


def scaled_to(low: float, high: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda grey: (grey.astype(np.float64) / 255 * (high - low) + low).astype(np.float32)


TOP = "would be left out, as its sub-folders (thumbs) are read as the classes"
SCANS = {"a.jpg": lambda c: c.mri.read_bytes(), "b.jpg": lambda c: c.png_mri.read_bytes()}
NOT_REGULAR = "not a regular file"

CASES = [
    # resources, bounded before they are spent (each in a subprocess under RLIMIT_AS)
    ("1 x 60,000 PNG", bounded(read(file_("tall.png", lambda c: encoded(strip(c)[:, None], "PNG")))),
     ERROR, "tall.png: refused, image too large (60,000 x 1 pixels, padded to a square of 60,000 x 60,000"),
    ("60,000 x 1 PNG among scans", bounded_folder(add("wide.png", lambda c: encoded(strip(c)[None], "PNG"))),
     SKIP, "wide.png: refused, image too large"),
    ("DICOM claiming 20,000 frames, holding one", bounded_folder(dicom(NumberOfFrames=20000)),
     SKIP, "bad.dcm: corrupt DICOM (the header claims 20000 frames of 64 x 64 16-bit pixels"),
    ("DICOM of 65,535 x 65,535 pixels", bounded_folder(dicom(Rows=65535, Columns=65535)),
     SKIP, "bad.dcm: refused, image too large (65,535 x 65,535 pixels"),
    ("RLE DICOM of 1,000 frames of 4,096 x 4,096",
     bounded_folder(dicom(syntax=RLELossless, Rows=4096, Columns=4096, NumberOfFrames=1000)),
     SKIP, "bad.dcm: refused, volume too large (1,000 slices of 4,096 x 4,096 pixels"),
    ("1 MB .nii.gz of 1000^3 voxels", bounded_folder(add("bomb.nii.gz", lambda c: zeros_volume_gz())),
     SKIP, "bomb.nii.gz: refused, volume too large (1,000 slices of 1,000 x 1,000 pixels"),
    ("NIfTI header claiming 400^3, file holding 64 x 64 x 12",
     bounded_folder(add("short.nii", lambda c: nifti(c, patch=nifti_field(40, "<8h", 3, 400, 400, 400, 1, 1, 1, 1)))),
     SKIP, "short.nii: corrupt NIfTI (the header claims 256,000,352 bytes with its voxels; the file holds"),
    ("NIfTI voxels of 1 x 20,000 x 1 mm", bounded_folder(add("flat.nii", lambda c: nifti(c, np.diag([1, 2e4, 1, 1])))),
     SKIP, "flat.nii: refused, image too large (1,280,000 x 64 pixels"),
    ("sparse 4 GiB file among scans", bounded_folder(sparse), SKIP, "huge.nii: refused, file larger than 1,024 MiB"),
    ("--limit 30,000 of 6 files", bounded(load(limit_folder, limit=30000)), WORKS, None),
    ("--limit 30,000 of 6 files, --no-dedupe", bounded(load(limit_folder, limit=30000, dedupe=False)), WORKS, None),
    # only regular files
    ("symlink to /dev/zero", bounded_folder(link("/dev/zero")), SKIP, f"zero.jpg: {NOT_REGULAR} (a character device)"),
    ("symlink to /dev/urandom", bounded_folder(link("/dev/urandom")), SKIP, f"urandom.jpg: {NOT_REGULAR}"),
    ("FIFO among scans", in_folder(lambda c, f: os.mkfifo(f / "pipe.jpg")), SKIP, f"pipe.jpg: {NOT_REGULAR} (a FIFO)"),
    ("FIFO read directly", read(fifo_file), ERROR, f"p.jpg: {NOT_REGULAR} (a FIFO), not read"),
    ("socket among scans", in_folder(bound_socket), SKIP, f"sock.jpg: {NOT_REGULAR} (a socket)"),
    # one bad DICOM value: that file skipped, naming the value
    ("DICOM Window Center 'abc'", in_folder(bad_dicom(b"abc", WindowCenter=MARK_DS, WindowWidth=400)),
     SKIP, "bad.dcm: invalid Window Center 'abc'"),
    ("DICOM Window Width NaN", in_folder(bad_dicom(b"nan", WindowCenter=500, WindowWidth=MARK_DS)),
     SKIP, "bad.dcm: invalid Window Width 'nan'"),
    ("DICOM Window Width inf", in_folder(bad_dicom(b"inf", WindowCenter=500, WindowWidth=MARK_DS)),
     SKIP, "bad.dcm: invalid Window Width 'inf'"),
    ("DICOM Window Center with an ANSI escape", in_folder(bad_dicom(b"\x1b[2J", WindowCenter=MARK_DS, WindowWidth=9)),
     SKIP, "bad.dcm: invalid Window Center '\\x1b[2J"),
    ("DICOM Rescale Slope 'x1'", in_folder(bad_dicom(b"x1", RescaleSlope=MARK_DS, RescaleIntercept=0)),
     SKIP, "bad.dcm: invalid Rescale Slope 'x1'"),
    ("DICOM Rescale Intercept 'zz'", in_folder(bad_dicom(b"zz", RescaleSlope=1, RescaleIntercept=MARK_DS)),
     SKIP, "bad.dcm: invalid Rescale Intercept 'zz'"),
    ("DICOM Image Orientation 'a'", in_folder(bad_dicom(b"a", ImageOrientationPatient=[MARK_DS, 0, 0, 0, 1, 0])),
     SKIP, "bad.dcm: invalid Image Orientation (Patient)"),
    ("DICOM 2-value Image Position", in_folder(dicom(ImagePositionPatient=[1.0, 2.0])),
     SKIP, "bad.dcm: invalid Image Position (Patient) '1.0\\2.0', needs 3 numbers"),
    ("DICOM Instance Number 'abcdef'", in_folder(without_geometry(bad_dicom(b"abcdef", InstanceNumber=MARK_IS))),
     SKIP, "bad.dcm: invalid Instance Number 'abcdef'"),
    ("DICOM Number of Frames 'abc'", in_folder(bad_dicom(b"abc", NumberOfFrames=MARK_IS)),
     SKIP, "bad.dcm: invalid Number of Frames 'abc'"),
    # NIfTI geometry
    ("NIfTI pixdim NaN, sform given", in_folder(add("nan.nii", nan_pixdim(sform=True))), WORKS, None),
    ("NIfTI pixdim NaN, no sform or qform", in_folder(add("nan.nii", nan_pixdim(sform=False))),
     SKIP, "nan.nii: invalid voxel sizes or orientation (pixdim nan 1 1"),
    ("NIfTI with a zero axis in its sform", in_folder(add("flat.nii", zero_axis)),
     SKIP, "flat.nii: degenerate orientation"),
    ("NIfTI datatype 999", in_folder(add("odd.nii", lambda c: nifti(c, patch=nifti_field(70, "<h", 999)))),
     SKIP, "odd.nii: corrupt NIfTI"),
    ("NIfTI with NaN background voxels", in_folder(add("mask.nii", masked)), WORKS, None),
    # float images
    ("float TIFF with one NaN pixel", read(file_("nan.tif", lambda c: float_tiff(c, with_hole(np.nan)))),
     ERROR, "nan.tif: refused, 1 of"),
    ("float TIFF with one NaN pixel among scans", in_folder(add("nan.tif", lambda c: float_tiff(c, with_hole(np.nan)))),
     SKIP, "pixels are NaN or infinite"),
    ("float TIFF with one infinite pixel", read(file_("inf.tif", lambda c: float_tiff(c, with_hole(np.inf)))),
     ERROR, "inf.tif: refused, 1 of"),
    ("float TIFF spanning float32's range", read(file_("wide.tif", lambda c: float_tiff(c, scaled_to(-3e38, 3e38)))),
     WORKS, SCALED),
    # folder layout
    ("images beside one sub-folder", load(classes_beside(SCANS)), ERROR,
     f"top: the images at its top level (a.jpg and 1 more) {TOP}"),
    ("a DICOM without suffix beside one sub-folder", load(loose_dicom), ERROR,
     f"top: the images at its top level (IM0001) {TOP}"),
    ("README and checksums beside class folders",
     load(classes_beside({"README.txt": lambda c: b"scans\n", "SHA256SUMS": lambda c: b"0" * 64 + b"  t.jpg\n"})),
     WORKS, None),
    ("images beside a sub-folder picked by --classes", load(classes_beside(SCANS), classes=["thumbs"]), WORKS, None),
    ("FIFO beside class folders", load(with_fifo), WORKS, None),
    # damaged cache entries: discarded with a warning, rebuilt
    ("cache entry of random bytes", damaged_cache(lambda e: e.write_bytes(os.urandom(4096))), WORKS, None),
    ("cache metadata cut short", damaged_cache(lambda e: e.with_suffix(".json").write_text('{"files": [')),
     WORKS, None),
    ("cache metadata a JSON list", damaged_cache(lambda e: e.with_suffix(".json").write_text("[1, 2]")), WORKS, None),
    ("cache labels beyond the classes", damaged_cache(tensors_changed(lambda t: t["labels"].add_(7))), WORKS, None),
    ("cache images with NaN", damaged_cache(tensors_changed(lambda t: t["images"].view(-1)[0].fill_(np.nan))),
     WORKS, None),
    ("cache entry replaced by a FIFO", damaged_cache(replaced_by_fifo), WORKS, None),
    # names that would forge or recolour log lines are shown escaped
    ("file name with a newline", in_folder(named(b"x.jpg\nwarning: all files read.jpg")),
     SKIP, "x.jpg\\nwarning: all files read.jpg': not an image file"),
    ("file name with ANSI escapes", in_folder(named(b"\x1b[2J\x1b[32mok.jpg")),
     SKIP, "\\x1b[2J\\x1b[32mok.jpg': not an image file"),
    ("file name not UTF-8", in_folder(named(b"\xff\xfe.jpg")), SKIP, "\\udcff\\udcfe.jpg': not an image file"),
    ("empty class folder with a newline", load(class_with_newline), ERROR, "n\\no': class folder is empty"),
]




@pytest.mark.parametrize("name, build, outcome, pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_data(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys,
                      hang_guard):
    seen: list[object] = []  # what the call returned or raised, for the checks below

    def recorded(c: Ctx) -> Callable[[], object]:
        call = build(c)

        def run() -> object:
            try:
                seen.append(call())
            except BrainganError as e:
                seen.append(e)
                raise
            return seen[-1]
        return run

    check(name, recorded, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys)
    (result,) = seen
    messages = [str(result)] if isinstance(result, BrainganError) else getattr(result, "skipped", [])
    assert all(shown(m) == m for m in messages), messages  # every message prints as one plain line
    if name.startswith("--limit"):
        assert len(result) == (30000 if "no-dedupe" in name else 6)
    if name in ("NIfTI pixdim NaN, sform given", "NIfTI with NaN background voxels"):
        assert len(result) > 2 and any("#axial" in f for f in result.files)  # the volume's slices are in


def test_limit_reads_and_decodes_each_distinct_file_once(tmp_path, real_scans, monkeypatch):
    folder = tmp_path / "three"
    folder.mkdir()
    for path in real_scans.distinct[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    reads, decodes = [], []
    read_regular, decode = dataset_module.read_regular, dataset_module._decode
    monkeypatch.setattr(dataset_module, "read_regular", lambda path: reads.append(path) or read_regular(path))
    monkeypatch.setattr(dataset_module, "_decode", lambda *a: decodes.append(a[1]) or decode(*a))
    dataset = load_dataset(DataConfig(path=str(folder), resolution=32, cache=False, limit=500, dedupe=False),
                           log=lambda _: None)
    assert len(dataset) == 500 and len(reads) == len(decodes) == 3
    assert len({dataset.images[i].numpy().tobytes() for i in range(500)}) == 3


def test_read_regular_limit_and_head(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 5000)
    assert safe_read.read_regular(path, limit=5000) == b"x" * 5000
    assert safe_read.read_regular(path, limit=100, head=10) == b"x" * 10  # a head ignores the size
    with pytest.raises(BrainganError, match=r"f.bin: refused, file larger than 100 bytes \(5,000 bytes\)"):
        safe_read.read_regular(path, limit=100)
    with pytest.raises(BrainganError, match="refused, file larger than 100 bytes$"):
        safe_read.read_regular("/proc/self/maps", limit=100)  # fstat says 0 bytes: the read itself is bounded


def test_shown_quotes_only_names_that_do_not_print():
    assert shown(Path("/data/no 96.jpg")) == "/data/no 96.jpg"
    assert shown("a\nb") == "'a\\nb'" and shown("\x1b[31mred") == "'\\x1b[31mred'"
