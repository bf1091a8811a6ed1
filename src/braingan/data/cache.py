"""Preprocessed datasets on disk, keyed by the files' bytes and the preprocessing settings."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes


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


def load_cached(key: str) -> tuple[dict[str, torch.Tensor], dict] | None:
    """The cached tensors and metadata for ``key``, or None (a damaged entry counts as missing)."""
    path = cache_dir() / f"{key}.safetensors"
    if not path.exists():
        return None
    try:
        tensors = load_file(path)
        with open(path.with_suffix(".json"), encoding="utf-8") as f:
            return tensors, json.load(f)
    except (OSError, ValueError, SafetensorError):
        return None


def store(key: str, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write an entry; failure to cache is not fatal to training, so it is only reported."""
    path = cache_dir() / f"{key}.safetensors"
    try:
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta).encode())
        atomic_write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()}))
    except BrainganError as e:
        print(f"warning: could not write the data cache in {path.parent}: {e}")
