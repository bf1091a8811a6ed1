"""Speed and memory of each preset's networks: training images/s, FLOPs per image, peak memory.

For every preset: braingan's own training step (the Trainer's, with its augmentation, EMA, ADA,
lazy R1 and D's reconstruction as the preset sets them) on the real `yes` scans at the preset's
batch and resolution, timed in blocks of ``r1_every`` steps so the lazy R1 step is counted at its
share; then the EMA generator's images/s at batch 64 in inference. Each preset runs in its own
fresh process (so peak memory is its own) and the presets take turns over ``--rounds`` rounds.

    python benchmarks/bench_family.py                                  # the CPU presets, 64 px
    python benchmarks/bench_family.py --presets fastgan fewshot seed --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from bench_speed import GEN_BATCH, _gflop, _machine, _sync, _timed, sgemm_peak

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BRAINGAN_TEST_DATA", REPO.parent / "shared" / "data")) / "brain_tumor_detection"


def run_preset(name: str, device: str, blocks: int) -> dict:
    from braingan.config import preset
    from braingan.data import load_dataset
    from braingan.training.loop import Trainer

    config = preset(name)
    config.data.path, config.data.classes, config.run.device = str(DATA), ["yes"], device
    dataset = load_dataset(config.data, log=lambda _: None)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, dataset, Path(run_dir), log=lambda _: None, hooks=[])
    local, block = trainer.world.local_batch(config.run.batch_size), config.loss.r1_every
    dev = trainer.device

    def steps() -> None:
        for _ in range(block):
            trainer._train_one(local)
            trainer.step += 1

    step_gflop = _gflop(steps) / block
    step_times = [t / block for t in _timed(steps, dev, repeats=blocks, warmup=1)]
    G = trainer.sampler.eval()
    z = torch.randn(GEN_BATCH, config.model.latent_dim, device=dev)
    labels = torch.zeros(GEN_BATCH, dtype=torch.int64, device=dev)

    @torch.inference_mode()
    def generate() -> None:
        G(z, labels)

    gen_gflop = _gflop(generate)
    gen_times = _timed(generate, dev, repeats=5, warmup=1)
    _sync(dev)
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"preset": name, "resolution": config.data.resolution, "batch": config.run.batch_size,
            "arch": config.model.arch, "params_g": sum(p.numel() for p in G.parameters()),
            "step_s": step_times, "step_gflop": step_gflop, "gen_s": gen_times, "gen_gflop": gen_gflop,
            "peak_mb": peak / 2**20}


def _child(args: argparse.Namespace, name: str) -> dict:
    command = [sys.executable, __file__, "--child", name, "--device", args.device, "--blocks", str(args.blocks)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "benchmarks"),
                                                         os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"{name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["fastgan-fast", "fewshot-fast", "demo", "fastgan"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks of r1_every steps per round")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_preset(args.child, args.device, args.blocks)))
        return
    device = torch.device(args.device)
    results: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name in args.presets:
            r = _child(args, name)
            kept = results.setdefault(name, {**r, "step_s": [], "gen_s": []})
            kept["step_s"] += r["step_s"]
            kept["gen_s"] += r["gen_s"]
            kept["peak_mb"] = max(kept["peak_mb"], r["peak_mb"])
    peak = sgemm_peak(device)
    print(f"torch {torch.__version__} on {_machine(device)}; "
          f"float32 SGEMM peak {peak:.0f} GFLOP/s")
    print("| preset | arch | px | batch | G params | train step s (median) | train images/s | GFLOP per "
          "trained image | % peak | generate images/s (batch 64) | GFLOP per generated image | peak MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        step, gen = statistics.median(r["step_s"]), statistics.median(r["gen_s"])
        print(f"| {name} | {r['arch']} | {r['resolution']} | {r['batch']} | {r['params_g'] / 1e6:.2f}M | "
              f"{step:.3f} | {r['batch'] / step:.1f} | {r['step_gflop'] / r['batch']:.2f} | "
              f"{100 * r['step_gflop'] / step / peak:.0f} | {GEN_BATCH / gen:,.0f} | "
              f"{r['gen_gflop'] / GEN_BATCH:.3f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
