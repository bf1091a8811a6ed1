"""A metrics.json is data, never markup: crafted or damaged files render as text on the page."""

from __future__ import annotations

import json
from pathlib import Path

from braingan.cli import main

EVIL = "<script>alert(1)</script>"


def _page(run: Path) -> str:
    assert main(["report", str(run)]) == 0
    return (run / "report.html").read_text(encoding="utf-8")


def test_crafted_metrics_json_cannot_inject_html(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pairs = [{"sample": EVIL, "train_index": EVIL, "flipped": False, "distance": 0.1, "ssim": 0.5}]
    report = {
        "n_fake": EVIL, "n_real": EVIL, "fake": EVIL, "real": EVIL, "resolution": EVIL, "skipped": {EVIL: EVIL},
        "metrics": {
            "memorization": {"flagged": EVIL, "flagged_fraction": 0.0, "flagged_samples": [], "pairs": pairs,
                             "threshold_distance": 0.1, "threshold_ssim": 0.9, "calibration": EVIL,
                             "real_near_duplicates": 0, "min_distance": 0.1, "max_ssim": 0.5},
            "utility": {"seeds": EVIL, "classes": [EVIL], EVIL: EVIL},
            EVIL: {EVIL: 1.0, "note": EVIL},
            "swd": {"mean": 1.0, "per_level": {EVIL: 2.0}, "floor": {"mean": EVIL}, "interval": {"mean": [EVIL, 1]}},
        },
    }
    (run / "metrics.json").write_text(json.dumps(report), encoding="utf-8")
    page = _page(run)
    assert "<script" not in page and "&lt;script&gt;" in page


def test_damaged_or_foreign_metrics_json_is_said_not_fatal(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for content in ("{not json", "[1, 2]", '{"metrics": 3}', ""):
        (run / "metrics.json").write_text(content, encoding="utf-8")
        assert "not a metrics.json this version reads" in _page(run)
