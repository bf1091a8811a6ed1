"""``braingan`` command line: parses arguments, calls the API, prints. Nothing else lives here."""

from __future__ import annotations

import argparse
import sys

from braingan import __version__
from braingan.cli import evaluate, export, generate, import_keras, report, train
from braingan.errors import BrainganError
from braingan.training.signals import TrainingInterrupted

COMMANDS = (train, generate, evaluate, report, export, import_keras)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="braingan",
        description="Train GANs on small brain-MRI collections, generate synthetic scans, evaluate them.",
        epilog="Run 'braingan COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"braingan {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except BrainganError as e:
        print(f"braingan: error: {e}", file=sys.stderr)
        return 2
    except TrainingInterrupted as e:
        print(f"braingan: {e}", file=sys.stderr)
        return e.exit_code
