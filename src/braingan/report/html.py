"""``report.html``: one self-contained page about a run (every image embedded as a data URI).

It reads only what the run directory already holds: config.toml, samples/step_*.png,
losses.png (or log.csv), and metrics.json + the metrics' pictures from ``braingan evaluate``.
Every metric is shown from its ``MetricResult`` (rows, notes, its own section), so this page
knows no metric by name.
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
from braingan.config import RunConfig, load_toml
from braingan.evaluation import METRICS_FILE
from braingan.io.atomic import atomic_write_text
from braingan.metrics.registry import METRICS, result_of
from braingan.metrics.result import Figure, MetricResult, Paragraph, Row, Section, Table, artifact_path
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


def _metric_rows(name: str, result: MetricResult) -> str:
    """One table row per reading (value, 95% interval, real-vs-real floor, the samples at the
    floor's n, which way is better); the metric's meaning, how to read it and its notes beside
    them. Bookkeeping numbers (counts, sizes, seconds) stay in metrics.json, except for a metric
    this version does not know, whose numbers are all shown (none with a direction)."""
    metric = METRICS.get(name)
    readings = [row for row in result.rows if row.better is not None] or result.rows or [Row("", "(no values)")]
    about = (html.escape(metric.meaning if metric else "")
             + (f"<br>{html.escape(metric.guide)}" if metric and metric.guide else "")
             + "".join(f"<br><span class='note'>{html.escape(note)}</span>" for note in result.notes))
    cells = [f"<th>{html.escape(f'{name}.{row.label}' if row.label else name)}</th>"
             + "".join(f"<td class='num'>{html.escape(text)}</td>"
                       for text in (row.value, row.interval, row.floor, row.at_floor_n))
             + f"<td>{html.escape(row.better or '')}</td>" for row in readings]
    cells[0] += f"<td rowspan={len(cells)}>{about}</td>"
    return "".join(f"<tr>{c}</tr>" for c in cells)


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<th>{html.escape(c)}</th>" if table.row_headers and i == 0
                         else f"<td class='num'>{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in table.rows)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _block(block: Paragraph | Figure | Table, folder: Path, metric: str) -> str:
    if isinstance(block, Paragraph):
        kind = f" class='{block.kind}'" if block.kind else ""
        return f"<p{kind}>{html.escape(block.text)}</p>"
    if isinstance(block, Figure):
        path = artifact_path(folder, metric, block.artifact)
        return _img(path.read_bytes(), block.caption) if path.is_file() else ""
    return _table(block)


def _section(section: Section, folder: Path, metric: str) -> str:
    return f"<h2>{html.escape(section.title)}</h2>" + "".join(_block(b, folder, metric) for b in section.blocks)


def _read_metrics(run: Path) -> tuple[dict, dict[str, MetricResult]] | None:
    """metrics.json and each metric's result; a file this version cannot read, or a metric whose
    values are not what it wrote (an older version's, or edited by hand), is said so on the page."""
    path = run / METRICS_FILE
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        entries = dict(report["metrics"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        return {"unreadable": f"{path}: not a metrics.json this version reads ({e})"}, {}
    results = {}
    for name, values in entries.items():
        try:
            results[name] = result_of(name, values)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            results[name] = MetricResult(values={}, notes=[f"values not readable by braingan {__version__} ({e!r})"])
    return report, results


def _trained(run: Path) -> str:
    """What was trained and for how long, from config.toml and log.csv."""
    rows = LossLog(run / "log.csv").read()
    if not (run / "config.toml").is_file() or not rows:
        return "<p class='note'>No config.toml and log.csv: not a run trained here (an imported generator?).</p>"
    config = RunConfig.from_dict(load_toml(run / "config.toml"), str(run / "config.toml"))
    steps = int(rows[-1]["step"])
    batch = config.run.batch_size
    minutes = sum(batch / r["images_per_s"] for r in rows if r["images_per_s"] > 0) / 60
    data = config.data.path or "the embedded MNI152 slices"
    return (f"<p>Preset <code>{html.escape(config.preset)}</code> ({html.escape(config.model.arch)} networks, "
            f"{config.data.resolution} px) trained on {html.escape(data)}: {steps:,} of {config.total_steps:,} steps, "
            f"{steps * batch:,} images shown, about {minutes:.0f} minutes of training.</p>")


def _summary(run: Path, metrics: tuple[dict, dict[str, MetricResult]] | None) -> str:
    """What a reader needs first: what was trained, the latest samples, and each metric's reading
    in a sentence (the details follow below)."""
    grids = sorted((run / "samples").glob("step_*.png"))
    latest = (f"<figure>{_img(grids[-1].read_bytes(), grids[-1].stem)}<figcaption>the latest grid, "
              f"{html.escape(grids[-1].stem)}: every grid of the run draws from the same noise, so the grids "
              "below show the same samples improving</figcaption></figure>" if grids else "")
    if metrics is None:
        readings = ("<p class='note'>No metrics yet: <code>braingan evaluate "
                    f"{html.escape(str(run))} --holdout HELD_OUT</code> measures the samples.</p>")
    else:
        report, results = metrics
        readings = (f"<p class='note'>{_fmt(report.get('n_fake'))} samples against {_fmt(report.get('n_real'))} real "
                    f"scans at {_fmt(report.get('resolution'))} px.</p>"
                    + "".join(_block(b, run, name) for name, r in results.items() for b in r.headline))
    return "<h2>Summary</h2>" + _trained(run) + latest + readings


def _fmt(value: object) -> str:
    return html.escape(str(value))


def _metrics(run: Path, metrics: tuple[dict, dict[str, MetricResult]] | None) -> str:
    if metrics is None:
        return ("<h2>Metrics</h2><p class='note'>No metrics.json yet: run "
                f"<code>braingan evaluate {html.escape(str(run))}</code> first.</p>")
    report, results = metrics
    if "unreadable" in report:
        return f"<h2>Metrics</h2><p class='warn'>{_fmt(report['unreadable'])}</p>"
    skipped = "".join(f"<tr><th>{_fmt(k)}</th><td colspan=6 class='note'>skipped: {_fmt(v)}</td></tr>"
                      for k, v in dict(report.get("skipped") or {}).items())
    head = (f"<p>{_fmt(report.get('n_fake'))} generated ({_fmt(report.get('fake'))}) vs {_fmt(report.get('n_real'))} "
            f"real images ({_fmt(report.get('real'))}) at {_fmt(report.get('resolution'))} px. "
            "<em>95% interval</em>: the reading's bootstrap interval (real scans resampled by scan, and samples). "
            "<em>real vs real</em>: two halves of the real set scored against each other, the best a generator "
            "can be expected to do at that n; <em>samples, same n</em>: the samples scored at that same n, the "
            "number to set beside it.</p>")
    table = ("<table><tr><th>reading</th><th>value</th><th>95% interval</th><th>real vs real</th>"
             "<th>samples, same n</th><th>better</th><th>what it means and how to read it</th></tr>"
             + "".join(_metric_rows(name, result) for name, result in results.items()) + skipped + "</table>")
    sections = "".join(_section(r.section, run, name) for name, r in results.items() if r.section is not None)
    return "<h2>Metrics</h2>" + head + table + sections


def render(run: str | Path) -> str:
    run = Path(run)
    title = f"braingan report: {run.name}"
    metrics = _read_metrics(run)
    sections = _summary(run, metrics) + _metrics(run, metrics) + _samples(run) + _losses(run) + _config(run)
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
