"""``braingan export``: a run's generator for use outside braingan."""

from __future__ import annotations

import argparse
from pathlib import Path

from braingan.errors import BrainganError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export", help="export a run's generator (ONNX)",
        description="Export a run's generator to ONNX: input z [batch, latent] (and label [batch] when "
                    "conditional), output image [batch, 1, H, W] in [-1, 1]; any batch size.",
    )
    parser.add_argument("run", type=Path, help="run directory (holds generator.safetensors + generator.json)")
    parser.add_argument("--onnx", type=Path, required=True, metavar="FILE", help="ONNX file to write")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing FILE outside a run directory (braingan did not write it)")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from braingan.io.atomic import writable
    from braingan.io.generator_files import load_generator
    from braingan.io.onnx import export_onnx

    if args.onnx.is_dir():
        raise BrainganError(f"{args.onnx}: is a folder; give a file name such as generator.onnx")
    writable(args.onnx, args.force)
    generator, card = load_generator(args.run)
    conditional = export_onnx(generator, card.to_dict(), args.onnx)
    inputs = "z, label" if conditional else "z"
    print(f"{args.onnx} written: inputs {inputs}; output image [batch, 1, {card.resolution}, {card.resolution}]")
    return 0
