"""``train.fast`` (channels_last + fused Adam) computes what the plain eager path computes."""

import pytest
import torch

import braingan
from braingan.cli import main
from braingan.data import load_dataset
from braingan.training.checkpoint import load_checkpoint
from braingan.training.fastpath import computes_bf16
from braingan.training.logs import LossLog
from braingan.training.loop import Trainer
from conftest import tiny_config


def test_fast_path_matches_the_plain_eager_path(small_mri, tmp_path):
    runs = {}
    for fast in (False, True):
        config = tiny_config(small_mri, steps=6, fast=fast)
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


def test_the_switch_selects_layout_and_optimizer(small_mri, tmp_path):
    dataset = load_dataset(tiny_config(small_mri).data, log=lambda _: None)
    for fast in (True, False):
        trainer = Trainer(tiny_config(small_mri, fast=fast), dataset, tmp_path / str(fast), log=lambda _: None)
        m = trainer.models
        convs = [p for net in (m.generator, m.discriminator) for p in net.parameters() if p.dim() == 4]
        layout = torch.channels_last if fast else torch.contiguous_format
        assert all(p.is_contiguous(memory_format=layout) for p in convs)
        assert m.opt_g.defaults["fused"] is (True if fast else None)


def test_no_fast_flag_reaches_the_run_config(small_mri, tmp_path):
    run = tmp_path / "run"
    args = ["train", str(small_mri), "--out", str(run), "--resolution", "32", "--g-width", "16", "--d-width", "8",
            "--steps-per-epoch", "1", "--epochs", "1", "--no-fast"]
    assert main(args) == 0
    assert "fast = false" in (run / "config.toml").read_text()


def test_bf16_precision_computes_in_bf16_and_keeps_fp32_weights_and_optimizer_state(small_mri, tmp_path):
    runs = {}
    for precision in ("fp32", "bf16"):
        config = tiny_config(small_mri, steps=3)
        config.run.precision = precision
        trainer = Trainer(config, load_dataset(config.data, log=lambda _: None), tmp_path / precision,
                          log=lambda _: None)
        seen = []
        first = next(m for m in trainer.models.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d))
        first.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
        trainer.fit()
        # the training steps' forwards (sample grids and the exported generator are drawn in fp32)
        assert seen.count(torch.bfloat16) == (3 if precision == "bf16" else 0)
        runs[precision] = load_checkpoint(tmp_path / precision / "checkpoints" / "last.pt")
    for part in ("generator", "discriminator"):
        bf16, fp32 = runs["bf16"][part], runs["fp32"][part]
        assert all(v.dtype == torch.float32 for v in bf16.values())
        assert not all(torch.equal(bf16[k], fp32[k]) for k in fp32)  # the rounding reached the updates
        # Adam moves each weight by at most about lr per step: bf16's rounding changes the steps, not the scale
        assert max((bf16[k] - fp32[k]).abs().max().item() for k in fp32) < 4 * 3 * 2e-4
    moments = [s["exp_avg"] for s in runs["bf16"]["opt_g"]["state"].values()]
    assert moments and all(m.dtype == torch.float32 for m in moments)


def test_bf16_generation_computes_in_bf16_and_changes_few_grey_levels(finished_run, tmp_path):
    fp32, bf16 = (braingan.load(finished_run, device="cpu", precision=p) for p in ("fp32", "bf16"))
    assert bf16.precision == "bf16"  # its probe batch kept the images
    assert (bf16.precision_note is None) == computes_bf16(torch.device("cpu"))  # else: emulated, and said
    seen = []
    first = next(m for m in bf16.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    first.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    a, b = fp32.generate(40, seed=3).astype(int), bf16.generate(40, seed=3).astype(int)
    assert seen and set(seen) == {torch.bfloat16}
    change = abs(a - b)
    assert change.any() and change.mean() < 1  # bf16 rounds, by a grey level or so, not more
    assert bf16.generate_tensor(2, seed=0).dtype == torch.float32

    out = tmp_path / "png"
    assert main(["generate", str(finished_run), "-n", "4", "--out", str(out), "--seed", "3", "--precision", "bf16",
                 "--device", "cpu"]) == 0
    assert len(list(out.glob("*.png"))) == 4
    with pytest.raises(braingan.BrainganError, match="precision must be one of fp32, bf16"):
        braingan.load(finished_run, precision="fp16")


def test_bf16_generation_falls_back_to_fp32_where_it_would_change_the_images(finished_run, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.setattr(braingan.api, "BF16_TOLERANCE", -1.0)  # a bar no generator meets
    synthesizer = braingan.load(finished_run, device="cpu", precision="bf16")
    assert synthesizer.precision == "fp32" and "generating in fp32" in synthesizer.precision_note
    assert main(["generate", str(finished_run), "-n", "2", "--out", str(tmp_path / "png"), "--precision", "bf16",
                 "--device", "cpu"]) == 0
    assert "more than one grey level" in capsys.readouterr().out
