"""Shared fixtures: the real MRI in ../shared/data, an isolated cache, tiny configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from braingan.config import RunConfig, preset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BRAINGAN_TEST_DATA", REPO.parent / "shared" / "data"))
DETECTION = SHARED_DATA / "brain_tumor_detection"
FOUR_CLASS = SHARED_DATA / "brain_tumor_mri_4class"


def _require(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"real MRI not found at {path} (set BRAINGAN_TEST_DATA)")
    return path


@pytest.fixture
def detection_dir() -> Path:
    """The seed's dataset: yes/ (155) and no/ (98)."""
    return _require(DETECTION)


@pytest.fixture
def four_class_dir() -> Path:
    return _require(FOUR_CLASS)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own preprocessing cache, so tests never see each other's entries."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("BRAINGAN_CACHE", str(cache))
    return cache


@pytest.fixture
def small_yes(tmp_path: Path, detection_dir: Path) -> Path:
    """Twelve real tumour scans (with one duplicate pair and one PNG named .jpg) in a flat folder."""
    folder = tmp_path / "small_yes"
    folder.mkdir()
    names = ["Y1.jpg", "Y10.jpg", "Y100.JPG", "Y101.jpg", "Y102.jpg", "Y103.jpg", "Y104.jpg",
             "Y105.jpg", "Y106.jpg", "Y107.jpg", "Y30.jpg", "Y38.jpg"]
    for name in names:
        (folder / name).write_bytes((detection_dir / "yes" / name).read_bytes())
    (folder / "No15.jpg").write_bytes((detection_dir / "no" / "No15.jpg").read_bytes())  # a PNG inside
    return folder


def tiny_config(data: Path | None, steps: int = 6, **train: object) -> RunConfig:
    """A seed-shaped GAN at 32 px, small enough for a CPU test in seconds."""
    config = preset("seed")
    config.data.path = None if data is None else str(data)
    config.data.resolution = 32
    config.model.g_width, config.model.d_width = 16, 8
    config.run.steps_per_epoch = steps
    config.run.epochs = 1
    config.run.checkpoint_every = steps
    for key, value in train.items():
        setattr(config.run, key, value)
    return config


__all__ = ["RunConfig", "tiny_config"]
