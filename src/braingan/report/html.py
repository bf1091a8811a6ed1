"""``report.html``: one self-contained page about a run (every image embedded as a data URI).

It reads only what the run directory already holds: config.toml, samples/step_*.png,
losses.png (or log.csv), and metrics.json + memorization_pairs.png from ``braingan evaluate``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import tempfile
from pathlib import Path

from PIL import Image

from braingan import __version__
from braingan.evaluation import METRICS_FILE, PAIRS_FILE
from braingan.io.atomic import atomic_write_text
from braingan.metrics.registry import METRICS
from braingan.report.plots import plot_losses
from braingan.training.logs import LossLog

REPORT_FILE = "report.html"
MAX_GRIDS = 12

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;padding:.8em;overflow:auto}img{image-rendering:pixelated;max-width:100%}
figure{display:inline-block;margin:.4em;text-align:center}figcaption{font-size:.85em;color:#555}
.note{color:#555;font-size:.9em}.warn{color:#a40000;font-weight:bold}
"""


def _img(data: bytes, alt: str) -> str:
    """Small grids (32-64 px images) are shown enlarged, without smoothing, so they can be read."""
    width = Image.open(io.BytesIO(data)).width
    size = f' width="{width * max(1, 480 // width)}"' if width < 480 else ""
    return f'<img alt="{html.escape(alt)}"{size} src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _config(run: Path) -> str:
    path = run / "config.toml"
    body = html.escape(path.read_text(encoding="utf-8")) if path.is_file() else "(no config.toml)"
    return f"<h2>Configuration</h2><pre>{body}</pre>"


def _samples(run: Path) -> str:
    grids = sorted((run / "samples").glob("step_*.png"))
    if not grids:
        return "<h2>Samples during training</h2><p class='note'>No sample grids in samples/.</p>"
    shown = grids if len(grids) <= MAX_GRIDS else [grids[round(i * (len(grids) - 1) / (MAX_GRIDS - 1))]
                                                    for i in range(MAX_GRIDS)]
    figures = "".join(f"<figure>{_img(p.read_bytes(), p.stem)}<figcaption>{html.escape(p.stem)}</figcaption></figure>"
                      for p in shown)
    note = f"<p class='note'>{len(shown)} of {len(grids)} grids, from fixed noise.</p>"
    return f"<h2>Samples during training</h2>{note}{figures}"


def _losses(run: Path) -> str:
    png = run / "losses.png"
    if not png.is_file():
        rows = LossLog(run / "log.csv").read()
        if not rows:
            return "<h2>Losses</h2><p class='note'>No log.csv.</p>"
        with tempfile.TemporaryDirectory() as tmp:
            plot_losses(rows, Path(tmp) / "losses.png")
            data = (Path(tmp) / "losses.png").read_bytes()
    else:
        data = png.read_bytes()
    return f"<h2>Losses</h2>{_img(data, 'generator and discriminator losses')}"


def _metric_rows(name: str, values: dict) -> list[tuple[str, str]]:
    if name == "utility":
        return [(f"{arm.replace('_', ' ')} {score}", f"{values[arm][score]['mean']:.3f} ± {values[arm][score]['std']:.3f}")
                for arm in ("real_only", "real_plus_synthetic") for score in ("accuracy", "auc")]
    return [(key, _fmt(value)) for key, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "seconds"]


def _metrics(run: Path) -> str:
    path = run / METRICS_FILE
    if not path.is_file():
        return ("<h2>Metrics</h2><p class='note'>No metrics.json yet: run "
                f"<code>braingan evaluate {html.escape(str(run))}</code> first.</p>")
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for name, values in report["metrics"].items():
        metric = METRICS.get(name)
        numbers = _metric_rows(name, values)
        cells = "<br>".join(f"{html.escape(k)} = {v}" for k, v in numbers)
        notes = [values[k] for k in ("feature_space", "preprocessing", "calibration") if k in values]
        rows.append(f"<tr><th>{html.escape(name)}</th><td class='num'>{cells}</td>"
                    f"<td>{html.escape(metric.better if metric else '')}</td>"
                    f"<td>{html.escape(metric.meaning if metric else '')}"
                    + "".join(f"<br><span class='note'>{html.escape(str(n))}</span>" for n in notes) + "</td></tr>")
    skipped = "".join(f"<tr><th>{html.escape(k)}</th><td colspan=3 class='note'>skipped: {html.escape(v)}</td></tr>"
                      for k, v in report.get("skipped", {}).items())
    head = (f"<p>{report['n_fake']} generated ({html.escape(report['fake'])}) vs {report['n_real']} real images "
            f"({html.escape(report['real'])}) at {report['resolution']} px.</p>")
    table = ("<table><tr><th>metric</th><th>value</th><th>better</th><th>what it means</th></tr>"
             + "".join(rows) + skipped + "</table>")
    return "<h2>Metrics</h2>" + head + table + _memorization(run, report) + _utility(report)


def _memorization(run: Path, report: dict) -> str:
    memo = report["metrics"].get("memorization")
    if memo is None:
        return ""
    flagged = memo["flagged"]
    verdict = (f"<p class='warn'>{flagged} generated images are closer to a training image than distinct real scans "
               "come to each other.</p>" if flagged else
               "<p>No generated image is closer to a training image than distinct real scans come to each other.</p>")
    if memo.get("holdout_n"):
        verdict += (f"<p>Base rate: the same audit flags {memo['holdout_flagged']} of {memo['holdout_n']} held-out "
                    f"real scans ({memo['holdout_flagged_fraction']:.1%}; {memo['holdout_set_aside']} set aside as "
                    f"copies of a training scan), against {memo['flagged_fraction']:.1%} of the generated images. "
                    "Samples flagged far more often than new patients' scans are memorised.</p>")
    pairs = run / PAIRS_FILE
    picture = _img(pairs.read_bytes(), "closest generated/training pairs") if pairs.is_file() else ""
    rows = "".join(f"<tr><td class='num'>{p['sample']}</td><td class='num'>{p['train_index']}</td>"
                   f"<td class='num'>{p['distance']:.4f}</td><td class='num'>{p['ssim']:.3f}</td></tr>"
                   for p in memo.get("pairs", []))
    return ("<h2>Memorization audit</h2>" + verdict
            + f"<p class='note'>Threshold: RMS pixel distance ≤ {memo['threshold_distance']:.4f} or SSIM ≥ "
              f"{memo['threshold_ssim']:.3f} ({html.escape(memo['calibration'])}: "
              f"{memo['real_near_duplicates']} of them).</p>"
            + "<p>Closest pairs: generated (top row) over its nearest training image (bottom row).</p>" + picture
            + "<table><tr><th>sample</th><th>training image</th><th>RMS distance</th><th>SSIM</th></tr>"
            + rows + "</table>")


def _utility(report: dict) -> str:
    u = report["metrics"].get("utility")
    if u is None:
        return ""
    rows = "".join(
        f"<tr><th>{arm.replace('_', ' ')}</th>"
        + "".join(f"<td class='num'>{u[arm][s]['mean']:.3f} ± {u[arm][s]['std']:.3f}</td>" for s in ("accuracy", "auc"))
        + "</tr>" for arm in ("real_only", "real_plus_synthetic"))
    return ("<h2>Augmentation utility</h2>"
            f"<p>Small CNN at {u['resolution']} px, {u['seeds']} seeds; {u['n_train_real']} real training images "
            f"(+{u['n_synthetic']} synthetic), {u['n_test_real']} held-out real test images; classes "
            f"{html.escape(', '.join(u['classes']))}.</p>"
            "<table><tr><th>training set</th><th>accuracy</th><th>AUC</th></tr>" + rows + "</table>")


def render(run: str | Path) -> str:
    run = Path(run)
    title = f"braingan report: {run.name}"
    sections = _config(run) + _losses(run) + _samples(run) + _metrics(run)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='note'>Run directory {html.escape(str(run.resolve()))}; braingan {__version__}.</p>"
            f"{sections}</body></html>\n")


def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write the page (default: RUN/report.html) and return its path."""
    run = Path(run)
    if not run.is_dir():
        from braingan.errors import BrainganError

        raise BrainganError(f"{run}: no such run directory")
    path = Path(out) if out is not None else run / REPORT_FILE
    atomic_write_text(path, render(run))
    return path
