"""Features of a real set kept on disk, so that scoring many runs against one set computes them once.

An entry is keyed by the preprocessed images' bytes and by what computes the features (the
extractor's name and identity: weights digest, backend), so other images or another extractor
miss. An entry that is unreadable or of the wrong shape is computed again and replaced; one
that cannot be written costs the computation next time, nothing more.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable

import numpy as np
import torch

from braingan.data.cache import cache_dir
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes


def _key(name: str, identity: str, images: torch.Tensor) -> str:
    h = hashlib.sha256(f"{name}\0{identity}\0{tuple(images.shape)}\0{images.dtype}\0".encode())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def cached_features(name: str, identity: str, images: torch.Tensor,
                    compute: Callable[[torch.Tensor], np.ndarray]) -> np.ndarray:
    """``compute(images)``, read from the cache when these images met this extractor before."""
    path = cache_dir() / "features" / f"{name}-{_key(name, identity, images)}.npy"
    try:
        features = np.load(path, allow_pickle=False)
        if features.shape[0] == len(images) and features.dtype == np.float64 and np.isfinite(features).all():
            return features
    except (OSError, ValueError, EOFError):  # missing, or damaged: computed again below
        pass
    features = compute(images)
    buffer = io.BytesIO()
    np.save(buffer, features, allow_pickle=False)
    with contextlib.suppress(BrainganError):  # an unwritable cache: the features are computed again next time
        atomic_write_bytes(path, buffer.getvalue())
    return features
