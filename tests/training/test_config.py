"""The run config: sections that check themselves, flags made from fields, old layouts migrated."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from braingan.cli import build_parser
from braingan.cli.train import build_config
from braingan.config import (
    SECTIONS,
    AugmentConfig,
    ConfigError,
    DataConfig,
    RunConfig,
    apply_overrides,
    dump_toml,
    load_toml,
    preset,
)
from braingan.errors import BrainganError

OLD_TOML = """\
preset = "fewshot"
[data]
resolution = 64
[model]
d_mbstd = true
[train]
batch_size = 8
lr = 0.001
adam_eps = 1e-8
loss = "hinge"
r1_gamma = 2.0
mode_seeking = 0.3
augment = "ada"
augment_p = 0.1
mirror = true
ema = 0.995
init = "runs/prior"
fast = false
"""


def test_a_config_toml_of_the_old_layout_loads_into_the_sections(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(OLD_TOML)
    config = RunConfig.from_dict(load_toml(path), str(path))
    assert (config.run.batch_size, config.run.init, config.run.fast) == (8, "runs/prior", False)
    assert (config.optim.lr, config.optim.eps) == (0.001, 1e-8)
    assert (config.loss.gan, config.loss.r1_gamma, config.loss.mode_seeking) == ("hinge", 2.0, 0.3)
    assert (config.augment.mode, config.augment.p, config.augment.mirror) == ("ada", 0.1, True)
    assert config.ema.decay == 0.995 and config.data.resolution == 64 and config.model.d_mbstd
    # Written back in today's layout, it reads the same.
    assert RunConfig.from_dict(load_toml_text(tmp_path, dump_toml(config))) == config
    assert "[train]" not in dump_toml(config)


def load_toml_text(tmp_path, text):
    path = tmp_path / "again.toml"
    path.write_text(text)
    return load_toml(path)


def test_every_preset_round_trips_through_toml(tmp_path):
    for name in ("seed", "demo", "fewshot", "fewshot-fast", "fewshot-dcgan"):
        config = preset(name)
        assert RunConfig.from_dict(load_toml_text(tmp_path, dump_toml(config))) == config


def test_the_seed_preset_keeps_the_notebooks_settings():
    c = preset("seed")
    assert (c.run.batch_size, c.run.steps_per_epoch, c.run.epochs) == (4, 3750, 10)
    assert (c.optim.lr, c.optim.beta1, c.optim.beta2, c.optim.eps) == (2e-4, 0.5, 0.999, 1e-7)
    assert (c.loss.gan, c.augment.mode, c.ema.decay, c.model.arch) == ("bce", "off", 0.0, "seed_dcgan")


def test_each_section_checks_its_values_when_built():
    with pytest.raises(ConfigError, match="resolution must be a multiple of 8"):
        DataConfig(resolution=36)
    with pytest.raises(ConfigError, match="mode must be one of off, fixed, ada"):
        AugmentConfig(mode="sometimes")
    with pytest.raises(ConfigError, match="augment.p must be a number"):
        AugmentConfig(p="high")
    config = preset("seed")
    with pytest.raises(BrainganError, match=r"run.toml: ema.decay must be in \[0, 1\], not 1.5"):
        apply_overrides(config, {"ema": {"decay": 1.5}}, "run.toml")
    with pytest.raises(BrainganError, match="unknown key 'loss.r2_gamma'"):
        apply_overrides(config, {"loss": {"r2_gamma": 1.0}}, "run.toml")
    assert config == preset("seed")  # a refused override changes nothing


def train_parser() -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["train"]


def test_every_field_has_a_flag_with_its_help_and_sets_that_field():
    parser = train_parser()
    by_dest = {a.dest: a for a in parser._actions}
    for section in SECTIONS:
        for f in dataclasses.fields(section):
            key = f"{section.name}.{f.name}"
            if f.metadata["flag"] is None:
                assert key not in by_dest
                continue
            assert by_dest[key].help == f.metadata["help"], key
    # A flag lands in its field, through the same layers as a config file.
    args = parser.parse_args(
        [
            "DATA",
            "--adam-eps",
            "1e-6",
            "--augment",
            "fixed",
            "--augment-p",
            "0.3",
            "--ema",
            "0.9",
            "--loss",
            "hinge",
            "--no-crop",
            "--classes",
            "yes, no",
            "--progress-every",
            "5",
        ]
    )
    config = build_config(args)
    assert (config.optim.eps, config.augment.mode, config.augment.p, config.ema.decay) == (1e-6, "fixed", 0.3, 0.9)
    assert (config.loss.gan, config.data.crop, config.data.classes) == ("hinge", False, ["yes", "no"])
    assert (config.data.path, config.run.progress_every) == ("DATA", 5.0)
    untouched = build_config(parser.parse_args(["DATA"]))
    assert untouched.optim == preset("fewshot").optim  # flags not given leave the preset's values
