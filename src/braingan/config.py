"""Everything that defines a run, as dataclasses; presets as plain data; TOML in and out.

A run's config is built in layers: defaults < preset < TOML file < command-line flags.
The resolved config is written to ``config.toml`` in the run directory and into every
checkpoint, so a run can be reproduced or resumed from either.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from braingan.errors import BrainganError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass
class DataConfig:
    """Which images to train on and how to preprocess them."""

    path: str | None = None  # folder of images; None means the embedded demo set
    classes: list[str] | None = None  # sub-folders to use; None means all
    resolution: int = 128
    crop: bool = True  # crop to the head's bounding box before padding to square
    dedupe: bool = True  # drop byte-identical files
    limit: int | None = None  # draw this many files, as the seed notebook did
    subset_seed: int = 40
    cache: bool = True
    # DICOM series and NIfTI volumes (images ignore these):
    slices: float = 1.0  # central fraction of each series (DICOM SeriesInstanceUID, NIfTI file) kept
    axis: str = "axial"  # NIfTI cutting plane after reorientation to RAS+: axial, coronal, sagittal
    brain_fraction: float = 0.05  # drop volume slices with fewer non-background pixels than this
    clip_low: float = 0.5  # intensity percentiles mapped to black and white (NIfTI; DICOM without a window)
    clip_high: float = 99.5


@dataclass
class ModelConfig:
    """Architecture name and its size; the resolution comes from the data config."""

    arch: str = "seed_dcgan"
    latent_dim: int = 100
    g_width: int = 256  # channels after the generator's dense layer
    d_width: int = 64  # channels of the discriminator's first convolution
    conditional: bool = False  # class embedding in G, projection head in D (arch "dcgan")
    g_batchnorm: bool = False  # batch norm in the generator (arch "dcgan")
    d_mbstd: bool = False  # minibatch standard deviation in D, groups of up to 4 (not the seed's D)


@dataclass
class TrainConfig:
    """Optimisation schedule; the defaults are the seed notebook's."""

    batch_size: int = 4
    steps_per_epoch: int = 3750
    epochs: int = 10
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    adam_eps: float = 1e-7  # Keras' Adam default, not PyTorch's 1e-8
    loss: str = "bce"  # "bce" (seed), "logistic" (non-saturating), "hinge"
    r1_gamma: float = 0.0  # R1 penalty weight on reals; 0 is off
    r1_every: int = 16  # lazy R1: every k steps, scaled by k
    mode_seeking: float = 0.0  # weight of MSGAN's mode-seeking term in G's loss; 0 is off
    # images shown over which that weight rises linearly from 0: an untrained G maps all noise to
    # nearly one image, where the term (1 / distance) is huge and would drive G alone; 0: no ramp
    mode_seeking_ramp: int = 0
    # each real image shown left-right flipped with probability 1/2 (StyleGAN2-ADA's --mirror):
    # doubles a small set of near-symmetric heads, and G learns the flipped scans too
    mirror: bool = False
    ema: float = 0.0  # decay of the generator's moving average per step; 0 is off
    augment: str = "off"  # "off", "fixed" (DiffAugment with probability augment_p) or "ada"
    augment_p: float = 0.0  # probability of each augmentation (ADA: its starting value)
    ada_target: float = 0.6  # ADA raises p while E[sign D(real)] is above this
    ada_every: int = 4  # steps between ADA adjustments
    # images shown for p to move by 1 at most: with 5,000, p follows D's over-confidence
    # sooner than with 20,000, which left more copies at 128 px (RESULTS.md, issue 3)
    ada_images: int = 5000
    init: str | None = None  # run directory whose checkpoint starts G, D and EMA (fine-tuning)
    seed: int = 0
    checkpoint_every: int = 500  # steps
    log_every: int = 1  # steps between loss reads (each read syncs with the GPU)
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    # channels_last layout + fused Adam: the same math as the plain eager path (to float
    # rounding), 1.4x faster on CPU; false gives the plain path (training/fastpath.py).
    fast: bool = True


@dataclass
class RunConfig:
    preset: str = "seed"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def total_steps(self) -> int:
        return self.train.steps_per_epoch * self.train.epochs

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> RunConfig:
        config = cls()
        apply_overrides(config, values, source)
        return config


# Presets are plain nested dicts of overrides on the defaults above.
# What the few-shot presets add to the seed's training: ADA from p = 0.2 toward the target,
# and the EMA generator (issue 3's measurements, benchmarks/RESULTS.md).
FEWSHOT_TRAIN = {"augment": "ada", "augment_p": 0.2, "ada_target": 0.6, "ema": 0.99}
PRESETS: dict[str, dict[str, Any]] = {
    # The Keras notebook, exactly: batch 4, 3,750 steps x 10 epochs, Adam(2e-4, 0.5), BCE.
    "seed": {},
    # The seed's DC-GAN scaled down to 64 px for a laptop CPU (a baseline for fewshot-fast).
    "demo": {
        "data": {"resolution": 64},
        "model": {"g_width": 128, "d_width": 32},
        "train": {"batch_size": 16, "steps_per_epoch": 300, "epochs": 5, "checkpoint_every": 300},
    },
    # Few-shot recipe, the default of `braingan train`: the seed's networks and optimiser, with
    # adaptive augmentation of everything D sees and an EMA generator, which won issue 3's
    # comparisons against the seed (128 px on a GPU, 64 px on a CPU: far fewer copies of the 20
    # scans, lower FID and SWD on 155; fixed-p augmentation and the dcgan family did worse).
    # Plus two pushes toward variety: minibatch std in D, and the mode-seeking term in G's loss,
    # its weight ramped over the first 5,000 images (unramped, it drove an untrained full-width G
    # alone). At 128 px on a GPU to 48,000 images, raising the weight from 0.1 to 0.3 to 0.5
    # lowered the MS-SSIM ratio (every pair counted) in every paired seed, with SWD lower (0.3) or
    # the same (0.5): on the seed's 20 scans 1.50-1.64, 1.36-1.49, 1.27-1.42 (the scans they left
    # out score 1.25), with SWD 29-31 and 2-11 copies of 300 at 0.3 and 0.5; on 155 scans weight
    # 0.5 (one seed) had SWD 22.2 and ratio 1.00 (0.3: 22.3-22.8, 1.01-1.14; no terms: 28.8-29.3,
    # 1.46-1.49); at 24,000 images, in three seeds, a lower ratio than 0.3 for an SWD 0.7-2.2
    # higher. FID unchanged (benchmarks/RESULTS.md).
    "fewshot": {"model": {"d_mbstd": True}, "train": {**FEWSHOT_TRAIN, "mode_seeking": 0.5, "mode_seeking_ramp": 5000}},
    # The recipe at 64 px and the demo's widths, for CPUs: 24,000 images shown, as measured, with
    # mode-seeking weight 0.1 and no ramp (at 64 px the term starts 30x smaller than at 128 px).
    # The variety terms won at 64 px in 2 seeds each: lower MS-SSIM ratio in all 4 runs, fewer
    # copies and a lower SWD on the 20 scans; mean ratio 1.085 over 4 seeds on 155. Adding the
    # ramp, or the ramp and weight 0.3 or 0.5 (as in `fewshot`), was mixed here: a lower ratio
    # and fewer copies on the 20 scans, but a higher SWD there, in 2 seeds.
    "fewshot-fast": {
        "data": {"resolution": 64},
        "model": {"g_width": 128, "d_width": 32, "d_mbstd": True},
        "train": {"steps_per_epoch": 1500, "epochs": 4, "checkpoint_every": 1500, **FEWSHOT_TRAIN,
                  "mode_seeking": 0.1},
    },
    # The scalable dcgan family (64-256 px, spectral-norm D, class conditioning) with the
    # literature's few-shot settings (DiffAugment, StyleGAN2's logistic loss, lazy R1 and EMA):
    # the preset for `--conditional`, which the seed's networks cannot do. At 64 px on CPU and
    # its width 16 it trailed the seed's networks (benchmarks/RESULTS.md).
    "fewshot-dcgan": {
        "model": {"arch": "dcgan", "latent_dim": 128, "g_width": 32, "d_width": 32},
        "train": {
            "batch_size": 32, "steps_per_epoch": 500, "epochs": 20, "loss": "logistic",
            "lr": 2e-4, "beta1": 0.0, "beta2": 0.99, "adam_eps": 1e-8,
            "r1_gamma": 1.0, "r1_every": 16, "ema": 0.999, "augment": "fixed", "augment_p": 0.5,
        },
    },
}


def preset(name: str) -> RunConfig:
    """A fresh config for a named preset."""
    if name not in PRESETS:
        raise BrainganError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    config = RunConfig(preset=name)
    apply_overrides(config, PRESETS[name], f"preset {name!r}")
    return config


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise BrainganError(f"{path}: cannot read config ({e.strerror or e})") from e
    except tomllib.TOMLDecodeError as e:
        raise BrainganError(f"{path}: not valid TOML ({e})") from e


def dump_toml(config: RunConfig) -> str:
    return tomli_w.dumps(config.to_dict())


def apply_overrides(target: Any, values: dict[str, Any], source: str, prefix: str = "") -> None:
    """Set dataclass fields from a nested dict, refusing unknown keys and wrong types."""
    if not isinstance(values, dict):
        raise BrainganError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(target)}
    hints = typing.get_type_hints(type(target))
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise BrainganError(f"{source}: unknown key {name!r}; known: {', '.join(fields)}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            apply_overrides(current, value, source, prefix=f"{name}.")
        else:
            setattr(target, key, _checked(value, hints[key], name, source))
    _validate(target, source)


def _checked(value: Any, hint: Any, name: str, source: str) -> Any:
    """Return value converted to the annotated type, or raise a BrainganError."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        origin = typing.get_origin(option)
        if origin is list:
            (item,) = typing.get_args(option)
            if isinstance(value, list) and all(isinstance(v, item) for v in value):
                return list(value)
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        elif option in (str, bool) and isinstance(value, option):
            return value
    expected = " or ".join(_type_name(o) for o in options)
    raise BrainganError(f"{source}: {name} must be {expected}, not {value!r}")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "absent"
    if typing.get_origin(hint) is list:
        return f"a list of {typing.get_args(hint)[0].__name__}"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}[hint]


_POSITIVE = {
    "resolution", "limit", "latent_dim", "g_width", "d_width", "batch_size",
    "steps_per_epoch", "checkpoint_every", "log_every", "lr", "r1_every", "ada_every", "ada_images",
}
_NON_NEGATIVE = {"epochs", "adam_eps", "r1_gamma", "mode_seeking", "mode_seeking_ramp"}
_FRACTIONS = {"ema", "augment_p", "ada_target"}
AUGMENT_MODES = ("off", "fixed", "ada")


def _validate(section: Any, source: str) -> None:
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if f.name in _POSITIVE and value <= 0:
                raise BrainganError(f"{source}: {f.name} must be positive, not {value}")
            if f.name in _NON_NEGATIVE and value < 0:
                raise BrainganError(f"{source}: {f.name} must not be negative, not {value}")
            if f.name in _FRACTIONS and not 0.0 <= value <= 1.0:
                raise BrainganError(f"{source}: {f.name} must be in [0, 1], not {value}")
    if isinstance(section, DataConfig) and section.resolution % 8:
        raise BrainganError(f"{source}: resolution must be a multiple of 8, not {section.resolution}")
    if isinstance(section, DataConfig):
        _validate_volumes(section, source)
    if isinstance(section, TrainConfig):
        for beta in ("beta1", "beta2"):
            if not 0.0 <= getattr(section, beta) < 1.0:
                raise BrainganError(f"{source}: {beta} must be in [0, 1), not {getattr(section, beta)}")
        if section.augment not in AUGMENT_MODES:
            raise BrainganError(f"{source}: augment must be one of {', '.join(AUGMENT_MODES)}, not {section.augment!r}")


def _validate_volumes(data: DataConfig, source: str) -> None:
    if not 0.0 < data.slices <= 1.0:
        raise BrainganError(f"{source}: slices must be a fraction in (0, 1], not {data.slices}")
    if data.axis not in ("axial", "coronal", "sagittal"):
        raise BrainganError(f"{source}: axis must be axial, coronal or sagittal, not {data.axis!r}")
    if not 0.0 <= data.brain_fraction < 1.0:
        raise BrainganError(f"{source}: brain_fraction must be in [0, 1), not {data.brain_fraction}")
    if not 0.0 <= data.clip_low < data.clip_high <= 100.0:
        raise BrainganError(f"{source}: need 0 <= clip_low < clip_high <= 100, not {data.clip_low}, {data.clip_high}")


def _drop_none(value: Any) -> Any:
    """TOML has no null: absent keys mean 'default'."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value
