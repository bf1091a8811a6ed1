"""``braingan report``: one self-contained HTML page about a run."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report", help="write a self-contained HTML report of a run",
        description="Config, sample grids, loss curves, metrics (from 'braingan evaluate'), memorization pairs "
                    "and utility results in one HTML file with every image embedded.",
    )
    parser.add_argument("run", type=Path, help="run directory")
    parser.add_argument("--out", type=Path, help="HTML file to write (default: RUN/report.html)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --out file outside a run directory (braingan did not write it)")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from braingan.io.atomic import writable
    from braingan.report.html import write_report

    if args.out is not None:
        writable(args.out, args.force)
    print(f"report written to {write_report(args.run, args.out)}")
    return 0
