"""Shared fixtures: real MRI (../shared/data, or the MNI152 slices the package ships), an isolated
cache, tiny configs."""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

import braingan
from braingan.config import RunConfig, preset
from braingan.data.demo import load_demo_slices

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


@dataclass(frozen=True)
class RealScans:
    """A few real MRI files, as a loader meets them: the seed's Kaggle tumour scans when
    ../shared/data is here, else slices of the MNI152 template the package ships, written the
    same ways (so no test of the pipeline skips on a fresh clone)."""

    distinct: list[Path]  # ten different scans stored as JPEG
    duplicate: tuple[Path, Path]  # two byte-identical files of an eleventh scan
    png_named_jpg: Path  # a twelfth scan, stored as PNG under a .jpg name
    classes: dict[str, list[Path]]  # six scans in each of two classes, "no" and "yes"

    @property
    def jpeg(self) -> Path:
        return self.distinct[0]


def _kaggle_scans() -> RealScans:
    yes, no = DETECTION / "yes", DETECTION / "no"
    names = ["Y1.jpg", "Y10.jpg", "Y100.JPG", "Y101.jpg", "Y102.jpg", "Y103.jpg", "Y104.jpg", "Y105.jpg",
             "Y106.jpg", "Y107.jpg"]
    return RealScans([yes / n for n in names], (yes / "Y30.jpg", yes / "Y38.jpg"), no / "No15.jpg",
                     {c: sorted((DETECTION / c).iterdir())[:6] for c in ("no", "yes")})


def _mni_scans(folder: Path) -> RealScans:
    slices = load_demo_slices()
    picks = iter(slices[10:80:3])

    def jpeg(name: str) -> Path:
        Image.fromarray(next(picks)).save(folder / name, format="JPEG", quality=95)
        return folder / name

    folder.mkdir(parents=True, exist_ok=True)
    distinct = [jpeg(f"mni_{i}.jpg") for i in range(10)]
    first = jpeg("mni_twin_a.jpg")
    shutil.copyfile(first, folder / "mni_twin_b.jpg")
    Image.fromarray(next(picks)).save(folder / "mni_png.jpg", format="PNG")
    classes = {c: [jpeg(f"{c}_{i}.jpg") for i in range(6)] for c in ("no", "yes")}
    return RealScans(distinct, (first, folder / "mni_twin_b.jpg"), folder / "mni_png.jpg", classes)


@pytest.fixture(scope="session")
def real_scans(tmp_path_factory: pytest.TempPathFactory) -> RealScans:
    return _kaggle_scans() if DETECTION.is_dir() else _mni_scans(tmp_path_factory.mktemp("mni152"))


@pytest.fixture
def small_mri(tmp_path: Path, real_scans: RealScans) -> Path:
    """Thirteen real scans in a flat folder: twelve distinct, one of them twice (byte-identical),
    one a PNG named .jpg."""
    folder = tmp_path / "scans"
    folder.mkdir()
    for path in [*real_scans.distinct, *real_scans.duplicate, real_scans.png_named_jpg]:
        shutil.copyfile(path, folder / path.name)
    return folder


@pytest.fixture
def two_classes(tmp_path: Path, real_scans: RealScans) -> Path:
    """Six real scans in each of the class folders no/ and yes/."""
    for name, paths in real_scans.classes.items():
        folder = tmp_path / "two" / name
        folder.mkdir(parents=True)
        for path in paths:
            shutil.copyfile(path, folder / path.name)
    return tmp_path / "two"


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


# The hostile-input table's fixtures (tests/hostile.py).
HANG_LIMIT_S = 60  # a case still running after this is a hang, and fails


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, real_scans: RealScans) -> Path:
    data = tmp_path_factory.mktemp("data")
    for path in real_scans.distinct[:3]:
        shutil.copy(path, data / path.name)
    config = tiny_config(data, steps=2)
    config.data.cache = False
    return braingan.train(config, tmp_path_factory.mktemp("runs") / "run", log=lambda _: None)


@pytest.fixture
def hang_guard():
    def on_alarm(signum, frame):
        raise TimeoutError(f"still running after {HANG_LIMIT_S} s: a hang")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(HANG_LIMIT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
