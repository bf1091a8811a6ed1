"""``braingan import-keras``: the seed notebook's ``generator_final.h5`` as a braingan run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from braingan.errors import BrainganError

if TYPE_CHECKING:
    from braingan.io.generator_files import GeneratorFile
    from braingan.models.seed_dcgan import SeedGenerator


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import-keras", help="turn the seed notebook's Keras generator .h5 into a run",
        description="Read the seed notebook's generator (Keras 2 or 3 .h5, no TensorFlow needed) and write "
                    "generator.safetensors + generator.json, so that 'braingan generate' and 'export' use it.",
    )
    parser.add_argument("h5", type=Path, help="the Keras file, e.g. generator_final.h5")
    parser.add_argument("--out", type=Path, required=True, help="run directory to write")
    parser.add_argument("--class", dest="label", default="yes",
                        help="name of the class it was trained on (seed notebook: yes)")
    parser.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    from braingan.io.generator_files import META, save_generator
    from braingan.io.keras_h5 import seed_generator_from_h5
    from braingan.io.model_card import write_model_card

    if not args.label.strip():
        raise BrainganError("--class must name the class the generator was trained on, not be empty")
    if (args.out / META).exists():
        raise BrainganError(f"{args.out}: already holds a generator; choose another --out")
    generator = seed_generator_from_h5(args.h5)
    save_generator(args.out, generator, keras_card(generator, args.label, args.h5.name))
    write_model_card(args.out)
    print(f"{args.out}: seed generator imported from {args.h5} "
          f"({generator.resolution} px, latent {generator.latent_dim})")
    return 0


def keras_card(generator: SeedGenerator, label: str, file_name: str) -> GeneratorFile:
    """The description of an imported seed generator: one class, no EMA, no training steps here,
    and the seed notebook's preprocessing (a plain resize, no crop)."""
    from braingan.data.preprocess import Preprocessing
    from braingan.io.generator_files import GeneratorFile

    resolution = generator.resolution
    return GeneratorFile(
        arch="seed_dcgan",
        kwargs={"resolution": resolution, "width": generator.up1.in_channels, "latent_dim": generator.latent_dim},
        resolution=resolution, latent_dim=generator.latent_dim, classes=[label],
        preprocessing=Preprocessing(resolution=resolution, crop=False).to_dict(),
        source=f"keras:{file_name}",
    )
