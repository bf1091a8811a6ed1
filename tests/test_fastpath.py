"""``train.fast`` (channels_last + fused Adam) computes what the plain eager path computes."""

import torch

import braingan
from braingan.training.checkpoint import load_checkpoint
from braingan.training.logs import LossLog
from conftest import tiny_config


def test_fast_path_matches_the_plain_eager_path(small_yes, tmp_path):
    runs = {}
    for fast in (False, True):
        config = tiny_config(small_yes, steps=6, fast=fast)
        runs[fast] = braingan.train(config, tmp_path / f"fast_{fast}", log=lambda _: None)

    plain, fast = (LossLog(runs[f] / "log.csv").read() for f in (False, True))
    assert len(plain) == len(fast) == 6
    for a, b in zip(plain, fast):
        assert abs(a["d_loss"] - b["d_loss"]) < 1e-4 and abs(a["g_loss"] - b["g_loss"]) < 1e-4, (a, b)
    state = {f: load_checkpoint(runs[f] / "checkpoints" / "last.pt") for f in (False, True)}
    for part in ("generator", "discriminator"):
        for key, value in state[False][part].items():
            # Adam moves each weight by about lr per step, so rounding differences stay far below that.
            torch.testing.assert_close(state[True][part][key], value, atol=1e-5, rtol=1e-4, msg=f"{part}.{key}")
