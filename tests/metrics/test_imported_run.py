"""A generator imported without its training record (``import-keras``): ``evaluate`` takes
``--real`` and the preprocessing generator.json records; ``generate --reject-memorized`` says
what to run instead. Real images: the MNI152 slices braingan ships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from braingan.cli import main
from braingan.cli.import_keras import keras_card
from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.io.generator_files import read_generator_file, save_generator
from braingan.io.images import save_png, to_uint8
from braingan.models.seed_dcgan import SeedGenerator


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """A run folder as import-keras writes it: generator files only, no checkpoint or config."""
    torch.manual_seed(0)
    generator = SeedGenerator(resolution=32, width=16, latent_dim=100)
    run = tmp_path / "imported"
    save_generator(run, generator, keras_card(generator, "yes", "generator_final.h5"))
    assert read_generator_file(run).preprocessing["crop"] is False  # the seed notebook's plain resize
    return run


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no checkpoint" not in err
    return err


def test_evaluate_of_an_imported_run_asks_for_real_images(imported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(imported), "--n", "4", "--metrics", "swd"]) == 2
    err = _one_line_error(capsys)
    assert "--real" in err and "import-keras" in err


def test_evaluate_of_an_imported_run_preprocesses_as_its_generator_file_says(
        imported: Path, mni_pngs: Path, tmp_path: Path) -> None:
    """Copies of the real slices resized without cropping are flagged, every one: the real set
    was preprocessed as generator.json records, not with the default crop."""
    plain = load_dataset(DataConfig(path=str(mni_pngs), resolution=32, crop=False, cache=False), log=lambda _: None)
    cropped = load_dataset(DataConfig(path=str(mni_pngs), resolution=32, crop=True, cache=False), log=lambda _: None)
    assert (plain.images - cropped.images).abs().mean() > 0.05  # the two differ on these slices
    copies = tmp_path / "copies"
    for i, image in enumerate(to_uint8(plain.images)):
        save_png(copies / f"copy_{i:02d}.png", image)
    out = tmp_path / "eval"
    assert main(["evaluate", str(imported), "--real", str(mni_pngs), "--fake", str(copies),
                 "--metrics", "memorization", "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    memo = report["metrics"]["memorization"]
    assert memo["flagged"] == report["n_fake"] == report["n_real"] == 40 and memo["min_distance"] < 0.01
    assert "generator.json" in report["notes"]["real_preprocessing"] and report["real"] == str(mni_pngs)
    assert (out / "memorization_pairs.png").is_file()
    # Its own samples are measured the same way.
    assert main(["evaluate", str(imported), "--real", str(mni_pngs), "--n", "8", "--metrics", "swd,diversity",
                 "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["n_fake"] == 8 and report["metrics"]["swd"]["mean"] > 0
    assert (report["metrics"]["diversity"]["pairs"], report["metrics"]["diversity"]["real_pairs"]) == (28, 780)


def test_reject_memorized_on_an_imported_run_says_what_to_run(imported: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "png"
    assert main(["generate", str(imported), "-n", "3", "--out", str(out), "--reject-memorized"]) == 2
    err = _one_line_error(capsys)
    assert "without --reject-memorized" in err and "braingan evaluate" in err and "--real" in err
    assert not out.exists()  # refused before writing anything
    assert main(["generate", str(imported), "-n", "3", "--out", str(out)]) == 0  # plain generation works
