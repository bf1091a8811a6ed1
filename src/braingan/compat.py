"""Reading what older braingan wrote: the one place that knows earlier layouts.

- Run configs (config.toml, the config inside checkpoints) kept optimiser, loss,
  augmentation, EMA and run settings in one ``[train]`` table.
- generator.json named each family's width ``g_width``.
"""

from __future__ import annotations

from typing import Any

from braingan.errors import BrainganError

# old [train] key -> (section, key) of today's layout
TRAIN_KEYS: dict[str, tuple[str, str]] = {
    "lr": ("optim", "lr"), "beta1": ("optim", "beta1"), "beta2": ("optim", "beta2"), "adam_eps": ("optim", "eps"),
    "loss": ("loss", "gan"), "r1_gamma": ("loss", "r1_gamma"), "r1_every": ("loss", "r1_every"),
    "mode_seeking": ("loss", "mode_seeking"), "mode_seeking_ramp": ("loss", "mode_seeking_ramp"),
    "augment": ("augment", "mode"), "augment_p": ("augment", "p"), "ada_target": ("augment", "ada_target"),
    "ada_every": ("augment", "ada_every"), "ada_images": ("augment", "ada_images"), "mirror": ("augment", "mirror"),
    "ema": ("ema", "decay"),
    **{key: ("run", key) for key in ("batch_size", "steps_per_epoch", "epochs", "seed", "checkpoint_every",
                                     "log_every", "device", "fast", "init")},
}


def run_config(values: dict[str, Any], source: str) -> dict[str, Any]:
    """A run config dict in today's layout: an old ``[train]`` table is split into its sections."""
    if "train" not in values:
        return values
    train = values["train"]
    if not isinstance(train, dict):
        raise BrainganError(f"{source}: [train] must be a table")
    migrated = {key: dict(value) if isinstance(value, dict) else value
                for key, value in values.items() if key != "train"}
    for key, value in train.items():
        if key not in TRAIN_KEYS:
            raise BrainganError(f"{source}: unknown key 'train.{key}'; known: {', '.join(TRAIN_KEYS)}")
        section, name = TRAIN_KEYS[key]
        table = migrated.setdefault(section, {})
        if not isinstance(table, dict):
            raise BrainganError(f"{source}: [{section}] must be a table")
        table.setdefault(name, value)  # a key given in the new layout too wins
    return migrated


def generator_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A generator's constructor arguments from generator.json, in today's names."""
    if "g_width" in kwargs:
        if "width" in kwargs:  # one would silently replace the other
            raise BrainganError(f"the width is given twice (g_width {kwargs['g_width']}, width {kwargs['width']})")
        kwargs = {("width" if key == "g_width" else key): value for key, value in kwargs.items()}
    return kwargs
