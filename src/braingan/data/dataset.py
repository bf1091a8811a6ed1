"""Assemble the training set: discover, subset, dedupe, decode, preprocess, cache."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from braingan.config import DataConfig
from braingan.data import cache
from braingan.data.dicom import is_dicom, read_dicom
from braingan.data.discover import SourceFile, discover, seed_subset
from braingan.data.exclude import exclude_same_scans
from braingan.data.nifti import is_nifti, read_nifti
from braingan.data.preprocess import Preprocessing, preprocess
from braingan.data.readers import read_grey
from braingan.data.slices import Slice, VolumeOptions, central, has_brain
from braingan.errors import BrainganError, shown
from braingan.io.safe_read import read_regular

Log = Callable[[str], None]


@dataclass
class Dataset:
    """The whole training set in memory."""

    images: torch.Tensor  # [N, 1, S, S] float32 in [-1, 1]
    labels: torch.Tensor  # [N] int64, indices into class_names
    class_names: list[str]
    files: list[str] = field(default_factory=list)  # source of each image (file, or file#slice)
    # the scan each image comes from (a volume or DICOM series; a plain image is its own): what a
    # bootstrap resamples as one unit, since slices of one patient are not independent
    groups: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)  # byte-identical groups; first kept
    skipped: list[str] = field(default_factory=list)  # one message per unreadable file
    excluded: list[str] = field(default_factory=list)  # images dropped as the same scan as one of --exclude

    def __len__(self) -> int:
        return len(self.images)


def pixel_settings(config: DataConfig) -> tuple[Preprocessing, VolumeOptions]:
    """Everything in ``config`` that decides the pixels: the cache key and generator.json record it."""
    return (Preprocessing(resolution=config.resolution, crop=config.crop),
            VolumeOptions(slices=config.slices, axis=config.axis, brain_fraction=config.brain_fraction,
                          clip_low=config.clip_low, clip_high=config.clip_high))


def _describe(group: list[str]) -> str:
    """'a.jpg = b.jpg' for different files with the same bytes; a file that ``--limit`` drew more
    than once (it draws with replacement, as the seed notebook did) is named once, with its count."""
    drawn = " (the same file, drawn {} times by --limit)"
    return " = ".join(shown(Path(path).name) + (drawn.format(count) if count > 1 else "")
                      for path, count in Counter(group).items())


def load_dataset(config: DataConfig, log: Log = print) -> Dataset:
    """Load ``config.path`` (or the embedded demo set when it is None) as a ``Dataset``."""
    settings, volumes = pixel_settings(config)
    if config.path is None:
        from braingan.data.demo import load_demo_slices

        demo = _from_arrays(load_demo_slices(), "mni152", settings)
        return demo if config.exclude is None else exclude_same_scans(demo, config, log)

    sources = discover(config.path, config.classes)
    if config.limit is not None:
        sources = seed_subset(sources, config.limit, config.subset_seed)
    contents, skipped = _read_bytes(sources, log)
    duplicates = _duplicate_groups(contents)
    if config.dedupe:
        contents = _first_of_each_content(contents)
    if duplicates:
        verb = "dropped" if config.dedupe else "kept (--no-dedupe)"
        log(f"{sum(len(g) - 1 for g in duplicates)} byte-identical duplicate files {verb}: "
            + "; ".join(_describe(g) for g in duplicates))

    class_names = sorted({s.class_name for s in sources})
    entries = [(digest, source.class_name) for source, _, digest in contents]
    key = cache.cache_key({**settings.to_dict(), "volumes": volumes.to_dict()}, entries)
    cached = cache.load_cached(key, settings.resolution, len(class_names), log) if config.cache else None
    if cached is not None:
        tensors, meta = cached
        files = meta["files"]
        groups = meta.get("groups", files)  # entries cached before groups were recorded
        skipped += meta["skipped"]
        images, labels = tensors["images"], tensors["labels"]
    else:
        records: list[tuple[Slice, str, bool]] = []  # (preprocessed slice, class, has enough brain)
        decode_skips: list[str] = []
        decoded: dict[Path, list[tuple[Slice, bool]]] = {}  # a file --limit drew again is decoded once
        for source, data, _ in contents:
            if source.path not in decoded:
                decoded[source.path] = _preprocessed(data, str(source.path), settings, volumes, decode_skips, log)
            # a Slice of its own per draw, sharing the pixels: central() counts each draw, as before
            records += [(replace(s), source.class_name, brain) for s, brain in decoded[source.path]]
        in_centre = {id(s) for s in central([r[0] for r in records], volumes.slices)}
        picked = [(s, c) for s, c, brain in records if brain and id(s) in in_centre]
        if len(picked) < len(records):
            log(f"{len(records) - len(picked)} volume slices left out (--slices {volumes.slices}, "
                f"--brain-fraction {volumes.brain_fraction})")
        skipped += decode_skips
        files = [s.name for s, _ in picked]
        groups = [s.series or s.name for s, _ in picked]
        labels = torch.tensor([class_names.index(c) for _, c in picked], dtype=torch.int64)
        arrays = [s.grey for s, _ in picked]
        images = torch.from_numpy(np.stack(arrays)[:, None]) if arrays else torch.empty(0)
        if arrays and config.cache:
            cache.store(key, {"images": images, "labels": labels}, {"files": files, "groups": groups,
                                                                    "skipped": decode_skips})
    if not files:
        raise BrainganError(f"{shown(config.path)}: no usable image found ({len(skipped)} unreadable files)")
    dataset = Dataset(
        images=images,
        labels=labels,
        class_names=class_names,
        files=files,
        groups=groups,
        duplicates=duplicates,
        skipped=skipped,
    )
    return dataset if config.exclude is None else exclude_same_scans(dataset, config, log)


def _preprocessed(data: bytes, name: str, settings: Preprocessing, volumes: VolumeOptions, skips: list[str],
                  log: Log) -> list[tuple[Slice, bool]]:
    """The file's slices, each preprocessed as it is decoded (so only small arrays stay in memory)
    and with whether it has enough brain; none, and a skip message, when it cannot be decoded."""
    try:
        found = _decode(data, name, volumes)
    except BrainganError as e:
        skips.append(str(e))
        log(f"warning: skipped {e}")
        return []
    return [(replace(s, grey=preprocess(s.grey, settings)),
             s.series is None or has_brain(s.grey, volumes.brain_fraction)) for s in found]


def _decode(data: bytes, name: str, volumes: VolumeOptions) -> list[Slice]:
    """Pick the reader by content: DICOM, NIfTI, else an image (one slice named after its file)."""
    if is_dicom(data):
        return read_dicom(data, name, volumes)
    if is_nifti(data, name):
        return read_nifti(data, name, volumes)
    return [Slice(name, read_grey(io.BytesIO(data), name=name))]


def _read_bytes(sources: list[SourceFile], log: Log) -> tuple[list[tuple[SourceFile, bytes, str]], list[str]]:
    """Read every distinct file once (the same bytes feed the hash and the decoder; a file that
    ``--limit`` drew again shares them): only regular files, within read_regular's size limit."""
    contents, skipped = [], []
    read: dict[Path, tuple[bytes, str] | None] = {}
    for source in sources:
        if source.path not in read:
            try:
                data = read_regular(source.path)
                read[source.path] = data, hashlib.sha256(data).hexdigest()
            except BrainganError as e:
                read[source.path] = None
                skipped.append(str(e))
                log(f"warning: skipped {e}")
        if read[source.path] is not None:
            contents.append((source, *read[source.path]))
    return contents, skipped


def _first_of_each_content(contents: list[tuple[SourceFile, bytes, str]]) -> list[tuple[SourceFile, bytes, str]]:
    first: dict[str, tuple[SourceFile, bytes, str]] = {}
    for entry in contents:
        first.setdefault(entry[2], entry)
    return list(first.values())


def _duplicate_groups(contents: list[tuple[SourceFile, bytes, str]]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for source, _, digest in contents:
        groups.setdefault(digest, []).append(str(source.path))
    return [paths for paths in groups.values() if len(paths) > 1]


def _from_arrays(slices: np.ndarray, class_name: str, settings: Preprocessing) -> Dataset:
    """A dataset from grey uint8 slices already in memory (the embedded demo set)."""
    images = np.stack([preprocess(s.astype(np.float32) / 255.0, settings) for s in slices])
    return Dataset(
        images=torch.from_numpy(images[:, None]),
        labels=torch.zeros(len(images), dtype=torch.int64),
        class_names=[class_name],
        files=[f"{class_name}[{i}]" for i in range(len(images))],
    )
