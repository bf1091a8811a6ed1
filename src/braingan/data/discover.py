"""Find the training files under a folder: sub-folders are classes, a flat folder is one class."""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from braingan.data.dicom import is_dicom
from braingan.data.nifti import is_nifti
from braingan.errors import BrainganError, shown
from braingan.io.safe_read import read_regular


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
        raise BrainganError(f"{shown(root)}: no such folder")
    if not root.is_dir():
        raise BrainganError(f"{shown(root)}: not a folder")
    # A link back to the folder itself or above is a loop, not a class (walking it never ends).
    subfolders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                        and not root.resolve().is_relative_to(p.resolve()))
    if not subfolders:
        if classes and classes != [root.name]:
            raise BrainganError(f"{shown(root)}: has no class sub-folders, so --classes {','.join(classes)} "
                                "cannot apply")
        return [SourceFile(p, root.name) for p in _files_under(root)]
    if not classes:
        _refuse_loose_images(root, subfolders)
    chosen = classes or subfolders
    unknown = [c for c in chosen if c not in subfolders]
    if unknown:
        raise BrainganError(f"{shown(root)}: unknown class {', '.join(map(shown, unknown))}; "
                            f"the folder has {', '.join(map(shown, subfolders))}")
    sources = []
    for name in chosen:
        files = _files_under(root / name)
        if not files:
            raise BrainganError(f"{shown(root / name)}: class folder is empty")
        sources.extend(SourceFile(p, name) for p in files)
    return sources


def _refuse_loose_images(root: Path, subfolders: list[str]) -> None:
    """Sub-folders are the classes, so images beside them would be left out without a word (a
    folder of scans with one thumbs/ sub-folder trained on the thumbnails alone). Other files
    there (a README, checksums) are still ignored."""
    loose = sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and _is_scan(p))
    if loose:
        more = f" and {len(loose) - 1} more" if len(loose) > 1 else ""
        raise BrainganError(
            f"{shown(root)}: the images at its top level ({shown(loose[0])}{more}) would be left out, as its "
            f"sub-folders ({', '.join(map(shown, subfolders))}) are read as the classes: move the images into "
            "a class folder, or name the classes to use with --classes")


def _is_scan(path: Path) -> bool:
    """Whether a reader would decode it, by content as everywhere (the suffix is not trusted)."""
    try:
        head = read_regular(path, head=1 << 16)  # enough for any image header
    except BrainganError:
        return False
    if is_dicom(head) or is_nifti(head, path.name):
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a huge image is still an image
            Image.open(io.BytesIO(head)).close()
        return True
    except Exception:  # PIL says "not an image" with many exception types
        return False


def seed_subset(sources: list[SourceFile], limit: int, subset_seed: int) -> list[SourceFile]:
    """Draw ``limit`` files with replacement, as the seed notebook's ``randint(0, n, limit)`` did."""
    draw = np.random.RandomState(subset_seed).randint(0, len(sources), limit)
    return [sources[i] for i in draw]
