"""``braingan train`` and ``braingan demo``; their flags are made from the config's fields."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from braingan.cli.flags import add_section_flags, section_overrides
from braingan.config import PRESETS, SECTIONS, RunConfig, apply_overrides, finetune, load_toml, preset
from braingan.errors import BrainganError


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
    parser.add_argument("--preset", choices=list(PRESETS),
                        help=f"starting configuration (default: {default_preset}; with --init PRIOR, the prior's "
                             "networks and recipe at the small-set schedule)")
    parser.set_defaults(default_preset=default_preset)
    parser.add_argument("--config", type=Path,
                        help=f"TOML file of overrides ({', '.join(f'[{s.name}]' for s in SECTIONS)})")
    for section in SECTIONS:
        add_section_flags(parser, section)


def build_config(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """Layers: preset (or the resumed run's config, or with --init and no --preset the prior's
    fine-tuning config) < --config TOML < flags."""
    overrides = section_overrides(args)
    init = overrides.get("run", {}).get("init")
    if base is not None:
        config = base
    elif init is not None and args.preset is None:
        from braingan.io.prior_files import load_init

        config = finetune(RunConfig.from_dict(load_init(init)["config"], f"{init} config"))
    else:
        config = preset(args.preset or args.default_preset)
    if args.config is not None:
        apply_overrides(config, load_toml(args.config), str(args.config))
    if getattr(args, "data", None):
        overrides.setdefault("data", {})["path"] = args.data
    apply_overrides(config, overrides, "command line")
    return config


def run_train(args: argparse.Namespace) -> int:
    from braingan import api

    if args.resume:
        out = args.out or Path("runs") / (args.preset or args.default_preset)
        config = build_config(args, base=api.saved_config(out))
    else:
        if args.data is None:
            raise BrainganError("give a DATA folder to train on (or --resume an existing run)")
        config = build_config(args)
        out = args.out or Path("runs") / (args.preset or ("finetune" if config.run.init else args.default_preset))
    _train(config, out, args.resume)
    print(f"run written to {out}: generator.safetensors, samples/, losses.png")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from braingan import api
    from braingan.io.generator_files import read_generator_file

    checkpoint = args.out / "checkpoints" / "last.pt"
    resume = checkpoint.exists()
    config = build_config(args, base=api.saved_config(args.out) if resume else None)
    config.data.path = None  # the embedded MNI152 slices
    start = time.monotonic()
    _train(config, args.out, resume)
    minutes, out, exe = (time.monotonic() - start) / 60, args.out, _braingan()
    steps = read_generator_file(out).steps  # fewer than the schedule's when --minutes ended it
    print(f"demo written to {out} in {minutes:.1f} minutes: the {config.preset!r} preset "
          f"({config.model.arch} networks, {config.data.resolution} px) trained {steps:,} steps "
          f"({steps * config.run.batch_size:,} images shown) on the MNI152 template slices.\n"
          f"how to read it: {out}/samples/step_*.png show the same 10 noise vectors after each epoch, so the "
          "grids show those samples turning from noise into head-shaped slices; a short CPU run like this one "
          "gives the outline and grey/white texture, not sharp anatomy.\n"
          f"next: {exe} generate {out} -n 16 --out {out}/generated --grid {out}/generated.png\n"
          f"      {exe} evaluate {out}; {exe} report {out}   (the report says how to read each number)\n"
          f"      {exe} demo --preset fewshot-fast --out {out}-fewshot   (the few-shot recipe on the same slices)")
    return 0


def _braingan() -> str:
    """How to call braingan again from this shell: its name when it is on PATH, else its path
    (e.g. .venv/bin/braingan after `make demo`, whose venv a new shell has not activated)."""
    if shutil.which("braingan"):
        return "braingan"
    beside = Path(sys.executable).with_name("braingan")
    return str(beside) if beside.exists() else f"{sys.executable} -m braingan"


def _train(config: RunConfig, out: Path, resume: bool) -> None:
    """``api.train``; a numerical fault gets the advice of how to go on from the command line."""
    from braingan import api
    from braingan.training.health import NumericalFault, lower_rate

    try:
        api.train(config, out, resume=resume)
    except NumericalFault as e:
        lower = f"--lr {lower_rate(config.optim.lr):g}"
        if e.last_good_step is None:
            advice = f"train again with a lower learning rate, e.g. {lower}"
        else:
            advice = (f"{out / 'checkpoints' / 'last.pt'} keeps step {e.last_good_step}; continue with "
                      f"'braingan train --resume --out {out}', optionally with a lower rate, e.g. {lower}")
        raise BrainganError(f"{e} {advice}") from e
