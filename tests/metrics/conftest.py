"""Real MRI for the metric tests: the seed's Kaggle scans (../shared/data) when they are here,
else slices of the MNI152 template the package ships (always there), preprocessed alike. Only
the tests about the Kaggle set's own content (``kaggle32``) skip without ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.data.demo import load_demo_slices
from braingan.io.images import save_png
from conftest import DETECTION  # the root tests/conftest.py (on sys.path under pytest)

KAGGLE = (DETECTION / "yes").is_dir() and (DETECTION / "no").is_dir()


def load32(folder: Path) -> torch.Tensor:
    """A folder of scans as training sees it at 32 px: [N, 1, 32, 32] in [-1, 1], byte twins dropped."""
    return load_dataset(DataConfig(path=str(folder), resolution=32, cache=False), log=lambda _: None).images


def _shuffled_pngs(folder: Path, slices: np.ndarray, first: int = 0) -> Path:
    """Slices as PNG files named in a fixed random order (z: the slice's index in the template)."""
    for position, index in enumerate(np.random.default_rng(0).permutation(len(slices))):
        save_png(folder / f"mni_{position:02d}_z{first + index:02d}.png", slices[index])
    return folder


@pytest.fixture(scope="session")
def mni_scans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 99 axial MNI152 slices braingan ships (real T1 MRI, 233 x 197 px) as PNG files, named
    in a fixed random order: a folder of scans is in no anatomical order, so its halves (or its
    first 19) are samples of the same set, as the Kaggle folder's are."""
    return _shuffled_pngs(tmp_path_factory.mktemp("mni152_all") / "slices", load_demo_slices())


@pytest.fixture(scope="session")
def real_scans_dir(mni_scans: Path) -> Path:
    """A folder of real MRI, one class: the seed's tumour scans (yes/, 155 files, 141 distinct)
    when ../shared/data is here, else the 99 MNI152 slices of ``mni_scans``."""
    return DETECTION / "yes" if KAGGLE else mni_scans


@pytest.fixture(scope="session")
def real_classes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[str, str]]:
    """A folder of two real classes and their names: the seed's yes/ (155) and no/ (98) when
    ../shared/data is here, else the MNI152 slices as lower/ (the 50 from the cerebellum and
    temporal poles up to the basal ganglia) and upper/ (the 49 above, up to the crown): two real
    classes whose anatomy differs, so a classifier can learn them."""
    if KAGGLE:
        return DETECTION, ("yes", "no")
    root = tmp_path_factory.mktemp("mni152_classes")
    slices = load_demo_slices()
    _shuffled_pngs(root / "lower", slices[:50])
    _shuffled_pngs(root / "upper", slices[50:], first=50)
    return root, ("upper", "lower")


@pytest.fixture(scope="session")
def real32(real_scans_dir: Path) -> torch.Tensor:
    """``real_scans_dir`` at 32 px, [N, 1, 32, 32] in [-1, 1]: the 141 distinct Kaggle tumour
    scans, or the 99 MNI152 slices, in file-name order."""
    return load32(real_scans_dir)


@pytest.fixture(scope="session")
def kaggle32() -> torch.Tensor:
    """The Kaggle tumour scans at 32 px, for the tests about that set's own content."""
    if not KAGGLE:
        pytest.skip(f"Kaggle MRI not found at {DETECTION} (set BRAINGAN_TEST_DATA)")
    return load32(DETECTION / "yes")


@pytest.fixture(scope="session")
def noise32(real32: torch.Tensor) -> torch.Tensor:
    return torch.rand(real32.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture(scope="session")
def mni_pngs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 axial MNI152 slices (real T1 MRI shipped with braingan, 233 x 197 px) as PNG files."""
    folder = tmp_path_factory.mktemp("mni152") / "slices"
    slices = load_demo_slices()
    for i in range(0, 80, 2):
        save_png(folder / f"mni_{i:03d}.png", slices[10 + i])
    return folder
