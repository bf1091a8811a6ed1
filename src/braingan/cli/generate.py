"""``braingan generate``: images from a trained run, written as they are made.

Noise is drawn, turned into images and written a chunk at a time (``Synthesizer.batches``), so
any ``-n`` runs in bounded memory, and the same ``--seed`` gives the same images as one draw of
all the noise would. Only what needs every image at once keeps them: the ``--grid`` (refused up
front when its picture would be larger than image viewers open) and the stacked NIfTI volume
(refused up front past the 32,767 slices NIfTI-1 holds; ``--per-slice`` has no limit). What the
``--out`` folder may hold is io/samples.py's business.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path

from braingan.cli.flags import seed
from braingan.config import PRECISIONS
from braingan.errors import BrainganError, shown

FORMATS = ("png", "nifti", "dicom")
CHUNK = 1024  # images made, audited (--reject-memorized) and written at a time


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
    parser.add_argument("--seed", type=seed, default=None, help="random seed (default: fresh each time)")
    parser.add_argument("--class", dest="label", help="class to generate (conditional runs)")
    parser.add_argument("--grid", type=Path, help="also write all images tiled in one PNG")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: generate under bf16 autocast where it keeps the 8-bit images within a grey level "
                             "(pays on GPUs and CPUs with avx512_bf16 or AMX; docs/speed.md)")
    parser.add_argument("--reject-memorized", action="store_true",
                        help="drop samples the memorization audit flags as near copies of training images")
    parser.add_argument("--force", action="store_true",
                        help="remove the samples of an earlier generate in --out, and replace a --grid file "
                             "braingan did not write")
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from braingan import api
    from braingan.io.atomic import WriteError, writable
    from braingan.io.images import to_uint8
    from braingan.io.samples import SampleWriter, clear_earlier_samples

    if args.n < 1:
        raise BrainganError(f"-n must be at least 1, not {args.n}")
    if args.per_slice and args.format != "nifti":
        raise BrainganError("--per-slice applies to --format nifti only")
    if args.out.exists() and not args.out.is_dir():
        raise BrainganError(f"{shown(args.out)}: exists and is not a folder")
    if args.grid is not None:
        writable(args.grid, args.force)
    synthesizer = api.load(args.run, device=args.device, precision=args.precision)
    if synthesizer.precision_note:
        print(synthesizer.precision_note)
    synthesizer.labels(0, args.label)  # an unknown class, before anything is written
    _check_sizes(args, synthesizer.resolution)
    memorized = None
    if args.reject_memorized:
        from braingan.evaluation import memorization_check

        memorized = memorization_check(args.run)
    if args.label is None and synthesizer.conditional:
        print(f"no --class given: the classes in turn ({', '.join(synthesizer.class_names)}), "
              f"sample i of class i mod {len(synthesizer.class_names)}")
    clear_earlier_samples(args.out, args.force, print)
    writer = SampleWriter(args.out, args.format, args.per_slice, args.run.resolve().name,
                          width=max(5, len(str(args.n - 1))))
    kept, dropped, start = [], [], 0  # kept: the grid's images
    try:
        for images in _chunks(synthesizer.batches(args.n, seed=args.seed, label=args.label), CHUNK):
            images = to_uint8(images)
            if memorized is not None:
                near = memorized(images)
                dropped += [start + i for i in near]
                start += len(images)
                images = np.delete(images, near, axis=0)
            writer.write(images)
            if args.grid is not None:
                kept.append(images)
        writer.close()
    except KeyboardInterrupt:  # said here, with what was written; the files are whole (atomic writes)
        from braingan.cli import INTERRUPTED

        print(f"braingan: interrupted: {writer.written:,} of {args.n:,} images written to {shown(args.out)}, "
              "every file complete", file=sys.stderr)
        return INTERRUPTED
    except WriteError as e:
        raise WriteError(f"{e}; {writer.written:,} of {args.n:,} images written to {shown(args.out)}, "
                         "every file complete") from e
    if memorized is not None:
        indices = f" (indices {', '.join(map(str, dropped[:20]))}{' ...' if len(dropped) > 20 else ''})"
        print(f"{len(dropped)} of {args.n} samples dropped as near copies of training images"
              + (indices if dropped else ""))
    if args.grid is not None and writer.written:
        from braingan.io.images import grid, save_png

        images = np.concatenate(kept)
        cols = math.ceil(math.sqrt(len(images)))
        save_png(args.grid, grid(images, math.ceil(len(images) / cols), cols))
    print(f"{writer.written} images of {synthesizer.resolution} px written to {shown(args.out)} as {args.format}")
    return 0


def _check_sizes(args: argparse.Namespace, resolution: int) -> None:
    """Refuse, before any image is made, an output that would have to hold more than it can."""
    from PIL import Image

    from braingan.io.nifti import MAX_SLICES

    if args.format == "nifti" and not args.per_slice and args.n > MAX_SLICES:
        raise BrainganError(f"-n {args.n:,}: one NIfTI-1 volume holds at most {MAX_SLICES:,} slices; "
                            "add --per-slice (one file per sample) or generate fewer")
    if args.grid is not None:
        cols = math.ceil(math.sqrt(args.n))
        pixels = (math.ceil(args.n / cols) * (resolution + 2) - 2) * (cols * (resolution + 2) - 2)
        if pixels > Image.MAX_IMAGE_PIXELS:
            most = math.floor((math.sqrt(Image.MAX_IMAGE_PIXELS) + 2) / (resolution + 2)) ** 2
            raise BrainganError(f"{shown(args.grid)}: a grid of {args.n:,} images of {resolution} px would have "
                                f"{pixels:,} pixels, more than image viewers open; drop --grid or generate at most "
                                f"{most:,} images with it")


def _chunks(batches: Iterator, size: int) -> Iterator:
    """The tensors of ``batches`` joined into runs of ``size`` images (the last may be shorter)."""
    import torch

    held, count = [], 0
    for batch in batches:
        held.append(batch)
        count += len(batch)
        if count >= size:
            yield torch.cat(held)
            held, count = [], 0
    if held:
        yield torch.cat(held)
