"""``generator.safetensors`` + ``generator.json``: all that generating images needs.

The JSON names the architecture and its constructor arguments, the class names and the
preprocessing, so a generator rebuilds without the training code's config or checkpoint. The
weights file carries the same JSON in its header, so weights always come with their own
description, even when a crash falls between the two writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors
from torch import nn

from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes, atomic_write_text
from braingan.models import build_generator

WEIGHTS, META = "generator.safetensors", "generator.json"
FORMAT = 1


def save_generator(run_dir: Path, generator: nn.Module, meta: dict[str, Any]) -> None:
    """Write weights (with the metadata in their header), then the metadata for people and tools."""
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    text = json.dumps({"format": FORMAT, **meta}, indent=2) + "\n"
    atomic_write_bytes(run_dir / WEIGHTS, save_safetensors(state, metadata={META: text}))
    atomic_write_text(run_dir / META, text)


def load_generator(run_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator of a run directory (or of a folder holding the two files)."""
    run_dir = Path(run_dir)
    meta_path, weights_path = run_dir / META, run_dir / WEIGHTS
    if not meta_path.exists() or not weights_path.exists():
        raise BrainganError(f"{run_dir}: no trained generator ({META} and {WEIGHTS}); has training finished?")
    try:
        with safe_open(weights_path, framework="pt") as f:
            state = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not iterable)
            own = (f.metadata() or {}).get(META)  # absent in files written before it was added
        meta = json.loads(own if own is not None else meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, SafetensorError) as e:
        raise BrainganError(f"{run_dir}: unreadable generator files ({e})") from e
    if meta.get("format") != FORMAT:
        raise BrainganError(f"{meta_path}: unknown generator format {meta.get('format')!r}")
    generator = build_generator(meta["arch"], **meta["kwargs"])
    try:
        generator.load_state_dict(state)
    except RuntimeError as e:
        raise BrainganError(f"{weights_path}: weights do not fit {meta['arch']} ({str(e).splitlines()[0]})") from e
    return generator.eval(), meta
