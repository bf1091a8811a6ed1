"""``log.csv``: one row per training step, kept consistent with the last checkpoint on resume."""

from __future__ import annotations

import csv
from pathlib import Path

from braingan.io.atomic import append_text, atomic_write_text, refuse_special

# augment_p: ADA's p (or the fixed one); kimg: thousands of real images shown, the schedule's unit
# in the few-shot literature (written from the step and the batch size, so older logs still read).
COLUMNS = ["step", "epoch", "kimg", "d_loss", "g_loss", "images_per_s", "augment_p"]
REQUIRED = [c for c in COLUMNS if c != "kimg"]


class LossLog:
    def __init__(self, path: Path, batch_size: int = 0) -> None:
        """``batch_size``: the global batch, for the kimg column of the rows written (0: reading only)."""
        self.path, self.batch_size = path, batch_size

    def read(self) -> list[dict[str, float]]:
        """Complete rows only: a line torn by a kill is ignored. A FIFO or symlink in its place is
        refused (reading a FIFO would wait forever)."""
        refuse_special(self.path)
        if not self.path.exists():
            return []
        with self.path.open(newline="", encoding="utf-8") as f:
            rows = []
            for row in csv.DictReader(f):
                try:
                    rows.append({k: float(row[k]) for k in COLUMNS if k in REQUIRED or row.get(k)})
                except (KeyError, TypeError, ValueError):
                    continue
            return rows

    def start(self, resume_step: int) -> None:
        """Keep the rows up to ``resume_step`` (rows after it are replayed by the resumed run)."""
        kept = [r for r in self.read() if r["step"] <= resume_step]
        lines = [",".join(COLUMNS)] + [self._format(r) for r in kept]
        atomic_write_text(self.path, "\n".join(lines) + "\n")

    def append(self, rows: list[dict[str, float]]) -> None:
        """A failed write (disk full) raises ``WriteError`` and leaves the complete rows before it."""
        append_text(self.path, "".join(self._format(r) + "\n" for r in rows))

    def _format(self, row: dict[str, float]) -> str:
        step = int(row["step"])
        return (f"{step},{int(row['epoch'])},{step * self.batch_size / 1000:.3f},{row['d_loss']:.6g},"
                f"{row['g_loss']:.6g},{row['images_per_s']:.4g},{row['augment_p']:.4g}")
