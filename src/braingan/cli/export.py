"""``braingan export``: a run's generator for use outside braingan."""

from __future__ import annotations

import argparse
from pathlib import Path

from braingan.errors import BrainganError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export", help="export a run's generator (ONNX) or its networks as a prior",
        description="Export a run's generator to ONNX (input z [batch, latent] and, when conditional, label "
                    "[batch]; output image [batch, 1, H, W] in [-1, 1]; any batch size), or its EMA generator and "
                    "discriminator in half precision as a prior folder to fine-tune from (train DATA --init DIR).",
    )
    parser.add_argument("run", type=Path, help="run directory (holds generator.safetensors + generator.json)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--onnx", type=Path, metavar="FILE", help="ONNX file to write")
    target.add_argument("--prior", type=Path, metavar="DIR", help="prior folder to write")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing FILE outside a run directory (braingan did not write it)")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from braingan.io.atomic import writable
    from braingan.io.generator_files import load_generator

    if args.prior is not None:
        return _export_prior(args)
    from braingan.io.onnx import export_onnx

    if args.onnx.is_dir():
        raise BrainganError(f"{args.onnx}: is a folder; give a file name such as generator.onnx")
    writable(args.onnx, args.force)
    generator, card = load_generator(args.run)
    conditional = export_onnx(generator, card.to_dict(), args.onnx)
    inputs = "z, label" if conditional else "z"
    print(f"{args.onnx} written: inputs {inputs}; output image [batch, 1, {card.resolution}, {card.resolution}]")
    return 0


def _export_prior(args: argparse.Namespace) -> int:
    from braingan.io.atomic import writable
    from braingan.io.generator_files import META, WEIGHTS
    from braingan.io.prior_files import CARD, D_WEIGHTS, export_prior

    if args.prior.exists() and not args.prior.is_dir():
        raise BrainganError(f"{args.prior}: exists and is not a folder")
    for name in (WEIGHTS, META, D_WEIGHTS, CARD):
        writable(args.prior / name, args.force)
    export_prior(args.run, args.prior)
    size = sum((args.prior / name).stat().st_size for name in (WEIGHTS, D_WEIGHTS))
    print(f"{args.prior} written: a prior of {size / 2**20:.1f} MB; fine-tune from it with "
          f"'braingan train DATA --init {args.prior}'")
    return 0
