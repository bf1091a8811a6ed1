"""`seed` vs the few-shot recipe at the same number of images shown, on 155 and 20 real scans.

Trains each (preset, data set) pair into benchmarks/out/<name>/ (a finished run is reused),
then generates samples from each and prints a table: SWD to the 155 real scans (lower is
better), pairwise MS-SSIM of samples vs the training set's (within 10% = no collapse), and
the nearest-neighbour copy audit against the training images (issue 4's metrics). Grids of
samples go to benchmarks/out/*.png for looking at.

Usage: [BRAINGAN_TEST_DATA=../shared/data] python benchmarks/bench_fewshot.py [--images 24000] [--resolution 64] [--sets 155 20] [--phase all|train|eval]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

import braingan
from braingan.config import DataConfig, RunConfig, preset
from braingan.data import load_dataset
from braingan.io.images import grid, save_png, to_uint8
from braingan.training.checkpoint import load_checkpoint

SHARED = Path(os.environ.get("BRAINGAN_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATA = SHARED / "brain_tumor_detection"
OUT = Path(__file__).resolve().parent / "out"
# name -> data subset: all 155 `yes` scans, or the seed notebook's 20 draws (19 distinct)
SETS = {"155": {}, "20": {"limit": 20, "subset_seed": 40}}


def run_config(name: str, subset: dict, resolution: int, images: int) -> RunConfig:
    """``seed``: the seed's networks, loss and optimiser at ``resolution``, at the demo's widths
    (g 128, d 32: the full widths cost ~4x more per image on CPU). ``fewshot-fast`` as shipped:
    the same networks and widths, plus augmentation and the EMA generator."""
    config = preset(name)
    if name == "seed":
        config.model.g_width, config.model.d_width = 128, 32
    config.data.path, config.data.classes, config.data.resolution = str(DATA), ["yes"], resolution
    for key, value in subset.items():
        setattr(config.data, key, value)
    t = config.train
    t.epochs = 1
    t.steps_per_epoch = t.checkpoint_every = images // t.batch_size
    return config


def finished(run_dir: Path, config: RunConfig) -> bool:
    checkpoint = run_dir / "checkpoints" / "last.pt"
    return checkpoint.exists() and load_checkpoint(checkpoint)["step"] == config.total_steps


def train(runs: dict[str, RunConfig]) -> None:
    for name, config in runs.items():
        run_dir = OUT / name
        resume = (run_dir / "checkpoints" / "last.pt").exists()
        if finished(run_dir, config):
            continue
        start = time.perf_counter()
        braingan.train(config, run_dir, resume=resume, log=lambda _: None)
        print(f"trained {name}: {config.total_steps} steps of {config.train.batch_size} "
              f"in {time.perf_counter() - start:.0f} s", flush=True)


def evaluate(runs: dict[str, RunConfig], samples: int) -> None:
    from braingan.metrics.diversity import diversity  # issue 4's metrics
    from braingan.metrics.memorization import audit
    from braingan.metrics.swd import swd

    reference = load_dataset(DataConfig(path=str(DATA), classes=["yes"], resolution=next(iter(runs.values())).data.resolution), log=lambda _: None).images
    save_png(OUT / "real_155.png", grid(to_uint8(reference[:40]), 4, 10))
    header = f"{'run':<18} {'images':>6} {'SWD(155)':>9} {'MS-SSIM fake':>12} {'MS-SSIM train':>13} {'ratio':>6} {'copies':>7} {'min NN dist':>11}"
    print(header)
    print("-" * len(header))
    for name, config in runs.items():
        if not finished(OUT / name, config):
            print(f"{name:<18} not trained yet")
            continue
        train_images = load_dataset(config.data, log=lambda _: None).images.unique(dim=0)
        fake = braingan.load(OUT / name, device="cpu").generate_tensor(samples, seed=0)
        save_png(OUT / f"{name}.png", grid(to_uint8(fake[:40]), 4, 10))
        d = diversity(train_images, fake)
        memo = audit(train_images, fake).summary()
        shown = config.total_steps * config.train.batch_size
        print(f"{name:<18} {shown:>6} {swd(reference, fake).mean:>9.1f} {d.fake:>12.3f} {d.real:>13.3f} "
              f"{d.fake / d.real:>6.2f} {memo['flagged']:>3}/{samples:<3} {memo['min_distance']:>11.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24000, help="images shown to each run")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--samples", type=int, default=200, help="generated images per run for the metrics")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS), help="data sets to run")
    parser.add_argument("--phase", choices=["all", "train", "eval"], default="all")
    args = parser.parse_args()
    torch.set_num_threads(2)
    runs = {f"{name}-{size}-{args.images}img": run_config(name, subset, args.resolution, args.images)
            for size, subset in SETS.items() if size in args.sets for name in ("fewshot-fast", "seed")}
    print(f"{args.resolution} px, {args.images} images shown per run, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu", flush=True)
    if args.phase in ("all", "train"):
        train(runs)
    if args.phase in ("all", "eval"):
        evaluate(runs, args.samples)


if __name__ == "__main__":
    main()
