"""Checkpoints: everything to continue a run exactly, written atomically, loaded without pickle code."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes

FORMAT = 1


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Serialise in memory first, so the file on disk is either the old or the new one."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load with ``weights_only=True``: a crafted pickle cannot run code, it is refused."""
    if not path.exists():
        raise BrainganError(f"{path}: no checkpoint to resume from")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip; anything else is damaged, not hostile
        raise BrainganError(f"{path}: corrupt or truncated checkpoint (not a torch zip archive)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise BrainganError(f"{path}: refused, the checkpoint holds more than weights and plain data") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise BrainganError(f"{path}: corrupt or truncated checkpoint ({str(e).splitlines()[0]})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BrainganError(f"{path}: not a braingan checkpoint (format {FORMAT})")
    return state
