"""Stop a run whose losses or weights turned NaN/inf, before it overwrites the last good checkpoint.

Checked when the loop reads its losses (every ``run.log_every`` steps and before every
checkpoint): the losses are already on the host then, and the weight check is one fused norm
per network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from braingan.config import OptimConfig
from braingan.errors import BrainganError


class NumericalFault(BrainganError):
    """Training diverged at ``step`` (``what`` went NaN/inf); nothing of it was saved.

    ``last_good_step`` is the step of the checkpoint that remains (None: none was written yet),
    so whoever catches it can say how to go on."""

    def __init__(self, step: int, what: str, last_good_step: int | None) -> None:
        kept = ("no checkpoint was written yet" if last_good_step is None
                else f"the checkpoint of step {last_good_step} is kept")
        super().__init__(f"step {step}: NaN/inf in {what}; training stopped without saving; {kept}.")
        self.step, self.what, self.last_good_step = step, what, last_good_step


def lower_rate(lr: float) -> float:
    """The learning rate to suggest after a run diverged at ``lr``: half of it, but never above
    the seed's 2e-4, which these networks train at (half of a rate far too high is still too high)."""
    return min(lr / 2, OptimConfig().lr)


def first_bad_loss(steps: Sequence[int], losses: Sequence[Sequence[float]]) -> tuple[int, str] | None:
    """(step, loss name) of the first non-finite loss, if any."""
    for step, (d_loss, g_loss) in zip(steps, losses):
        for name, value in (("d_loss", d_loss), ("g_loss", g_loss)):
            if not math.isfinite(value):
                return step, f"{name} ({value})"
    return None


@torch.no_grad()
def bad_weights(modules: dict[str, nn.Module]) -> str | None:
    """Name of the first network with a non-finite weight: a NaN/inf anywhere makes its norm non-finite.

    ``get_total_norm`` uses the fused multi-tensor kernels, far cheaper than one reduction per
    tensor, so the check can run at every loss read.
    """
    for name, module in modules.items():
        norm = torch.nn.utils.get_total_norm([p.detach() for p in module.parameters()])
        if not bool(torch.isfinite(norm)):
            return f"the {name}'s weights"
    return None


def check(steps: Sequence[int], losses: Sequence[Sequence[float]], modules: dict[str, nn.Module],
          last_good_step: int | None) -> None:
    """Raise ``NumericalFault`` if a loss of ``steps`` or a weight of ``modules`` is NaN or inf."""
    fault = first_bad_loss(steps, losses)
    if fault is None and (weights := bad_weights(modules)) is not None:
        fault = (steps[-1], weights)
    if fault is not None:
        raise NumericalFault(*fault, last_good_step)
