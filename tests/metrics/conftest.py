"""Real MRI at 32 px for the metric tests, loaded once per session."""

from __future__ import annotations

import pytest
import torch

from braingan.config import DataConfig
from braingan.data import load_dataset
from conftest import DETECTION  # the root tests/conftest.py (on sys.path under pytest)


@pytest.fixture(scope="session")
def real32() -> torch.Tensor:
    """All tumour scans of the seed's dataset (155 -> deduplicated) at 32 px, [N, 1, 32, 32] in [-1, 1]."""
    if not (DETECTION / "yes").is_dir():
        pytest.skip(f"real MRI not found at {DETECTION} (set BRAINGAN_TEST_DATA)")
    return load_dataset(DataConfig(path=str(DETECTION / "yes"), resolution=32, cache=False), log=lambda _: None).images


@pytest.fixture(scope="session")
def noise32(real32: torch.Tensor) -> torch.Tensor:
    return torch.rand(real32.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
