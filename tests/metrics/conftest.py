"""Real MRI for the metric tests: the seed's Kaggle scans at 32 px (../shared/data), and the
package's own MNI152 slices as a folder of PNG files (always there)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import DETECTION  # the root tests/conftest.py (on sys.path under pytest)

from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.data.demo import load_demo_slices
from braingan.io.images import save_png


@pytest.fixture(scope="session")
def real32() -> torch.Tensor:
    """All tumour scans of the seed's dataset (155 -> deduplicated) at 32 px, [N, 1, 32, 32] in [-1, 1]."""
    if not (DETECTION / "yes").is_dir():
        pytest.skip(f"real MRI not found at {DETECTION} (set BRAINGAN_TEST_DATA)")
    return load_dataset(DataConfig(path=str(DETECTION / "yes"), resolution=32, cache=False), log=lambda _: None).images


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
