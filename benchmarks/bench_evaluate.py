"""Time ``braingan evaluate`` on 155 real tumour scans vs 1,000 generated images at 128 px (CPU).

Trains a 2-step seed DC-GAN at 128 px (image quality is irrelevant to the timing), then runs
the evaluation API and prints one row per stage. Inception (FID/KID/PRDC features) is timed
separately on a few images and projected to the full 1,155, because on a small shared CPU it
dominates everything else; pass --metrics with fid,kid to time it in full.

    PYTHONPATH=src python benchmarks/bench_evaluate.py [--real DATA/yes] [--n 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from braingan import api
from braingan.config import preset
from braingan.evaluation import evaluate, real_dataset
from braingan.metrics.inception import InceptionFeatures, locate_weights

DEFAULT_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brain_tumor_detection" / "yes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(os.environ.get("BRAINGAN_BENCH_REAL", DEFAULT_REAL)))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--metrics", default="swd,prdc,diversity,memorization")
    parser.add_argument("--inception-probe", type=int, default=16, help="images to time Inception on")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = preset("seed")
        config.data.path, config.data.resolution = str(args.real), 128
        config.train.steps_per_epoch, config.train.epochs, config.train.checkpoint_every = 2, 1, 2
        config.train.device = "cpu"
        run = api.train(config, Path(tmp) / "run", log=lambda _: None)

        start = time.perf_counter()
        report = evaluate(run, n=args.n, metrics=args.metrics, out=Path(tmp) / "eval", device="cpu",
                          log=lambda _: None)
        total = time.perf_counter() - start
        rows = [(name, values["seconds"]) for name, values in report["metrics"].items()]
        rows.append(("loading + generating (rest)", total - sum(s for _, s in rows)))
        rows.append((f"evaluate total ({args.metrics})", total))

        path, note = locate_weights()
        if path is not None and "fid" not in args.metrics:
            images = real_dataset(run, log=lambda _: None).images[: args.inception_probe]
            extractor = InceptionFeatures(path)
            extractor(images[:2])  # warm-up
            start = time.perf_counter()
            extractor(images)
            per_image = (time.perf_counter() - start) / len(images)
            n_all = report["n_real"] + report["n_fake"]
            rows.append((f"Inception per image (timed on {len(images)})", per_image))
            rows.append((f"Inception projected for {n_all} images (FID+KID+PRDC share it)", per_image * n_all))
        elif path is None:
            print(note)

    print(f"\n{report['n_real']} real vs {report['n_fake']} generated at {report['resolution']} px; "
          f"CPU threads: {torch.get_num_threads()}, os.cpu_count(): {os.cpu_count()}")
    width = max(len(r[0]) for r in rows)
    print(f"{'stage':<{width}}  seconds")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.2f}")


if __name__ == "__main__":
    main()
