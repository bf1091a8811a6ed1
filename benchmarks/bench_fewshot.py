"""`seed` vs the few-shot recipe at the same number of images shown, on 155 and 20 real scans.

Each (recipe, data set) run trains in one process and is measured at every ``--snapshots``
count of images shown: SWD to the 155 real scans (lower is better), pairwise MS-SSIM of
samples over the training set's, every pair counted ("ratio": within 10% = no collapse), and
the nearest-neighbour copy audit against the training images (issue 4's metrics). For the
20-scan runs, the same two measures on the real scans they never saw give the yardsticks: the
ratio those new patients' scans score ("unseen") and the fraction of them the audit flags
("base"). Both for the EMA generator and the live one. Rows
go to benchmarks/out/<run>/snapshots.jsonl as they are measured (a run stopped by
``--deadline`` or a kill keeps them; a rerun resumes from the last checkpoint), with grids and
the samples themselves (grid_/samples_<images>_<weights>.png/.npz, for `--table --fid`) beside
them; the table is printed at the end. The metrics run on the CPU while training goes on.

    # 64 px on a CPU: fewshot-fast vs the seed's networks at the same (demo) widths
    python benchmarks/bench_fewshot.py
    # the table again, with FID and KID of the saved samples (slow on a CPU: afterwards)
    python benchmarks/bench_fewshot.py --table --fid
    # 128 px on a GPU: the fewshot preset vs the seed's exact networks, all runs at once
    python benchmarks/bench_fewshot.py --full --resolution 128 --device cuda --parallel \\
        --snapshots 6000 24000 48000 96000 150000 --deadline 400

The real scans come from ``$BRAINGAN_TEST_DATA`` (default ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from braingan.api import Synthesizer
from braingan.config import DataConfig, RunConfig, apply_overrides, preset
from braingan.data import Dataset, load_dataset
from braingan.io.generator_files import GeneratorFile
from braingan.io.images import grid, save_png, to_uint8

SHARED = Path(os.environ.get("BRAINGAN_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATA = SHARED / "brain_tumor_detection"
OUT = Path(__file__).resolve().parent / "out"
# name -> data subset: all 155 `yes` scans, or the seed notebook's 20 draws (19 distinct)
SETS = {"155": {}, "20": {"limit": 20, "subset_seed": 40}}


def ada_ema(model: dict | None = None, **sections: dict) -> dict:
    """Overrides for ADA + EMA on the seed's networks (the few-shot presets without the variety
    terms), plus ``model`` and other sections' overrides (``loss=``, ``augment=``)."""
    loss = {"mode_seeking": 0.0, "mode_seeking_ramp": 0, **sections.pop("loss", {})}
    return {"model": {"d_mbstd": False, **(model or {})}, "loss": loss, **sections}


# recipe -> (preset with --full, preset on CPU, overrides): the CPU pair shares the demo's widths.
# The variety terms are set explicitly, so each recipe means the same whatever the presets hold.
RECIPES = {
    "seed": ("seed", "seed", {}),
    "fewshot": ("fewshot", "fewshot-fast", {}),  # the presets as they are (before the variety terms: ada-ema)
    "ada-ema": ("fewshot", "fewshot-fast", ada_ema()),
    # DiffAugment's fixed p instead of ADA (fewest copies on the 20 scans at 64 px)
    "fixed": ("fewshot", "fewshot-fast", ada_ema(augment={"mode": "fixed", "p": 0.3})),
    # ADA's p moving 4x slower (the default until the 128 px comparison), lazy R1
    "slow-ada": ("fewshot", "fewshot-fast", ada_ema(augment={"ada_images": 20000})),
    "r1": ("fewshot", "fewshot-fast", ada_ema(loss={"r1_gamma": 1.0})),
    # aimed at variety: minibatch std in D, and with it MSGAN's mode-seeking term in G's loss
    "mbstd": ("fewshot", "fewshot-fast", ada_ema(model={"d_mbstd": True})),
    "mbstd-ms": ("fewshot", "fewshot-fast", ada_ema(model={"d_mbstd": True}, loss={"mode_seeking": 0.1})),
    # the same with the mode-seeking weight rising from 0 over the first 5,000 images: `fewshot`
    # at --full with the weight it had before the 48,000-image comparison (now 0.5)
    "mbstd-ms-ramp": ("fewshot", "fewshot-fast",
                      ada_ema(model={"d_mbstd": True}, loss={"mode_seeking": 0.1, "mode_seeking_ramp": 5000})),
}
CPU_WIDTHS = {"g_width": 128, "d_width": 32}


def run_config(recipe: str, subset: dict, resolution: int, full: bool, device: str, seed: int,
               mode_seeking: float, mirror: bool) -> RunConfig:
    full_preset, cpu_preset, overrides = RECIPES[recipe]
    config = preset(full_preset if full else cpu_preset)
    if not full:
        config.model.g_width, config.model.d_width = CPU_WIDTHS["g_width"], CPU_WIDTHS["d_width"]
    config.data.path, config.data.classes, config.data.resolution = str(DATA), ["yes"], resolution
    for key, value in subset.items():
        setattr(config.data, key, value)
    apply_overrides(config, overrides, f"recipe {recipe!r}")
    config.run.device, config.run.seed = device, seed
    if mode_seeking:
        config.loss.mode_seeking = mode_seeking
    if mirror:
        config.augment.mirror = True
    config.run.log_every = 50  # a host sync per step would idle a GPU; the math is the same
    return config


def _quiet(_: str) -> None:
    pass


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "snapshots.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Measure:
    """The metrics of one snapshot, against the 155 real scans and the run's own training set.
    They run on the CPU in a background thread while training goes on."""

    def __init__(self, config: RunConfig, train: Dataset, run_dir: Path, samples: int) -> None:
        reference = DataConfig(path=str(DATA), classes=["yes"], resolution=config.data.resolution)
        self.reference = load_dataset(reference, log=_quiet).images
        self.train = train.images.unique(dim=0)
        self.mirror = config.augment.mirror
        self.run_dir, self.samples = run_dir, samples
        self.card = GeneratorFile(arch=config.model.arch, kwargs={}, resolution=config.data.resolution,
                                  latent_dim=config.model.latent_dim, classes=["yes"])
        self.pending: list[Future] = []
        self._worker = ThreadPoolExecutor(max_workers=1)

    def submit(self, generator: torch.nn.Module, row: dict) -> None:
        """Sample ``generator`` now; measure and append ``row`` + metrics to snapshots.jsonl later."""
        training = generator.training
        generator.eval()
        device = next(generator.parameters()).device
        fake = Synthesizer(generator, self.card, device).generate_tensor(self.samples, seed=0)
        generator.train(training)
        self.pending.append(self._worker.submit(self._measure, fake, row))

    def _measure(self, fake: torch.Tensor, row: dict) -> None:
        from braingan.metrics.diversity import diversity
        from braingan.metrics.memorization import audit
        from braingan.metrics.swd import swd

        tag = f"{row['images']}_{row['weights']}"
        save_png(self.run_dir / f"grid_{tag}.png", grid(to_uint8(fake[:40]), 4, 10))
        np.savez_compressed(self.run_dir / f"samples_{tag}.npz", images=to_uint8(fake))
        # Every pair: even evaluate's 10,000 random pairs spread a reading by ~1% over draws, and
        # 1,000 moved the ratio by about ±0.05 (RESULTS.md); at most 44,850 pairs, ~12 s on 2 cores.
        # The 155 scans are the held-out set: for the 20-scan runs, the scans they never saw (copies
        # of their 19 set aside) give the ratio new patients score ("unseen") and the rate at which
        # the audit flags them ("base"); for the 155 runs none is left.
        d = diversity(self.train, fake, pairs=math.comb(len(fake), 2), holdout=self.reference)
        memo = audit(self.train, fake, holdout=self.reference, mirror=self.mirror).summary()
        row.update(
            swd=swd(self.reference, fake).mean,
            msssim_fake=d.fake,
            msssim_train=d.real,
            ratio=d.fake / d.real,
            unseen_ratio=None if d.holdout is None else d.holdout / d.real,
            copies=memo["flagged"],
            samples=self.samples,
            min_nn=memo["min_distance"],
            holdout_rate=memo["holdout_flagged_fraction"],
        )
        with open(self.run_dir / "snapshots.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def wait(self) -> None:
        for job in self.pending:
            job.result()


def train_run(name: str, config: RunConfig, snapshots: list[int], samples: int, deadline: float | None) -> None:
    """Train ``name`` chunk by chunk up to each snapshot and measure it there; stop before a
    chunk that would end past ``deadline`` (seconds since the epoch) at the speed so far."""
    from braingan.training.loop import Trainer

    run_dir = OUT / name
    dataset = load_dataset(config.data, log=_quiet)
    trainer = Trainer(config, dataset, run_dir, log=_quiet)
    if trainer.checkpoint_path.exists():
        trainer.resume()
    measure = Measure(config, dataset, run_dir, samples)
    t = config.run
    start, start_step = time.time(), trainer.step
    for images in snapshots:
        steps = images // t.batch_size
        if steps <= trainer.step:
            continue
        done = (trainer.step - start_step) * t.batch_size
        if deadline is not None and done:
            eta = time.time() + (steps - trainer.step) * t.batch_size * (time.time() - start) / done
            if eta > deadline:
                print(
                    f"{name}: stopped at {trainer.step * t.batch_size} images; {images} would end "
                    f"{eta - deadline:.0f} s past the deadline",
                    flush=True,
                )
                break
        t.epochs, t.steps_per_epoch, t.checkpoint_every = 1, steps, steps
        chunk, before = time.time(), trainer.step
        trainer.fit()
        rate = (trainer.step - before) * t.batch_size / (time.time() - chunk)
        weights = {"ema": trainer.ema.average} if trainer.ema else {}
        for label, generator in {**weights, "live": trainer.models.generator}.items():
            measure.submit(
                generator,
                {"run": name, "images": images, "weights": label, "augment_p": trainer.augment_p, "images_per_s": rate},
            )
        print(f"{name}: {images} images, {rate:.0f} images/s", flush=True)
    measure.wait()


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction:.0%}"


class InceptionScores:
    """FID and KID x1e3 of a row's saved samples against the 155 real scans at their resolution,
    with the project's Inception features (``evaluate``'s): the metrics too slow to run during
    training on a CPU, computed afterwards by ``--table --fid``."""

    def __init__(self) -> None:
        from braingan.metrics.inception import InceptionFeatures, locate_weights

        path, note = locate_weights()
        if path is None:
            raise SystemExit(note)
        self.features, self.reference = InceptionFeatures(path), {}

    def __call__(self, run_dir: Path, row: dict) -> str:
        from braingan.metrics.kid_fid import fid, kid

        saved = run_dir / f"samples_{row['images']}_{row['weights']}.npz"
        if not saved.exists():  # runs from before the samples were saved at every snapshot
            return f" {'—':>6} {'—':>6}"
        fake = np.load(saved)["images"]
        size = fake.shape[-1]
        if size not in self.reference:
            real = DataConfig(path=str(DATA), classes=["yes"], resolution=size)
            self.reference[size] = self.features(load_dataset(real, log=_quiet).images)
        real, generated = self.reference[size], self.features(fake)
        return f" {fid(real, generated):>6.1f} {1e3 * kid(real, generated):>6.1f}"


def table(names: list[str], inception: InceptionScores | None = None) -> None:
    header = (
        f"{'run':<22} {'images':>7} {'weights':>7} {'SWD(155)':>9} {'MS-SSIM fake':>12} {'train':>6} "
        f"{'ratio':>6} {'unseen':>6} {'copies':>8} {'base':>5} {'min NN':>7} {'p':>5} {'img/s':>6}"
        + (f" {'FID':>6} {'KIDe3':>6}" if inception else "")
    )
    print(header)
    print("-" * len(header))
    for name in names:
        for r in _rows(OUT / name):
            print(
                f"{r['run']:<22} {r['images']:>7} {r['weights']:>7} {r['swd']:>9.1f} {r['msssim_fake']:>12.3f} "
                f"{r['msssim_train']:>6.3f} {r['ratio']:>6.2f} {_ratio(r.get('unseen_ratio')):>6} "
                f"{r['copies']:>4}/{r['samples']:<3} "
                f"{_percent(r.get('holdout_rate')):>5} {r['min_nn']:>7.3f} {r['augment_p']:>5.2f} "
                f"{r['images_per_s']:>6.0f}"
                + (inception(OUT / name, r) if inception else ""),
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, nargs="+", default=[24000], help="images shown at each measurement")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--full", action="store_true", help="the presets' own widths (the seed's exact networks)")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=["fewshot", "seed"])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS), help="data sets to run")
    parser.add_argument("--samples", type=int, default=200, help="generated images per measurement")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="training seed (other than 0: a repeat, named -s<seed>)")
    parser.add_argument(
        "--mode-seeking",
        type=float,
        default=0.0,
        help="add MSGAN's mode-seeking term with this weight to every recipe (runs named -ms<weight>)",
    )
    parser.add_argument(
        "--mirror", action="store_true", help="train every recipe on left-right flips too (runs named -mirror)"
    )
    parser.add_argument("--parallel", action="store_true", help="every run in its own process, all at once")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process")
    parser.add_argument("--deadline", type=float, help="seconds from now after which no chunk starts")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # one run, in a --parallel child
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)  # the parent's deadline, absolute
    parser.add_argument("--table", action="store_true", help="print the table of what is measured, train nothing")
    parser.add_argument(
        "--fid",
        action="store_true",
        help="add FID and KID of the saved samples to the table (needs the Inception weights)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    snapshots = sorted(args.snapshots)
    deadline = args.until or (time.time() + args.deadline if args.deadline else None)
    tag = (
        f"{args.resolution}px"
        + ("-full" if args.full else "")
        + (f"-ms{args.mode_seeking:g}" if args.mode_seeking else "")
        + ("-mirror" if args.mirror else "")
        + (f"-s{args.seed}" if args.seed else "")
    )
    runs = {
        f"{recipe}-{size}-{tag}": run_config(
            recipe, subset, args.resolution, args.full, args.device, args.seed, args.mode_seeking, args.mirror
        )
        for size, subset in SETS.items()
        if size in args.sets
        for recipe in args.recipes
    }
    if args.only:
        train_run(args.only, runs[args.only], snapshots, args.samples, deadline)
        return
    if not args.table:
        device = torch.device(args.device)
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{args.threads} CPU threads"
        print(f"{args.resolution} px, snapshots at {snapshots} images, torch {torch.__version__}, {where}", flush=True)
        if args.parallel:
            argv = [a for a in sys.argv[1:] if a != "--parallel"]
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            until = ["--until", str(deadline)] if deadline else []
            children = [
                subprocess.Popen([sys.executable, __file__, *argv, "--only", name, *until], env=env) for name in runs
            ]
            failed = [name for name, child in zip(runs, children) if child.wait()]
            if failed:
                print(f"failed: {', '.join(failed)}", flush=True)
        else:
            for name, config in runs.items():
                train_run(name, config, snapshots, args.samples, deadline)
    table(list(runs), InceptionScores() if args.fid else None)


if __name__ == "__main__":
    main()
