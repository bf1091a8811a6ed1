"""``braingan evaluate``: metrics of a run's samples against the real set -> metrics.json + a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from braingan.cli.flags import add_section_flags, section_overrides, seed
from braingan.config import DataConfig
from braingan.errors import BrainganError
from braingan.metrics.registry import DEFAULT, METRICS, result_of

PROTOCOLS = {  # name -> (samples, floor and interval draws)
    "standard": (1000, True),
    "fewshot": (5000, True),  # the sample count the few-shot GAN literature reports FID at
    "none": (1000, False),
}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="measure generated scans against real ones (FID, KID, SWD, PRDC, diversity, copies, ...)",
        description="Score a run's samples (generated now, or --fake) against real scans preprocessed exactly as "
                    "its training was; or, without a run, any two folders (--real and --fake, e.g. samples of "
                    "another generator). Every reading comes with a 95%% interval and the floor two halves of the "
                    "real set give. Writes metrics.json and prints a table. Nothing is downloaded.",
    )
    parser.add_argument("run", type=Path, nargs="?",
                        help="run directory (generator files, and checkpoints/last.pt when trained here); leave it "
                             "out to compare folders")
    parser.add_argument("--real", type=Path,
                        help="real images to compare with (default: the run's training data, else --train)")
    parser.add_argument("--fake", type=Path, help="folder of generated images (instead of generating from the run)")
    parser.add_argument("--train", type=Path,
                        help="what the generator was trained on, for the copy audit and membership attacks "
                             "(default: the run's training data, else --real)")
    parser.add_argument("--holdout", type=Path,
                        help="real scans not trained on: the copy audit's base rate, the variety yardstick and the "
                             "non-members of membership attacks (copies of training scans in it are set aside)")
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="standard",
                        help="standard: 1,000 samples, floors and intervals; fewshot: 5,000 samples, as the few-shot "
                             "literature reports; none: readings alone (default: standard)")
    parser.add_argument("--n", type=int, help="number of samples to generate (default: the protocol's)")
    parser.add_argument("--metrics", default=",".join(DEFAULT),
                        help=f"comma-separated, from: {', '.join(METRICS)} (default: {','.join(DEFAULT)})")
    parser.add_argument("--out", type=Path, help="folder for metrics.json (default: the run directory)")
    parser.add_argument("--inception-weights", type=Path, help="TorchScript Inception file for FID/KID/PRDC")
    parser.add_argument("--run-per-class", metavar="CLASS=RUN,...",
                        help="one unconditional run per class for the utility study, e.g. yes=runs/yes,no=runs/no")
    parser.add_argument("--seed", type=seed, default=0, help="noise seed for the samples and the protocol's draws")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (generation)")
    add_section_flags(parser, DataConfig, names=FOLDER_OPTIONS,
                      description="How folders are read without a run, as training would read them (a run's "
                                  "images are read as that run was trained).")
    parser.set_defaults(handler=run_evaluate)


# how folders are read without a run (a run's own data config decides otherwise)
FOLDER_OPTIONS = ("resolution", "crop", "slices", "axis", "brain_fraction", "clip_low", "clip_high")


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
    """One line per reading: value, its 95% interval, what two halves of the real set score
    against each other (the floor) and what the samples score at that n, and which way is
    better; then each metric's notes and what was skipped. Counts, sizes and seconds stay in
    metrics.json."""
    rows, notes = [], []
    for name, values in report["metrics"].items():
        result = result_of(name, values)
        rows += [(f"{name}.{row.label}" if row.label else name, row.value, row.interval, row.floor, row.at_floor_n,
                  row.better) for row in result.rows if row.better is not None]
        notes += [f"{name}: {note}" for note in result.notes]
    header = ("metric", "value", "95% interval", "real vs real", "samples, same n", "better")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    lines = ["  ".join(f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}" for i, (cell, w) in enumerate(zip(header, widths)))
             + "  " + header[5]]
    lines.append("-" * len(lines[0]))
    lines += ["  ".join(f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}" for i, (cell, w) in enumerate(zip(row, widths)))
              + f"  {row[5]}" for row in rows]
    lines += notes
    lines += [f"{name}: skipped ({why})" for name, why in report["skipped"].items()]
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    from braingan import evaluation
    from braingan.metrics.protocol import Protocol

    samples, uncertainty = PROTOCOLS[args.protocol]
    options = section_overrides(args).get("data", {})
    if args.run is not None and options:
        flag = "--" + next(iter(options)).replace("_", "-")
        raise BrainganError(f"{flag} applies to folders compared without a run; {args.run} is read as it was trained")
    data = DataConfig(**options)
    report = evaluation.evaluate(
        args.run, real=args.real, n=args.n or samples, metrics=args.metrics, fake_dir=args.fake, out=args.out,
        inception_weights=args.inception_weights, runs_per_class=parse_runs_per_class(args.run_per_class),
        seed=args.seed, device=args.device, holdout=args.holdout, train=args.train, data=data,
        protocol=Protocol(seed=args.seed) if uncertainty else None,
    )
    print(f"{report['n_fake']} generated vs {report['n_real']} real images at {report['resolution']} px")
    if report["protocol"]:
        print("real vs real: two halves of the real set (by scan), "
              f"{report['protocol']['floor_draws']} draws; samples, same n: as many samples as the compared half")
    print(format_table(report))
    print(f"written to {(args.out or args.run) / evaluation.METRICS_FILE}")
    return 0
