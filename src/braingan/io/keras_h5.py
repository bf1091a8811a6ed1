"""The seed notebook's Keras generator (``generator_final.h5``) as a braingan SeedGenerator.

Read with h5py alone (no TensorFlow): whole-model ``.h5`` files of Keras 2 and Keras 3
(``model_weights/<layer>`` with ``layer_names``/``weight_names`` attributes; Keras 2 names
its arrays ``kernel:0``, Keras 3 ``kernel``) and Keras 2 ``save_weights`` files (the same
groups at the root). Layout conversions, checked against Keras' own output in the tests:
- Dense: Keras reshapes the output channels-last (h, w, c); PyTorch views it as (c, h, w),
  so the output columns are permuted; weights are transposed (out, in).
- Conv2DTranspose (kh, kw, out, in) -> ConvTranspose2d (in, out, kh, kw); no spatial flip.
- Conv2D (kh, kw, in, out) -> Conv2d (out, in, kh, kw); no spatial flip.
'Same' padding is Keras' in SeedGenerator already (models/keras_same.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch

from braingan.errors import BrainganError
from braingan.io.safe_read import require_regular
from braingan.models.seed_dcgan import SeedGenerator

# The seed generator's layers, in order (Keras 3 adds an InputLayer to the config).
SEED_LAYERS = ["Dense", "LeakyReLU", "Reshape", "Conv2DTranspose", "LeakyReLU", "Conv2DTranspose",
               "LeakyReLU", "Conv2D"]


# The seed generator has 27 million weights at 128 px; 2^27 leaves room for it at 256 px and
# bounds what a crafted file (compressed datasets claim any size) can make braingan allocate.
MAX_VALUES = 1 << 27


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _names(attrs: h5py.AttributeManager, key: str, path: Path) -> list[str]:
    """A Keras list-of-names attribute (``layer_names``, ``weight_names``) as strings."""
    value = np.asarray(attrs.get(key, []))
    if value.size == 0:  # a layer without weights (LeakyReLU) has none, or no attribute at all
        return []
    if value.ndim != 1 or value.dtype.kind not in "SUO":
        raise BrainganError(f"{path}: damaged Keras file ({key} is not a list of names)")
    return [_text(v) for v in value]


def _member(group: h5py.Group, name: str, kind: type, path: Path) -> h5py.Group | h5py.Dataset:
    """``group[name]``, where every step of the way is a plain link inside this file: an external
    link (or a soft one) would make h5py open another file, or any object of this one, in its place."""
    for part in filter(None, name.split("/")):
        link = group.get(part, getlink=True)
        if link is None:
            raise BrainganError(f"{path}: damaged Keras file (no {name!r})")
        if isinstance(link, h5py.ExternalLink):
            raise BrainganError(f"{path}: refused, {name!r} is an external link (to {link.filename}); "
                                "a Keras file holds its weights itself")
        if not isinstance(link, h5py.HardLink):
            raise BrainganError(f"{path}: refused, {name!r} is a soft link; a Keras file holds its weights itself")
        group = group[part]
    if not isinstance(group, kind):
        raise BrainganError(f"{path}: damaged Keras file ({name!r} is not a {kind.__name__.lower()})")
    return group


def _layers(h5: h5py.File, path: Path) -> list[tuple[str, dict]] | None:
    """(class name, config) of each layer the file's ``model_config`` describes; None without one."""
    if "model_config" not in h5.attrs:
        return None
    try:
        config = json.loads(_text(h5.attrs["model_config"]))
        layers = config["config"]["layers"]
        found = [(layer["class_name"], layer.get("config", {})) for layer in layers]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BrainganError(f"{path}: model_config is not a Keras model description ({type(e).__name__}: {e})") from e
    if not all(isinstance(kind, str) and isinstance(cfg, dict) for kind, cfg in found):
        raise BrainganError(f"{path}: model_config is not a Keras model description (a layer without a name)")
    return [(kind, cfg) for kind, cfg in found if kind != "InputLayer"]


def _check_config(h5: h5py.File, path: Path) -> None:
    """When the file holds the model's architecture, refuse anything but the seed generator."""
    layers = _layers(h5, path)
    if layers is None:
        return
    kinds = [kind for kind, _ in layers]
    if kinds != SEED_LAYERS:
        raise BrainganError(f"{path}: not the seed generator (layers {', '.join(kinds) or 'none'}; "
                            f"expected {', '.join(SEED_LAYERS)})")
    for kind, cfg in layers:
        slope = cfg.get("negative_slope", cfg.get("alpha"))  # Keras 3 / Keras 2 name
        if kind == "LeakyReLU" and slope is not None and not (
                isinstance(slope, (int, float)) and abs(float(slope) - 0.2) <= 1e-6):
            raise BrainganError(f"{path}: not the seed generator (LeakyReLU slope {slope!r}, expected 0.2)")
        if kind.startswith("Conv") and cfg.get("padding") != "same":
            raise BrainganError(f"{path}: not the seed generator ({kind} padding {cfg.get('padding')!r})")
    if layers[-1][1].get("activation") != "tanh":
        raise BrainganError(f"{path}: not the seed generator (last activation {layers[-1][1].get('activation')!r})")


def _check_dataset(dataset: h5py.Dataset, name: str, path: Path) -> None:
    """Refuse, before reading, a weight array kept in other files or not a plain array of numbers."""
    if dataset.is_virtual or dataset.external:
        raise BrainganError(f"{path}: refused, {name!r} keeps its data in other files")
    if dataset.dtype.kind not in "fiu" or dataset.ndim > 4:
        raise BrainganError(f"{path}: damaged Keras file ({name!r} is {dataset.dtype} of shape {dataset.shape})")


def read_weights(path: Path) -> list[list[np.ndarray]]:
    """The weight arrays of each layer that has weights, in model order; sizes are checked before
    anything is read."""
    require_regular(path)
    try:
        with h5py.File(path, "r") as h5:
            _check_config(h5, path)
            # get(getlink=True): ``in`` would resolve the link, opening the file an external one names
            has_weights = h5.get("model_weights", getlink=True) is not None
            root = _member(h5, "model_weights", h5py.Group, path) if has_weights else h5
            if "layer_names" not in root.attrs:
                raise BrainganError(f"{path}: no Keras layer list (layer_names); "
                                    "save the model with model.save('x.h5')")
            layers = []
            for layer in _names(root.attrs, "layer_names", path):
                group = _member(root, layer, h5py.Group, path)
                names = _names(group.attrs, "weight_names", path)
                datasets = {n: _member(group, n, h5py.Dataset, path) for n in names}
                for name, dataset in datasets.items():
                    _check_dataset(dataset, name, path)
                if datasets:
                    layers.append(datasets)
            total = sum(d.size for datasets in layers for d in datasets.values())
            if total > MAX_VALUES:
                raise BrainganError(f"{path}: refused, its weights hold {total:,} values, more than the "
                                    f"{MAX_VALUES:,} of any seed generator braingan imports")
            return [[np.asarray(d, dtype=np.float32) for d in datasets.values()] for datasets in layers]
    except OSError as e:
        raise BrainganError(f"{path}: not an HDF5 file ({e})") from e
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise BrainganError(f"{path}: damaged Keras file ({e})") from e


def seed_generator_from_h5(path: str | Path) -> SeedGenerator:
    """Build the SeedGenerator that computes what the Keras model in ``path`` computes."""
    path = Path(path)
    if not path.exists():
        raise BrainganError(f"{path}: no such file")
    layers = read_weights(path)
    shapes = [[w.shape for w in layer] for layer in layers]
    if len(layers) != 4 or any(len(layer) != 2 for layer in layers) or [len(s[0]) for s in shapes] != [2, 4, 4, 4]:
        raise BrainganError(f"{path}: not the seed generator (weights {shapes}; expected Dense, "
                            "2 Conv2DTranspose and Conv2D, each with kernel and bias)")
    (dense_w, dense_b), (up1_w, up1_b), (up2_w, up2_b), (out_w, out_b) = layers
    latent_dim, features = dense_w.shape
    g_width = up1_w.shape[3]
    base = int(round((features / g_width) ** 0.5)) if g_width else 0
    generator = SeedGenerator(resolution=4 * base, width=g_width, latent_dim=latent_dim) if base else None
    expected = None if generator is None else {
        "dense": (latent_dim, g_width * base * base), "up1": (4, 4, g_width // 2, g_width),
        "up2": (4, 4, g_width // 2, g_width // 2), "out": (4, 4, g_width // 2, 1),
    }
    found = {"dense": dense_w.shape, "up1": up1_w.shape, "up2": up2_w.shape, "out": out_w.shape}
    if expected != found:
        raise BrainganError(f"{path}: not the seed generator's shapes ({found})")

    def channels_first(columns: np.ndarray) -> np.ndarray:
        """Columns ordered (h, w, c) -> ordered (c, h, w), on the last axis."""
        lead = columns.shape[:-1]
        return columns.reshape(*lead, base, base, g_width).transpose(*range(len(lead)), -1, -3, -2).reshape(*lead, -1)

    state = {
        "dense.weight": channels_first(dense_w).T, "dense.bias": channels_first(dense_b),
        "up1.weight": up1_w.transpose(3, 2, 0, 1), "up1.bias": up1_b,
        "up2.weight": up2_w.transpose(3, 2, 0, 1), "up2.bias": up2_b,
        "out.weight": out_w.transpose(3, 2, 0, 1), "out.bias": out_b,
    }
    generator.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return generator.eval()
