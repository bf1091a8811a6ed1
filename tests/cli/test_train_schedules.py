"""`--images`, `--minutes` and resuming past the schedule, as a user types them."""

from braingan.cli import main
from braingan.io.generator_files import read_generator_file
from braingan.training.checkpoint import load_checkpoint

TINY = ["--preset", "seed", "--resolution", "32", "--g-width", "8", "--d-width", "8", "--batch-size", "4"]


def step_of(run) -> int:
    return load_checkpoint(run / "checkpoints" / "last.pt")["step"]


def test_images_then_a_shorter_resume_then_a_longer_one(small_mri, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(small_mri), "--out", str(run), *TINY, "--images", "12"]) == 0
    assert step_of(run) == 3
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(run), "--images", "8"]) == 0
    out = capsys.readouterr().out
    assert "is at step 3 (12 images shown), already past the schedule it was resumed with (2 steps, 8 images)" in out
    assert f"resumed {run}" not in out and step_of(run) == 3
    assert main(["train", "--resume", "--out", str(run), "--images", "20"]) == 0
    assert "resumed " + str(run) + " at step 3 of 5 (12 of 20 images shown)" in capsys.readouterr().out
    assert step_of(run) == 5


def test_minutes_ends_the_run_with_its_files_and_exit_code_0(small_mri, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(small_mri), "--out", str(run), *TINY, "--steps-per-epoch", "100000",
                 "--minutes", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "the 0.01-minute budget (--minutes) is spent at step" in out and f"run written to {run}" in out
    assert 0 < read_generator_file(run).steps == step_of(run) < 100_000


def test_the_demo_says_how_many_steps_a_budget_let_it_train(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--resolution", "32", "--g-width", "8", "--d-width", "8",
                 "--batch-size", "4", "--steps-per-epoch", "100000", "--minutes", "0.01"]) == 0
    steps = step_of(out)
    assert f"trained {steps:,} steps ({4 * steps:,} images shown)" in capsys.readouterr().out


def test_a_negative_budget_is_refused_in_one_line(small_mri, tmp_path, capsys):
    assert main(["train", str(small_mri), "--out", str(tmp_path / "run"), *TINY, "--minutes", "-1"]) == 2
    err = capsys.readouterr().err
    assert "run.minutes must not be negative" in err and len(err.strip().splitlines()) == 1
