"""Find the training files under a folder: sub-folders are classes, a flat folder is one class."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braingan.errors import BrainganError


@dataclass(frozen=True)
class SourceFile:
    path: Path
    class_name: str


def _files_under(folder: Path) -> list[Path]:
    """Every visible file below ``folder``, sorted; symlinked folders are not followed (no loops)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / name for name in files if not name.startswith("."))
    return sorted(found)


def discover(root: str | Path, classes: list[str] | None = None) -> list[SourceFile]:
    """List (file, class) pairs; ``classes`` picks sub-folders by name."""
    root = Path(root)
    if not root.exists():
        raise BrainganError(f"{root}: no such folder")
    if not root.is_dir():
        raise BrainganError(f"{root}: not a folder")
    subfolders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:
        if classes and classes != [root.name]:
            raise BrainganError(f"{root}: has no class sub-folders, so --classes {','.join(classes)} cannot apply")
        return [SourceFile(p, root.name) for p in _files_under(root)]
    chosen = classes or subfolders
    unknown = [c for c in chosen if c not in subfolders]
    if unknown:
        raise BrainganError(f"{root}: unknown class {', '.join(unknown)}; the folder has {', '.join(subfolders)}")
    sources = []
    for name in chosen:
        files = _files_under(root / name)
        if not files:
            raise BrainganError(f"{root / name}: class folder is empty")
        sources.extend(SourceFile(p, name) for p in files)
    return sources


def seed_subset(sources: list[SourceFile], limit: int, subset_seed: int) -> list[SourceFile]:
    """Draw ``limit`` files with replacement, as the seed notebook's ``randint(0, n, limit)`` did."""
    draw = np.random.RandomState(subset_seed).randint(0, len(sources), limit)
    return [sources[i] for i in draw]
