"""Preprocessed datasets on disk, keyed by the files' bytes and the preprocessing settings."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from braingan.errors import BrainganError, shown
from braingan.io.atomic import atomic_write_bytes
from braingan.io.safe_read import read_regular


def cache_dir() -> Path:
    """``$BRAINGAN_CACHE``, else ``$XDG_CACHE_HOME/braingan``, else ``~/.cache/braingan``."""
    if "BRAINGAN_CACHE" in os.environ:
        return Path(os.environ["BRAINGAN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "braingan"


def cache_key(settings: dict, entries: list[tuple[str, str]]) -> str:
    """Hash of the settings and the (content hash, class) of every file, in order."""
    blob = json.dumps({"settings": settings, "entries": entries}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def load_cached(key: str, resolution: int, classes: int,
                log: Callable[[str], None] = print) -> tuple[dict[str, torch.Tensor], dict] | None:
    """The cached tensors and metadata for ``key``, or None. An entry that is damaged, or does not
    hold ``classes`` classes of images at ``resolution``, is deleted with a warning, to be rebuilt."""
    path = cache_dir() / f"{key}.safetensors"
    if not os.path.lexists(path):
        return None
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would hang the load
            raise ValueError("not a regular file")
        tensors = load_file(path)
        meta = json.loads(read_regular(path.with_suffix(".json")))
        _check(tensors, meta, resolution, classes)
        return tensors, meta
    except (OSError, ValueError, SafetensorError, BrainganError) as e:
        log(f"warning: discarded the damaged data cache entry {shown(path)} ({' '.join(str(e).split())}); "
            "rebuilding it")
        for damaged in (path, path.with_suffix(".json")):
            with contextlib.suppress(OSError):
                damaged.unlink()
        return None


def _check(tensors: dict[str, torch.Tensor], meta: object, resolution: int, classes: int) -> None:
    """Raise ValueError naming the first way the entry differs from what store() writes."""
    images, labels = tensors.get("images"), tensors.get("labels")
    if images is None or labels is None:
        raise ValueError("no images or labels")
    if images.dtype != torch.float32 or images.dim() != 4 or tuple(images.shape[1:]) != (1, resolution, resolution):
        raise ValueError(f"images of {images.dtype} {tuple(images.shape)}, not [N, 1, {resolution}, {resolution}]")
    n = len(images)
    if not bool((images.abs() <= 1).all()):  # NaN fails this too
        raise ValueError("images outside [-1, 1]")
    indices = labels.dtype == torch.int64 and tuple(labels.shape) == (n,)
    if not indices or not bool(((labels >= 0) & (labels < classes)).all()):
        raise ValueError(f"labels are not {n} indices of {classes} classes")
    files = meta.get("files") if isinstance(meta, dict) else None
    if not (_names(files, n) and _names(meta.get("groups", files), n) and _names(meta.get("skipped"))):
        raise ValueError("its metadata does not list the files, groups and skipped files")


def _names(value: object, count: int | None = None) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value) and count in (None, len(value))


def store(key: str, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write an entry; failure to cache is not fatal to training, so it is only reported."""
    path = cache_dir() / f"{key}.safetensors"
    try:
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta).encode())
        atomic_write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()}))
    except BrainganError as e:
        print(f"warning: could not write the data cache in {path.parent}: {e}")
