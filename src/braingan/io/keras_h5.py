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
from braingan.models.seed_dcgan import SeedGenerator

# The seed generator's layers, in order (Keras 3 adds an InputLayer to the config).
SEED_LAYERS = ["Dense", "LeakyReLU", "Reshape", "Conv2DTranspose", "LeakyReLU", "Conv2DTranspose",
               "LeakyReLU", "Conv2D"]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_config(h5: h5py.File, path: Path) -> None:
    """When the file holds the model's architecture, refuse anything but the seed generator."""
    if "model_config" not in h5.attrs:
        return
    config = json.loads(_text(h5.attrs["model_config"]))
    layers = [layer for layer in config.get("config", {}).get("layers", []) if layer["class_name"] != "InputLayer"]
    kinds = [layer["class_name"] for layer in layers]
    if kinds != SEED_LAYERS:
        raise BrainganError(f"{path}: not the seed generator (layers {', '.join(kinds) or 'none'}; "
                            f"expected {', '.join(SEED_LAYERS)})")
    for layer in layers:
        cfg = layer["config"]
        slope = cfg.get("negative_slope", cfg.get("alpha"))  # Keras 3 / Keras 2 name
        if layer["class_name"] == "LeakyReLU" and slope is not None and abs(float(slope) - 0.2) > 1e-6:
            raise BrainganError(f"{path}: not the seed generator (LeakyReLU slope {slope}, expected 0.2)")
        if layer["class_name"].startswith("Conv") and cfg.get("padding") != "same":
            raise BrainganError(f"{path}: not the seed generator ({layer['class_name']} padding {cfg.get('padding')})")
    if layers[-1]["config"].get("activation") != "tanh":
        last = layers[-1]["config"].get("activation")
        raise BrainganError(f"{path}: not the seed generator (last activation {last})")


def read_weights(path: Path) -> list[list[np.ndarray]]:
    """The weight arrays of each layer that has weights, in model order."""
    try:
        with h5py.File(path, "r") as h5:
            _check_config(h5, path)
            root = h5.get("model_weights", h5)
            if "layer_names" not in root.attrs:
                raise BrainganError(f"{path}: no Keras layer list (layer_names); "
                                    "save the model with model.save('x.h5')")
            layers = []
            for name in (_text(n) for n in root.attrs["layer_names"]):
                group = root[name]
                names = [_text(n) for n in group.attrs.get("weight_names", [])]
                if names:
                    layers.append([np.asarray(group[n], dtype=np.float32) for n in names])
            return layers
    except OSError as e:
        raise BrainganError(f"{path}: not an HDF5 file ({e})") from e
    except KeyError as e:
        raise BrainganError(f"{path}: damaged Keras file ({e})") from e


def seed_generator_from_h5(path: str | Path) -> SeedGenerator:
    """Build the SeedGenerator that computes what the Keras model in ``path`` computes."""
    path = Path(path)
    if not path.is_file():
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
