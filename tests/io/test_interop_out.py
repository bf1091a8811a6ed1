"""Out of braingan: PNG, NIfTI and DICOM files from `generate`, and ONNX from `export`."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from safetensors.torch import save as save_safetensors

from braingan import api
from braingan.cli import main
from braingan.data.dicom import read_dicom
from braingan.data.nifti import read_nifti
from braingan.data.preprocess import Preprocessing
from braingan.data.slices import VolumeOptions
from braingan.errors import BrainganError
from braingan.io.generator_files import GeneratorFile, load_generator, read_generator_file, save_generator
from braingan.models import build_generator
from braingan.models.seed_dcgan import SeedGenerator
from conftest import REPO

CARD = GeneratorFile(arch="seed_dcgan", kwargs={"latent_dim": 100, "resolution": 32, "width": 16},
                     resolution=32, latent_dim=100, classes=["yes"])


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run directory holding a (randomly initialised) seed generator at 32 px."""
    torch.manual_seed(0)
    folder = tmp_path / "runs" / "tiny-run"
    save_generator(folder, SeedGenerator(resolution=32, width=16, latent_dim=100), CARD)
    return folder


def _pngs(run: Path, out: Path, n: int) -> np.ndarray:
    assert main(["generate", str(run), "-n", str(n), "--seed", "3", "--out", str(out)]) == 0
    return np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))])


def test_dicom_out_is_a_synthetic_mr_with_the_png_pixels(run, tmp_path):
    pngs = _pngs(run, tmp_path / "png", 3)
    out = tmp_path / "dcm"
    assert main(["generate", str(run), "-n", "3", "--seed", "3", "--out", str(out), "--format", "dicom"]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"sample_{i:05d}.dcm" for i in range(3)]
    datasets = [pydicom.dcmread(f) for f in files]
    for ds, png in zip(datasets, pngs):
        assert np.array_equal(ds.pixel_array, png)
        assert ds.SOPClassUID == pydicom.uid.MRImageStorage and ds.Modality == "MR"
        assert ds.SyntheticData == "YES" and list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert "braingan" in ds.SeriesDescription and "tiny-run" in ds.SeriesDescription
        assert "tiny-run" in ds.ImageComments
        assert ds.PatientName == "" and ds.PatientID == "" and ds.PatientBirthDate == ""
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert len({ds.SOPInstanceUID for ds in datasets}) == 3
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    # braingan's own reader sees the PNG values: the window 128/256 maps 0..255 onto 0..1.
    (back,) = read_dicom(files[0].read_bytes(), "x", VolumeOptions())
    np.testing.assert_allclose(back.grey, pngs[0] / 255.0, atol=1e-6)
    # A second generate makes a new series with new UIDs.
    assert main(["generate", str(run), "-n", "1", "--out", str(tmp_path / "again"), "--format", "dicom"]) == 0
    again = pydicom.dcmread(tmp_path / "again" / "sample_00000.dcm")
    assert (
        again.SeriesInstanceUID != datasets[0].SeriesInstanceUID
        and again.StudyInstanceUID != datasets[0].StudyInstanceUID
    )


def test_nifti_out_stacked_and_per_slice_round_trip(run, tmp_path):
    pngs = _pngs(run, tmp_path / "png", 4)
    out = tmp_path / "nii"
    assert main(["generate", str(run), "-n", "4", "--seed", "3", "--out", str(out), "--format", "nifti"]) == 0
    stacked = out / "samples.nii.gz"
    image = nib.load(stacked)
    assert image.shape == (32, 32, 4) and image.get_data_dtype() == np.uint8
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S") and np.allclose(image.header.get_zooms(), 1.0)
    assert b"tiny-run" in image.header["descrip"].tobytes()
    back = read_nifti(stacked.read_bytes(), str(stacked), VolumeOptions())
    assert len(back) == 4
    # Reading back with braingan gives the PNG images (up to the reader's intensity scaling).
    raw = np.asarray(image.dataobj)
    for k, png in enumerate(pngs):
        assert np.array_equal(np.rot90(raw[:, :, k]), png)
        assert np.corrcoef(back[k].grey.ravel(), png.ravel())[0, 1] > 0.99
    per = tmp_path / "per"
    assert (
        main(["generate", str(run), "-n", "4", "--seed", "3", "--out", str(per), "--format", "nifti", "--per-slice"])
        == 0
    )
    files = sorted(per.iterdir())
    assert [f.name for f in files] == [f"sample_{i:05d}.nii.gz" for i in range(4)]
    for f, png in zip(files, pngs):
        assert np.array_equal(np.rot90(np.asarray(nib.load(f).dataobj)[:, :, 0]), png)


def test_per_slice_needs_nifti(run, tmp_path, capsys):
    assert main(["generate", str(run), "-n", "1", "--out", str(tmp_path / "o"), "--per-slice"]) == 2
    assert "--per-slice applies to --format nifti" in capsys.readouterr().err


def test_onnx_export_runs_in_onnxruntime_with_any_batch(run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "g.onnx"
    # As a user runs it, in a process of its own: the exporter's notes about torchvision (not a
    # dependency) stay out of the output.
    done = subprocess.run([sys.executable, "-m", "braingan", "export", str(run), "--onnx", str(path)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr
    assert "torchvision" not in done.stderr + done.stdout and "written" in done.stdout
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    generator = api.load(run, device="cpu").generator
    for batch in (1, 5):
        z = torch.randn(batch, 100)
        (image,) = session.run(None, {"z": z.numpy()})
        assert image.shape == (batch, 1, 32, 32)
        np.testing.assert_allclose(image, generator(z).detach().numpy(), atol=1e-4)
    stored = {p.key: p.value for p in __import__("onnx").load(str(path)).metadata_props}
    assert json.loads(stored["braingan"])["classes"] == ["yes"]


def test_onnx_export_of_a_conditional_generator_has_a_label_input(tmp_path):
    """The real conditional network (the dcgan family's class embedding), at any batch size."""
    ort = pytest.importorskip("onnxruntime")
    from braingan.io.onnx import export_onnx, is_conditional

    torch.manual_seed(0)
    kwargs = {"resolution": 32, "width": 4, "num_classes": 3, "latent_dim": 16}
    generator = build_generator("dcgan", **kwargs).eval()
    meta = {**CARD.to_dict(), "arch": "dcgan", "kwargs": kwargs, "latent_dim": 16,
            "classes": ["glioma", "meningioma", "pituitary"]}
    seed = {**meta, "arch": "seed_dcgan", "kwargs": {}, "latent_dim": 100}
    # The seed generator takes labels and ignores them: no dead input.
    assert not is_conditional(SeedGenerator(resolution=32, width=16, latent_dim=100), seed)
    assert export_onnx(generator, meta, tmp_path / "c.onnx")
    session = ort.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "label"]
    for batch in (1, 5):
        z, labels = torch.randn(batch, 16), torch.arange(batch) % 3
        (image,) = session.run(None, {"z": z.numpy(), "label": labels.numpy()})
        np.testing.assert_allclose(image, generator(z, labels).detach().numpy(), atol=1e-4)
    z = torch.randn(1, 16).repeat(3, 1)
    (image,) = session.run(None, {"z": z.numpy(), "label": np.arange(3)})
    assert not np.allclose(image[0], image[1])  # the label input reaches the image


def test_generator_file_round_trips_every_field(tmp_path):
    """What the trainer's export writes comes back field for field, from the JSON and from the
    weights' own header alike."""
    torch.manual_seed(0)
    generator = SeedGenerator(resolution=32, width=16, latent_dim=100)
    card = dataclasses.replace(
        CARD,
        conditional=False,
        ema=True,
        steps=120,
        source="keras:generator_final.h5",
        preprocessing=Preprocessing(resolution=32, crop=False).to_dict(),
        volumes=VolumeOptions(slices=0.5).to_dict(),
    )
    save_generator(tmp_path, generator, card)
    loaded, back = load_generator(tmp_path)
    assert back == card and read_generator_file(tmp_path) == card
    on_disk = json.loads((tmp_path / "generator.json").read_text())
    assert (
        on_disk["format"] == 1
        and on_disk["source"] == "keras:generator_final.h5"
        and on_disk["volumes"]["slices"] == 0.5
    )
    assert GeneratorFile.from_dict(on_disk) == card
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), generator.state_dict().values()))
    synthesizer = api.load(tmp_path, device="cpu")  # the API reads the same fields
    assert (synthesizer.resolution, synthesizer.class_names, synthesizer.conditional) == (32, ["yes"], False)
    assert synthesizer.generate(2, seed=0).shape == (2, 32, 32)


def test_old_generator_files_still_load(tmp_path):
    """A generator.json as the first releases wrote it (no conditional, ema, volumes, steps; the
    width named g_width) beside weights without a header: it loads, the new fields at their defaults."""
    torch.manual_seed(0)
    generator = SeedGenerator(resolution=32, width=16, latent_dim=100)
    old = {
        "format": 1,
        "arch": "seed_dcgan",
        "kwargs": {"latent_dim": 100, "resolution": 32, "g_width": 16},
        "resolution": 32,
        "latent_dim": 100,
        "classes": ["yes"],
        "preprocessing": {"resolution": 32, "crop": False, "threshold": 0.1, "version": 1},
        "source": "keras:generator_final.h5",
        "braingan": "0.0.9",
    }
    (tmp_path / "generator.json").write_text(json.dumps(old))
    (tmp_path / "generator.safetensors").write_bytes(save_safetensors(dict(generator.state_dict())))
    loaded, card = load_generator(tmp_path)
    assert (card.conditional, card.ema, card.volumes, card.steps, card.braingan) == (False, False, None, None, "0.0.9")
    assert card.kwargs["g_width"] == 16 and card.preprocessing["crop"] is False  # as written
    z = torch.randn(3, 100)
    with torch.no_grad():
        assert torch.equal(loaded(z), generator.eval()(z))
    assert main(["generate", str(tmp_path), "-n", "2", "--out", str(tmp_path / "png")]) == 0
    # Files of another format, or missing a field every version wrote, are refused by name.
    (tmp_path / "generator.json").write_text(json.dumps({**old, "format": 2}))
    with pytest.raises(BrainganError, match="unknown generator format 2"):
        load_generator(tmp_path)
    (tmp_path / "generator.json").write_text(json.dumps({k: v for k, v in old.items() if k != "classes"}))
    with pytest.raises(BrainganError, match="missing classes"):
        load_generator(tmp_path)
    with pytest.raises(BrainganError, match="invalid resolution"):
        GeneratorFile.from_dict({**old, "resolution": "32"})
