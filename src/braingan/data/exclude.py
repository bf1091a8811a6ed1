"""``--exclude DIR``: leave out the training images that are the same scan as one in DIR.

A prior pretrained on a public collection is fine-tuned on a small set that may come from the
same sources: the Kaggle brain-MRI sets share scans, re-encoded, resized and with another
intensity mapping. The fine-tuned model's copy audit and membership attacks mean something only
if the prior never saw the fine-tuning scans, so those are dropped from the prior's data first.

The copy audit's pixel distance (metrics/memorization.py) does not find such copies: it
compares images preprocessed from the same files, whereas another collection's copy of a scan
is brighter, sharper or framed a little differently. Pearson correlation of the images averaged
down to 32 px ignores a change of brightness and contrast and most of a resampling; scans at or
above SAME_SCAN_CORRELATION are taken as the same (how it separates the known overlap of the
Kaggle sets from distinct scans: benchmarks/RESULTS.md). Mirror images count too: a flipped scan
is still the patient's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from braingan.config import DataConfig
from braingan.errors import BrainganError, shown

if TYPE_CHECKING:
    from braingan.data.dataset import Dataset

SAME_SCAN_SIZE = 32  # px the images are averaged down to before they are correlated
SAME_SCAN_CORRELATION = 0.93
CHUNK = 1024


def exclude_same_scans(dataset: Dataset, config: DataConfig, log: Callable[[str], None]) -> Dataset:
    """``dataset`` without the images that are the same scan as one in ``config.exclude``."""
    from braingan.data.dataset import load_dataset  # which calls this module

    other = load_dataset(dataclasses.replace(config, path=config.exclude, classes=None, limit=None, exclude=None),
                         log=lambda _: None)
    same = closest_correlation(dataset.images, torch.cat([other.images, other.images.flip(-1)]))
    keep = same < SAME_SCAN_CORRELATION
    dropped = [name for name, kept in zip(dataset.files, keep.tolist()) if not kept]
    log(f"--exclude {shown(config.exclude)}: {len(dropped)} of {len(dataset)} images dropped as the same scan as one "
        f"of its {len(other)} (correlation at {SAME_SCAN_SIZE} px at least {SAME_SCAN_CORRELATION}, mirror images "
        "included)")
    if not keep.any():
        raise BrainganError(f"{shown(config.path)}: every image is the same scan as one in {shown(config.exclude)} "
                            "(--exclude); nothing is left to train on")
    pick = keep.nonzero().flatten().tolist()
    return dataclasses.replace(dataset, images=dataset.images[pick], labels=dataset.labels[pick],
                               files=[dataset.files[i] for i in pick],
                               groups=[dataset.groups[i] for i in pick] if dataset.groups else [], excluded=dropped)


def closest_correlation(images: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """[len(images)] the highest correlation of each image with any of ``others`` (both [N, 1, S, S])."""
    theirs = _unit(others)
    return torch.cat([(_unit(images[start:start + CHUNK]) @ theirs.T).max(dim=1).values
                      for start in range(0, len(images), CHUNK)])


def _unit(images: torch.Tensor) -> torch.Tensor:
    """Each image averaged down to SAME_SCAN_SIZE, centred and scaled to unit length (a flat
    image stays all zeros: it correlates with nothing)."""
    small = F.adaptive_avg_pool2d(images.double(), SAME_SCAN_SIZE).flatten(1)
    centred = small - small.mean(dim=1, keepdim=True)
    return centred / centred.norm(dim=1, keepdim=True).clamp(min=1e-12)
