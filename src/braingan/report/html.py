"""``report.html``: one self-contained page about a run (every image embedded as a data URI).

It reads only what the run directory already holds: config.toml, samples/step_*.png,
losses.png (or log.csv), and metrics.json + the metrics' pictures from ``braingan evaluate``.
Every metric is shown from its ``MetricResult`` (rows, notes, its own section), so this page
knows no metric by name. Each file is read only when regular and within a size limit; one that
is damaged, foreign or from an older version is said so where it would be shown, and the page
is written all the same.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import tempfile
from pathlib import Path

from PIL import Image

from braingan import __version__
from braingan.config import RunConfig, load_toml
from braingan.errors import BrainganError
from braingan.evaluation import METRICS_FILE
from braingan.io.atomic import atomic_write_text
from braingan.io.safe_read import read_regular
from braingan.metrics.registry import METRICS, result_of
from braingan.metrics.result import Figure, MetricResult, Paragraph, Row, Section, Table, artifact_path
from braingan.report.plots import plot_losses
from braingan.training.logs import LossLog

REPORT_FILE = "report.html"
MAX_GRIDS = 12
MAX_PICTURE_BYTES = 64 << 20  # a grid or plot is kilobytes; embedded larger, the page would not open
MAX_TEXT_BYTES = 64 << 20  # metrics.json with its memorization pairs is at most a few megabytes
# What reading a metric's values back can raise when they are not what this version wrote.
UNREADABLE = (LookupError, TypeError, ValueError, AttributeError, ArithmeticError)

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


def _picture(path: Path, alt: str) -> str:
    """The image file ``path`` embedded, or a line saying why it is not."""
    try:
        data = read_regular(path, MAX_PICTURE_BYTES)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # a truncated or damaged file would show as a broken image
        return _img(data, alt)
    except BrainganError as e:
        return _warn(str(e))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        return _warn(f"{path}: not shown, not an image this page can embed ({type(e).__name__})")


def _warn(text: str) -> str:
    return f"<p class='warn'>{html.escape(text)}</p>"


def _text(path: Path) -> str:
    """A text file of the run (a BrainganError when it cannot be read); bytes that are not UTF-8
    are shown as replacement characters."""
    return read_regular(path, MAX_TEXT_BYTES).decode("utf-8", errors="replace")


def _config(run: Path) -> str:
    path = run / "config.toml"
    try:
        body = html.escape(_text(path)) if path.exists() else "(no config.toml)"
    except BrainganError as e:
        body = html.escape(str(e))
    return f"<h2>Configuration</h2><pre>{body}</pre>"


def _log_rows(run: Path) -> tuple[list[dict[str, float]], str]:
    """log.csv's rows whose numbers are all finite (a log edited by hand may say nan), and what
    to say when there are none."""
    path = run / "log.csv"
    try:
        rows = LossLog(path).read()
    except (BrainganError, OSError, ValueError) as e:  # a UnicodeDecodeError is a ValueError
        return [], f"log.csv not read ({e})"
    rows = [r for r in rows if all(math.isfinite(v) for v in r.values())]
    return rows, "" if rows else ("log.csv holds no complete row." if path.exists() else "No log.csv.")


def _samples(run: Path) -> str:
    grids = sorted((run / "samples").glob("step_*.png"))
    if not grids:
        return "<h2>Samples during training</h2><p class='note'>No sample grids in samples/.</p>"
    shown = grids if len(grids) <= MAX_GRIDS else [grids[round(i * (len(grids) - 1) / (MAX_GRIDS - 1))]
                                                    for i in range(MAX_GRIDS)]
    figures = "".join(f"<figure>{_picture(p, p.stem)}<figcaption>{html.escape(p.stem)}</figcaption></figure>"
                      for p in shown)
    note = f"<p class='note'>{len(shown)} of {len(grids)} grids, from fixed noise.</p>"
    return f"<h2>Samples during training</h2>{note}{figures}"


def _losses(run: Path) -> str:
    png, alt = run / "losses.png", "generator and discriminator losses"
    if png.exists():
        return f"<h2>Losses</h2>{_picture(png, alt)}"
    rows, missing = _log_rows(run)
    if not rows:
        return f"<h2>Losses</h2><p class='note'>{html.escape(missing)}</p>"
    with tempfile.TemporaryDirectory() as tmp:
        plot_losses(rows, Path(tmp) / "losses.png")
        data = (Path(tmp) / "losses.png").read_bytes()
    return f"<h2>Losses</h2>{_img(data, alt)}"


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
        return _picture(path, block.caption) if path.exists() else ""
    return _table(block)


def _section(section: Section, folder: Path, metric: str) -> str:
    return f"<h2>{html.escape(section.title)}</h2>" + "".join(_block(b, folder, metric) for b in section.blocks)


def _read_metrics(run: Path) -> tuple[dict, dict[str, MetricResult]] | None:
    """metrics.json and each metric's result; a file this version cannot read, or a metric whose
    values are not what it wrote (an older version's, or edited by hand), is said so on the page."""
    path = run / METRICS_FILE
    if not path.exists():
        return None
    try:
        report = json.loads(_text(path))
        entries = report["metrics"]
        if not isinstance(entries, dict):
            raise TypeError(f"its metrics are {type(entries).__name__}, not an object")
    except BrainganError as e:
        return {"unreadable": str(e)}, {}
    except (ValueError, KeyError, TypeError) as e:
        return {"unreadable": f"{path}: not a metrics.json this version reads ({e})"}, {}
    results = {}
    for name, values in entries.items():
        try:
            results[name] = result_of(name, values)
        except UNREADABLE as e:
            results[name] = MetricResult(values={}, notes=[f"values not readable by braingan {__version__} ({e!r})"])
    return report, results


def _trained(run: Path) -> str:
    """What was trained and for how long, from config.toml and log.csv."""
    rows, missing = _log_rows(run)
    if not (run / "config.toml").exists() and not (run / "log.csv").exists():
        return "<p class='note'>No config.toml and log.csv: not a run trained here (an imported generator?).</p>"
    if not rows:
        return f"<p class='note'>What was trained is unknown: {html.escape(missing)}</p>"
    try:
        config = RunConfig.from_dict(load_toml(run / "config.toml"), str(run / "config.toml"))
    except BrainganError as e:
        return _warn(f"what was trained is unknown: {e}")
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
    latest = (f"<figure>{_picture(grids[-1], grids[-1].stem)}<figcaption>the latest grid, "
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
    why = report.get("skipped") or {}
    skipped = "".join(f"<tr><th>{_fmt(k)}</th><td colspan=6 class='note'>skipped: {_fmt(v)}</td></tr>"
                      for k, v in (why.items() if isinstance(why, dict) else [("?", why)]))
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
        raise BrainganError(f"{run}: no such run directory")
    path = Path(out) if out is not None else run / REPORT_FILE
    atomic_write_text(path, render(run))
    return path
