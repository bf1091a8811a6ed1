"""What a metric hands back: values for metrics.json, rows and notes to show, pictures to save.

The evaluation, the command-line table and the HTML report read only these objects, so a new
metric is one entry in ``registry`` and nothing else learns its name. The report rebuilds a
result from metrics.json (``Metric.result(values)``), so rows, notes and sections are functions
of the values alone; pictures are saved beside metrics.json as ``<metric>_<artifact>.png``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

Artifact = bytes | np.ndarray  # PNG bytes, or a uint8 [H, W] image to be written as PNG


@dataclass(frozen=True)
class Row:
    """One line of the table: ``better`` only where the number is a reading (None: bookkeeping,
    such as a count of images, a subset size or the seconds it took)."""

    label: str  # within the metric; "" for the metric's single value
    value: str  # formatted for people
    better: str | None = None
    interval: str = ""  # 95% interval of the reading, "low – high"
    floor: str = ""  # what two halves of the real set score against each other
    at_floor_n: str = ""  # what the samples score at that same n, to read beside the floor


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: str = ""  # "", "note" (quiet) or "warn" (stands out)


@dataclass(frozen=True)
class Figure:
    artifact: str  # an artifact name of the same metric
    caption: str


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    row_headers: bool = False  # the first cell of each row names the row


Block = Paragraph | Figure | Table


@dataclass(frozen=True)
class Section:
    """A metric's own part of the report (a verdict, a table), as content the report renders."""

    title: str
    blocks: tuple[Block, ...]


@dataclass
class MetricResult:
    values: dict[str, Any]  # JSON-ready, written to metrics.json under the metric's name
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the numbers were computed on (features, calibration)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    section: Section | None = None
    headline: tuple[Block, ...] = ()  # the report's summary: the reading in a sentence, and how to read it


def artifact_file(metric: str, artifact: str) -> str:
    """Where an artifact lands beside metrics.json (memorization's "pairs": memorization_pairs.png)."""
    return f"{metric}_{artifact}.png"


def artifact_path(folder: Path, metric: str, artifact: str) -> Path:
    return Path(folder) / artifact_file(metric, artifact)


def fmt(value: object) -> str:
    """Numbers as the table shows them: 4 significant digits for floats, integers as they are."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number_rows(values: Mapping[str, Any], readings: Mapping[str, str]) -> list[Row]:
    """A row per top-level number, in the order of ``values``; ``readings`` maps the keys that
    are readings to which way is better. The key "value" is the metric's single reading."""
    return [Row("" if key == "value" else key, fmt(value), readings.get(key))
            for key, value in values.items() if is_number(value)]


def flat_numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number in ``values`` by its dotted key ("per_level.64px"), as rows and floors name them."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        if is_number(value):
            flat[prefix + key] = float(value)
        elif isinstance(value, Mapping):
            flat.update(flat_numbers(value, f"{prefix}{key}."))
    return flat


def with_uncertainty(rows: list[Row], values: Mapping[str, Any]) -> list[Row]:
    """Each reading's interval and floor from the values ``metrics.protocol`` added (keyed by the
    row label; "value" for the metric's single reading)."""
    interval, floor, matched = (values.get(k) or {} for k in ("interval", "floor", "at_floor_n"))

    def filled(row: Row) -> Row:
        key = row.label or "value"
        if row.better is None:
            return row
        low_high = interval.get(key)
        return replace(row, interval=f"{fmt(low_high[0])} – {fmt(low_high[1])}" if low_high else "",
                       floor=fmt(floor[key]) if key in floor else "",
                       at_floor_n=fmt(matched[key]) if key in matched else "")

    return [filled(row) for row in rows]


def string_notes(values: Mapping[str, Any]) -> list[str]:
    """Every top-level text value as a note ("feature_space: ..."): what a reading depends on."""
    return [f"{key}: {value}" for key, value in values.items() if isinstance(value, str)]
