"""``braingan evaluate``: metrics of a run's samples against the real set -> metrics.json + a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from braingan.errors import BrainganError
from braingan.metrics.registry import DEFAULT, METRICS, result_of


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="measure a run's samples against real scans (FID, KID, SWD, PRDC, diversity, memorization)",
        description="Generate N samples (or read --fake), preprocess the real set exactly as training did, "
                    "and write metrics.json plus a table. Nothing is downloaded.",
    )
    parser.add_argument("run", type=Path,
                        help="run directory (generator files, and checkpoints/last.pt when trained here)")
    parser.add_argument("--real", type=Path,
                        help="real images to compare with (default: the run's training data; needed for a "
                             "run made by import-keras, which has no record of its training data)")
    parser.add_argument("--n", type=int, default=1000, help="number of samples to generate (default 1000)")
    parser.add_argument("--fake", type=Path, help="folder of already generated images instead of generating")
    parser.add_argument("--metrics", default=",".join(DEFAULT),
                        help=f"comma-separated, from: {', '.join(METRICS)} (default: {','.join(DEFAULT)})")
    parser.add_argument("--out", type=Path, help="folder for metrics.json (default: the run directory)")
    parser.add_argument("--inception-weights", type=Path, help="TorchScript Inception file for FID/KID/PRDC")
    parser.add_argument("--run-per-class", metavar="CLASS=RUN,...",
                        help="one unconditional run per class for the utility study, e.g. yes=runs/yes,no=runs/no")
    parser.add_argument("--holdout", type=Path,
                        help="real scans not trained on: how often the memorization audit flags new patients, "
                             "and how varied they are (copies of training scans in it are set aside)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed for the samples")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (generation)")
    parser.set_defaults(handler=run_evaluate)


def parse_runs_per_class(text: str | None) -> dict[str, Path] | None:
    if not text:
        return None
    runs = {}
    for item in text.split(","):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise BrainganError(f"--run-per-class: expected CLASS=RUN, not {item!r}")
        runs[name.strip()] = Path(path.strip())
    return runs


def format_table(report: dict) -> str:
    """One line per number: metric, value, and which way is better where the number is a reading;
    then each metric's notes (what it was computed on) and what was skipped."""
    rows, notes = [], []
    for name, values in report["metrics"].items():
        result = result_of(name, values)
        rows += [(f"{name}.{row.label}" if row.label else name, row.value, row.better or "") for row in result.rows]
        notes += [f"{name}: {note}" for note in result.notes]
    width = max([len(r[0]) for r in rows] + [6])
    lines = [f"{'metric':<{width}}  {'value':>16}  better", "-" * (width + 30)]
    lines += [f"{m:<{width}}  {v:>16}  {b}".rstrip() for m, v, b in rows]
    lines += notes
    lines += [f"{name}: skipped ({why})" for name, why in report["skipped"].items()]
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    from braingan import evaluation

    report = evaluation.evaluate(
        args.run, real=args.real, n=args.n, metrics=args.metrics, fake_dir=args.fake, out=args.out,
        inception_weights=args.inception_weights, runs_per_class=parse_runs_per_class(args.run_per_class),
        seed=args.seed, device=args.device, holdout=args.holdout,
    )
    print(f"{report['n_fake']} generated vs {report['n_real']} real images at {report['resolution']} px")
    print(format_table(report))
    print(f"written to {(args.out or args.run) / evaluation.METRICS_FILE}")
    return 0
