"""The real set's features on disk: computed once per images and extractor, recomputed when damaged."""

from pathlib import Path

import numpy as np
import torch

from braingan.metrics import features
from braingan.metrics.feature_cache import cached_features
from braingan.metrics.registry import EvalInputs


class CountingExtractor:
    """Random-CNN features (weight-free) that count the images they are asked for."""

    def __init__(self, identity: str = "random-cnn") -> None:
        self.identity, self.images = identity, 0

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        self.images += len(images)
        return features.random_cnn_features(images)


def test_the_real_sets_features_are_computed_once_per_images_and_extractor(isolated_cache: Path,
                                                                           real32: torch.Tensor) -> None:
    real, other = real32[:30], real32[30:50]
    extractor = CountingExtractor()
    first = cached_features("inception", extractor.identity, real, extractor)
    again = cached_features("inception", extractor.identity, real, extractor)
    assert extractor.images == 30 and np.array_equal(first, again)
    cached_features("inception", extractor.identity, other, extractor)  # other images
    cached_features("inception", "other-weights", real, extractor)  # another extractor
    assert extractor.images == 30 + 20 + 30
    (entry, *_) = sorted((isolated_cache / "features").glob("inception-*.npy"), key=lambda p: p.stat().st_mtime)
    entry.write_bytes(b"\x93NUMPY damaged")
    assert np.array_equal(cached_features("inception", extractor.identity, real, extractor), first)
    assert extractor.images == 30 + 20 + 30 + 30 and np.array_equal(np.load(entry), first)  # rewritten


def test_an_unwritable_cache_costs_only_the_computation(monkeypatch, tmp_path: Path, real32: torch.Tensor) -> None:
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("BRAINGAN_CACHE", str(tmp_path / "not-a-folder"))
    extractor = CountingExtractor()
    for _ in range(2):
        assert cached_features("inception", extractor.identity, real32[:10], extractor).shape == (10, 512)
    assert extractor.images == 20


def test_a_second_evaluation_computes_only_the_generated_images_features(real32: torch.Tensor,
                                                                        noise32: torch.Tensor) -> None:
    real, fake = real32[:40], noise32[:25]
    counts = []
    for _ in range(2):
        extractor = CountingExtractor()
        pool = EvalInputs(real=real, fake=fake, extractor=extractor).inception_pool()
        counts.append(extractor.images)
    assert counts == [65, 25] and pool.shape == (65, 512)
