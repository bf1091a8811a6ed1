"""How long the command line takes to answer before any work: --version, --help, an argument error.

Each command runs as a fresh process (what a user types), ``--repeats`` times; the table gives
the median and the slowest wall-clock seconds, and, for comparison, a bare ``import torch``.
Usage: python benchmarks/bench_cli.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

BRAINGAN = Path(sys.executable).with_name("braingan")
CASES = {
    "braingan --version": [str(BRAINGAN), "--version"],
    "braingan --help": [str(BRAINGAN), "--help"],
    "braingan train --help": [str(BRAINGAN), "train", "--help"],
    "braingan train DATA --epoch 1 (refused)": [str(BRAINGAN), "train", "DATA", "--epoch", "1"],
    "python -c 'import torch' (for scale)": [sys.executable, "-c", "import torch"],
}


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"{machine}, Python {platform.python_version()}, torch {torch.__version__}")
    print(f"{'command':44s} {'median s':>9s} {'max s':>7s}")
    for name, command in CASES.items():
        seconds(command)  # warm the file cache
        times = [seconds(command) for _ in range(args.repeats)]
        print(f"{name:44s} {statistics.median(times):9.3f} {max(times):7.3f}")


if __name__ == "__main__":
    main()
