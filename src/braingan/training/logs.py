"""``log.csv``: one row per training step, kept consistent with the last checkpoint on resume."""

from __future__ import annotations

import csv
from pathlib import Path

from braingan.io.atomic import atomic_write_text

COLUMNS = ["step", "epoch", "d_loss", "g_loss", "images_per_s", "augment_p"]  # augment_p: ADA's p (or the fixed one)


class LossLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[dict[str, float]]:
        """Complete rows only: a line torn by a kill is ignored."""
        if not self.path.exists():
            return []
        with self.path.open(newline="", encoding="utf-8") as f:
            rows = []
            for row in csv.DictReader(f):
                try:
                    rows.append({k: float(row[k]) for k in COLUMNS})
                except (TypeError, ValueError):
                    continue
            return rows

    def start(self, resume_step: int) -> None:
        """Keep the rows up to ``resume_step`` (rows after it are replayed by the resumed run)."""
        kept = [r for r in self.read() if r["step"] <= resume_step]
        lines = [",".join(COLUMNS)] + [_format(r) for r in kept]
        atomic_write_text(self.path, "\n".join(lines) + "\n")

    def append(self, rows: list[dict[str, float]]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.writelines(_format(r) + "\n" for r in rows)


def _format(row: dict[str, float]) -> str:
    return (f"{int(row['step'])},{int(row['epoch'])},{row['d_loss']:.6g},{row['g_loss']:.6g},"
            f"{row['images_per_s']:.4g},{row['augment_p']:.4g}")
