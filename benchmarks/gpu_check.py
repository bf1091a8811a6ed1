"""Everything a session with a lent GPU should measure, in one run that installs nothing.

1. Equivalence: 5 seed steps (batch 4, 128 px) on the CPU's plain path and the GPU's fast
   path from the same weights and inputs, dropout off (CPU and GPU draw different masks);
   prints the largest loss and weight differences (cuDNN convolves in TF32 by default, so
   expect ~1e-3, not 1e-7).
2. Timings: bench_speed.py's cases on the GPU (reference, plain, fast; generator at
   batch 64), the seed schedule (37,500 steps) extrapolated, and each preset's generator
   images/s at its own batch size with its GFLOP and % of the float32 matmul peak.
3. ``--cuda-graphs``: short runs of the seed (128 px), fewshot-fast and fastgan presets on the
   embedded demo set, eager and replayed from CUDA graphs, from the same seed: the largest
   loss difference over the first steps (a graph replays the eager kernels, so expect 0 or
   float noise), images/s, and the seed schedule at the graphed pace.
4. With 2+ GPUs: a short ``torchrun`` data-parallel run on the embedded demo set.

    python benchmarks/gpu_check.py          (about 3 minutes on one H100)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

import torch
from bench_speed import GEN_BATCH, REPO, _gflop, _timed, run_case, sgemm_peak
from torch import nn

SEED_STEPS = 37_500
STEP_CASES = ("reference", "plain", "fast")


def equivalence(device: torch.device, steps: int = 5) -> tuple[float, float]:
    """Largest |loss| and |weight| differences between CPU plain and GPU fast after ``steps``."""
    from braingan.config import preset
    from braingan.models import build_discriminator, build_generator
    from braingan.training import fastpath
    from braingan.training.losses import get_loss
    from braingan.training.step import GanModels, train_step

    seed = preset("seed")
    m, o = seed.model, seed.optim
    adam = {"lr": o.lr, "betas": (o.beta1, o.beta2), "eps": o.eps}
    runs = []
    for where, fast in ((torch.device("cpu"), False), (device, True)):
        torch.manual_seed(0)
        G = fastpath.prepare_module(build_generator(m.arch, resolution=128, width=256, latent_dim=100).to(where), fast)
        D = fastpath.prepare_module(build_discriminator(m.arch, resolution=128, width=64).to(where), fast)
        for layer in D.modules():
            if isinstance(layer, nn.Dropout):
                layer.p = 0.0
        models = GanModels(
            G, D, fastpath.adam(G.parameters(), fast, **adam), fastpath.adam(D.parameters(), fast, **adam)
        )
        inputs = torch.Generator().manual_seed(1)
        losses = []
        for _ in range(steps):
            real = torch.rand(4, 1, 128, 128, generator=inputs) * 2 - 1
            z = torch.randn(4, 100, generator=inputs)
            stats = train_step(
                models,
                get_loss(seed.loss.gan),
                real.to(where),
                z.to(where),
                torch.zeros(4, dtype=torch.int64, device=where),
            )
            losses.append(torch.stack([stats.d_loss, stats.g_loss]).cpu())
        runs.append((torch.stack(losses), {k: v.cpu() for k, v in {**G.state_dict(), **D.state_dict()}.items()}))
    (loss_a, w_a), (loss_b, w_b) = runs
    return (loss_a - loss_b).abs().max().item(), max((w_a[k] - w_b[k]).abs().max().item() for k in w_a)


def preset_generators(device: torch.device, peak: float) -> list[tuple[str, int, float, float, float]]:
    """(preset, batch, images/s, GFLOP per batch, % of peak) of each preset's generator, fast path."""
    from braingan.config import PRESETS, preset
    from braingan.models import build_generator
    from braingan.training import fastpath

    rows = []
    for name in PRESETS:
        c = preset(name)
        G = build_generator(
            c.model.arch, resolution=c.data.resolution, width=c.model.g_width, latent_dim=c.model.latent_dim
        )
        G = fastpath.prepare_module(G.to(device), True)
        z = torch.randn(c.run.batch_size, c.model.latent_dim, device=device)
        labels = torch.zeros(c.run.batch_size, dtype=torch.int64, device=device)

        @torch.inference_mode()
        def fn() -> None:
            G(z, labels)

        gflop = _gflop(fn)
        median = statistics.median(_timed(fn, device, repeats=50, warmup=10))
        rows.append((name, c.run.batch_size, c.run.batch_size / median, gflop, 100 * gflop / median / peak))
    return rows


def graphed_training(name: str, device: torch.device, steps: int = 1500) -> tuple[float, float, float]:
    """(largest |loss difference| over the first 100 steps, eager images/s, graphed images/s) of
    ``steps`` steps of preset ``name`` trained through the Trainer (``--log-every 50``)."""
    import braingan
    from braingan.config import preset
    from braingan.training.logs import LossLog

    rows = {}
    for graphs in (False, True):
        config = preset(name)
        if name == "seed":
            config.data.resolution = 128
        r = config.run
        r.device, r.cuda_graphs, r.log_every = str(device), graphs, 50
        r.steps_per_epoch, r.epochs, r.images, r.checkpoint_every = steps, 1, 0, steps
        with tempfile.TemporaryDirectory() as out:
            rows[graphs] = LossLog(braingan.train(config, f"{out}/run", log=lambda _: None) / "log.csv").read()
    diff = max(abs(a[k] - b[k]) for a, b in zip(rows[False][:100], rows[True][:100]) for k in ("d_loss", "g_loss"))

    def pace(log: list[dict]) -> float:  # the later intervals' rate: warm-up and capture behind
        return statistics.median(row["images_per_s"] for row in log[len(log) // 2:])

    return diff, pace(rows[False]), pace(rows[True])


def ddp_smoke() -> str:
    """A 20-step torchrun run on 2 GPUs (the embedded demo set); returns 'ok' or the error's tail."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "braingan",
            "demo",
            "--out",
            f"{out}/run",
            "--steps-per-epoch",
            "20",
            "--epochs",
            "1",
            "--device",
            "cuda",
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "src")}
        )
        return "ok" if result.returncode == 0 else result.stderr[-500:]


def main() -> None:
    from braingan.config import preset

    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device")
    device = torch.device("cuda")
    peak = sgemm_peak(device)
    print(
        f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}, "
        f"{torch.cuda.device_count()} GPU(s); float32 matmul peak {peak:.0f} GFLOP/s",
        flush=True,
    )
    loss_diff, weight_diff = equivalence(device)
    print(
        f"equivalence, 5 seed steps CPU plain vs GPU fast: max |loss diff| {loss_diff:.2e}, "
        f"max |weight diff| {weight_diff:.2e} -> {'ok' if loss_diff < 1e-2 else 'DIFFERENT'}",
        flush=True,
    )
    print(f"{'case':44s} {'median ms':>10s} {'images/s':>10s} {'seed schedule s':>16s} {'peak MiB':>9s}")
    for case in STEP_CASES + ("generate_plain", "generate_fast"):  # printed as measured: a cut-off run keeps them
        r = run_case(case, device, repeats=50, warmup=10)
        median = statistics.median(r["times"])
        schedule = f"{median * SEED_STEPS:16.0f}" if case in STEP_CASES else ""
        print(
            f"{case:44s} {1e3 * median:10.2f} {r['images'] / median:10.0f} {schedule:>16s} {r['peak_mb']:9.0f}",
            flush=True,
        )
    print(f"{'preset generator (fast path)':44s} {'batch':>6s} {'images/s':>10s} {'GFLOP':>8s} {'% peak':>7s}")
    for name, batch, rate, gflop, share in preset_generators(device, peak):
        print(f"{name:44s} {batch:6d} {rate:10.0f} {gflop:8.1f} {share:7.1f}")
    print(f"{'--cuda-graphs, Trainer, 1,500 steps':44s} {'|loss diff|':>11s} {'eager img/s':>11s} "
          f"{'graphed img/s':>13s} {'seed schedule s':>16s}")
    for name in ("seed", "fewshot-fast", "fastgan-fast"):
        diff, eager, graphed = graphed_training(name, device)
        schedule = f"{SEED_STEPS * preset('seed').run.batch_size / graphed:16.0f}" if name == "seed" else ""
        print(f"{name:44s} {diff:11.2e} {eager:11.0f} {graphed:13.0f} {schedule:>16s}", flush=True)
    if torch.cuda.device_count() >= 2:
        print(f"torchrun, 2 GPUs, 20 demo steps: {ddp_smoke()}")
    print(f"(generator batch {GEN_BATCH}; all timings float32 with cuDNN's default TF32 convolutions)")


if __name__ == "__main__":
    main()
