"""The seed's Keras generator, made by real Keras 3 (torch backend), imported and compared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from braingan import api
from braingan.cli import main
from braingan.errors import BrainganError
from braingan.io.generator_files import read_generator_file
from braingan.io.keras_h5 import seed_generator_from_h5

os.environ.setdefault("KERAS_BACKEND", "torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras 3 on NumPy 2
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("keras runs with another backend here", allow_module_level=True)


def seed_keras_generator(g_width: int = 256, base: int = 32, latent: int = 100) -> keras.Model:
    """The seed notebook's generator, layer for layer (sizes scalable for speed)."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((latent,)),
        layers.Dense(g_width * base * base), layers.LeakyReLU(0.2), layers.Reshape((base, base, g_width)),
        layers.Conv2DTranspose(g_width // 2, (4, 4), strides=(2, 2), padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(g_width // 2, (4, 4), strides=(2, 2), padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(1, (4, 4), activation="tanh", padding="same"),
    ])


def _randomise(model: keras.Model) -> None:
    """Non-zero biases too (Keras starts them at 0), so a wrong bias layout cannot hide."""
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])


def _keras_output(model: keras.Model, z: np.ndarray) -> np.ndarray:
    out = model(z, training=False)
    return np.asarray(out.detach().cpu() if hasattr(out, "detach") else out).transpose(0, 3, 1, 2)  # NHWC -> NCHW


def test_seed_generator_from_keras3_h5_matches_keras(tmp_path):
    model = seed_keras_generator()  # the exact seed: Dense(256*32*32), 128 px, 27,265,281 parameters
    assert model.count_params() == 27_265_281
    _randomise(model)
    path = tmp_path / "generator_final.h5"
    model.save(path)
    generator = seed_generator_from_h5(path)
    assert (generator.latent_dim, generator.resolution) == (100, 128)
    z = np.random.default_rng(1).normal(size=(3, 100)).astype(np.float32)
    with torch.no_grad():
        ours = generator(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(ours, _keras_output(model, z), atol=1e-5)


def _keras2_file(model: keras.Model, path: Path, weights_only: bool = False) -> None:
    """Write ``model`` as Keras 2 (TF 2.x) ``model.save('x.h5')`` did: Keras 2 cannot be installed
    next to Keras 3, so its layout is written with h5py from the Keras 3 weights."""
    names = ["dense_1", "leaky_re_lu_1", "reshape_1", "conv2d_transpose_1", "leaky_re_lu_2",
             "conv2d_transpose_2", "leaky_re_lu_3", "conv2d_1"]
    with h5py.File(path, "w") as h5:
        root = h5 if weights_only else h5.create_group("model_weights")
        root.attrs["layer_names"] = [n.encode() for n in names]
        root.attrs["backend"], root.attrs["keras_version"] = b"tensorflow", b"2.4.0"
        for name, layer in zip(names, model.layers):
            group = root.create_group(name)
            weights = layer.get_weights()
            group.attrs["weight_names"] = [f"{name}/{w}:0".encode() for w in ("kernel", "bias")][:len(weights)]
            for kind, value in zip(("kernel", "bias"), weights):
                group.create_dataset(f"{name}/{kind}:0", data=value)
        if not weights_only:
            layers = [{"class_name": type(layer).__name__, "config": {
                "name": name, "alpha": 0.2, "padding": "same",
                "activation": getattr(layer, "activation", None) and layer.activation.__name__}}
                for name, layer in zip(names, model.layers)]
            h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": layers}}).encode()


@pytest.mark.parametrize("weights_only", [False, True])
def test_keras2_layout_imports_and_generate_uses_it(tmp_path, weights_only):
    model = seed_keras_generator(g_width=16, base=8)
    _randomise(model)
    path = tmp_path / "generator_final.h5"
    _keras2_file(model, path, weights_only)
    run = tmp_path / "seed-run"
    assert main(["import-keras", str(path), "--out", str(run)]) == 0
    synthesizer = api.load(run, device="cpu")
    assert synthesizer.resolution == 32 and synthesizer.class_names == ["yes"]
    z = np.random.default_rng(2).normal(size=(2, 100)).astype(np.float32)
    with torch.no_grad():
        ours = synthesizer.generator(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(ours, _keras_output(model, z), atol=1e-5)
    assert main(["generate", str(run), "-n", "2", "--out", str(tmp_path / "png")]) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 2
    card = read_generator_file(run)  # the one schema the trainer's export writes too
    assert (card.arch, card.source, card.classes, card.steps) == (
        "seed_dcgan",
        "keras:generator_final.h5",
        ["yes"],
        None,
    )
    assert card.kwargs == {"resolution": 32, "width": 16, "latent_dim": 100} and card.preprocessing["crop"] is False


def test_files_that_are_not_the_seed_generator_are_refused(tmp_path, capsys):
    other = keras.Sequential([keras.Input((100,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    other.save(tmp_path / "other.h5")
    with pytest.raises(BrainganError, match="other.h5: not the seed generator"):
        seed_generator_from_h5(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    assert main(["import-keras", str(tmp_path / "text.h5"), "--out", str(tmp_path / "r")]) == 2
    assert "text.h5: not an HDF5 file" in capsys.readouterr().err
    with h5py.File(tmp_path / "bare.h5", "w") as h5:
        h5.create_dataset("x", data=np.zeros(3))
    with pytest.raises(BrainganError, match="bare.h5: no Keras layer list"):
        seed_generator_from_h5(tmp_path / "bare.h5")


def test_an_imported_run_is_evaluated_against_real_images(tmp_path, capsys):
    """No checkpoint, no config: evaluate asks for --real, then measures against it."""
    from braingan.data.demo import load_demo_slices
    from braingan.io.images import save_png

    model = seed_keras_generator(g_width=16, base=8)
    _randomise(model)
    _keras2_file(model, tmp_path / "generator_final.h5")
    run = tmp_path / "seed-run"
    assert main(["import-keras", str(tmp_path / "generator_final.h5"), "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--n", "8", "--metrics", "swd"]) == 2
    err = capsys.readouterr().err
    assert "--real" in err and "no checkpoint" not in err and len(err.strip().splitlines()) == 1
    real = tmp_path / "mni152"  # the real T1 slices braingan ships
    for i, image in enumerate(load_demo_slices()[20:60:2]):
        save_png(real / f"slice_{i:02d}.png", image)
    assert main(["evaluate", str(run), "--real", str(real), "--n", "8", "--metrics", "swd,memorization"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert (report["n_real"], report["n_fake"], report["resolution"]) == (20, 8, 32)
    assert report["metrics"]["swd"]["mean"] > 0 and report["metrics"]["memorization"]["flagged"] == 0
