"""A prior: a trained run's networks in half precision, to fine-tune from (``--init``).

A prior is a folder: ``generator.safetensors`` + ``generator.json`` (so ``generate`` and
``evaluate`` read it as any generator), ``discriminator.safetensors``, whose header keeps the
run's config and classes, and the run's ``generator.card.md``. The live generator and the
optimizer state are left out: fine-tuning starts G and its EMA from the EMA weights and Adam
afresh, so a prior is about an eighth of the run's checkpoint. A prior in the cache's ``priors/``
folder (``make prior`` builds ``brain64`` there) is named by its folder: ``--init brain64``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from braingan.data.cache import cache_dir
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes, atomic_write_text
from braingan.io.generator_files import META, WEIGHTS, read_generator_file
from braingan.io.safe_read import require_regular

D_WEIGHTS = "discriminator.safetensors"
CARD = "generator.card.md"


def priors_dir() -> Path:
    """Where named priors live: ``priors/`` in braingan's cache folder (data/cache.py)."""
    return cache_dir() / "priors"


def named_priors() -> list[str]:
    folder = priors_dir()
    return sorted(p.name for p in folder.iterdir() if (p / D_WEIGHTS).is_file()) if folder.is_dir() else []


def _named(value: str) -> bool:
    """``value`` names a prior in the cache (and no file or folder of that name is here)."""
    return not Path(value).exists() and value in named_priors()


def init_source(value: str) -> str:
    """Where ``--init VALUE`` points, as the saved config keeps it: a named prior's name as it is,
    anything else as an absolute path."""
    return value if _named(value) else str(Path(value).resolve())


def _folder(source: str) -> Path:
    return priors_dir() / source if _named(source) else Path(source)


def is_prior(source: str) -> bool:
    return (_folder(source) / D_WEIGHTS).is_file()


def export_prior(run_dir: Path, out: Path) -> Path:
    """Write ``run_dir``'s EMA generator (or G, without an EMA) and D as a prior folder ``out``."""
    from braingan.training.checkpoint import load_checkpoint

    state = load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt")
    card = read_generator_file(Path(run_dir))
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(card.to_dict(), indent=2) + "\n"
    atomic_write_bytes(out / WEIGHTS, save_safetensors(_half(state.get("ema") or state["generator"]),
                                                       metadata={META: text}))
    atomic_write_text(out / META, text)
    header = {"config": json.dumps(state["config"]), "class_names": json.dumps(state["class_names"])}
    atomic_write_bytes(out / D_WEIGHTS, save_safetensors(_half(state["discriminator"]), metadata=header))
    if (Path(run_dir) / CARD).is_file():
        shutil.copyfile(Path(run_dir) / CARD, out / CARD)
    return out


def _half(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in weights.items()}


def load_prior(source: str) -> dict[str, Any]:
    """A prior's networks and settings in the layout of a checkpoint's state (``config``,
    ``class_names``, ``generator``, ``discriminator``; G doubles as the EMA), in float32."""
    folder = _folder(source)
    weights: dict[str, dict[str, torch.Tensor]] = {}
    header: dict[str, str] = {}
    for part, name in (("generator", WEIGHTS), ("discriminator", D_WEIGHTS)):
        path = folder / name
        require_regular(path)
        try:
            with safe_open(path, framework="pt") as f:
                weights[part] = {k: _float(f.get_tensor(k)) for k in f.keys()}  # noqa: SIM118 (not iterable)
                header.update(f.metadata() or {})
        except (OSError, ValueError, SafetensorError) as e:
            raise BrainganError(f"{path}: unreadable prior weights ({e})") from e
    try:
        config, class_names = json.loads(header["config"]), json.loads(header["class_names"])
    except (KeyError, ValueError) as e:
        raise BrainganError(f"{folder / D_WEIGHTS}: not a braingan prior (no config and classes in its header)") from e
    if not isinstance(config, dict) or not isinstance(class_names, list):
        raise BrainganError(f"{folder / D_WEIGHTS}: not a braingan prior (malformed config or classes in its header)")
    return {"config": config, "class_names": class_names, "ema": weights["generator"], **weights}


def _float(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.float() if tensor.is_floating_point() else tensor


def load_init(source: str) -> dict[str, Any]:
    """What ``--init SOURCE`` starts from, in a checkpoint's layout: a prior (a folder such as
    ``export --prior`` writes, or a named prior) or a run's last checkpoint."""
    from braingan.training.checkpoint import load_checkpoint

    if is_prior(source):
        return load_prior(source)
    path = Path(source) / "checkpoints" / "last.pt"
    if not path.exists():
        named = ", ".join(named_priors()) or "none (make prior builds brain64)"
        raise BrainganError(f"{source}: neither a trained run (no checkpoints/last.pt) nor a prior (no {D_WEIGHTS}); "
                            f"priors in {priors_dir()}: {named}")
    return load_checkpoint(path)
