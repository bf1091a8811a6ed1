"""The fastgan family in real runs: it trains on real scans, D's reconstruction term, exact resume,
conditional generation from the command line, and its ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import braingan
from braingan.cli import main
from braingan.config import preset
from braingan.errors import BrainganError
from braingan.io.generator_files import load_generator
from braingan.io.onnx import export_onnx
from braingan.models import build_discriminator, build_generator
from braingan.training.checkpoint import load_checkpoint
from braingan.training.distributed import World
from braingan.training.factory import build_training
from braingan.training.logs import LossLog
from braingan.training.losses import get_loss
from braingan.training.step import GanModels, train_step

QUIET = {"log": lambda _: None}
TINY = ["--resolution", "32", "--g-width", "4", "--d-width", "4", "--latent-dim", "16", "--batch-size", "4",
        "--steps-per-epoch", "2", "--epochs", "1", "--checkpoint-every", "2"]


def tiny_fastgan(data, steps=4, resolution=32, conditional=False):
    """The fastgan-fast preset with tiny widths; R1 and ADA every 2 steps so that both act."""
    config = preset("fastgan-fast")
    config.data.path, config.data.resolution = str(data), resolution
    m, r, a = config.model, config.run, config.augment
    m.g_width, m.d_width, m.latent_dim, m.conditional = 4, 4, 16, conditional
    r.batch_size, r.steps_per_epoch, r.epochs, r.checkpoint_every = 4, steps, 1, steps
    config.loss.r1_every, a.ada_every, a.ada_images = 2, 2, 40
    return config


def checkpoint(run):
    return load_checkpoint(run / "checkpoints" / "last.pt")


def test_the_presets_are_the_family_with_the_few_shot_recipe_and_not_the_default():
    for name, resolution in (("fastgan", 128), ("fastgan-fast", 64)):
        c = preset(name)
        assert (c.model.arch, c.data.resolution, c.model.d_mbstd) == ("fastgan", resolution, True)
        assert c.loss.d_reconstruction > 0 and c.loss.r1_gamma > 0 and c.augment.mode == "ada" and c.ema.decay > 0
    assert preset("fewshot").model.arch == "seed_dcgan" and preset("fewshot-fast").model.arch == "seed_dcgan"


@pytest.mark.parametrize("conditional", [False, True])
def test_fastgan_trains_on_real_scans_and_every_network_changes(conditional, two_classes, tmp_path):
    """At 64 px, where G has a skip-layer excitation; D's decoders and the class heads train too."""
    config = tiny_fastgan(two_classes, steps=3, resolution=64, conditional=conditional)
    run = braingan.train(config, tmp_path / "run", **QUIET)
    initial = build_training(config, 2 if conditional else 0, World())  # seeded: the run's first weights
    state = checkpoint(run)
    for part, network in (("generator", initial.models.generator), ("discriminator", initial.models.discriminator)):
        before, after = network.state_dict(), state[part]
        assert after.keys() == before.keys()
        trained = [k for k in before if k.endswith(("weight", "original"))]
        assert any("excite" in k for k in trained) or part == "discriminator"
        assert any("decoders" in k for k in trained) or part == "generator"
        assert any(k.startswith("embed.") for k in trained) == conditional
        assert all(not torch.equal(after[k], before[k]) for k in trained), part
    rows = LossLog(run / "log.csv").read()
    assert [int(r["step"]) for r in rows] == [1, 2, 3] and all(np.isfinite(r["d_loss"]) for r in rows)
    images = braingan.load(run, device="cpu").generate(4, seed=1)
    assert images.shape == (4, 64, 64) and images.std() > 0


def test_the_reconstruction_term_enters_d_loss_only(small_mri):
    torch.manual_seed(0)
    G = build_generator("fastgan", resolution=32, width=4, num_classes=0, latent_dim=8)
    D = build_discriminator("fastgan", resolution=32, width=4, reconstruct=True).eval()  # spectral norm held
    real = braingan.data.load_dataset(tiny_fastgan(small_mri).data, **QUIET).images[:4]
    z, labels = torch.randn(4, 8), torch.zeros(4, dtype=torch.long)
    stats = []
    for weight in (0.0, 2.0):
        models = GanModels(G, D, torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.0))
        stats.append(train_step(models, get_loss("hinge", d_reconstruction=weight), real, z, labels))
    _, redrawn = D(torch.cat([real, G(z)]), reconstruct=4)
    assert (stats[1].d_loss - stats[0].d_loss).item() == pytest.approx(2.0 * redrawn.item(), rel=1e-4)
    assert torch.equal(stats[0].g_loss, stats[1].g_loss)


def test_the_reconstruction_term_needs_a_family_with_decoders(small_mri, tmp_path):
    config = preset("fewshot-dcgan")
    config.data.path, config.loss.d_reconstruction = str(small_mri / "missing"), 1.0  # refused before any data
    with pytest.raises(BrainganError, match="'dcgan': its discriminator has no option 'reconstruct'"):
        braingan.train(config, tmp_path / "run", **QUIET)


def test_fastgan_run_resumes_exactly_with_ema_r1_ada_and_reconstruction(two_classes, tmp_path):
    braingan.train(tiny_fastgan(two_classes, steps=6, conditional=True), tmp_path / "straight", **QUIET)
    braingan.train(tiny_fastgan(two_classes, steps=3, conditional=True), tmp_path / "resumed", **QUIET)
    second = braingan.api.saved_config(tmp_path / "resumed")
    second.run.epochs = 2
    braingan.train(second, tmp_path / "resumed", resume=True, **QUIET)
    a, b = checkpoint(tmp_path / "straight"), checkpoint(tmp_path / "resumed")
    assert a["step"] == b["step"] == 6
    for part in ("generator", "discriminator", "ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    for part in ("opt_g", "opt_d"):
        assert all(torch.equal(a[part]["state"][i][m], b[part]["state"][i][m])
                   for i in a[part]["state"] for m in ("exp_avg", "exp_avg_sq"))
    assert a["ada"] == b["ada"] and a["ada"]["p"] != 0.2  # ADA moved p, and moved it alike
    losses = [[(r["d_loss"], r["g_loss"]) for r in LossLog(run / "log.csv").read()]
              for run in (tmp_path / "straight", tmp_path / "resumed")]
    assert losses[0] == losses[1]


def test_conditional_fastgan_from_the_command_line_generates_the_class_asked_for(two_classes, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(two_classes), "--preset", "fastgan-fast", "--conditional", *TINY, "--out", str(run)]) == 0
    assert load_generator(run)[1].arch == "fastgan"
    grids = {}
    for label in ("no", "yes"):
        out = tmp_path / label
        assert main(["generate", str(run), "-n", "2", "--seed", "3", "--class", label, "--out", str(out)]) == 0
        grids[label] = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))])
    assert grids["no"].shape == (2, 32, 32) and not np.array_equal(grids["no"], grids["yes"])
    synth = braingan.load(run, device="cpu")
    assert np.array_equal(synth.generate(2, seed=3, label="yes"), grids["yes"])


def test_onnx_export_of_a_trained_conditional_fastgan_matches_pytorch(two_classes, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    run = braingan.train(tiny_fastgan(two_classes, steps=2, conditional=True), tmp_path / "run", **QUIET)
    generator, card = load_generator(run)
    generator.eval()
    assert export_onnx(generator, card.to_dict(), tmp_path / "g.onnx")
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "label"]
    for batch in (1, 5):
        z, labels = torch.randn(batch, 16), torch.arange(batch) % 2
        (image,) = session.run(None, {"z": z.numpy(), "label": labels.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(image, generator(z, labels).numpy(), atol=1e-4)
    (image,) = session.run(None, {"z": torch.randn(1, 16).repeat(2, 1).numpy(), "label": np.arange(2)})
    assert not np.allclose(image[0], image[1])  # the label input reaches the image
