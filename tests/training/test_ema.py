"""The generator's moving average."""

import pytest
import torch
from torch import nn

from braingan.training.ema import EMA


def test_ema_update_math():
    live = nn.Linear(1, 1)
    with torch.no_grad():
        live.weight.fill_(0.0)
    ema = EMA(live, decay=0.9)
    with torch.no_grad():
        live.weight.fill_(1.0)
    ema.update(live, step=1000)  # past the warm-up: decay 0.9
    assert ema.average.weight.item() == pytest.approx(0.1)
    ema.update(live, step=1000)
    assert ema.average.weight.item() == pytest.approx(0.19)
    assert ema.effective_decay(0) == pytest.approx(0.1)  # warm-up: the first steps follow closely
    assert not any(p.requires_grad for p in ema.average.parameters())


