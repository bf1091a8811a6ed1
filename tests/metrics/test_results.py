"""Metric results render generically: the table, metrics.json and the report show any metric
from its ``MetricResult`` (rows, notes, pictures, section), and only readings carry a direction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from braingan.cli import main
from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.io.generator_files import save_generator
from braingan.metrics import features, registry
from braingan.metrics.registry import DEFAULT, METRICS, EvalInputs, Metric, result_of
from braingan.metrics.result import Figure, Paragraph, Row, Section, Table, number_rows
from braingan.metrics.utility import utility
from braingan.models.seed_dcgan import SeedGenerator

REPO = Path(__file__).resolve().parents[2]
# Rows that are readings, per metric; every other row is bookkeeping and has no "better".
READINGS = {
    "fid": {""}, "kid": {""}, "swd": {"mean", "per_level.32px", "per_level.16px"},
    "prdc": {"precision", "recall", "density", "coverage"}, "diversity": {"fake", "ratio"}, "frd": {""},
    "two_sample": {"radiomic", "inception"},
    "membership": {f"{attack}.{score}" for attack in ("dcr", "density_ratio")
                   for score in ("auc", "tpr_at_1%_fpr", "tpr_at_0.1%_fpr")},
    "reconstruction": {f"reconstruction.{score}" for score in ("auc", "tpr_at_1%_fpr", "tpr_at_0.1%_fpr")},
    "memorization": {"flagged", "flagged_fraction", "min_distance", "max_ssim"},
    "prior_memorization": {"flagged", "flagged_fraction", "min_distance", "max_ssim"},
    "utility": {"difference.balanced_accuracy", "difference.auc"},
}
BOOKKEEPING = {"seconds", "std", "subset_size", "subsets", "k", "pairs", "real_pairs", "pairs_requested", "holdout_n",
               "holdout_pairs", "real_near_duplicates", "holdout_set_aside", "n_train_real", "n_test_real",
               "n_synthetic", "seeds", "resolution"}


@pytest.fixture(scope="module")
def mni32(mni_pngs: Path) -> torch.Tensor:
    return load_dataset(DataConfig(path=str(mni_pngs), resolution=32, cache=False), log=lambda _: None).images


def test_every_metric_returns_rows_with_directions_only_on_readings(mni32: torch.Tensor) -> None:
    real, fake = mni32[::2], mni32[1::2]  # 20 real MNI152 slices each, interleaved
    # The random-CNN features stand in for Inception, so FID and KID run here without weights.
    inputs = EvalInputs(real=real, fake=fake, extractor=features.random_cnn_features, holdout=mni32,
                        prior_train=mni32)
    results = {name: METRICS[name].compute(inputs) for name in DEFAULT}
    results["prior_memorization"] = METRICS["prior_memorization"].compute(inputs)
    inputs.generator, inputs.latent_dim = (lambda z: fake[:1].expand(len(z), -1, -1, -1) + 0 * z.sum()), 4
    results["reconstruction"] = METRICS["reconstruction"].compute(inputs)  # a constant generator, for the rows
    labels = (np.arange(20) >= 10).astype(int)  # upper vs lower brain slices
    summary = utility(real, labels, fake, labels, ["lower", "upper"], seeds=(0, 1), epochs=1).summary()
    results["utility"] = METRICS["utility"].result(summary)
    assert set(results) == set(METRICS) == set(READINGS)
    for name, result in results.items():
        assert all(isinstance(r.value, str) and r.value for r in result.rows)
        assert {r.label for r in result.rows if r.better} == READINGS[name], name
        assert all(r.better is None for r in result.rows if r.label in BOOKKEEPING), name
        # The report rebuilds the same rows from metrics.json.
        back = json.loads(json.dumps(result.values, default=float))
        assert result_of(name, back).rows == result.rows and result_of(name, back).notes == result.notes
    assert next(r for r in results["diversity"].rows if r.label == "pairs").better is None
    assert {r.label for r in results["prdc"].rows} >= {"k", "seconds"}
    assert any(n.startswith("calibration: percentile 1") for n in results["memorization"].notes)
    assert any(n.startswith("feature_space: ") for n in results["prdc"].notes)
    assert results["memorization"].artifacts["pairs"].shape == (2 * 32 + 4, 8 * 32 + 7 * 4)
    assert {n: r.section.title for n, r in results.items() if r.section} == {
        "memorization": "Memorization audit", "prior_memorization": "Copy audit against the prior's data",
        "utility": "Augmentation utility"}
    utility_rows = {r.label: r for r in results["utility"].rows}
    assert re.fullmatch(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", utility_rows["real_only.accuracy"].value)
    assert utility_rows["real_only.accuracy"].better is None  # the yardstick the synthetic arm is read against


def test_a_metric_unknown_by_name_renders_in_table_json_and_report(mni_pngs: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A metric registered here (known to no module by name) with a picture and a section."""

    def measure(x: EvalInputs) -> tuple[dict, dict]:
        grad = (x.fake[..., 1:] - x.fake[..., :-1]).abs().mean(dim=(1, 2, 3))
        values = {"sharpness": float(grad.mean()), "images": len(x.fake), "method": "mean horizontal gradient"}
        return values, {"map": (grad.numpy()[None, :] * 255).clip(0, 255).astype(np.uint8).repeat(8, 0)}

    def section(values: dict) -> Section:
        return Section("Edge audit", (Paragraph(f"{values['images']} images <checked>", "warn"),
                                      Figure("map", "gradient per image"),
                                      Table(("what", "value"), (("sharpness", f"{values['sharpness']:.3f}"),),
                                            row_headers=True)))

    edges = Metric("edges", "Mean gradient magnitude of the generated images", "higher", measure,
                   readings={"sharpness": "higher"}, section_of=section)
    monkeypatch.setitem(registry.METRICS, "edges", edges)
    run = tmp_path / "run"
    torch.manual_seed(0)
    from braingan.cli.import_keras import keras_card

    generator = SeedGenerator(resolution=32, width=16, latent_dim=100)
    save_generator(run, generator, keras_card(generator, "yes", "generator_final.h5"))
    assert main(["evaluate", str(run), "--real", str(mni_pngs), "--n", "6", "--metrics", "edges,swd"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^edges\.sharpness +[0-9.]+ +higher$", table, re.M)  # no scorer: no interval or floor
    assert re.search(r"^swd\.mean +[0-9.]+ +[0-9.]+ – [0-9.]+ +[0-9.]+ +[0-9.]+  lower$", table, re.M)
    assert not re.search(r"^(edges\.images|edges\.seconds|swd\.seconds)", table, re.M)  # bookkeeping stays in the file
    assert re.search(r"^swd\.per_level\.16px +[0-9.]+ +[0-9.]+ – [0-9.]+ +[0-9.]+ +[0-9.]+  lower$", table, re.M)
    assert "edges: method: mean horizontal gradient" in table
    report = json.loads((run / "metrics.json").read_text())
    assert set(report["metrics"]["edges"]) == {"sharpness", "images", "method", "seconds"}
    assert Image.open(run / "edges_map.png").size == (6, 8)
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<h2>Edge audit</h2>" in page and "<p class='warn'>6 images &lt;checked&gt;</p>" in page
    assert 'alt="gradient per image"' in page and "<th>sharpness</th>" in page
    assert re.search(r"<th>edges\.sharpness</th><td class='num'>[0-9.]+</td>", page)
    assert "<th>edges.images</th>" not in page  # bookkeeping stays in metrics.json
    assert "Mean gradient magnitude" in page
    # A metrics.json from a version with a metric this one lacks still renders its numbers.
    monkeypatch.delitem(registry.METRICS, "edges")
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<th>edges.sharpness</th>" in page and "<th>edges.images</th>" in page and "Edge audit" not in page


def test_no_module_special_cases_a_metric_by_name() -> None:
    """The evaluation, the table and the report read results; metric names live in the registry."""
    for module in ("evaluation.py", "cli/evaluate.py", "report/html.py"):
        source = (REPO / "src" / "braingan" / module).read_text(encoding="utf-8")
        for name in METRICS:
            assert not re.search(rf"""["']{name}["']|== *["']{name}""", source), (module, name)


def test_number_rows_mark_only_the_given_readings() -> None:
    rows = number_rows({"value": 1.23456, "n": 4, "flag": True, "text": "x", "none": None}, {"value": "lower"})
    assert rows == [Row("", "1.235", "lower"), Row("n", "4", None)]
