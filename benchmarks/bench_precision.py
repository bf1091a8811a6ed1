"""bf16 generation against fp32: how many 8-bit pixels it changes, and images/s, per run.

For each run, ``--n`` images from the same seed in fp32 and in bf16 (``generate
--precision bf16``), compared as the 8-bit files ``generate`` writes: the share of pixels that
differ at all, by more than one grey level (the target: at most 0.1%), and the largest change,
and which precision ``generate --precision bf16`` picks for the run after its probe batch;
then the images/s of each precision at ``--batch``. Where the device has no bf16 arithmetic
(a CPU without avx512_bf16 or AMX) PyTorch emulates it, tens of times slower: the changed
pixels are still bf16's rounding, the images/s are not measured.

    PYTHONPATH=src python benchmarks/bench_precision.py RUN [RUN ...] [--n 1000] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from braingan import api
from braingan.devices import resolve_device
from braingan.training import fastpath


def images_per_s(synthesizer: api.Synthesizer, batch: int, repeats: int = 3) -> float:
    synthesizer.generate_tensor(batch, seed=0, batch_size=batch)  # warm-up
    start = time.perf_counter()
    synthesizer.generate_tensor(batch * repeats, seed=1, batch_size=batch)
    return batch * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"torch {torch.__version__} on {device}; bf16 in hardware: {fastpath.computes_bf16(device)}")
    print(f"{'run':28s} {'px':>4s} {'pixels changed':>15s} {'> 1 level':>10s} {'max':>4s} "
          f"{'fp32 img/s':>11s} {'bf16 img/s':>11s} {'bf16 asked: runs':>17s}")
    for run in args.runs:
        images, rates = {}, {}
        for precision in ("fp32", "bf16"):
            synthesizer = api.load(run, device=args.device, precision=precision)
            if precision == "bf16":  # what generate --precision bf16 picks, then bf16 regardless
                picked, synthesizer.precision = synthesizer.precision, "bf16"
            images[precision] = synthesizer.generate(args.n, seed=0, batch_size=args.batch).astype(np.int16)
            timed = precision == "fp32" or fastpath.computes_bf16(device)  # emulated bf16 is not worth timing
            rates[precision] = f"{images_per_s(synthesizer, args.batch):11.1f}" if timed else f"{'emulated':>11s}"
        change = np.abs(images["bf16"] - images["fp32"])
        print(f"{run.name:28s} {synthesizer.resolution:4d} {100 * (change > 0).mean():14.3f}% "
              f"{100 * (change > 1).mean():9.3f}% {change.max():4d} {rates['fp32']} {rates['bf16']} {picked:>17s}",
              flush=True)


if __name__ == "__main__":
    main()
