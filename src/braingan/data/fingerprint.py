"""What a run trained on, as one hash, so that resume and evaluate can tell the same data from other data.

The hash covers the preprocessed images, their labels and the class names: it changes when a file
is added, removed, edited or moved to another class, or the preprocessing differs, and it does not
depend on where the folder lies or on the preprocessing cache. Other data is refused, not warned
about: a resumed run would silently train on a mix, and an evaluation (the copy audit above all)
would silently measure against scans the generator never saw.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from braingan.data import Dataset
from braingan.errors import BrainganError, shown


def fingerprint(dataset: Dataset) -> dict[str, Any]:
    """The record a checkpoint keeps: the hash, and the image count to say how the data differs."""
    digest = hashlib.sha256(json.dumps(dataset.class_names).encode())
    digest.update(dataset.labels.contiguous().numpy().tobytes())
    digest.update(dataset.images.contiguous().numpy().tobytes())
    return {"sha256": digest.hexdigest(), "images": len(dataset)}


def check_same_data(saved: dict[str, Any] | None, now: dict[str, Any], where: str | None, advice: str) -> None:
    """Refuse the data of ``fingerprint`` record ``now`` (loaded from ``where``) when it is not the
    data of ``saved``, a run's record; runs saved before the record was kept are not checked."""
    if not isinstance(saved, dict) or "sha256" not in saved:
        return
    if now["sha256"] == saved["sha256"]:
        return
    differs = (f"{saved.get('images')} images then, {now['images']} now" if saved.get("images") != now["images"]
               else f"the same number of images ({now['images']}), but other contents or classes")
    source = shown(where) if where else "the embedded demo set"
    raise BrainganError(f"{source}: not the data this run trained on ({differs}); {advice}")
