"""``braingan`` command line: parses arguments, calls the API, prints. Nothing else lives here.

Building the parser imports no torch (each command imports what it needs when it runs), so
``--help``, ``--version`` and argument errors answer at once. Flags must be spelt out: an
abbreviation such as ``--epoch`` for ``--epochs`` is refused with a suggestion, never guessed.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import signal
import sys

from braingan import __version__
from braingan.cli import evaluate, export, generate, import_keras, report, train
from braingan.errors import BrainganError
from braingan.training.signals import TrainingInterrupted

COMMANDS = (train, generate, evaluate, report, export, import_keras)
INTERRUPTED = 128 + signal.SIGINT  # the shell's status for a command stopped by Ctrl-C
Parser = functools.partial(argparse.ArgumentParser, allow_abbrev=False)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="braingan",
        description="Train GANs on small brain-MRI collections, generate synthetic scans, evaluate them.",
        epilog="Run 'braingan COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"braingan {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.register(commands)
    for command in commands.choices.values():
        command.set_defaults(command_parser=command)  # whose usage an unknown flag is reported with
    return parser


def _refuse_unknown(command: argparse.ArgumentParser, unknown: list[str]) -> None:
    """The command's usage and, for a mistyped flag, the closest one it has (exits with 2)."""
    flags = [f for action in command._actions for f in action.option_strings]
    first = next((u.split("=")[0] for u in unknown if u.startswith("-")), None)
    close = difflib.get_close_matches(first, flags, n=1) if first else []
    command.error(f"unrecognized arguments: {' '.join(unknown)}" + (f"; did you mean {close[0]}?" if close else ""))


def main(argv: list[str] | None = None) -> int:
    # Progress lines reach a log file or pipe as they are printed, not when a buffer fills.
    if callable(reconfigure := getattr(sys.stdout, "reconfigure", None)):
        reconfigure(line_buffering=True)
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        _refuse_unknown(args.command_parser, unknown)
    try:
        return args.handler(args) or 0
    except BrainganError as e:
        print(f"braingan: error: {e}", file=sys.stderr)
        return 2
    except TrainingInterrupted as e:
        print(f"braingan: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside training's own handling (preprocessing, generate, ...)
        print("braingan: interrupted", file=sys.stderr)
        return INTERRUPTED
