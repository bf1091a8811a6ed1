"""Time one seed training step (batch 4, 128 px) and generator inference (batch 64).

Prints a table: median and spread of >= 20 timed repetitions after warm-up, on whatever
device is given (default CPU). Usage: python benchmarks/bench_seed_cpu.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

import torch

from braingan.config import preset
from braingan.models import build_discriminator, build_generator
from braingan.models.registry import generator_kwargs
from braingan.training.losses import get_loss
from braingan.training.step import GanModels, train_step


def timed(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    config = preset("seed")
    m, t = config.model, config.train
    torch.manual_seed(0)
    G = build_generator(m.arch, **generator_kwargs(m.arch, m.latent_dim, 128, m.g_width, 1))
    D = build_discriminator(m.arch, 128, m.d_width, 1)
    adam = {"lr": t.lr, "betas": (t.beta1, t.beta2), "eps": t.adam_eps}
    models = GanModels(G, D, torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam))
    loss = get_loss(t.loss)
    data = torch.rand(20, 1, 128, 128) * 2 - 1
    labels = torch.zeros(t.batch_size, dtype=torch.int64)

    def step() -> None:
        idx = torch.randint(0, len(data), (t.batch_size,))
        train_step(models, loss, data[idx], torch.randn(t.batch_size, m.latent_dim), labels)

    z64 = torch.randn(64, m.latent_dim)

    @torch.no_grad()
    def generate() -> None:
        G(z64)

    rows = []
    for name, fn, images in (("seed train step, batch 4, 128 px", step, 4),
                             ("generator inference, batch 64, 128 px", generate, 64)):
        times = timed(fn, args.repeats, args.warmup)
        median = statistics.median(times)
        rows.append((name, median, min(times), max(times), images / median))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"{'what':40s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'images/s':>9s}")
    for name, median, lo, hi, rate in rows:
        print(f"{name:40s} {median:9.3f} {lo:7.3f} {hi:7.3f} {rate:9.1f}")
    print(f"peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
