"""The embedded demo set: real MRI (MNI152 template slices) shipped with the package."""

from __future__ import annotations

from importlib import resources

import numpy as np


def load_demo_slices() -> np.ndarray:
    """Axial T1 slices as uint8 [N, H, W]; see LICENSE-MNI152.txt beside this file."""
    with resources.files(__package__).joinpath("mni152_axial.npz").open("rb") as f:
        return np.load(f)["slices"]
