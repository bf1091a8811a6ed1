"""What a new user meets first: answers without torch, flags that cannot be mistyped, checks before
the data is read, messages that say what happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import braingan
from braingan import api
from braingan.cli import main
from conftest import REPO

TINY = ["--resolution", "32", "--g-width", "8", "--d-width", "8", "--batch-size", "4", "--steps-per-epoch", "2",
        "--epochs", "1"]


def test_help_version_and_argument_errors_need_no_torch():
    """Building the parser imports no torch, so these answer at once (timed in benchmarks/bench_cli.py)."""
    code = ("import sys; from braingan.cli import build_parser, main\n"
            "build_parser()\n"
            "for argv in (['--version'], ['train', '--help'], ['train', 'x', '--epoch', '1']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": ""})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("argv, suggestion", [(["train", "DATA", "--epoch", "1"], "did you mean --epochs?"),
                                              (["train", "DATA", "--batchsize", "8"], "did you mean --batch-size?"),
                                              (["generate", "RUN", "-n", "2", "--out", "o", "--sed", "1"],
                                               "did you mean --seed?")])
def test_abbreviated_or_mistyped_flags_are_refused_with_the_commands_usage(argv, suggestion, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"usage: braingan {argv[0]}" in err and "unrecognized arguments" in err and suggestion in err


def test_a_network_that_cannot_condition_is_refused_before_any_data_is_read(small_mri, tmp_path, monkeypatch,
                                                                            capsys):
    def no_reading(*args, **kwargs):
        raise AssertionError("data was read before the check")

    monkeypatch.setattr(api, "load_dataset", no_reading)
    assert main(["train", str(small_mri), "--conditional", "--out", str(tmp_path / "run"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "'seed_dcgan'" in err and "no class embedding" in err and "fewshot-dcgan" in err
    assert not (tmp_path / "run").exists()


def test_a_conditional_generator_without_a_class_makes_every_class_in_turn_and_says_so(two_classes, tmp_path,
                                                                                       capsys):
    run = tmp_path / "run"
    assert main(["train", str(two_classes), "--preset", "fewshot-dcgan", "--conditional", "--out", str(run),
                 *TINY]) == 0
    synth = braingan.load(run)
    mixed, no, yes = (synth.generate(4, seed=3, label=label) for label in (None, "no", "yes"))
    assert np.array_equal(mixed[0::2], no[0::2]) and np.array_equal(mixed[1::2], yes[1::2])
    capsys.readouterr()
    assert main(["generate", str(run), "-n", "4", "--seed", "3", "--out", str(tmp_path / "png")]) == 0
    assert "no --class given: the classes in turn (no, yes)" in capsys.readouterr().out


def test_evaluating_again_keeps_the_earlier_metrics(small_mri, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(small_mri), "--preset", "seed", "--out", str(run), *TINY]) == 0
    for seed in ("0", "1"):
        assert main(["evaluate", str(run), "--n", "8", "--metrics", "swd", "--seed", seed]) == 0
    out = capsys.readouterr().out
    assert "of an earlier evaluation kept as metrics.previous.json" in out
    first, second = (json.loads((run / name).read_text()) for name in ("metrics.previous.json", "metrics.json"))
    assert first["fake"].endswith("seed 0") and second["fake"].endswith("seed 1")


def test_the_demo_says_what_it_trained_how_to_read_it_and_what_next(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "")  # a new shell whose venv is not active: the hints give a path that works
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--resolution", "32", "--g-width", "8", "--d-width", "8",
                 "--batch-size", "4", "--steps-per-epoch", "2", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "the 'demo' preset (seed_dcgan networks, 32 px) trained 2 steps (8 images shown)" in printed
    assert "how to read it:" in printed and f"{out}/samples/step_*.png" in printed
    hint = next(line for line in printed.splitlines() if line.startswith("next: "))
    command = hint.removeprefix("next: ").split(" generate ")[0]
    assert command != "braingan" and ("braingan" in command)


def test_the_report_opens_with_a_summary_that_reads_each_number(small_mri, tmp_path):
    from braingan.report.html import render

    run = tmp_path / "run"
    assert main(["train", str(small_mri), "--preset", "seed", "--out", str(run), *TINY]) == 0
    assert main(["evaluate", str(run), "--n", "8", "--metrics", "swd,diversity,memorization"]) == 0
    page = render(run)
    summary = page[page.index("<h2>Summary</h2>"):page.index("<h2>Metrics</h2>")]
    assert "2 of 2 steps, 8 images shown" in summary and "the latest grid, step_000002" in summary
    for reading in ("SWD ", "Variety ratio ", "Copy audit: "):
        assert reading in summary
    assert page.index("<h2>Summary</h2>") < page.index("<h2>Metrics</h2>") < page.index("<h2>Configuration</h2>")
    # A bad reading is said plainly: all-zero precision, recall and coverage.
    report = json.loads((run / "metrics.json").read_text())
    report["metrics"]["prdc"] = {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0, "k": 5}
    (run / "metrics.json").write_text(json.dumps(report))
    assert "Precision, recall and coverage are all 0" in render(run)


def test_progress_lines_reach_a_pipe_while_the_run_goes_on(small_mri, tmp_path):
    """Without a terminal (a log file, nohup, a pipe) each progress line is written as it is printed."""
    args = [sys.executable, "-m", "braingan", "train", str(small_mri), "--preset", "seed", "--out", str(tmp_path / "r"),
            *TINY[:-4], "--steps-per-epoch", "1000", "--epochs", "1", "--progress-every", "1"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**env, "PYTHONPATH": str(REPO / "src")})
    try:
        line = ""
        while not line.startswith("step "):
            line = proc.stdout.readline()
            assert line, "the run ended without a progress line"
        assert not (tmp_path / "r" / "generator.safetensors").exists()  # printed mid-run, not flushed at the end
        assert "/1000: d_loss" in line and "images/s" in line
    finally:
        proc.kill()
        proc.wait()
