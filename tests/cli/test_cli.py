import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from braingan import __version__
from braingan.cli import main

TINY = ["--resolution", "32", "--g-width", "16", "--d-width", "8", "--steps-per-epoch", "3", "--epochs", "1"]


def test_train_then_generate_end_to_end(small_mri, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(small_mri), "--out", str(run), *TINY]) == 0
    assert (run / "generator.safetensors").is_file()
    out = tmp_path / "png"
    grid = tmp_path / "g.png"
    assert main(["generate", str(run), "-n", "5", "--out", str(out), "--seed", "1", "--grid", str(grid)]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"sample_{i:05d}.png" for i in range(5)]
    first = Image.open(files[0])
    assert first.mode == "L" and first.size == (32, 32)
    assert Image.open(grid).size == (3 * 32 + 2 * 2, 2 * 32 + 2)
    again = tmp_path / "png2"
    assert main(["generate", str(run), "-n", "5", "--out", str(again), "--seed", "1"]) == 0
    for a, b in zip(files, sorted(again.iterdir())):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_config_file_and_flags_layer_over_the_preset(small_mri, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("[train]\nlr = 0.001\nbatch_size = 2\n[model]\ng_width = 16\nd_width = 8\n")
    run = tmp_path / "run"
    args = ["train", str(small_mri), "--out", str(run), "--config", str(config), "--resolution", "32",
            "--steps-per-epoch", "2", "--epochs", "1", "--batch-size", "3", "--no-d-mbstd", "--mode-seeking-ramp", "9"]
    assert main(args) == 0
    written = (run / "config.toml").read_text()
    assert "lr = 0.001" in written and "batch_size = 3" in written and "steps_per_epoch = 2" in written
    assert "d_mbstd = false" in written and "mode_seeking_ramp = 9" in written  # the preset has true, 5000


def test_resume_extends_a_run(small_mri, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(small_mri), "--out", str(run), *TINY]) == 0
    assert main(["train", "--resume", "--out", str(run), "--epochs", "2"]) == 0
    log = (run / "log.csv").read_text().splitlines()
    assert log[-1].startswith("6,2,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "{missing}", "--out", "{tmp}/r"], "no such folder"),
        (["train", "{empty}", "--out", "{tmp}/r"], "no usable image"),
        (["train", "{data}", "--classes", "maybe", "--out", "{tmp}/r"], "cannot apply"),
        (["generate", "{tmp}", "-n", "3", "--out", "{tmp}/o"], "no trained generator"),
        (["train", "{data}", "--epochs", "-1", "--out", "{tmp}/r"], "must not be negative"),
        (["train", "{data}", "--config", "{tmp}/bad.toml", "--out", "{tmp}/r"], "unknown key"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, small_mri, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.toml").write_text("[train]\nlearning_rate = 1\n")
    values = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "data": small_mri, "tmp": tmp_path}
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_version_and_help_as_a_real_process():
    result = subprocess.run([sys.executable, "-m", "braingan", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"braingan {__version__}"
    for command in ("train", "generate", "demo"):
        result = subprocess.run([sys.executable, "-m", "braingan", command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "usage: braingan " + command in result.stdout
