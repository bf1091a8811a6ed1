"""What the evaluation's instruments read on cases whose answer is known (CPU, no weights needed).

The 141 distinct Kaggle tumour scans at 64 px, shuffled with a fixed seed and dealt into three
thirds A, B, C. "Samples" are then: B (new real scans, the answer a perfect generator gives),
B blurred, B with noise, or A itself (copies of the training scans). Each row is read against A
(the training / reference set), with C as the held-out set for membership attacks.

    PYTHONPATH=src python benchmarks/bench_instruments.py [--real DATA/yes] [--resolution 64]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.metrics.frd import frd
from braingan.metrics.membership import membership_inference
from braingan.metrics.radiomics import radiomic_features
from braingan.metrics.two_sample import two_sample_test

DEFAULT_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brain_tumor_detection" / "yes"


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma) + 1
    taps = torch.exp(-torch.arange(-radius, radius + 1.0) ** 2 / (2 * sigma**2))
    taps = (taps / taps.sum()).view(1, 1, 1, -1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), taps)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), taps.transpose(-1, -2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(os.environ.get("BRAINGAN_BENCH_REAL", DEFAULT_REAL)))
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()

    images = load_dataset(DataConfig(path=str(args.real), resolution=args.resolution, cache=False),
                          log=lambda _: None).images
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(images)))
    a, b, c = (images[order[i::3]] for i in range(3))
    generator = torch.Generator().manual_seed(0)
    cases = {
        "new real scans (B)": b,
        "B blurred, sigma 1 px": _blur(b, 1.0),
        "B blurred, sigma 2 px": _blur(b, 2.0),
        "B + noise (sd 0.2)": (b + 0.2 * torch.randn(b.shape, generator=generator)).clamp(-1, 1),
        "copies of A": a.clone(),
    }
    reference = radiomic_features(a)
    print(f"{len(a)} reference, {len(c)} held-out scans at {args.resolution} px ({args.real})\n")
    header = ("samples", "two-sample acc. [95%]", "FRD", "membership dcr AUC [95%]", "density-ratio AUC")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for name, fake in cases.items():
        features = radiomic_features(fake)
        test = two_sample_test(reference, features)
        attacks = membership_inference(a, c, fake).attacks
        dcr, density = attacks["dcr"], attacks["density_ratio"]
        low, high = dcr.auc_interval
        print(f"{name} | {test.accuracy:.2f} [{test.interval[0]:.2f}, {test.interval[1]:.2f}] | "
              f"{frd(reference, features):.1f} | {dcr.auc:.2f} [{low:.2f}, {high:.2f}] | {density.auc:.2f}")


if __name__ == "__main__":
    main()
