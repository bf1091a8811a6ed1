"""A run's generator as an ONNX model, to run without braingan or PyTorch (e.g. onnxruntime).

Inputs: ``z`` float32 [batch, latent_dim] and, for a conditional generator, ``label`` int64
[batch]; output ``image`` float32 [batch, 1, H, W] in [-1, 1]; the batch size is dynamic.
A generator counts as conditional when its generator.json lists several classes and its
output depends on the label (probed on fixed noise), so an architecture that accepts labels
and ignores them (the seed's) gets no dead input. generator.json travels in the model's
metadata under the key ``braingan``.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes

OPSET = 18
# The exporter logs a warning for every torchvision operator it cannot register when torchvision
# is absent; braingan never uses them (and does not depend on torchvision).
REGISTRATION_LOG = "torch.onnx._internal.exporter._registration"


class _Unconditional(nn.Module):
    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)


class _Conditional(_Unconditional):
    def forward(self, z: Tensor, label: Tensor) -> Tensor:  # type: ignore[override]
        return self.generator(z, label)


@torch.no_grad()
def is_conditional(generator: nn.Module, meta: dict[str, Any]) -> bool:
    """Several classes, and the label changes the image for the same noise."""
    if len(meta.get("classes", [])) < 2:
        return False
    z = torch.randn(2, meta["latent_dim"], generator=torch.Generator().manual_seed(0))
    first = generator(z, torch.zeros(2, dtype=torch.int64))
    second = generator(z, torch.ones(2, dtype=torch.int64))
    return not torch.equal(first, second)


def export_onnx(generator: nn.Module, meta: dict[str, Any], path: str | Path) -> bool:
    """Write ``generator`` to ``path``; returns whether it has a label input."""
    try:
        import onnx
    except ImportError as e:
        raise BrainganError("ONNX export needs the onnx extra: pip install 'braingan[onnx]'") from e
    generator = generator.cpu().eval()
    conditional = is_conditional(generator, meta)
    z = torch.randn(2, meta["latent_dim"])
    batch = torch.export.Dim("batch")
    if conditional:
        module, args, names = _Conditional(generator), (z, torch.zeros(2, dtype=torch.int64)), ["z", "label"]
        shapes = {"z": {0: batch}, "label": {0: batch}}
    else:
        module, args, names, shapes = _Unconditional(generator), (z,), ["z"], {"z": {0: batch}}
    registration = logging.getLogger(REGISTRATION_LOG)
    level = registration.level
    try:
        registration.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, args, input_names=names, output_names=["image"],
                                        dynamic_shapes=shapes, opset_version=OPSET, dynamo=True, verbose=False)
    except ImportError as e:
        raise BrainganError(f"ONNX export needs the onnx extra: pip install 'braingan[onnx]' ({e})") from e
    finally:
        registration.setLevel(level)
    model = program.model_proto
    if not model.graph.input[0].type.tensor_type.shape.dim[0].dim_param:
        raise BrainganError(f"{meta.get('arch')}: the exporter fixed the batch size; the generator's forward "
                            "must not turn the batch size into a Python int (use x.shape[0], not len(x))")
    onnx.helper.set_model_props(model, {"braingan": json.dumps(meta)})
    atomic_write_bytes(path, model.SerializeToString())
    return conditional
