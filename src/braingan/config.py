"""Everything that defines a run, one dataclass per component; presets as plain data; TOML in and out.

A run's config is built in layers: defaults < preset < TOML file < command-line flags.
The resolved config is written to ``config.toml`` in the run directory and into every
checkpoint, so a run can be reproduced or resumed from either. Each field is declared with
``knob``: its default, its help text (which ``braingan train --help`` shows) and its range,
so a new setting is one field; every section checks its values in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import tomli_w

from braingan import compat
from braingan.errors import BrainganError
from braingan.io.safe_read import read_regular

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SEED_MAX = 2**32 - 1  # NumPy's RandomState (the seed notebook's --limit draw) takes no larger seed
MAX_RESOLUTION = 1024  # the families' pyramids are laid out for 32-256 px; far beyond, one image is megabytes
MAX_CONFIG_BYTES = 1 << 20  # a run's config is a few hundred bytes; anything near this is not one

# Ranges a knob may declare: (test, how the error names the range).
RANGES: dict[str, tuple[typing.Callable[[float], bool], str]] = {
    "positive": (lambda v: v > 0, "must be positive"),
    # The seed generator's transposed convolutions have half its width: a width of 1 leaves them none.
    "width": (lambda v: v >= 2, "must be at least 2"),
    "seed": (lambda v: 0 <= v <= SEED_MAX, f"must be in [0, {SEED_MAX}]"),
    "non_negative": (lambda v: v >= 0, "must not be negative"),
    "fraction": (lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]"),
    "below_one": (lambda v: 0.0 <= v < 1.0, "must be in [0, 1)"),
    "share": (lambda v: 0.0 < v <= 1.0, "must be a fraction in (0, 1]"),
    "rate": (lambda v: 0.0 < v <= 1.0, "must be in (0, 1]"),  # Adam's steps are about lr: above 1 is no rate
}
PRECISIONS = ("fp32", "bf16")
AUGMENT_MODES = ("off", "fixed", "ada")
AXES = ("axial", "coronal", "sagittal")


def knob(default: Any, help: str, *, flag: str | None = "", range: str | None = None,
         choices: tuple[str, ...] | None = None) -> Any:
    """A config field with its help text, range and command-line flag.

    ``flag`` "" derives ``--field-name`` from the field; None means no flag (set another way)."""
    return field(default=default, metadata={"help": help, "flag": flag, "range": range, "choices": choices})


class ConfigError(BrainganError):
    """A value outside what its field accepts; the caller adds where the value came from."""


class Section:
    """What every config section shares: each field converted to its type and checked for its range."""

    name: ClassVar[str]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            key = f"{self.name}.{f.name}"
            value = _checked(getattr(self, f.name), hints[f.name], key)
            setattr(self, f.name, value)
            if value is None or isinstance(value, bool):
                continue
            if f.metadata.get("range"):
                test, says = RANGES[f.metadata["range"]]
                if not test(value):
                    raise ConfigError(f"{key} {says}, not {value}")
            if f.metadata.get("choices") and value not in f.metadata["choices"]:
                raise ConfigError(f"{key} must be one of {', '.join(f.metadata['choices'])}, not {value!r}")
        self.check()

    def check(self) -> None:
        """Rules between fields, or beyond a range; none by default."""


@dataclass
class DataConfig(Section):
    """Which images to train on and how to preprocess them."""

    name: ClassVar[str] = "data"
    path: str | None = knob(None, "folder of images; none means the embedded demo set", flag=None)
    classes: list[str] | None = knob(None, "comma-separated class sub-folders to use (default: all)")
    resolution: int = knob(128, "image size in pixels (multiple of 8)", range="positive")
    crop: bool = knob(True, "crop to the head's bounding box before padding to square (--no-crop: the "
                            "seed notebook's plain resize)")
    dedupe: bool = knob(True, "drop byte-identical duplicate files")
    limit: int | None = knob(None, "draw N files with replacement, as the seed notebook did", range="positive")
    subset_seed: int = knob(40, "random seed of that draw (seed notebook: 40)", range="seed")
    cache: bool = knob(True, "reuse preprocessed images from the cache")
    exclude: str | None = knob(None, "leave out images that are the same scan as one in this folder (the set a "
                                     "prior will be fine-tuned on), by the copy audit's duplicate distance, "
                                     "mirror images included")
    slices: float = knob(1.0, "central fraction of each DICOM series / NIfTI volume kept", range="share")
    axis: str = knob("axial", "NIfTI cutting plane after reorientation to RAS+", choices=AXES)
    brain_fraction: float = knob(0.05, "drop volume slices with fewer non-background pixels than this",
                                 range="below_one")
    clip_low: float = knob(0.5, "intensity percentile mapped to black (NIfTI; DICOM without a window)")
    clip_high: float = knob(99.5, "intensity percentile mapped to white (NIfTI; DICOM without a window)")

    def check(self) -> None:
        if self.resolution % 8:
            raise ConfigError(f"resolution must be a multiple of 8, not {self.resolution}")
        if self.resolution > MAX_RESOLUTION:
            raise ConfigError(f"resolution must be at most {MAX_RESOLUTION}, not {self.resolution}")
        if not 0.0 <= self.clip_low < self.clip_high <= 100.0:
            raise ConfigError(f"need 0 <= clip_low < clip_high <= 100, not {self.clip_low}, {self.clip_high}")


@dataclass
class ModelConfig(Section):
    """The architecture family and what every family takes (models/registry.py); the resolution
    comes from the data."""

    name: ClassVar[str] = "model"
    arch: str = knob("seed_dcgan", "architecture family (models/registry.py)")
    latent_dim: int = knob(100, "noise dimensions", range="positive")
    g_width: int = knob(256, "generator width (channels)", range="width")
    d_width: int = knob(64, "discriminator width (channels)", range="positive")
    conditional: bool = knob(False, "class-conditional G and D (arch dcgan or fastgan); then `generate --class NAME`")
    g_batchnorm: bool = knob(False, "batch norm in the generator (arch dcgan)")
    d_mbstd: bool = knob(False, "minibatch standard deviation in D, a push toward variety (not the seed's D)")
    # Family options at the fastgan family's own defaults; another value is passed to the family,
    # which refuses it by name if it has no such option.
    g_depth: int = knob(2, "convolutions per generator level (arch fastgan)", range="positive")
    mapping_layers: int = knob(2, "layers of the mapping network from noise to style (arch fastgan)",
                               range="non_negative")


@dataclass
class OptimConfig(Section):
    """Adam for both networks; the defaults are the seed notebook's."""

    name: ClassVar[str] = "optim"
    lr: float = knob(2e-4, "Adam learning rate", range="rate")
    beta1: float = knob(0.5, "Adam beta1", range="below_one")
    beta2: float = knob(0.999, "Adam beta2", range="below_one")
    # 0 divides a weight whose gradient is 0 by 0: NaN at the first step
    eps: float = knob(1e-7, "Adam epsilon (Keras' default, not PyTorch's 1e-8)", flag="--adam-eps",
                      range="positive")
    # FreezeD (Mo et al. 2020): a prior's first layers of D already tell brain texture apart, and
    # a few fine-tuning scans are too few to retrain them without overfitting.
    freeze_d_layers: int = knob(0, "with --init, keep D's first K layers (from the input side) at the prior's "
                                   "weights (FreezeD)", range="non_negative")


@dataclass
class LossConfig(Section):
    """What G and D minimise: the GAN loss and the terms added to it."""

    name: ClassVar[str] = "loss"
    gan: str = knob("bce", "GAN loss: bce (seed), logistic (non-saturating), hinge", flag="--loss")
    r1_gamma: float = knob(0.0, "R1 penalty weight on reals (0: off)", range="non_negative")
    r1_every: int = knob(16, "lazy R1: every K steps, scaled by K", range="positive")
    mode_seeking: float = knob(0.0, "weight of MSGAN's mode-seeking term in G's loss (0: off)",
                               range="non_negative")
    # An untrained G maps all noise to nearly one image, where the term (1 / distance) is huge
    # and would drive G alone: the ramp lets the adversarial loss shape G first.
    mode_seeking_ramp: int = knob(0, "images shown over which that weight rises from 0 (0: no ramp)",
                                  range="non_negative")
    d_reconstruction: float = knob(0.0, "weight of D's error redrawing the reals it is shown, FastGAN's "
                                        "self-supervision (arch fastgan; 0: off)", range="non_negative")


@dataclass
class AugmentConfig(Section):
    """What D sees: differentiable augmentation of every image (fixed or adaptive p) and mirroring."""

    name: ClassVar[str] = "augment"
    mode: str = knob("off", "off, fixed (DiffAugment with probability p) or ada", flag="--augment",
                     choices=AUGMENT_MODES)
    p: float = knob(0.0, "augmentation probability (ada: its start)", flag="--augment-p", range="fraction")
    ada_target: float = knob(0.6, "ADA raises p while E[sign D(real)] is above this", range="fraction")
    ada_every: int = knob(4, "steps between ADA adjustments", range="positive")
    ada_images: int = knob(5000, "images shown for ADA's p to move by 1 at most", range="positive")
    # StyleGAN2-ADA's --mirror: doubles a small set of near-symmetric heads, and G learns the
    # flipped scans too (the copy audit then searches the flipped training scans as well).
    mirror: bool = knob(False, "show each real scan left-right flipped half the time")


@dataclass
class EmaConfig(Section):
    """The moving average of G's weights that samples and exports come from."""

    name: ClassVar[str] = "ema"
    decay: float = knob(0.0, "decay of the generator's moving average per step (0: off)", flag="--ema",
                        range="fraction")


@dataclass
class RunSettings(Section):
    """Schedule, seed, checkpoints, hardware: how the run is carried out, not what is learnt."""

    name: ClassVar[str] = "run"
    batch_size: int = knob(4, "images per step", range="positive")
    steps_per_epoch: int = knob(3750, "steps between sample grids", range="positive")
    epochs: int = knob(10, "number of epochs", range="non_negative")
    # The schedule in the field's unit (StyleGAN's kimg); an --epochs given later replaces it.
    images: int = knob(0, "train until this many images have been shown, in whole steps (0: the schedule is "
                          "epochs x steps_per_epoch steps)", range="non_negative")
    minutes: float = knob(0.0, "wall-clock budget: after this many minutes of training (a resumed run's earlier "
                               "sessions count) stop, checkpoint and export as at the end (0: none)",
                          range="non_negative")
    seed: int = knob(0, "random seed of the run", range="seed")
    checkpoint_every: int = knob(500, "steps between checkpoints", range="positive")
    log_every: int = knob(1, "steps between loss reads (each read syncs with the GPU)", range="positive")
    progress_every: float = knob(60.0, "seconds between progress lines when the output is not a terminal "
                                       "(at the next loss read; the last step always has one)", range="non_negative")
    device: str = knob("auto", "auto, cpu, cuda, cuda:N")
    # channels_last + fused Adam: the plain eager step's math to float rounding (training/fastpath.py)
    fast: bool = knob(True, "fast path: channels_last layout and fused Adam (--no-fast: plain eager)")
    # bf16 pays where the hardware computes it (GPUs; CPUs with avx512_bf16 or AMX); elsewhere
    # PyTorch emulates it, many times slower (training/fastpath.py, benchmarks/RESULTS.md).
    precision: str = knob("fp32", "fp32, or bf16: forward and backward under bf16 autocast, weights and "
                                  "optimizer state in fp32", choices=PRECISIONS)
    # Opt-in until a lent GPU has shown the replayed step equal to the eager one (gpu_check.py).
    cuda_graphs: bool = knob(False, "on a CUDA device, replay each step from a CUDA graph (one launch; lazy R1 "
                                    "steps stay eager)")
    init: str | None = knob(None, "start G, D and EMA from this run's checkpoint (fine-tuning)")


SECTIONS: tuple[type[Section], ...] = (DataConfig, ModelConfig, OptimConfig, LossConfig, AugmentConfig,
                                       EmaConfig, RunSettings)


@dataclass
class RunConfig:
    preset: str = "seed"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    run: RunSettings = field(default_factory=RunSettings)

    @property
    def total_steps(self) -> int:
        """The schedule in steps: enough to show ``run.images`` images, else epochs x steps_per_epoch."""
        r = self.run
        return -(-r.images // r.batch_size) if r.images else r.steps_per_epoch * r.epochs

    @property
    def total_images(self) -> int:
        return self.total_steps * self.run.batch_size

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> RunConfig:
        config = cls()
        apply_overrides(config, values, source)
        return config


# Presets are plain nested dicts of overrides on the defaults above; what each is for, and the
# measurements behind its settings, are in docs/training.md and benchmarks/RESULTS.md.
FEWSHOT = {"augment": {"mode": "ada", "p": 0.2, "ada_target": 0.6}, "ema": {"decay": 0.99}}
FASTGAN: dict[str, Any] = {
    "data": {"resolution": 128},
    "model": {"arch": "fastgan", "latent_dim": 128, "g_width": 32, "d_width": 32, "d_mbstd": True},
    "optim": {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8},
    "loss": {"gan": "hinge", "r1_gamma": 0.1, "r1_every": 16, "d_reconstruction": 1.0},
    "augment": {"mode": "ada", "p": 0.2, "ada_target": 0.6},
    "ema": {"decay": 0.998},
    "run": {"batch_size": 32, "steps_per_epoch": 500, "epochs": 20, "checkpoint_every": 500},
}
PRESETS: dict[str, dict[str, Any]] = {
    # The Keras notebook, exactly: batch 4, 3,750 steps x 10 epochs, Adam(2e-4, 0.5), BCE.
    "seed": {},
    # The seed's DC-GAN scaled down to 64 px for a laptop CPU.
    "demo": {
        "data": {"resolution": 64},
        "model": {"g_width": 128, "d_width": 32},
        "run": {"batch_size": 16, "steps_per_epoch": 300, "epochs": 5, "checkpoint_every": 300},
    },
    # The default of `braingan train`: the seed's networks and optimiser with adaptive
    # augmentation, an EMA generator and two pushes toward variety (minibatch std in D, the
    # mode-seeking term in G's loss, ramped because an untrained G would be driven by it alone).
    "fewshot": {**FEWSHOT, "model": {"d_mbstd": True}, "loss": {"mode_seeking": 0.5, "mode_seeking_ramp": 5000}},
    # The same recipe at 64 px and the demo's widths, for CPUs; at 64 px the mode-seeking term
    # starts far smaller than at 128 px, so it needs neither the ramp nor fewshot's weight.
    "fewshot-fast": {
        **FEWSHOT,
        "data": {"resolution": 64},
        "model": {"g_width": 128, "d_width": 32, "d_mbstd": True},
        "loss": {"mode_seeking": 0.1},
        "run": {"steps_per_epoch": 1500, "epochs": 4, "checkpoint_every": 1500},
    },
    # A brain prior to fine-tune from (`--init`): fewshot-fast's networks and recipe on a large
    # public collection (the 4-class Kaggle set, with --exclude DIR dropping the scans of the set it
    # will be fine-tuned on), at batch 16, with mirror images, for as long as --minutes allows.
    "prior": {
        **FEWSHOT,
        "data": {"resolution": 64},
        "model": {"g_width": 128, "d_width": 32, "d_mbstd": True},
        "loss": {"mode_seeking": 0.1},
        "augment": {**FEWSHOT["augment"], "mirror": True},
        "run": {"batch_size": 16, "images": 4_000_000, "steps_per_epoch": 1500, "checkpoint_every": 500},
    },
    # The scalable dcgan family (64-256 px, spectral-norm D, class conditioning) with the
    # literature's few-shot settings: DiffAugment, StyleGAN2's logistic loss, lazy R1 and EMA.
    # The preset for `--conditional`, which the seed's networks cannot do.
    "fewshot-dcgan": {
        "model": {"arch": "dcgan", "latent_dim": 128, "g_width": 32, "d_width": 32},
        "optim": {"lr": 2e-4, "beta1": 0.0, "beta2": 0.99, "eps": 1e-8},
        "loss": {"gan": "logistic", "r1_gamma": 1.0, "r1_every": 16},
        "augment": {"mode": "fixed", "p": 0.5},
        "ema": {"decay": 0.999},
        "run": {"batch_size": 32, "steps_per_epoch": 500, "epochs": 20},
    },
    # The fastgan family (models/fastgan.py: FastGAN's layout with StyleGAN2's modulated layers,
    # class-conditional; its D also redraws the reals it is shown) with FastGAN's hinge loss and
    # optimiser, ADA, minibatch std, lazy R1 at StyleGAN2-ADA's rule of thumb (gamma = 0.0002 *
    # pixels / batch) and an EMA generator (StyleGAN2-ADA's half-life of 10,000 images at batch 32).
    "fastgan": FASTGAN,
    # The same at 64 px with half the widths, for CPUs.
    "fastgan-fast": {
        **FASTGAN,
        "data": {"resolution": 64},
        "model": {**FASTGAN["model"], "g_width": 16, "d_width": 16},
        "loss": {**FASTGAN["loss"], "r1_gamma": 0.05},
        "run": {"batch_size": 16, "steps_per_epoch": 1500, "epochs": 4, "checkpoint_every": 1500},
    },
}


# What `train DATA --init PRIOR` starts from without a --preset: the prior's networks, loss,
# augmentation and EMA, and the schedule and batch of training from scratch on a small set
# (fewshot-fast's), so that fine-tuning and training from scratch differ only in the start.
FINETUNE_RUN = {"batch_size": 4, "steps_per_epoch": 1500, "epochs": 4, "checkpoint_every": 1500}


def finetune(prior: RunConfig) -> RunConfig:
    """The config of a run fine-tuned from ``prior`` (before --config and flags): the prior's
    sections but data (a fresh one at its resolution and crop) and run (FINETUNE_RUN), without
    mirror images unless asked."""
    config = RunConfig(preset=prior.preset, model=prior.model, optim=prior.optim, loss=prior.loss,
                       augment=dataclasses.replace(prior.augment, mirror=False), ema=prior.ema,
                       data=DataConfig(resolution=prior.data.resolution, crop=prior.data.crop))
    apply_overrides(config, {"run": FINETUNE_RUN}, "fine-tuning")
    return config


def preset(name: str) -> RunConfig:
    """A fresh config for a named preset."""
    if name not in PRESETS:
        raise BrainganError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    config = RunConfig(preset=name)
    apply_overrides(config, PRESETS[name], f"preset {name!r}")
    return config


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file's tables; only a regular file of at most ``MAX_CONFIG_BYTES`` is read."""
    data = read_regular(path, MAX_CONFIG_BYTES)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BrainganError(f"{path}: not valid TOML (not UTF-8 text: byte {data[e.start]:#04x} at {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise BrainganError(f"{path}: not valid TOML ({e})") from e


def dump_toml(config: RunConfig) -> str:
    return tomli_w.dumps(config.to_dict())


def apply_overrides(config: RunConfig, values: dict[str, Any], source: str) -> None:
    """Set fields from a nested dict (old layouts migrated), refusing unknown keys and bad values."""
    if not isinstance(values, dict):
        raise BrainganError(f"{source}: the config must be a table")
    known = [f.name for f in dataclasses.fields(config)]
    for key, value in compat.run_config(values, source).items():
        if key not in known:
            raise BrainganError(f"{source}: unknown key {key!r}; known: {', '.join(known)}")
        if key == "preset":
            if not isinstance(value, str):
                raise BrainganError(f"{source}: preset must be a string, not {value!r}")
            config.preset = value
            continue
        section = getattr(config, key)
        if not isinstance(value, dict):
            raise BrainganError(f"{source}: [{key}] must be a table")
        names = [f.name for f in dataclasses.fields(section)]
        unknown = [k for k in value if k not in names]
        if unknown:
            raise BrainganError(f"{source}: unknown key '{key}.{unknown[0]}'; known: {', '.join(names)}")
        if key == "run" and "epochs" in value and "images" not in value:
            value = {**value, "images": 0}  # a schedule in epochs replaces one in images from a layer below
        try:
            setattr(config, key, dataclasses.replace(section, **value))
        except ConfigError as e:
            raise BrainganError(f"{source}: {e}") from e


def _checked(value: Any, hint: Any, name: str) -> Any:
    """Return value converted to the annotated type, or raise a ConfigError."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    if value is None and type(None) in options:
        return None
    # Text is a path, a name or a device: none can hold NUL (the OS would refuse it deep inside a call).
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    if any(isinstance(text, str) and "\0" in text for text in texts):
        raise ConfigError(f"{name} must not hold a NUL character, not {value!r}")
    for option in options:
        if option is type(None):
            continue
        origin = typing.get_origin(option)
        if origin is list:
            (item,) = typing.get_args(option)
            if isinstance(value, list) and all(isinstance(v, item) for v in value):
                return list(value)
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            # No knob means anything by NaN or inf (TOML and float() accept both), nor by an integer
            # too large for a float: refused here for all.
            if not (abs(value) <= sys.float_info.max and math.isfinite(value)):
                raise ConfigError(f"{name} must be a finite number, not {value}")
            return float(value)
        elif option in (int, str, bool) and type(value) is option:  # type(): a bool is no int here
            return value
    expected = " or ".join(_type_name(o) for o in options)
    raise ConfigError(f"{name} must be {expected}, not {value!r}")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "absent"
    if typing.get_origin(hint) is list:
        return f"a list of {typing.get_args(hint)[0].__name__}"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}[hint]


def field_type(hint: Any) -> Any:
    """The one non-None type of a field's annotation (what a command-line flag parses)."""
    options = [o for o in (typing.get_args(hint) if _is_union(hint) else (hint,)) if o is not type(None)]
    return options[0]


def _drop_none(value: Any) -> Any:
    """TOML has no null: absent keys mean 'default'."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value
