"""Run the TorchScript Inception through onnxruntime on CPU: the same features, faster.

Inception is most of ``evaluate``'s time, and onnxruntime runs it faster on CPU than torch
does (benchmarks/RESULTS.md). The ONNX graph is converted from the user's own weights file once
(torch's TorchScript exporter, a few seconds), checked against the TorchScript model on a
probe batch, and only then kept in braingan's cache, keyed by the weights' SHA-256;
nothing is downloaded. Any failure (onnxruntime missing, export unsupported, a mismatch) returns None
and the caller stays on torch.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch

from braingan.data.cache import cache_dir
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes

TOLERANCE = 1e-4  # largest feature difference accepted (features are ~0.2 on average)
PROBE = 2


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _export(model: torch.jit.ScriptModule, probe: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its own deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (probe,), buffer, dynamo=False, input_names=["images"], output_names=["features"],
                          dynamic_axes={"images": {0: "batch"}})
    return buffer.getvalue()


def session(weights: Path, model: torch.jit.ScriptModule, weights_digest: str) -> tuple[object | None, str]:
    """(onnxruntime session computing ``model``'s features, or None; a note saying which runs and why).
    ``weights_digest``: ``digest(weights)``, the cache key of the conversion."""
    try:
        import onnxruntime
    except ImportError:
        return None, "torch (install onnxruntime for faster features on CPU)"
    target = cache_dir() / "inception" / f"{weights_digest}.onnx"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    probe = torch.linspace(-1, 1, PROBE * 3 * 299 * 299).reshape(PROBE, 3, 299, 299)
    note = f"onnxruntime {onnxruntime.__version__} on a conversion checked against TorchScript ({target})"
    try:
        if target.is_file():
            return onnxruntime.InferenceSession(str(target), options, providers=["CPUExecutionProvider"]), note
    except Exception:  # a damaged cache entry (onnxruntime raises its own exception types): convert again
        target.unlink(missing_ok=True)
    try:
        graph = _export(model, probe)
        runtime = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        with torch.inference_mode():
            expected = model(probe).reshape(PROBE, -1).numpy()
        got = runtime.run(None, {"images": probe.numpy()})[0].reshape(PROBE, -1)
    except Exception as e:  # any exporter or runtime failure: torch computes the same features
        return None, f"torch (ONNX conversion failed: {str(e).splitlines()[0] if str(e) else type(e).__name__})"
    error = float(np.abs(got - expected).max())
    if not error <= TOLERANCE:
        return None, f"torch (the ONNX conversion differed from TorchScript by {error:.2g})"
    try:
        atomic_write_bytes(target, graph)  # only a checked conversion is cached
    except BrainganError as e:  # an unwritable cache costs the conversion next time, nothing more
        note += f"; not cached: {e}"
    return runtime, note
