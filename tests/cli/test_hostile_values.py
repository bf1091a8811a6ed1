"""The hostile-input table, the values part: what a flag, a config file, a checkpoint, a generator's
description or a Keras file can say that validation must refuse in one line, before any work.

Values: NaN, inf and -inf, integers too large for what reads them, the wrong type, a key in the
wrong section, a device braingan does not compute on, sizes that cannot fit in memory. Files:
non-UTF-8 or oversized TOML, a config that is a device or a FIFO, checkpoints with missing or
impossible keys, generator.json describing another network than its weights, HDF5 links and
datasets that point outside the file or claim gigabytes. Machinery and outcomes in
tests/hostile.py; the report's pages, Ctrl-C and the NaN stop's advice follow the table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hostile import ERROR, EXIT2, Ctx, bounded, check, cli, file_, run_copy, toml, train_argv
from safetensors import safe_open
from safetensors.torch import save_file

from braingan import api
from braingan.cli import main
from braingan.config import preset
from braingan.data import dataset as dataset_module
from braingan.evaluation import METRICS_FILE
from braingan.io.generator_files import META, WEIGHTS
from braingan.io.keras_h5 import seed_generator_from_h5
from braingan.metrics import registry
from braingan.training import loop

HUGE = "9" * 30  # an integer far beyond 64 bits


# --- inputs ------------------------------------------------------------------------------------

def train(*flags: object) -> Callable[[Ctx], Callable[[], object]]:
    """``braingan train`` of one real scan at 32 px with ``flags``; a flag may be built from the context."""
    return cli(lambda c: train_argv(c, *[flag(c) if callable(flag) else flag for flag in flags]))


def config(build: Callable[[Ctx], Path]) -> Callable[[Ctx], Callable[[], object]]:
    return train("--config", build)


def fifo(name: str) -> Callable[[Ctx], Path]:
    def build(c: Ctx) -> Path:
        os.mkfifo(c.tmp / name)
        return c.tmp / name
    return build


def link(name: str, target: str) -> Callable[[Ctx], Path]:
    def build(c: Ctx) -> Path:
        (c.tmp / name).symlink_to(target)
        return c.tmp / name
    return build


def resume(edit: Callable[[dict], object]) -> Callable[[Ctx], Callable[[], object]]:
    """``train --resume`` of a copy of the finished run whose checkpoint ``edit`` changed."""
    def damage(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        edit(state)
        torch.save(state, path)
    return cli(lambda c: ["train", "--resume", "--out", run_copy(c, damage)])


def fifo_checkpoint(c: Ctx) -> list[object]:
    def replace(path: Path) -> None:
        path.unlink()
        os.mkfifo(path)
    return ["train", "--resume", "--out", run_copy(c, replace)]


def described(edit: Callable[[dict], object], weights: Callable[[dict], dict] = lambda w: w,
              own: bool = True) -> Callable[[Ctx], Callable[[], object]]:
    """``generate`` from a copy of the finished run whose description (in the weights' header, which
    wins, and in generator.json) ``edit`` changed; ``own`` False writes weights without a header."""
    def build(c: Ctx) -> list[object]:
        run = run_copy(c)
        with safe_open(run / WEIGHTS, framework="pt") as f:
            state = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not iterable)
            card = json.loads(f.metadata()[META])
        edit(card)
        text = json.dumps(card)
        save_file(weights(state), run / WEIGHTS, metadata={META: text} if own else None)
        (run / META).write_text(text)
        return ["generate", run, "-n", "2", "--out", c.tmp / "gen"]
    return cli(build)


def meta_fifo(c: Ctx) -> list[object]:
    """A run whose weights have no header of their own, and whose generator.json is a FIFO."""
    run = run_copy(c)
    with safe_open(run / WEIGHTS, framework="pt") as f:
        state = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not iterable)
    save_file(state, run / WEIGHTS)
    (run / META).unlink()
    os.mkfifo(run / META)
    return ["generate", run, "-n", "2", "--out", c.tmp / "gen"]


# The seed notebook's generator as Keras 2 saves it (model.save('x.h5')), at 32 px and width 16.
KERAS_LAYERS = [("dense_1", "Dense"), ("leaky_re_lu_1", "LeakyReLU"), ("reshape_1", "Reshape"),
                ("conv2d_transpose_1", "Conv2DTranspose"), ("leaky_re_lu_2", "LeakyReLU"),
                ("conv2d_transpose_2", "Conv2DTranspose"), ("leaky_re_lu_3", "LeakyReLU"), ("conv2d_1", "Conv2D")]


def seed_h5(path: Path, edit: Callable[[h5py.File], object] = lambda h5: None, width: int = 16, base: int = 8,
            latent: int = 100) -> Path:
    shapes = {"dense_1": [(latent, width * base * base), (width * base * base,)],
              "conv2d_transpose_1": [(4, 4, width // 2, width), (width // 2,)],
              "conv2d_transpose_2": [(4, 4, width // 2, width // 2), (width // 2,)],
              "conv2d_1": [(4, 4, width // 2, 1), (1,)]}
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        root = h5.create_group("model_weights")
        root.attrs["layer_names"] = [name.encode() for name, _ in KERAS_LAYERS]
        for name, _ in KERAS_LAYERS:
            group = root.create_group(name)
            weights = shapes.get(name, [])
            group.attrs["weight_names"] = [f"{name}/{kind}:0".encode() for kind in ("kernel", "bias")][:len(weights)]
            for kind, shape in zip(("kernel", "bias"), weights):
                group.create_dataset(f"{name}/{kind}:0", data=rng.normal(0, 0.05, shape).astype(np.float32))
        layers = [{"class_name": kind, "config": {"name": name, "alpha": 0.2, "padding": "same",
                                                  "activation": "tanh" if name == "conv2d_1" else "linear"}}
                  for name, kind in KERAS_LAYERS]
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": layers}})
        edit(h5)
    return path


def keras_file(c: Ctx, edit: Callable[[h5py.File], object]) -> Path:
    seed_h5(c.tmp / "other.h5")  # what the links below point to
    return seed_h5(c.tmp / "generator_final.h5", edit)


def keras(edit: Callable[[h5py.File], object]) -> Callable[[Ctx], Callable[[], object]]:
    return cli(lambda c: ["import-keras", keras_file(c, edit), "--out", c.tmp / "imported"])


def swap(name: str, make: Callable[[h5py.Group, str], object]) -> Callable[[h5py.File], None]:
    """Replace the object at ``name`` (a path in the file) by what ``make(parent, key)`` puts there."""
    def edit(h5: h5py.File) -> None:
        parent, _, key = name.rpartition("/")
        del h5[name]
        make(h5[parent] if parent else h5, key)
    return edit


def put(value: object) -> Callable[[h5py.Group, str], None]:
    def make(group: h5py.Group, key: str) -> None:
        group[key] = value
    return make


BIAS = "model_weights/conv2d_1/conv2d_1/bias:0"
KERNEL = "model_weights/dense_1/dense_1/kernel:0"


def virtual(group: h5py.Group, key: str) -> None:
    layout = h5py.VirtualLayout(shape=(1,), dtype="f4")
    layout[:] = h5py.VirtualSource("other.h5", "/" + BIAS, shape=(1,))
    group.create_virtual_dataset(key, layout)


def external_raw(group: h5py.Group, key: str) -> None:
    raw = Path(group.file.filename).with_name("raw.bin")
    raw.write_bytes(np.zeros(1, np.float32).tobytes())
    group.create_dataset(key, shape=(1,), dtype="f4", external=[(str(raw), 0, 4)])


def claims_gigabytes(group: h5py.Group, key: str) -> None:
    """A compressed dataset of 100 x 2^30 float32 (400 GiB) that is never written: the file stays small."""
    group.create_dataset(key, shape=(100, 1 << 30), dtype="f4", chunks=(1, 1 << 20), compression="gzip")


def model_config(value: object) -> Callable[[h5py.File], None]:
    def edit(h5: h5py.File) -> None:
        h5.attrs["model_config"] = value if isinstance(value, bytes) else json.dumps(value)
    return edit


CASES = [
    # (case, build the call, outcome, pattern in the message)
    ("--lr nan", train("--lr", "nan"), EXIT2, "command line: optim.lr must be a finite number, not nan"),
    ("--lr inf", train("--lr", "inf"), EXIT2, "optim.lr must be a finite number, not inf"),
    ("--lr=-inf", train("--lr=-inf"), EXIT2, "optim.lr must be a finite number, not -inf"),
    ("--lr 5", train("--lr", "5"), EXIT2, "optim.lr must be in (0, 1], not 5.0"),
    ("--adam-eps nan", train("--adam-eps", "nan"), EXIT2, "optim.eps must be a finite number, not nan"),
    ("--adam-eps 0", train("--adam-eps", "0"), EXIT2, "optim.eps must be positive, not 0.0"),
    ("--clip-low nan", train("--clip-low", "nan"), EXIT2, "data.clip_low must be a finite number, not nan"),
    ("--minutes inf", train("--minutes", "inf"), EXIT2, "run.minutes must be a finite number, not inf"),
    ("--subset-seed -1", train("--limit", "3", "--subset-seed", "-1"), EXIT2,
     "data.subset_seed must be in [0, 4294967295], not -1"),
    ("--seed 1e23", train("--seed", "1e23"), EXIT2, "run.seed must be an integer, not 1e+23"),
    ("--seed of 30 digits", train("--seed", HUGE), EXIT2, f"run.seed must be in [0, 4294967295], not {HUGE}"),
    ("--batch-size abc", train("--batch-size", "abc"), EXIT2, "run.batch_size must be an integer, not 'abc'"),
    ("--epochs 2.5", train("--epochs", "2.5"), EXIT2, "run.epochs must be an integer, not 2.5"),
    ("--device meta", train("--device", "meta"), EXIT2, "device 'meta' is not one braingan computes on"),
    ("--device cpu:3", train("--device", "cpu:3"), EXIT2, "device 'cpu:3': the CPU has no index"),
    ("--device nonsense", train("--device", "gpu0"), EXIT2, "unknown device 'gpu0'; use auto, cpu, cuda or cuda:N"),
    ("--g-width 1", train("--g-width", "1"), EXIT2, "model.g_width must be at least 2, not 1"),
    ("--resolution 4096", train("--resolution", "4096"), EXIT2, "resolution must be at most 1024, not 4096"),
    ("--batch-size of ten million", train("--batch-size", "10000000"), EXIT2, "this run needs at least"),
    ("--limit of a trillion draws", train("--limit", "1000000000000"), EXIT2, "this run needs at least"),
    ("--loss unknown", train("--loss", "wasserstein"), EXIT2, "unknown loss 'wasserstein'"),
    # config files
    ("config that is not UTF-8", config(file_("bad.toml", lambda c: b'[data]\nclasses = ["\xff"]\n')), EXIT2,
     "bad.toml: not valid TOML (not UTF-8 text: byte 0xff at 19)"),
    ("config in UTF-16", config(file_("bad.toml", lambda c: "[run]\nseed = 1\n".encode("utf-16"))), EXIT2,
     "bad.toml: not valid TOML (not UTF-8 text"),
    ("--config /dev/zero", config(lambda c: Path("/dev/zero")), EXIT2,
     "/dev/zero: not a regular file (a character device), not read"),
    ("--config symlink to /dev/urandom", config(link("random.toml", "/dev/urandom")), EXIT2,
     "random.toml: not a regular file (a character device), not read"),
    ("--config FIFO", config(fifo("fifo.toml")), EXIT2, "fifo.toml: not a regular file (a FIFO), not read"),
    ("--config folder", config(lambda c: c.tmp), EXIT2, "not a regular file (a folder), not read"),
    ("config over the size limit", config(file_("big.toml", lambda c: b"# padding\n" * 200_000)), EXIT2,
     "big.toml: refused, file larger than 1 MiB"),
    ("config eps = nan", config(toml("[optim]\neps = nan\n")), EXIT2, "bad.toml: optim.eps must be a finite number"),
    ("config lr = -inf", config(toml("[optim]\nlr = -inf\n")), EXIT2, "bad.toml: optim.lr must be a finite number"),
    ("config float of 400 digits", config(toml(f"[optim]\nlr = {'9' * 400}\n")), EXIT2,
     "bad.toml: optim.lr must be a finite number"),
    ("config huge seed", config(toml(f"[run]\nseed = {HUGE}\n")), EXIT2,
     "bad.toml: run.seed must be in [0, 4294967295]"),
    ("config date as seed", config(toml("[run]\nseed = 1979-05-27\n")), EXIT2,
     "bad.toml: run.seed must be an integer, not datetime.date(1979, 5, 27)"),
    ("config list as resolution", config(toml("[data]\nresolution = [32]\n")), EXIT2,
     "bad.toml: data.resolution must be an integer, not [32]"),
    ("config bool as batch size", config(toml("[run]\nbatch_size = true\n")), EXIT2,
     "bad.toml: run.batch_size must be an integer, not True"),
    ("config key of the wrong section", config(toml("[model]\nlr = 1e-3\n")), EXIT2,
     "bad.toml: unknown key 'model.lr'"),
    ("config section as a value", config(toml("run = 3\n")), EXIT2, "bad.toml: [run] must be a table"),
    ("config section as an array", config(toml("[[run]]\nseed = 1\n")), EXIT2, "bad.toml: [run] must be a table"),
    ("old [train] adam_eps = nan", config(toml("[train]\nadam_eps = nan\n")), EXIT2,
     "bad.toml: optim.eps must be a finite number, not nan"),
    ("old [train] seed = -5", config(toml("[train]\nseed = -5\n")), EXIT2, "bad.toml: run.seed must be in"),
    ("config device meta", config(toml('[run]\ndevice = "meta"\n')), EXIT2, "device 'meta' is not one"),
    ("config path with a NUL", config(toml('[run]\ninit = "runs/a\\u0000b"\n')), EXIT2,
     "bad.toml: run.init must not hold a NUL character, not 'runs/a\\x00b'"),
    ("config class with a NUL", config(toml('[data]\nclasses = ["yes\\u0000"]\n')), EXIT2,
     "bad.toml: data.classes must not hold a NUL character"),
    # checkpoints
    ("checkpoint at step -100", resume(lambda s: s.update(step=-100)), EXIT2,
     "last.pt: damaged checkpoint (step -100 is negative)"),
    ("checkpoint without opt_d", resume(lambda s: s.pop("opt_d")), EXIT2, "last.pt: damaged checkpoint (no 'opt_d')"),
    ("checkpoint without step", resume(lambda s: s.pop("step")), EXIT2, "last.pt: damaged checkpoint (no 'step')"),
    ("checkpoint step as text", resume(lambda s: s.update(step="5")), EXIT2,
     "last.pt: damaged checkpoint (step must be an integer, not str)"),
    ("checkpoint seconds nan", resume(lambda s: s.update(seconds=float("nan"))), EXIT2,
     "damaged checkpoint (seconds must be a non-negative number, not nan)"),
    ("checkpoint with a short rng state", resume(lambda s: s["rng"].update(torch=torch.zeros(3, dtype=torch.uint8))),
     EXIT2, "last.pt: damaged checkpoint (rng holds no random generator state)"),
    ("checkpoint without classes", resume(lambda s: s.update(class_names=[])), EXIT2,
     "damaged checkpoint (class_names must be a non-empty list of names, not [])"),
    ("checkpoint with a number among weights", resume(lambda s: s["generator"].update(extra=3)), EXIT2,
     "damaged checkpoint (generator holds something other than tensors)"),
    ("checkpoint config lr nan", resume(lambda s: s["config"]["optim"].update(lr=float("nan"))), EXIT2,
     "checkpoint: optim.lr must be a finite number, not nan"),
    ("checkpoint that is a FIFO", cli(fifo_checkpoint), EXIT2, "last.pt: not a regular file (a FIFO), not read"),
    # generator descriptions
    ("generator header with an extra kwarg", described(lambda d: d["kwargs"].update(bogus=1)), EXIT2,
     "generator.json: seed_dcgan cannot be built from"),
    ("generator header latent mismatch", described(lambda d: d.update(latent_dim=64)), EXIT2,
     "generator.json: its kwargs build a generator of latent 100, 32 px and 0 classes, but it describes latent 64"),
    ("generator kwargs latent mismatch", described(lambda d: d["kwargs"].update(latent_dim=64)), EXIT2,
     "its kwargs build a generator of latent 64, 32 px and 0 classes, but it describes latent 100"),
    ("generator header claims classes", described(lambda d: d.update(conditional=True, classes=["no", "yes"])),
     EXIT2, "but it describes latent 100, 32 px and 2 classes"),
    ("generator kwargs width 4096", described(lambda d: d["kwargs"].update(width=4096)), EXIT2,
     "generator.safetensors: weights do not fit seed_dcgan (dense.bias: (1024,) in the file, (262144,) in the "
     "network)"),
    ("generator weights missing a tensor", described(lambda d: None, lambda w: {k: v for k, v in w.items()
                                                                               if k != "out.bias"}),
     EXIT2, "weights do not fit seed_dcgan (out.bias: missing in the file, (1,) in the network)"),
    ("generator kwargs with the width twice", described(lambda d: d["kwargs"].update(g_width=32)), EXIT2,
     "cannot be built from {'resolution': 32, 'width': 16, 'num_classes': 0, 'latent_dim': 100, 'g_width': 32} "
     "(the width is given twice (g_width 32, width 16))"),
    ("generator kwargs negative width", described(lambda d: d["kwargs"].update(width=-4), own=False), EXIT2,
     "generator.json: seed_dcgan cannot be built from"),
    ("generator.json a FIFO", cli(meta_fifo), EXIT2, "generator.json: not a regular file (a FIFO), not read"),
    # Keras files
    ("h5 model_config a list", keras(model_config([1, 2])), EXIT2,
     "generator_final.h5: model_config is not a Keras model description"),
    ("h5 model_config not JSON", keras(model_config(b"{{{")), EXIT2, "model_config is not a Keras model description"),
    ("h5 layers not objects", keras(model_config({"config": {"layers": [1, 2]}})), EXIT2,
     "model_config is not a Keras model description"),
    ("h5 external link to a dataset", keras(swap(KERNEL, put(h5py.ExternalLink("other.h5", "/" + KERNEL)))), EXIT2,
     "refused, 'dense_1/kernel:0' is an external link (to other.h5)"),
    ("h5 external link to the weights",
     keras(swap("model_weights", put(h5py.ExternalLink("other.h5", "/model_weights")))), EXIT2,
     "refused, 'model_weights' is an external link (to other.h5)"),
    ("h5 soft link", keras(swap(BIAS, put(h5py.SoftLink("/" + KERNEL)))), EXIT2, "'conv2d_1/bias:0' is a soft link"),
    ("h5 virtual dataset", keras(swap(BIAS, virtual)), EXIT2,
     "refused, 'conv2d_1/bias:0' keeps its data in other files"),
    ("h5 externally stored dataset", keras(swap(BIAS, external_raw)), EXIT2, "keeps its data in other files"),
    ("h5 dataset claiming 400 GiB", bounded(lambda c: lambda: seed_generator_from_h5(
        keras_file(c, swap(KERNEL, claims_gigabytes)))), ERROR, "refused, its weights hold 107,374,186,641 values"),
    ("h5 dataset of text", keras(swap(BIAS, put(np.array([b"x"])))), EXIT2,
     "damaged Keras file ('conv2d_1/bias:0' is |S1 of shape (1,))"),
    ("h5 layer_names a number", keras(lambda h5: h5["model_weights"].attrs.__setitem__("layer_names", 5)), EXIT2,
     "damaged Keras file (layer_names is not a list of names)"),
    ("h5 FIFO", cli(lambda c: ["import-keras", fifo("g.h5")(c), "--out", c.tmp / "imported"]), EXIT2,
     "g.h5: not a regular file (a FIFO), not read"),
    ("import-keras --class ''", cli(lambda c: ["import-keras", keras_file(c, lambda h5: None), "--out",
                                               c.tmp / "imported", "--class", " "]),
     EXIT2, "--class must name the class"),
    ("evaluate --n of a trillion", cli(lambda c: ["evaluate", c.run, "--real", c.folder("real", {
        "a.jpg": c.mri.read_bytes(), "b.jpg": c.png_mri.read_bytes()}), "--n", 10**12, "--metrics", "swd",
        "--protocol", "none", "--out", c.tmp / "gen"]), EXIT2, "--n 1,000,000,000,000 samples of 32 px need"),
    # memory that cannot be had, in a child whose address space may grow 1.5 GiB only
    ("--g-width of a million", bounded(lambda c: lambda: api.train(wide(c), c.tmp / "out")), ERROR,
     "this run needs at least"),
]


def wide(c: Ctx):
    config = preset("seed")
    config.data.path, config.data.resolution, config.model.g_width = str(c.mri.parent), 32, 1_000_000
    return config


@pytest.mark.parametrize("name, build, outcome, pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_value(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys,
                       hang_guard):
    ctx = check(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys)
    assert not (ctx.tmp / "out").exists() and not (ctx.tmp / "gen").exists()  # refused before any output


@pytest.mark.parametrize("argv", [["generate", "RUN", "-n", "2", "--out", "OUT"],
                                  ["evaluate", "RUN", "--n", "4", "--metrics", "swd", "--out", "OUT"]])
@pytest.mark.parametrize("value", [HUGE, "-1", "1e3"])
def test_a_commands_own_seed_out_of_range_is_refused(argv, value, finished_run, tmp_path, capsys):
    """generate's and evaluate's --seed (no config knob: argparse's own error, with the usage)."""
    argv = [str(finished_run) if a == "RUN" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--seed", value])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument --seed: must be an integer in [0, 4294967295], not '{value}'" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_the_crafted_inputs_work_untouched(finished_run, tmp_path, capsys):
    """The rows' refusals come from their damage: the same builders, undamaged, work."""
    seed_h5(tmp_path / "other.h5")
    assert main(["import-keras", str(seed_h5(tmp_path / "g.h5")), "--out", str(tmp_path / "imported")]) == 0
    assert main(["generate", str(tmp_path / "imported"), "-n", "2", "--out", str(tmp_path / "gen")]) == 0
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert main(["train", "--resume", "--out", str(run), "--epochs", "2"]) == 0
    assert "Traceback" not in capsys.readouterr().err


# --- the report: a damaged, empty or foreign file is said so on the page ----------------------

OLD_METRICS = """{"braingan": "0.1.0", "run": "runs/seed", "n_real": 253, "n_fake": 64, "resolution": 128,
 "metrics": {"fid": {"fid": NaN, "seconds": 1.5}, "swd": {"swd": 3.2, "per_level": [1, 2]},
             "memorization": {"flagged": 0, "pairs": "none"},
             "two_sample": {"radiomic": 0.9, "interval": {"radiomic": "x"}}},
 "skipped": ["kid"], "notes": {"real_preprocessing": "resize"}}"""


def _metrics(text: str) -> Callable[[Path], None]:
    return lambda run: (run / METRICS_FILE).write_text(text)


def _replace(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        make(run / name)
    return damage


REPORTS = [
    # (case, damage to a copy of the finished run, what the page says)
    ("zero-byte sample grid", lambda run: (run / "samples" / "step_000002.png").write_bytes(b""),
     "step_000002.png: not shown, not an image this page can embed"),
    ("truncated sample grid", lambda run: (run / "samples" / "step_000002.png").write_bytes(
        (run / "samples" / "step_000002.png").read_bytes()[:100]), "step_000002.png: not shown"),
    ("sample grid a FIFO", _replace("samples/step_000002.png", os.mkfifo),
     "step_000002.png: not a regular file (a FIFO), not read"),
    ("zero-byte losses.png", lambda run: (run / "losses.png").write_bytes(b""), "losses.png: not shown"),
    ("an older version's metrics.json", _metrics(OLD_METRICS), "values not readable by braingan"),
    ("metrics.json a list", _metrics("[1, 2]"), "not a metrics.json this version reads"),
    ("metrics.json with metrics as pairs", _metrics('{"metrics": [["fid", 3]]}'),
     "not a metrics.json this version reads (its metrics are list, not an object)"),
    ("metrics.json a symlink to /dev/zero", _replace(METRICS_FILE, lambda p: p.symlink_to("/dev/zero")),
     "metrics.json: not a regular file (a character device), not read"),
    ("config.toml not TOML", lambda run: (run / "config.toml").write_bytes(os.urandom(300)),
     "what was trained is unknown"),
    ("log.csv of random bytes", lambda run: ((run / "log.csv").write_bytes(b"\xff\xfe" + os.urandom(300)),
                                              (run / "losses.png").unlink()), "log.csv not read"),
    ("log.csv with a nan step", lambda run: ((run / "log.csv").write_text(
        "step,epoch,kimg,d_loss,g_loss,images_per_s,augment_p\nnan,1,0.008,0.7,0.7,100,0\n"),
        (run / "losses.png").unlink()), "log.csv holds no complete row"),
]


@pytest.mark.parametrize("name, damage, says", REPORTS, ids=[r[0] for r in REPORTS])
def test_report_of_a_damaged_run_says_so(name, damage, says, finished_run, tmp_path, capsys, hang_guard):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    damage(run)
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert says in page.replace("&#x27;", "'"), name
    assert "Traceback" not in capsys.readouterr().err


# --- metrics.json, Ctrl-C, the NaN stop -------------------------------------------------------

def test_metrics_json_never_holds_a_bare_nan(finished_run, real_scans, tmp_path, monkeypatch):
    """A metric that reads NaN or inf is written as null: the file stays JSON any parser reads."""
    swd = registry.METRICS["swd"]
    measured = {"mean": float("nan"), "per_level": {"16px": np.float32("inf"), "8px": np.float64("-inf")}}
    monkeypatch.setitem(registry.METRICS, "swd", dataclasses.replace(swd, measure=lambda inputs: (measured, {})))
    real = tmp_path / "real"
    real.mkdir()
    for path in real_scans.distinct[:4]:
        shutil.copy(path, real / path.name)
    out = tmp_path / "eval"
    assert main(["evaluate", str(finished_run), "--real", str(real), "--n", "4", "--metrics", "swd",
                 "--protocol", "none", "--out", str(out)]) == 0

    def refuse(constant: str) -> None:
        raise AssertionError(f"metrics.json holds a bare {constant}")
    values = json.loads((out / METRICS_FILE).read_text(), parse_constant=refuse)["metrics"]["swd"]
    assert values["mean"] is None and values["per_level"] == {"16px": None, "8px": None}


def test_ctrl_c_during_preprocessing_is_one_line_and_exit_130(real_scans, tmp_path, monkeypatch, capsys,
                                                              hang_guard, request):
    """A real SIGINT, delivered while the scans are preprocessed (before training's own handler)."""
    # Python's own Ctrl-C handler, as in a terminal: a shell starts background jobs with SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    real, calls = dataset_module.preprocess, [0]

    def preprocess(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)
    monkeypatch.setattr(dataset_module, "preprocess", preprocess)
    data = tmp_path / "data"
    data.mkdir()
    for path in real_scans.distinct[:5]:
        shutil.copy(path, data / path.name)
    out = tmp_path / "out"
    assert main(["train", str(data), "--out", str(out), "--resolution", "32", "--no-cache"]) == 130
    assert capsys.readouterr().err == "braingan: interrupted\n"
    assert not (out / "checkpoints").exists() and not (out / "config.toml").exists()


def test_nan_stop_after_a_high_rate_advises_a_sensible_one(finished_run, tmp_path, monkeypatch, capsys):
    real = loop.train_step

    def diverged(*args, **kwargs):
        return real(*args, **kwargs)._replace(g_loss=torch.tensor(float("nan")))
    monkeypatch.setattr(loop, "train_step", diverged)
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert main(["train", "--resume", "--out", str(run), "--epochs", "2", "--lr", "1"]) == 2
    err = capsys.readouterr().err
    assert "NaN/inf in g_loss" in err and "--lr 0.0002" in err and err.count("\n") == 1, err
