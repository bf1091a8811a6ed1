"""``run.cuda_graphs``: the replayed step computes what the eager step computes, on static buffers.

No GPU runs these tests: a fake capture stands in for torch.cuda graphs. Like a graph, it
keeps the body it was given at capture and replays it on every step, so the training it drives
sees only what the static buffers and device scalars carry; a Python value baked into the
body, a result read before it is cloned, or a buffer not refreshed would change the run.
"""

import contextlib

import pytest
import torch

import braingan
from braingan.config import preset
from braingan.training import graphs
from braingan.training.checkpoint import load_checkpoint
from braingan.training.distributed import World
from braingan.training.logs import LossLog
from conftest import tiny_config

QUIET = {"log": lambda _: None}


class ReplayingCapture:
    """A CUDA graph stand-in on the CPU: capture keeps the body, replay runs it again."""

    def __init__(self) -> None:
        self.captured = self.replayed = 0

    def warmup(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def capture(self, body):
        self.captured += 1

        def replay():
            self.replayed += 1
            body()

        return replay


class FailingCapture(ReplayingCapture):
    def capture(self, body):
        raise RuntimeError("operation not permitted when stream is capturing")


def use_capture(monkeypatch, capture: ReplayingCapture) -> None:
    monkeypatch.setattr(graphs, "unavailable", lambda config, world: None)
    monkeypatch.setattr(graphs, "backend", lambda device: capture)


def recipe(name: str, data, steps: int):
    """A few-shot preset at 32 px with tiny widths: ADA from p 0 (both graph kinds), lazy R1 every
    3rd step (eager steps between replays), mode seeking on a ramp (a device scalar each step)."""
    config = preset(name)
    config.data.path, config.data.resolution = str(data), 32
    config.model.g_width, config.model.d_width = 8, 4
    r, a, loss = config.run, config.augment, config.loss
    r.batch_size, r.steps_per_epoch, r.epochs, r.checkpoint_every, r.log_every = 4, steps, 1, steps, 5
    a.mode, a.p, a.ada_every, a.ada_images, a.ada_target = "ada", 0.0, 8, 64, -1.0  # p rises from step 8
    loss.r1_gamma, loss.r1_every, loss.mode_seeking, loss.mode_seeking_ramp = 0.1, 3, 0.1, 40
    return config


def train_both(monkeypatch, tmp_path, config, capture=None):
    eager = braingan.train(config, tmp_path / "eager", **QUIET)
    capture = capture or ReplayingCapture()
    use_capture(monkeypatch, capture)
    config.run.cuda_graphs = True
    lines = []
    graphed = braingan.train(config, tmp_path / "graphed", log=lines.append)
    return eager, graphed, capture, lines


def assert_same_training(eager, graphed):
    def losses(run):
        return [{k: v for k, v in row.items() if k != "images_per_s"} for row in LossLog(run / "log.csv").read()]

    assert losses(eager) == losses(graphed)
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (eager, graphed))
    for part in ("generator", "discriminator", "ema"):
        for key, value in a.get(part, {}).items():
            assert torch.equal(value, b[part][key]), f"{part}.{key}"
    assert a.get("ada") == b.get("ada")


@pytest.mark.parametrize("name", ["fewshot-fast", "fastgan-fast"])  # fastgan's D also redraws the reals
def test_replayed_fewshot_steps_train_exactly_as_the_eager_ones(monkeypatch, small_mri, tmp_path, name):
    eager, graphed, capture, _ = train_both(monkeypatch, tmp_path, recipe(name, small_mri, steps=36))
    assert_same_training(eager, graphed)
    ada = load_checkpoint(graphed / "checkpoints" / "last.pt")["ada"]
    assert ada["p"] > 0  # ADA moved p off 0: steps of both kinds (augmented or not) ran
    # Steps 1-8 unaugmented, then augmented; every third step is R1's, eager: 3 warm-up steps of
    # each kind, then one capture each, and the kind's other steps replayed.
    assert capture.captured == 2 and capture.replayed == 36 - 12 - 2 * graphs.WARMUP


def test_replayed_seed_steps_train_exactly_as_the_eager_ones(monkeypatch, small_mri, tmp_path):
    config = tiny_config(small_mri, steps=8, log_every=3)  # the seed's D has dropout: the RNG stays in step
    eager, graphed, capture, _ = train_both(monkeypatch, tmp_path, config)
    assert_same_training(eager, graphed)
    assert capture.captured == 1 and capture.replayed == 8 - graphs.WARMUP


def test_a_failed_capture_says_why_and_trains_on_eagerly(monkeypatch, small_mri, tmp_path):
    eager, graphed, _, lines = train_both(monkeypatch, tmp_path, tiny_config(small_mri, steps=6),
                                          capture=FailingCapture())
    assert_same_training(eager, graphed)
    said = [line for line in lines if "could not be captured" in line]
    assert len(said) == 1 and "operation not permitted" in said[0]


def test_cuda_graphs_apply_to_one_process_on_a_gpu_with_the_fast_path(small_mri):
    config, gpu = tiny_config(small_mri), torch.device("cuda")  # a device name: no GPU is touched
    assert graphs.unavailable(config, World(device=gpu)) is None
    assert "need a CUDA device, not cpu" in graphs.unavailable(config, World())
    assert "torchrun" in graphs.unavailable(config, World(rank=0, size=2, device=gpu))
    config.run.fast = False
    assert "--no-fast" in graphs.unavailable(config, World(device=gpu))


def test_cuda_graphs_off_a_gpu_train_eagerly_and_say_so(small_mri, tmp_path):
    lines = []
    braingan.train(tiny_config(small_mri, steps=2, cuda_graphs=True), tmp_path / "run", log=lines.append)
    assert any(line.startswith("--cuda-graphs: ") and "need a CUDA device" in line for line in lines)
