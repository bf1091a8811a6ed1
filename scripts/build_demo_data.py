"""Build src/braingan/data/demo/mni152_axial.npz from the MNI152 ICBM 2009c T1 template.

The template ships inside nilearn's wheel (no download): ``pip install nilearn nibabel``,
then ``python scripts/build_demo_data.py``. The output holds axial slices that contain
enough brain, as uint8 arrays, anterior up, the patient's right on the image right (neurological convention).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np

TEMPLATE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
OUT = Path(__file__).resolve().parents[1] / "src/braingan/data/demo/mni152_axial.npz"


def template_path() -> Path:
    import nilearn

    return Path(nilearn.__file__).parent / "datasets" / "data" / TEMPLATE


def axial_slices(volume: np.ndarray, min_brain_fraction: float, step: int) -> np.ndarray:
    """Axial slices (RAS volume, z last) with at least this fraction of non-background pixels."""
    foreground = volume > 0.1 * volume.max()
    fractions = foreground.mean(axis=(0, 1))
    keep = np.flatnonzero(fractions >= min_brain_fraction)[::step]
    # rot90 of an RAS slice: anterior at the top, the patient's right on the image right.
    return np.stack([np.rot90(volume[:, :, z]) for z in keep])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-brain-fraction", type=float, default=0.2)
    parser.add_argument("--step", type=int, default=1, help="keep every STEP-th slice")
    args = parser.parse_args()
    image = nib.as_closest_canonical(nib.load(template_path()))
    volume = np.asarray(image.dataobj, dtype=np.float32)
    slices = axial_slices(volume, args.min_brain_fraction, args.step)
    slices = np.round(255.0 * slices / volume.max()).astype(np.uint8)
    np.savez_compressed(OUT, slices=slices)
    print(f"{OUT}: {len(slices)} slices of {slices.shape[1]}x{slices.shape[2]}, {OUT.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
