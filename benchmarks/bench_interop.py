"""Time the medical readers and the exported generator (issue 6).

Rows: decoding a 64-file DICOM series (256 px, windowed) and a 182x218x182 NIfTI volume
through braingan's readers; generating 64 images at 128 px with the seed generator in
PyTorch and in onnxruntime (the exported model). Median of repeated runs after a warm-up.
Usage: python benchmarks/bench_interop.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from braingan.data.dicom import read_dicom  # noqa: E402
from braingan.data.nifti import read_nifti  # noqa: E402
from braingan.data.slices import VolumeOptions  # noqa: E402
from braingan.io.onnx import export_onnx  # noqa: E402
from braingan.models.seed_dcgan import SeedGenerator  # noqa: E402
from dicom_files import write_mr  # noqa: E402  (the tests' DICOM writer)


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    options = VolumeOptions()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = [write_mr(folder / f"{i}.dcm", rng.integers(0, 4096, (256, 256)).astype(np.uint16), "1.2.3",
                          instance=i, WindowCenter=2048, WindowWidth=4096).read_bytes() for i in range(64)]
        t = median_time(lambda: [read_dicom(b, "x", options) for b in files], args.repeats)
        rows.append(("DICOM: 64 files 256x256 -> slices", t, f"{64 / t:.0f} slices/s"))
        nib.save(nib.Nifti1Image(rng.normal(100, 20, (182, 218, 182)).astype(np.float32), np.eye(4)),
                 folder / "v.nii.gz")
        data = (folder / "v.nii.gz").read_bytes()
        t = median_time(lambda: read_nifti(data, "v.nii.gz", options), args.repeats)
        rows.append(("NIfTI: 182x218x182 .nii.gz -> 182 axial", t, f"{182 / t:.0f} slices/s"))

        generator = SeedGenerator().eval()
        meta = {"arch": "seed_dcgan", "latent_dim": 100, "classes": ["yes"], "resolution": 128}
        start = time.perf_counter()
        export_onnx(generator, meta, folder / "g.onnx")
        rows.append(("ONNX export, seed generator 128 px", time.perf_counter() - start, "once"))
        import onnxruntime as ort

        session = ort.InferenceSession(str(folder / "g.onnx"), providers=["CPUExecutionProvider"])
        z = torch.randn(64, 100)
        with torch.no_grad():
            t = median_time(lambda: generator(z), args.repeats)
        rows.append(("generate 64 x 128 px, PyTorch", t, f"{64 / t:.0f} images/s"))
        t = median_time(lambda: session.run(None, {"z": z.numpy()}), args.repeats)
        rows.append(("generate 64 x 128 px, onnxruntime", t, f"{64 / t:.0f} images/s"))
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'task':44} {'median s':>9}  rate")
    for name, seconds, rate in rows:
        print(f"{name:44} {seconds:9.3f}  {rate}")


if __name__ == "__main__":
    main()
