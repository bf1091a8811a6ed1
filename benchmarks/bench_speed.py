"""Speed of the seed preset: the notebook-equivalent eager loop against braingan's paths.

Prints one table: seconds per training step (batch 4, 128 px) of
  - the reference, a literal eager port of the notebook's loop (NCHW, default Adam, the fake
    batch generated twice, D's weight gradients computed in the G update as Keras'
    ``train_on_batch`` on the combined model does in a plain port),
  - braingan's step with ``train.fast = false`` (fake batch once, frozen D in the G update),
  - braingan's step with ``train.fast = true`` (the same math in channels_last + fused Adam),
  - the same with PyTorch's THP_MEM_ALLOC_ENABLE=1 (huge pages for large buffers; opt-in),
then generator images/s at batch 64, the FLOPs of each step and their share of the
machine's SGEMM peak, peak memory, and data preparation (253 real scans, cold and cached).

Every case runs in its own fresh process (so peak memory is its own), and the cases take
turns over ``--rounds`` rounds, so that load from other processes hits them alike.

    python benchmarks/bench_speed.py            # defaults: 3 rounds of 10 timed steps
    python benchmarks/bench_speed.py --quick    # 1 round of 3 steps: a smoke test
    python benchmarks/bench_speed.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BRAINGAN_TEST_DATA", REPO.parent / "shared" / "data")) / "brain_tumor_detection"
BATCH, GEN_BATCH = 4, 64
STEP_CASES = ("reference", "plain", "fast", "fast_thp")
# PyTorch's own switch: 2 MB-aligned large allocations with MADV_HUGEPAGE, read once at start-up.
# A step allocates ~0.5 GB of fresh pages (gradients, activations); huge pages cut the page faults
# ~15x. Opt-in, not set by braingan: it is process-wide and the kernel may compact memory to serve it.
THP = {"THP_MEM_ALLOC_ENABLE": "1"}
GEN_CASES = ("generate_plain", "generate_fast")


# -- one case, in its own process -------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _gflop(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def _reference_step(models, loss, real, z, labels) -> None:
    """The notebook's loop as a literal port would write it (the speed reference)."""
    G, D = models.generator, models.discriminator
    fake = G(z, labels)
    logits = D(torch.cat([real, fake.detach()]), torch.cat([labels, labels]))
    models.opt_d.zero_grad()
    loss.discriminator(logits[:len(real)], logits[len(real):]).backward()
    models.opt_d.step()
    models.opt_g.zero_grad()
    loss.generator(D(G(z, labels), labels)).backward()  # G's forward again; D's grads computed, unused
    models.opt_g.step()


def run_case(case: str, device: torch.device, repeats: int, warmup: int) -> dict:
    from braingan.config import preset
    from braingan.models import build_discriminator, build_generator
    from braingan.training import fastpath
    from braingan.training.losses import get_loss
    from braingan.training.step import GanModels, train_step

    config = preset("seed")
    m, o = config.model, config.optim
    fast = case.endswith("fast") or case == "fast_thp"
    torch.backends.cudnn.benchmark = False  # cases share a process in gpu_check.py
    fastpath.tune_backend(device, fast)
    torch.manual_seed(0)
    G = build_generator(m.arch, resolution=128, width=m.g_width, latent_dim=m.latent_dim).to(device)
    G = fastpath.prepare_module(G, fast)
    labels = torch.zeros(GEN_BATCH, dtype=torch.int64, device=device)
    if case.startswith("generate"):
        z = torch.randn(GEN_BATCH, m.latent_dim, device=device)

        @torch.inference_mode()
        def fn() -> None:
            G(z, labels)
        images = GEN_BATCH
    else:
        D = fastpath.prepare_module(build_discriminator(m.arch, resolution=128, width=m.d_width).to(device), fast)
        adam = {"lr": o.lr, "betas": (o.beta1, o.beta2), "eps": o.eps}
        models = GanModels(
            G, D, fastpath.adam(G.parameters(), fast, **adam), fastpath.adam(D.parameters(), fast, **adam)
        )
        loss = get_loss(config.loss.gan)
        data = fastpath.prepare_images(torch.rand(20, 1, 128, 128, device=device) * 2 - 1, fast)
        step = _reference_step if case == "reference" else train_step

        def fn() -> None:
            idx = torch.randint(0, len(data), (BATCH,), device=device)
            step(models, loss, data[idx], torch.randn(BATCH, m.latent_dim, device=device), labels[:BATCH])

        images = BATCH
    gflop = _gflop(fn)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = _timed(fn, device, repeats, warmup)
    peak = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {"case": case, "times": times, "images": images, "gflop": gflop, "peak_mb": peak / 2**20}


def sgemm_peak(device: torch.device) -> float:
    """GFLOP/s of a large float32 matrix product: the practical ceiling of this machine."""
    n = 4096 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    times = _timed(lambda: a @ b, device, repeats=5, warmup=2)
    return 2 * n**3 / min(times) / 1e9


def data_timings(path: Path) -> dict:
    """Preprocess the real scans with an empty cache, then load them again from the cache."""
    from braingan.config import DataConfig
    from braingan.data import load_dataset

    with tempfile.TemporaryDirectory() as cache:
        os.environ["BRAINGAN_CACHE"] = cache
        config = DataConfig(path=str(path), resolution=128)
        start = time.perf_counter()
        dataset = load_dataset(config, log=lambda _: None)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        load_dataset(config, log=lambda _: None)
        cached = time.perf_counter() - start
    files = len(dataset) + len(dataset.skipped) + sum(len(g) - 1 for g in dataset.duplicates)
    return {"n": files, "kept": len(dataset), "cold": cold, "cached": cached}


# -- the driver -------------------------------------------------------------------------------


def _in_child(args: argparse.Namespace, what: str) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        what,
        "--device",
        args.device,
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
        "--data",
        str(args.data),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        **(THP if what == "fast_thp" else {}),
    }
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"{what} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="turns each case takes (fresh process each)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per turn")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 calls: a smoke test")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the 253 real scans (yes/, no/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.child:
        result = (
            data_timings(args.data)
            if args.child == "data"
            else (
                {"sgemm": sgemm_peak(device)}
                if args.child == "sgemm"
                else run_case(args.child, device, args.repeats, args.warmup)
            )
        )
        print(json.dumps(result))
        return
    if args.quick:
        args.rounds, args.repeats, args.warmup = 1, 3, 1

    load_before = os.getloadavg()
    peak = 0.0
    results: dict[str, dict] = {}
    for _ in range(args.rounds):
        peak = max(peak, _in_child(args, "sgemm")["sgemm"])  # the best round: least disturbed by load
        for case in STEP_CASES + GEN_CASES:
            r = _in_child(args, case)
            kept = results.setdefault(case, {**r, "times": []})
            kept["times"] += r["times"]
            kept["peak_mb"] = max(kept["peak_mb"], r["peak_mb"])
    data = _in_child(args, "data") if args.data.is_dir() and device.type == "cpu" else None

    print(
        f"torch {torch.__version__} on {_machine(device)}; float32 SGEMM peak {peak:.0f} GFLOP/s; "
        f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{args.rounds} rounds x {args.repeats} timed calls per case, each round in a fresh process")
    header = (f"{'case':46s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'images/s':>9s} {'GFLOP':>6s} "
              f"{'% peak':>6s} {'peak MB':>8s} {'vs ref':>6s}")
    print(header)
    print("-" * len(header))
    names = {
        "reference": "train step, notebook-equivalent eager (ref)",
        "plain": "train step, braingan train.fast=false",
        "fast": "train step, braingan train.fast=true",
        "fast_thp": "  same, THP_MEM_ALLOC_ENABLE=1 (huge pages)",
        "generate_plain": f"generator, batch {GEN_BATCH}, plain",
        "generate_fast": f"generator, batch {GEN_BATCH}, fast (channels_last)",
    }
    ref = statistics.median(results["reference"]["times"])
    for case, r in results.items():
        median = statistics.median(r["times"])
        share = 100 * r["gflop"] / median / peak
        ratio = f"{ref / median:5.2f}x" if case in STEP_CASES else ""
        print(
            f"{names[case]:46s} {median:9.3f} {min(r['times']):7.3f} {max(r['times']):7.3f} "
            f"{r['images'] / median:9.1f} {r['gflop']:6.1f} {share:6.0f} {r['peak_mb']:8.0f} {ratio:>6s}"
        )
    if data:
        print(
            f"data: {data['n']} real scans ({data['kept']} after dedupe) preprocessed in {data['cold']:.2f} s "
            f"(empty cache), loaded again in {data['cached']:.3f} s (cached)"
        )


if __name__ == "__main__":
    main()
