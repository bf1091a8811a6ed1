"""``braingan generate``: images from a trained run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from braingan.errors import BrainganError

FORMATS = ("png", "nifti", "dicom")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "generate", help="write synthetic images from a trained run",
        description="Write N synthetic 8-bit grey images (PNG, NIfTI or DICOM) from a run's generator. "
                    "The same --seed gives the same images.",
    )
    parser.add_argument("run", type=Path, help="run directory (holds generator.safetensors + generator.json)")
    parser.add_argument("-n", type=int, required=True, help="number of images")
    parser.add_argument("--out", type=Path, required=True, help="folder for the image files")
    parser.add_argument("--format", choices=FORMATS, default="png",
                        help="png (default); nifti: one 3-D samples.nii.gz (RAS, 1 mm); dicom: one MR file "
                             "per sample, marked synthetic")
    parser.add_argument("--per-slice", action="store_true", help="with --format nifti: one .nii.gz per sample")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: fresh each time)")
    parser.add_argument("--class", dest="label", help="class to generate (conditional runs)")
    parser.add_argument("--grid", type=Path, help="also write all images tiled in one PNG")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--reject-memorized", action="store_true",
                        help="drop samples the memorization audit flags as near copies of training images")
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from braingan import api
    from braingan.io.images import grid, save_png

    if args.n < 1:
        raise BrainganError(f"-n must be at least 1, not {args.n}")
    if args.per_slice and args.format != "nifti":
        raise BrainganError("--per-slice applies to --format nifti only")
    if args.out.exists() and not args.out.is_dir():
        raise BrainganError(f"{args.out}: exists and is not a folder")
    synthesizer = api.load(args.run, device=args.device)
    images = synthesizer.generate(args.n, seed=args.seed, label=args.label)
    if args.label is None and synthesizer.conditional:
        print(f"no --class given: the classes in turn ({', '.join(synthesizer.class_names)}), "
              f"sample i of class i mod {len(synthesizer.class_names)}")
    if args.reject_memorized:
        from braingan.evaluation import reject_memorized

        images, dropped = reject_memorized(args.run, images)
        indices = f" (indices {', '.join(map(str, dropped[:20]))}{' ...' if len(dropped) > 20 else ''})"
        print(f"{len(dropped)} of {args.n} samples dropped as near copies of training images"
              + (indices if dropped else ""))
    width = max(5, len(str(args.n - 1)))
    run_name = args.run.resolve().name
    if args.format == "png":
        for i, image in enumerate(images):
            save_png(args.out / f"sample_{i:0{width}d}.png", image)
    elif args.format == "dicom":
        from braingan.io.dicom import save_dicom_series

        save_dicom_series(args.out, images, run_name, width)
    else:
        from braingan.io.nifti import save_nifti

        description = f"braingan synthetic, run {run_name}"
        if args.per_slice:
            for i, image in enumerate(images):
                save_nifti(args.out / f"sample_{i:0{width}d}.nii.gz", image[None], description)
        else:
            save_nifti(args.out / "samples.nii.gz", images, description)
    if args.grid is not None:
        cols = math.ceil(math.sqrt(len(images)))
        save_png(args.grid, grid(images, math.ceil(len(images) / cols), cols))
    print(f"{len(images)} images of {synthesizer.resolution} px written to {args.out} as {args.format}")
    return 0
