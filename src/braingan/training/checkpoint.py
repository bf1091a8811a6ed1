"""Checkpoints: everything to continue a run exactly, written atomically, loaded without pickle code."""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes
from braingan.io.safe_read import require_regular

FORMAT = 1
# What every checkpoint holds, and what each must be: the loop reads them without further checks.
REQUIRED: dict[str, tuple[type, str]] = {
    "step": (int, "an integer"), "config": (dict, "a table"), "class_names": (list, "a list"),
    "generator": (dict, "a state dict"), "discriminator": (dict, "a state dict"),
    "opt_g": (dict, "an optimizer state"), "opt_d": (dict, "an optimizer state"), "rng": (dict, "a table"),
}
OPTIONAL: dict[str, tuple[type, str]] = {"ema": (dict, "a state dict"), "ada": (dict, "a table")}


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
    require_regular(path)
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
    problem = _problem(state)
    if problem:
        raise BrainganError(f"{path}: damaged checkpoint ({problem})")
    return state


def _problem(state: dict[str, Any]) -> str | None:
    """What is wrong with a loaded checkpoint's contents, if anything (a hand-edited or foreign
    file: a resume from step -100 would train 100 steps more than the schedule, then fail)."""
    for key, (kind, what) in {**REQUIRED, **OPTIONAL}.items():
        if key not in state:
            if key in REQUIRED:
                return f"no {key!r}"
        elif not isinstance(state[key], kind) or isinstance(state[key], bool):
            return f"{key} must be {what}, not {type(state[key]).__name__}"
    if state["step"] < 0:
        return f"step {state['step']} is negative"
    seconds = state.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
        return f"seconds must be a non-negative number, not {seconds!r}"
    names = state["class_names"]
    if not names or not all(isinstance(name, str) for name in names):
        return f"class_names must be a non-empty list of names, not {names!r}"
    for key in ("generator", "discriminator", "ema"):
        if key in state and not all(isinstance(v, torch.Tensor) for v in state[key].values()):
            return f"{key} holds something other than tensors"
    for key in ("opt_g", "opt_d"):
        if not isinstance(state[key].get("param_groups"), list) or not isinstance(state[key].get("state"), dict):
            return f"{key} has no param_groups and state"
    cpu, cuda = state["rng"].get("torch"), state["rng"].get("cuda", [])
    if not (_bytes(cpu) and cpu.shape == torch.get_rng_state().shape
            and isinstance(cuda, list) and all(map(_bytes, cuda))):
        return "rng holds no random generator state"
    return None


def _bytes(value: object) -> bool:
    """Whether ``value`` has the form of a random generator's state (a 1-D uint8 tensor)."""
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1
