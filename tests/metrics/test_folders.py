"""``braingan evaluate`` without a run (any two folders), the protocol's floors and intervals,
and the generator card, on real MRI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from braingan.cli import main
from braingan.metrics.protocol import Pool, Protocol, group_ids, halves, resample_groups, uncertainty

FAST = ["--metrics", "swd,prdc,frd,two_sample,diversity,memorization", "--resolution", "32"]


@pytest.fixture(scope="module")
def split_scans(tmp_path_factory: pytest.TempPathFactory, real_scans_dir: Path) -> tuple[Path, Path, Path]:
    """The real scans dealt into three disjoint folders (a fixed shuffle): a, b and c."""
    root = tmp_path_factory.mktemp("folders")
    names = sorted(p.name for p in real_scans_dir.iterdir())
    order = np.random.default_rng(0).permutation(len(names))
    folders = tuple(root / part for part in "abc")
    for i, index in enumerate(order):
        folders[i % 3].mkdir(exist_ok=True)
        shutil.copy(real_scans_dir / names[index], folders[i % 3] / names[index])
    return folders


def _evaluate(tmp_path: Path, *args: str) -> dict:
    assert main(["evaluate", *args, "--out", str(tmp_path), *FAST]) == 0
    return json.loads((tmp_path / "metrics.json").read_text())


def test_two_folders_of_real_scans_score_at_their_floor(split_scans: tuple[Path, Path, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    """New real scans as 'samples': every reading sits near what halves of the real set give,
    the two-sample test is near chance, and no scan is flagged as a copy beyond the base rate."""
    a, b, _ = split_scans
    report = _evaluate(tmp_path, "--real", str(a), "--fake", str(b))
    m = report["metrics"]
    assert report["run"] is None and report["n_real"] >= 30 and report["n_fake"] >= 30
    assert 0.3 < m["two_sample"]["radiomic"] < 0.7
    low, high = m["two_sample"]["interval"]["radiomic"]
    assert low < 0.5 < high
    assert m["swd"]["mean"] < 2 * m["swd"]["at_floor_n"]["mean"]
    assert m["frd"]["value"] < 3 * m["frd"]["floor"]["value"] + 5
    assert 0.7 < m["diversity"]["ratio"] < 1.4
    for name in ("swd", "frd", "prdc", "diversity", "two_sample"):
        assert m[name]["floor"] and m[name]["interval"] and m[name]["at_floor_n"], name
    table = capsys.readouterr().out
    assert "real vs real" in table and "two_sample.radiomic" in table


def test_blurred_scans_are_told_apart_and_copies_fall_below_chance(split_scans: tuple[Path, Path, Path],
                                                                   tmp_path: Path) -> None:
    from PIL import Image, ImageFilter

    a, _, _ = split_scans
    blurred = tmp_path / "blurred"
    blurred.mkdir()
    for path in sorted(a.iterdir()):  # about 2 px of blur at the 32 px the scans are compared at
        image = Image.open(path).convert("L")
        image.filter(ImageFilter.GaussianBlur(max(image.size) / 16)).save(blurred / f"{path.stem}.png")
    report = _evaluate(tmp_path / "blur", "--real", str(a), "--fake", str(blurred))
    assert report["metrics"]["two_sample"]["radiomic"] > 0.85
    assert report["metrics"]["frd"]["value"] > 5 * report["metrics"]["frd"]["floor"]["value"]
    copies = _evaluate(tmp_path / "copies", "--real", str(a), "--fake", str(a))
    assert copies["metrics"]["two_sample"]["radiomic"] < 0.45
    assert copies["metrics"]["memorization"]["flagged_fraction"] > 0.9


def test_train_and_holdout_folders_give_the_copy_audit_its_base_rate(split_scans: tuple[Path, Path, Path],
                                                                     tmp_path: Path) -> None:
    a, b, c = split_scans
    report = _evaluate(tmp_path, "--real", str(a), "--train", str(b), "--fake", str(c), "--holdout", str(a))
    assert report["train"] == str(b) and report["real"] == str(a) and report["holdout"] == str(a)
    memorization = report["metrics"]["memorization"]
    assert memorization["holdout_n"] >= 20 and memorization["flagged_fraction"] < 0.3


def test_folder_mode_needs_fake_out_and_a_reference(split_scans: tuple[Path, Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    a, b, _ = split_scans
    assert main(["evaluate", "--fake", str(b), "--out", str(tmp_path)]) == 2
    assert "--real FOLDER or --train FOLDER" in capsys.readouterr().err
    assert main(["evaluate", "--real", str(a), "--fake", str(b)]) == 2
    assert "--out FOLDER" in capsys.readouterr().err


def test_halves_keep_scan_groups_whole_and_the_bootstrap_resamples_them() -> None:
    groups = group_ids([f"volume{i // 4}" for i in range(40)], 40)  # ten volumes of four slices
    rng = np.random.default_rng(0)
    first, second = halves(groups, rng)
    assert len(first) + len(second) == 40 and not set(groups[first]) & set(groups[second])
    draw = resample_groups(groups, rng)
    assert len(draw) == 40 and all(np.sum(groups[draw] == g) % 4 == 0 for g in set(groups[draw]))
    assert (group_ids(["one volume"] * 40, 40) == np.arange(40)).all()  # too few scans: each image its own


def test_interval_is_centred_on_the_reading_and_the_floor_matches_a_known_mean() -> None:
    """A mean-difference scorer on Gaussian data: the floor of two halves of one distribution is
    near 0, the samples (shifted by 1) are near 1 at every n, and the interval holds the truth."""
    rng = np.random.default_rng(1)
    pool_values = np.concatenate([rng.normal(0, 1, 200), rng.normal(1, 1, 400)])

    def score(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
        return {"shift": float(pool_values[cand].mean() - pool_values[ref].mean())}

    pool = Pool(200, 400, np.arange(200))
    out = uncertainty(score, pool, Protocol(floor_draws=20, bootstrap=200))
    reading = score(pool.real, pool.fake)["shift"]
    low, high = out["interval"]["shift"]
    assert low < 1.0 < high and low < reading < high and high - low < 0.5
    assert abs(out["floor"]["shift"]) < 0.15 and abs(out["at_floor_n"]["shift"] - 1) < 0.2


def test_membership_attacks_at_chance_for_new_patients_and_above_it_for_copies(
        split_scans: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Members a, non-members b: 'samples' that are other real scans (c) give an attacker nothing;
    samples that are the training scans themselves give every member away."""
    a, b, c = split_scans
    args = ["--real", str(a), "--holdout", str(b), "--metrics", "membership", "--resolution", "32"]
    assert main(["evaluate", *args, "--fake", str(c), "--out", str(tmp_path / "new")]) == 0
    new = json.loads((tmp_path / "new" / "metrics.json").read_text())["metrics"]["membership"]["attacks"]
    for attack in ("dcr", "density_ratio"):
        low, high = new[attack]["auc_interval"]
        assert abs(new[attack]["auc"] - 0.5) < 0.2 and low < 0.5 < high, attack
    assert main(["evaluate", *args, "--fake", str(a), "--out", str(tmp_path / "copies")]) == 0
    copies = json.loads((tmp_path / "copies" / "metrics.json").read_text())["metrics"]["membership"]["attacks"]
    assert copies["dcr"]["auc"] > 0.95 and copies["dcr"]["auc_interval"][0] > 0.8
