"""Loss curves as a PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from braingan.io.atomic import atomic_write_bytes  # noqa: E402


def plot_losses(rows: list[dict[str, float]], path: Path) -> None:
    """G and D loss per step, with a moving average so trends show through the noise."""
    steps = np.array([r["step"] for r in rows])
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for key, label, colour in (("d_loss", "discriminator", "tab:blue"), ("g_loss", "generator", "tab:orange")):
        values = np.array([r[key] for r in rows])
        ax.plot(steps, values, color=colour, alpha=0.25, linewidth=0.8)
        window = max(1, len(values) // 50)
        if len(values) >= window:
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1:], smooth, color=colour, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
