"""DICOM and NIfTI in: real readers on files written by pydicom and nibabel, through load_dataset."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEGLSLossless, generate_uid

from braingan.config import DataConfig
from braingan.data import dataset as dataset_module
from braingan.data import load_dataset
from braingan.data.dicom import read_dicom
from braingan.data.nifti import read_nifti
from braingan.data.slices import VolumeOptions
from braingan.errors import BrainganError
from dicom_files import head, write_mr

OPTIONS = VolumeOptions()


def test_rescale_and_window_are_applied_as_a_viewer_would(tmp_path):
    stored = np.array([[0, 50, 100, 150, 200, 250]], dtype=np.uint16).repeat(4, axis=0)
    path = write_mr(tmp_path / "w.dcm", stored, generate_uid(), RescaleSlope=2, RescaleIntercept=-100,
                    WindowCenter=200, WindowWidth=201)
    (only,) = read_dicom(path.read_bytes(), str(path), OPTIONS)
    values = stored[0] * 2.0 - 100  # -100, 0, 100, 200, 300, 400
    expected = np.clip((values - 199.5) / 200 + 0.5, 0, 1)  # DICOM linear window, range [0, 1]
    np.testing.assert_allclose(only.grey[0], expected, atol=1e-6)
    assert only.grey[0, 0] == 0.0 and only.grey[0, -1] == 1.0 and only.name == str(path)


def test_monochrome1_is_inverted(tmp_path):
    pixels = head()
    uid = generate_uid()
    (normal,) = read_dicom(write_mr(tmp_path / "a.dcm", pixels, uid).read_bytes(), "a", OPTIONS)
    (inverted,) = read_dicom(write_mr(tmp_path / "b.dcm", pixels, uid, PhotometricInterpretation="MONOCHROME1")
                             .read_bytes(), "b", OPTIONS)
    np.testing.assert_allclose(inverted.grey, 1.0 - normal.grey)
    assert normal.grey[16, 16] == 1.0 and normal.grey[0, 0] == 0.0


def test_multi_frame_file_gives_one_slice_per_frame(tmp_path):
    frames = np.stack([head(level=100 * (i + 1)) for i in range(5)])
    path = write_mr(tmp_path / "multi.dcm", frames, generate_uid(), WindowCenter=250, WindowWidth=500)
    slices = read_dicom(path.read_bytes(), str(path), OPTIONS)
    assert [s.name for s in slices] == [f"{path}#frame{i}" for i in range(5)]
    np.testing.assert_allclose([s.grey[16, 16] for s in slices], [min(1.0, 100 * (i + 1) / 499) for i in range(5)],
                               atol=1e-6)
    # Without a window the frames share one percentile scale, so they keep their relative brightness.
    plain = write_mr(tmp_path / "plain.dcm", frames, generate_uid())
    centres = [s.grey[16, 16] for s in read_dicom(plain.read_bytes(), str(plain), OPTIONS)]
    assert centres == sorted(centres) and centres[0] < 0.5 * centres[-1] and centres[-1] == 1.0


def test_series_are_grouped_and_the_central_fraction_is_kept(tmp_path):
    data = tmp_path / "data"
    uids = [generate_uid(), generate_uid()]
    order = [7, 2, 9, 0, 5, 3, 8, 1, 6, 4]  # files named and nested out of slice order
    for series, uid in enumerate(uids):
        for n, k in enumerate(order):
            write_mr(data / f"s{series}" / f"sub{n % 2}" / f"IM{n:04d}", head() + k, uid, instance=k + 1, z=2.0 * k)
    dataset = load_dataset(DataConfig(path=str(data), resolution=16, slices=0.4))
    assert dataset.class_names == ["s0", "s1"] and len(dataset) == 8
    kept = {Path(f).name for f in dataset.files}
    assert kept == {f"IM{order.index(k):04d}" for k in (3, 4, 5, 6)}  # the 4 central of 10 positions
    assert dataset.images.shape == (8, 1, 16, 16)


def test_mr_small_from_pydicom_is_bundled_and_reads(tmp_path):
    source = Path(get_testdata_file("MR_small.dcm"))
    assert source.is_file() and "site-packages" in str(source)  # shipped in the wheel, not downloaded
    folder = tmp_path / "mr"
    folder.mkdir()
    shutil.copy(source, folder / "MR_small.dcm")
    dataset = load_dataset(DataConfig(path=str(folder), resolution=32, crop=False))
    assert dataset.files == [str(folder / "MR_small.dcm")] and dataset.images.shape == (1, 1, 32, 32)
    ds = pydicom.dcmread(source)
    (mr,) = read_dicom(source.read_bytes(), "MR_small.dcm", OPTIONS)
    expected = np.clip((ds.pixel_array - (600 - 0.5)) / 1599 + 0.5, 0, 1)  # its window 600/1600
    np.testing.assert_allclose(mr.grey, expected, atol=1e-6)


def test_compressed_dicom_with_an_installed_decoder_reads(tmp_path):
    from pydicom.uid import RLELossless

    pixels = head() + np.arange(32, dtype=np.uint16)[None]  # not flat, so the encoder has work
    plain = write_mr(tmp_path / "plain.dcm", pixels, generate_uid())
    ds = pydicom.dcmread(plain)
    ds.compress(RLELossless)  # pydicom's own RLE codec: always installed
    ds.save_as(tmp_path / "rle.dcm", enforce_file_format=True)
    assert pydicom.dcmread(tmp_path / "rle.dcm").file_meta.TransferSyntaxUID == RLELossless
    (a,) = read_dicom(plain.read_bytes(), "plain", OPTIONS)
    (b,) = read_dicom((tmp_path / "rle.dcm").read_bytes(), "rle", OPTIONS)
    np.testing.assert_array_equal(a.grey, b.grey)


def test_dicom_errors_name_the_file_and_the_reason(tmp_path):
    jpeg_ls = tmp_path / "compressed.dcm"
    write_mr(jpeg_ls, head(), generate_uid(), syntax=JPEGLSLossless)
    with pytest.raises(
        BrainganError, match="compressed.dcm: cannot decode JPEG-LS Lossless.*no installed handler"
    ) as e:
        read_dicom(jpeg_ls.read_bytes(), str(jpeg_ls), OPTIONS)
    assert "pylibjpeg" in str(e.value) and "\n" not in str(e.value)  # names the missing plugins, on one line

    no_pixels = tmp_path / "report.dcm"
    write_mr(no_pixels, head(), generate_uid())
    ds = pydicom.dcmread(no_pixels)
    del ds.PixelData
    ds.save_as(no_pixels, enforce_file_format=True)
    with pytest.raises(BrainganError, match="report.dcm: DICOM without pixel data"):
        read_dicom(no_pixels.read_bytes(), str(no_pixels), OPTIONS)

    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(write_mr(tmp_path / "whole.dcm", head(), generate_uid()).read_bytes()[:-100])
    (tmp_path / "whole.dcm").unlink()
    with pytest.raises(BrainganError, match="truncated.dcm: (corrupt DICOM|unreadable DICOM pixel data)"):
        read_dicom(truncated.read_bytes(), str(truncated), OPTIONS)
    truncated.unlink()

    messages = []
    write_mr(tmp_path / "good.dcm", head(), generate_uid())
    dataset = load_dataset(DataConfig(path=str(tmp_path), resolution=16), log=messages.append)
    assert len(dataset) == 1 and len(dataset.skipped) == 2
    assert any("compressed.dcm" in m and "JPEG-LS" in m for m in messages)


def _ras_volume() -> tuple[np.ndarray, np.ndarray]:
    """A 20x24x10 RAS head with a marker in the right-anterior part of every axial slice."""
    volume = np.zeros((20, 24, 10), dtype=np.float32)
    volume[2:18, 2:22, 2:8] = np.random.default_rng(0).uniform(50.0, 150.0, (16, 20, 6))  # tissue
    volume[14:18, 18:22, 2:8] = 300.0  # right (high x), anterior (high y)
    volume[0, 0, 5] = 1e6  # one hot voxel: percentile clipping must ignore it
    return volume, np.diag([1.0, 1.0, 1.0, 1.0])


def test_nifti_is_reoriented_sliced_and_clipped(tmp_path):
    volume, affine = _ras_volume()
    ras = tmp_path / "ras.nii"
    nib.save(nib.Nifti1Image(volume, affine), ras)
    # The same head stored left-to-right and inferior-to-superior flipped (an LAI volume), gzipped.
    flipped = tmp_path / "lai.nii.gz"
    nib.save(nib.Nifti1Image(volume[::-1, :, ::-1].copy(), np.diag([-1.0, 1.0, -1.0, 1.0])), flipped)
    a = read_nifti(ras.read_bytes(), str(ras), OPTIONS)
    b = read_nifti(flipped.read_bytes(), str(flipped), OPTIONS)
    assert len(a) == 10 and a[0].grey.shape == (24, 20)  # axial: rows anterior->posterior
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.grey, y.grey)
    middle = a[5].grey
    assert middle[2:6, 14:18].min() == 1.0  # marker top right: anterior up, patient right on the right
    assert 0.1 < middle[6:18, 4:12].mean() < 0.4  # tissue stays grey despite the 1e6 voxel
    coronal = read_nifti(ras.read_bytes(), "ras.nii", VolumeOptions(axis="coronal"))
    sagittal = read_nifti(ras.read_bytes(), "ras.nii", VolumeOptions(axis="sagittal"))
    assert (len(coronal), coronal[0].grey.shape) == (24, (10, 20))
    assert (len(sagittal), sagittal[0].grey.shape) == (20, (10, 24))


def test_thick_slices_are_resampled_to_square_pixels(tmp_path):
    volume = np.zeros((20, 20, 8), dtype=np.float32)
    volume[4:16, 4:16, 2:6] = 100.0  # a block 12 mm wide and 16 mm tall
    path = tmp_path / "thick.nii"
    nib.save(nib.Nifti1Image(volume, np.diag([1.0, 1.0, 4.0, 1.0])), path)  # 1 x 1 x 4 mm voxels
    coronal = read_nifti(path.read_bytes(), str(path), VolumeOptions(axis="coronal"))
    assert coronal[10].grey.shape == (32, 20)  # 8 slices of 4 mm -> 32 rows of 1 mm
    rows = np.flatnonzero(coronal[10].grey.max(axis=1) > 0.5)
    cols = np.flatnonzero(coronal[10].grey.max(axis=0) > 0.5)
    assert (len(rows), len(cols)) == (16, 12)  # the block keeps its shape in mm
    assert read_nifti(path.read_bytes(), str(path), OPTIONS)[3].grey.shape == (20, 20)  # axial: already square


def test_nifti_folder_loads_with_brain_fraction_and_cache(tmp_path, monkeypatch):
    volume, affine = _ras_volume()
    folder = tmp_path / "vols"
    folder.mkdir()
    nib.save(nib.Nifti1Image(volume, affine), folder / "a.nii.gz")
    config = DataConfig(path=str(folder), resolution=16, brain_fraction=0.3)
    first = load_dataset(config)
    assert first.files == [f"{folder / 'a.nii.gz'}#axial{k}" for k in range(2, 8)]  # slices with brain

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(dataset_module, "read_nifti", no_decoding)
    second = load_dataset(config)
    assert second.files == first.files and np.array_equal(second.images, first.images)
    with pytest.raises(AssertionError):
        load_dataset(DataConfig(path=str(folder), resolution=16, axis="coronal"))  # other key


def test_four_d_nifti_is_refused(tmp_path):
    path = tmp_path / "fmri.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4, 3), dtype=np.float32), np.eye(4)), path)
    with pytest.raises(BrainganError, match=r"fmri.nii.gz: 4-D NIfTI of shape \(8, 8, 4, 3\)"):
        read_nifti(path.read_bytes(), str(path), OPTIONS)
    with pytest.raises(BrainganError, match="corrupt gzip|not a NIfTI"):
        read_nifti(gzip.compress(b"hello"), "x.nii.gz", OPTIONS)
    nib.save(nib.Nifti1Image(np.ones((8, 8, 4), dtype=np.float32), np.eye(4)), tmp_path / "whole.nii")
    truncated = (tmp_path / "whole.nii").read_bytes()[:600]  # the header, then most of the data missing
    with pytest.raises(BrainganError, match="cut.nii: corrupt NIfTI") as error:
        read_nifti(truncated, "cut.nii", OPTIONS)
    assert "\n" not in str(error.value)  # one line, though nibabel's message has two


def test_images_dicom_and_nifti_mix_in_one_dataset(tmp_path, small_mri):
    data = tmp_path / "mixed"
    shutil.copytree(small_mri, data / "jpg")
    write_mr(data / "dcm" / "one", head(), generate_uid())
    volume, affine = _ras_volume()
    (data / "nii").mkdir()
    nib.save(nib.Nifti1Image(volume, affine), data / "nii" / "v.nii")
    dataset = load_dataset(DataConfig(path=str(data), resolution=16))
    assert dataset.class_names == ["dcm", "jpg", "nii"]
    counts = np.bincount(dataset.labels.numpy(), minlength=3).tolist()
    assert counts[0] == 1 and counts[1] == 12 and counts[2] >= 6


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("slices", 0.0, "slices must be a fraction"),
        ("axis", "oblique", "axis must be"),
        ("brain_fraction", 1.0, "brain_fraction"),
        ("clip_high", 0.2, "clip_low < clip_high"),
    ],
)
def test_volume_options_are_validated(flag, value, message):
    from braingan.config import RunConfig

    with pytest.raises(BrainganError, match=message):
        RunConfig.from_dict({"data": {flag: value}})


def test_train_flags_reach_the_config_the_reader_and_the_generator_files(tmp_path):
    import subprocess
    import sys

    from braingan.cli import main

    volume, affine = _ras_volume()
    folder = tmp_path / "vols"
    folder.mkdir()
    nib.save(nib.Nifti1Image(volume, affine), folder / "a.nii.gz")
    run = tmp_path / "run"
    tiny = ["--resolution", "32", "--g-width", "16", "--d-width", "8", "--steps-per-epoch", "2", "--epochs", "1"]
    flags = ["--slices", "0.5", "--axis", "coronal", "--brain-fraction", "0.2", "--clip-low", "1", "--clip-high", "99"]
    assert main(["train", str(folder), "--out", str(run), *tiny, *flags]) == 0
    written = (run / "config.toml").read_text()
    for line in ("slices = 0.5", 'axis = "coronal"', "brain_fraction = 0.2", "clip_low = 1.0", "clip_high = 99.0"):
        assert line in written
    # the generator files alone say how the volumes became slices
    volumes = json.loads((run / "generator.json").read_text())["volumes"]
    assert volumes == {"slices": 0.5, "axis": "coronal", "brain_fraction": 0.2, "clip_low": 1.0, "clip_high": 99.0}
    for command in ("export", "import-keras"):
        result = subprocess.run([sys.executable, "-m", "braingan", command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "usage: braingan " + command in result.stdout
