"""``braingan report`` on a real evaluated run, rendered by headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from braingan.cli import main
from braingan.metrics import utility

TINY = ["--resolution", "32", "--g-width", "16", "--d-width", "8", "--steps-per-epoch", "3", "--epochs", "2"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Counts decoded images after load; --dump-dom prints the DOM once the load event has run.
PROBE = ("<script>addEventListener('load',()=>{const i=[...document.images];document.body.dataset.images="
         "i.length;document.body.dataset.decoded=i.filter(x=>x.complete&&x.naturalWidth>0).length;});</script>")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium not installed (Debian: apt-get install chromium chromium-driver; .ci/run does)")


@pytest.fixture(scope="module")
def evaluated_runs(tmp_path_factory: pytest.TempPathFactory, real_classes: tuple[Path, tuple[str, str]]) -> Path:
    """One tiny run per class of two real classes (the seed's yes/no, or upper/lower MNI152
    slices), evaluated with the utility study; the first class's run."""
    data, (first, second) = real_classes
    root = tmp_path_factory.mktemp("report")
    for name in (first, second):
        assert main(["train", str(data / name), "--out", str(root / name), *TINY]) == 0
    with pytest.MonkeyPatch.context() as patch:  # a short study: the page, not the classifier, is tested here
        patch.setattr(utility, "SEEDS", (0, 1))
        patch.setattr(utility, "EPOCHS", 2)
        assert main(["evaluate", str(root / first), "--real", str(data), "--n", "20", "--holdout", str(data / second),
                     "--metrics", "swd,frd,two_sample,diversity,memorization,membership,utility",
                     "--run-per-class", f"{first}={root / first},{second}={root / second}"]) == 0
    return root / first


def test_report_is_self_contained_and_complete(evaluated_runs: Path) -> None:
    assert main(["report", str(evaluated_runs)]) == 0
    page = (evaluated_runs / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(?!data:)[a-z]+:""", page)  # nothing fetched from anywhere
    for text in ("Configuration", "Losses", "Samples during training", "Metrics", "Memorization audit",
                 "Augmentation utility", "swd", "closer to real", "frd", "two_sample.radiomic", "membership.dcr.auc",
                 "Membership attack", "95% interval", "real vs real", "Utility study:"):
        assert text in page


def test_report_renders_in_headless_chromium(evaluated_runs: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    page = evaluated_runs / "report.html"
    main(["report", str(evaluated_runs)])
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / "profile"
    dom = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                          "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    images = int(re.search(r'data-images="(\d+)"', html).group(1))
    decoded = int(re.search(r'data-decoded="(\d+)"', html).group(1))
    assert images >= 4 and decoded == images  # losses, two sample grids, memorization pairs
    assert "<h2>Augmentation utility</h2>" in html and "real plus synthetic" in html
    assert "membership.density_ratio.auc" in html and "two_sample.radiomic" in html and "<th>frd</th>" in html
    assert f"braingan report: {evaluated_runs.name}" in html
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2400",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000
