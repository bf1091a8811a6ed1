"""``braingan train`` and ``braingan demo``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from braingan import api
from braingan.config import PRESETS, RunConfig, apply_overrides, load_toml, preset
from braingan.errors import BrainganError

# (flag, dotted config key, type, help); dests carry the dotted key so overrides map directly.
OVERRIDES: list[tuple[str, str, Any, str]] = [
    ("--resolution", "data.resolution", int, "image size in pixels (multiple of 8)"),
    ("--limit", "data.limit", int, "draw N files with replacement, as the seed notebook did"),
    ("--subset-seed", "data.subset_seed", int, "random seed of that draw (seed notebook: 40)"),
    ("--slices", "data.slices", float, "central fraction of each DICOM series / NIfTI volume kept (default 1)"),
    ("--axis", "data.axis", str, "NIfTI cutting plane: axial, coronal or sagittal"),
    ("--brain-fraction", "data.brain_fraction", float, "minimum non-background fraction of a volume slice"),
    ("--clip-low", "data.clip_low", float, "intensity percentile mapped to black (volumes)"),
    ("--clip-high", "data.clip_high", float, "intensity percentile mapped to white (volumes)"),
    ("--arch", "model.arch", str, "architecture name"),
    ("--latent-dim", "model.latent_dim", int, "noise dimensions"),
    ("--g-width", "model.g_width", int, "generator width (channels)"),
    ("--d-width", "model.d_width", int, "discriminator width (channels)"),
    ("--batch-size", "train.batch_size", int, "images per step"),
    ("--steps-per-epoch", "train.steps_per_epoch", int, "steps between sample grids"),
    ("--epochs", "train.epochs", int, "number of epochs"),
    ("--lr", "train.lr", float, "Adam learning rate"),
    ("--beta1", "train.beta1", float, "Adam beta1"),
    ("--beta2", "train.beta2", float, "Adam beta2"),
    ("--loss", "train.loss", str, "GAN loss: bce (seed), logistic (non-saturating), hinge"),
    ("--r1-gamma", "train.r1_gamma", float, "R1 penalty weight on reals (0: off)"),
    ("--r1-every", "train.r1_every", int, "lazy R1: every K steps"),
    ("--mode-seeking", "train.mode_seeking", float, "weight of the mode-seeking term in G's loss (0: off)"),
    ("--mode-seeking-ramp", "train.mode_seeking_ramp", int, "images shown over which that weight rises from 0"),
    ("--ema", "train.ema", float, "decay of the generator's moving average (0: off)"),
    ("--augment", "train.augment", str, "off, fixed (DiffAugment) or ada"),
    ("--augment-p", "train.augment_p", float, "augmentation probability (ada: its start)"),
    ("--ada-target", "train.ada_target", float, "ADA's target for E[sign D(real)]"),
    ("--ada-images", "train.ada_images", int, "images shown for ADA's p to move by 1 at most"),
    ("--init", "train.init", str, "start G, D and EMA from this run's checkpoint (fine-tuning)"),
    ("--seed", "train.seed", int, "random seed of the run"),
    ("--checkpoint-every", "train.checkpoint_every", int, "steps between checkpoints"),
    ("--log-every", "train.log_every", int, "steps between loss reads"),
    ("--device", "train.device", str, "auto, cpu, cuda, cuda:N"),
]


# On/off flags: (flag, dotted config key, argparse action, help).
SWITCHES: list[tuple[str, str, str | type[argparse.Action], str]] = [
    ("--no-crop", "data.crop", "store_false", "plain resize, as the seed notebook (default: crop to the head)"),
    ("--no-dedupe", "data.dedupe", "store_false", "keep byte-identical duplicate files"),
    ("--no-cache", "data.cache", "store_false", "preprocess again instead of using the cache"),
    ("--conditional", "model.conditional", "store_true",
     "class-conditional G and D (arch dcgan); then `generate --class NAME`"),
    ("--g-batchnorm", "model.g_batchnorm", "store_true", "batch norm in the generator (arch dcgan)"),
    ("--d-mbstd", "model.d_mbstd", argparse.BooleanOptionalAction,
     "minibatch standard deviation in D, a push toward variety (on in the fewshot presets)"),
    ("--mirror", "train.mirror", argparse.BooleanOptionalAction,
     "show each real scan left-right flipped half the time: doubles a small set (see README)"),
    ("--no-fast", "train.fast", "store_false", "plain eager path: no channels_last, no fused Adam (default: fast)"),
]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train a GAN on a folder of images",
        description="Train a GAN on a folder of images (sub-folders are classes).",
        epilog="Example (the seed notebook): braingan train brain_tumor_dataset --classes yes "
               "--preset seed --limit 20 --subset-seed 40 --out runs/seed",
    )
    parser.add_argument("data", nargs="?", help="folder of images; with --resume, defaults to the run's")
    parser.add_argument("--out", type=Path, help="run directory (default: runs/PRESET)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--classes", help="comma-separated class sub-folders to use (default: all)")
    _add_config_options(parser, default_preset="fewshot")
    parser.set_defaults(handler=run_train)

    demo = commands.add_parser(
        "demo", help="train on the embedded MNI152 slices (no data, no network)",
        description="Train a small GAN on real MRI shipped with braingan (MNI152 template slices) "
                    "and write samples, a loss plot and the generator to runs/demo.",
    )
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default: runs/demo)")
    _add_config_options(demo, default_preset="demo")
    demo.set_defaults(handler=run_demo)


def _add_config_options(parser: argparse.ArgumentParser, default_preset: str) -> None:
    parser.add_argument("--preset", default=default_preset, choices=list(PRESETS),
                        help=f"starting configuration (default: {default_preset})")
    parser.add_argument("--config", type=Path, help="TOML file of overrides ([data], [model], [train])")
    for flag, key, action, help_text in SWITCHES:
        parser.add_argument(flag, dest=key, action=action, default=argparse.SUPPRESS, help=help_text)
    for flag, key, kind, help_text in OVERRIDES:
        parser.add_argument(flag, dest=key, type=kind, default=argparse.SUPPRESS, help=help_text,
                            metavar=key.split(".")[1].upper())


def _cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The dotted-key flags the user gave, as a nested dict."""
    nested: dict[str, Any] = {}
    for key, value in vars(args).items():
        if "." in key:
            section, name = key.split(".", 1)
            nested.setdefault(section, {})[name] = value
    return nested


def build_config(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """Layers: preset (or the resumed run's config) < --config TOML < flags."""
    config = base if base is not None else preset(args.preset)
    if args.config is not None:
        apply_overrides(config, load_toml(args.config), str(args.config))
    overrides = _cli_overrides(args)
    if getattr(args, "data", None):
        overrides.setdefault("data", {})["path"] = args.data
    if getattr(args, "classes", None):
        overrides.setdefault("data", {})["classes"] = [c.strip() for c in args.classes.split(",") if c.strip()]
    apply_overrides(config, overrides, "command line")
    return config


def run_train(args: argparse.Namespace) -> int:
    out = args.out or Path("runs") / args.preset
    if args.resume:
        config = build_config(args, base=api.saved_config(out))
    else:
        if args.data is None:
            raise BrainganError("give a DATA folder to train on (or --resume an existing run)")
        config = build_config(args)
    api.train(config, out, resume=args.resume)
    print(f"run written to {out}: generator.safetensors, samples/, losses.png")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    checkpoint = args.out / "checkpoints" / "last.pt"
    resume = checkpoint.exists()
    config = build_config(args, base=api.saved_config(args.out) if resume else None)
    config.data.path = None  # the embedded MNI152 slices
    api.train(config, args.out, resume=resume)
    print(f"demo written to {args.out}: samples/ (grids), losses.png, generator.safetensors")
    print(f"next: braingan generate {args.out} -n 16 --out {args.out}/generated --grid {args.out}/generated.png")
    return 0
