"""Long run: train N steps of a preset and record memory every 1,000 steps (--every) (leaks show as growth).

Meant for the background, not CI: ``nohup python benchmarks/bench_long_run.py &``. A sampling
thread watches the trainer's step counter, so the training loop runs unchanged. Writes a CSV
(step, seconds, RSS MiB, CUDA allocated/reserved MiB), a row as each sample is taken, and prints a table with the growth
relative to the first sample after warm-up.

Usage: python benchmarks/bench_long_run.py [--preset fewshot-fast] [--steps 20000] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import threading
import time
from pathlib import Path

import torch

from braingan.config import PRESETS, preset
from braingan.data import load_dataset
from braingan.training.loop import Trainer

DEFAULT_PRESET = "fewshot-fast" if "fewshot-fast" in PRESETS else "demo"


def rss_mib() -> float:
    """Resident set size now (Linux /proc), not the peak that ``resource`` reports."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def sample(step: int, start: float) -> dict[str, float]:
    row = {"step": step, "seconds": round(time.perf_counter() - start, 1), "rss_mib": round(rss_mib(), 1)}
    if torch.cuda.is_available():
        row["cuda_alloc_mib"] = round(torch.cuda.memory_allocated() / 2**20, 1)
        row["cuda_reserved_mib"] = round(torch.cuda.memory_reserved() / 2**20, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS))
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--data", help="image folder (default: the embedded MNI152 slices)")
    parser.add_argument("--every", type=int, default=1000, help="steps between memory samples")
    parser.add_argument("--csv", type=Path, default=Path("bench_long_run.csv"))
    parser.add_argument("--out", type=Path, help="run directory (default: a temporary one)")
    args = parser.parse_args()

    config = preset(args.preset)
    config.data.path = args.data
    t = config.run
    t.steps_per_epoch = min(t.steps_per_epoch, args.steps)
    t.epochs = -(-args.steps // t.steps_per_epoch)
    run_dir = args.out or Path(tempfile.mkdtemp(prefix="bench_long_run_"))
    trainer = Trainer(config, load_dataset(config.data, log=lambda _: None), run_dir, log=lambda _: None)

    start = time.perf_counter()
    rows = [sample(0, start)]
    done = threading.Event()
    with args.csv.open("w", newline="") as f:  # one row as each sample is taken: watchable, crash-proof
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()

        def record(row: dict[str, float]) -> None:
            rows.append(row)
            writer.writerow(row)
            f.flush()

        def watch() -> None:
            next_step = args.every
            while not done.wait(0.05):
                if trainer.step >= next_step:
                    record(sample(trainer.step, start))
                    next_step += args.every

        writer.writerow(rows[0])
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        trainer.fit()
        done.set()
        watcher.join()
        record(sample(trainer.step, start))

    base = rows[1] if len(rows) > 2 else rows[0]  # after warm-up: allocator pools are filled by then
    print(f"{args.preset}, {config.total_steps} steps, batch {t.batch_size}, {config.data.resolution} px; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"{'step':>7} {'s':>8} {'RSS MiB':>9} {'growth':>8}"
        + ("  CUDA alloc/reserved MiB" if "cuda_alloc_mib" in base else "")
    )
    for r in rows:
        line = f"{r['step']:>7} {r['seconds']:>8} {r['rss_mib']:>9} {r['rss_mib'] - base['rss_mib']:>+8.1f}"
        if "cuda_alloc_mib" in r:
            line += f"  {r['cuda_alloc_mib']}/{r['cuda_reserved_mib']}"
        print(line)
    print(f"CSV: {args.csv}; run: {run_dir}")


if __name__ == "__main__":
    main()
