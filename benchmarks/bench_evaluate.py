"""Time ``braingan evaluate`` on 155 real tumour scans vs 1,000 generated images at 128 px (CPU).

Trains a 2-step seed DC-GAN at 128 px (image quality is irrelevant to the timing), then runs
the evaluation API with the default metrics (all but the utility study and the latent-search
attack), floors and intervals included, the 98 `no` scans as the held-out set, and prints one
row per stage (each metric's seconds include its floor and interval draws).
The first metric that needs Inception features (FID) carries their whole cost: KID and PRDC
reuse them. The one-time ONNX conversion of the Inception weights (onnxruntime on CPU) is
timed apart: its cached copy is made before the clock starts. The evaluation then runs again
("again"): the real sets' preprocessing and Inception features come from the cache, as for a
user scoring a second run against the same scans.

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
from braingan.evaluation import evaluate
from braingan.metrics.inception import InceptionFeatures, locate_weights
from braingan.metrics.registry import DEFAULT

DEFAULT_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brain_tumor_detection" / "yes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(os.environ.get("BRAINGAN_BENCH_REAL", DEFAULT_REAL)))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--holdout", type=Path, default=DEFAULT_REAL.parent / "no")
    parser.add_argument("--metrics", default=",".join(DEFAULT))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BRAINGAN_CACHE"] = str(Path(tmp) / "cache")  # first-time costs, as for a new user
        config = preset("seed")
        config.data.path, config.data.resolution = str(args.real), 128
        config.run.steps_per_epoch, config.run.epochs, config.run.checkpoint_every = 2, 1, 2
        config.run.device = "cpu"
        run = api.train(config, Path(tmp) / "run", log=lambda _: None)

        path, note = locate_weights()
        start = time.perf_counter()
        backend = InceptionFeatures(path).backend if path is not None else note
        conversion = time.perf_counter() - start

        columns = []
        for _ in ("first", "again"):
            start = time.perf_counter()
            report = evaluate(run, n=args.n, metrics=args.metrics, out=Path(tmp) / "eval", device="cpu",
                              holdout=args.holdout, log=lambda _: None)
            total = time.perf_counter() - start
            seconds = {name: values["seconds"] for name, values in report["metrics"].items()}
            seconds["loading + generating (rest)"] = total - sum(seconds.values())
            seconds[f"evaluate total ({args.metrics})"] = total
            columns.append(seconds)
        rows = [(name, first, columns[1][name]) for name, first in columns[0].items()]
        rows.append(("not in the total: Inception setup, first time (ONNX conversion)", conversion, 0.0))

    print(f"Inception: {backend}")
    print(f"\n{report['n_real']} real vs {report['n_fake']} generated at {report['resolution']} px; "
          f"CPU threads: {torch.get_num_threads()}, os.cpu_count(): {os.cpu_count()}")
    width = max(len(r[0]) for r in rows)
    print(f"{'stage':<{width}}  {'first':>7s}  {'again':>7s}")
    for name, first, again in rows:
        print(f"{name:<{width}}  {first:7.2f}  {again:7.2f}")


if __name__ == "__main__":
    main()
