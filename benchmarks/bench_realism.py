"""Recipes against each other at the same wall clock (not the same steps), scored by `braingan evaluate`.

Each recipe (a preset) trains for ``--minutes`` on a data set; the recipes of one data set train at
the same time, each with an equal share of the CPU threads, so every one sees the same machine and
the same load. Each run is then scored at ``--n`` samples against the 141 distinct `yes` scans,
with the real-vs-real floor (two halves of those scans) and 95% intervals: FID, KID, PRDC, the
MS-SSIM ratio, the two-sample test, FRD, SWD, and the copy audit beside the held-out base rate.
The held-out scans: for the seed's 20, the `yes` scans they never saw (copies of theirs set aside,
and the membership attacks run against them); for all 155, the `no` scans, new patients from the
same collection (no membership attack there: members and non-members would differ by class).

    # 64 px on a CPU: the fastgan family against fewshot-fast and the seed's networks (demo)
    python benchmarks/bench_realism.py
    # the table again from the runs' metrics.json
    python benchmarks/bench_realism.py --table
    # 128 px on a GPU, one run at a time
    python benchmarks/bench_realism.py --recipes fastgan fewshot seed --minutes 10 --parallel 1 --device cuda
    # fine-tuning from a prior against training from scratch (a recipe NAME:FLAGS trains with FLAGS
    # instead of --preset NAME; fine-tuned runs are also audited against the prior's data)
    python benchmarks/bench_realism.py --minutes 10 --recipes fewshot-fast "prior:--init brain64"

Runs go to benchmarks/out/realism/<set>-<recipe>; a run that already has a generator is not
trained again, one that has metrics.json is not scored again. The real scans come from
``$BRAINGAN_TEST_DATA`` (default ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import tomllib

SHARED = Path(os.environ.get("BRAINGAN_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATA = SHARED / "brain_tumor_detection"
OUT = Path(__file__).resolve().parent / "out" / "realism"
BRAINGAN = [sys.executable, "-m", "braingan"]
# data set -> (training flags, held-out scans, membership attack against them)
SETS = {
    "155": (["--classes", "yes"], DATA / "no", False),
    "20": (["--classes", "yes", "--limit", "20", "--subset-seed", "40"], DATA / "yes", True),
}
METRICS = "fid,kid,swd,prdc,frd,two_sample,diversity,memorization"


def recipe_flags(recipe: str) -> list[str]:
    """``--preset NAME`` for a preset, the flags after the colon for ``NAME:FLAGS``."""
    label, _, flags = recipe.partition(":")
    return shlex.split(flags) if flags else ["--preset", label]


def train_all(names: list[str], runs: dict[str, Path], args: argparse.Namespace) -> None:
    """Train the runs without a generator yet, ``args.parallel`` at a time, threads shared equally."""
    todo = [name for name in names if not (runs[name] / "generator.safetensors").exists()]
    threads = max(1, (os.cpu_count() or 1) // min(args.parallel, max(len(todo), 1)))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    for start in range(0, len(todo), args.parallel):
        jobs = []
        for name in todo[start:start + args.parallel]:
            set_name, recipe = name.split("-", 1)
            command = [*BRAINGAN, "train", str(DATA), *SETS[set_name][0], *recipe_flags(args.recipe_of[recipe]),
                       "--minutes", str(args.minutes), "--out", str(runs[name]), *device(args)]
            log = (runs[name].parent / f"{name}.log").open("w")
            jobs.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        for name, job, log in jobs:
            if job.wait():
                sys.exit(f"{name}: training failed (see {log.name})")
            log.close()


def score(name: str, run: Path, args: argparse.Namespace) -> None:
    if (run / "metrics.json").exists():
        return
    set_name = name.split("-", 1)[0]
    _, holdout, membership = SETS[set_name]
    fine_tuned = "init" in tomllib.loads((run / "config.toml").read_text())["run"]
    metrics = METRICS + (",membership" if membership else "") + (",prior_memorization" if fine_tuned else "")
    command = [*BRAINGAN, "evaluate", str(run), "--real", str(DATA / "yes"), "--holdout", str(holdout),
               "--n", str(args.n), "--metrics", metrics, *device(args)]
    subprocess.run(command, check=True)


def device(args: argparse.Namespace) -> list[str]:
    return ["--device", args.device] if args.device else []


def images_shown(run: Path) -> int:
    """The images the run trained on, from the last row of its log.csv and its batch size."""
    lines = (run / "log.csv").read_text().split()
    batch = tomllib.loads((run / "config.toml").read_text())["run"]["batch_size"]
    return int(lines[-1].split(",")[0]) * batch


def interval(reading: dict, key: str) -> str:
    low, high = reading["interval"][key]
    return f"[{low:.3g}, {high:.3g}]"


def row(name: str, run: Path) -> list[str]:
    m = json.loads((run / "metrics.json").read_text())["metrics"]
    fid, prdc, div, memo, two = m["fid"], m["prdc"], m["diversity"], m["memorization"], m["two_sample"]
    cells = [name, f"{images_shown(run) / 1000:.1f}",
             f"{fid['value']:.1f} {interval(fid, 'value')}",
             f"{fid['at_floor_n']['value']:.1f} / {fid['floor']['value']:.1f}",
             f"{m['kid']['value']:.4f} {interval(m['kid'], 'value')}"]
    for space in ("inception", "radiomic"):
        cells.append(f"{two[space]:.2f} {interval(two, space)} / {two['floor'][space]:.2f}" if space in two else "-")
    cells += [f"{prdc['coverage']:.2f} {interval(prdc, 'coverage')} / {prdc['floor']['coverage']:.2f}",
              f"{prdc['precision']:.2f} / {prdc['recall']:.2f}",
              f"{div['ratio']:.2f} {interval(div, 'ratio')}",
              f"{m['frd']['value']:.1f} / {m['frd']['floor']['value']:.1f}",
              f"{memo['flagged_fraction']:.3f} / {memo.get('holdout_flagged_fraction') or 0:.3f}"]
    cells.append(", ".join(f"{attack} {r['auc']:.2f}" for attack, r in m["membership"]["attacks"].items())
                 if "membership" in m else "-")
    prior = m.get("prior_memorization")
    if prior:
        cells.append(f"{prior['flagged_fraction']:.3f} / {prior.get('holdout_flagged_fraction') or 0:.3f}")
    return cells


HEADER = ["run", "kimg", "FID (n samples) [95%]", "FID same n / floor", "KID [95%]",
          "2-sample Inception [95%] / floor", "2-sample radiomic [95%] / floor", "coverage [95%] / floor",
          "precision / recall", "MS-SSIM ratio [95%]", "FRD / floor", "copies / held-out rate", "membership AUC",
          "copies of the prior's data / held-out rate"]


def table(names: list[str], runs: dict[str, Path]) -> None:
    rows = [row(name, runs[name]) for name in names if (runs[name] / "metrics.json").exists()]
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for cells in rows:
        print("| " + " | ".join(cells + ["-"] * (len(HEADER) - len(cells))) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["fastgan-fast", "fewshot-fast", "demo"])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--n", type=int, default=1000, help="samples scored per run")
    parser.add_argument("--parallel", type=int, default=3, help="runs training at once")
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table", action="store_true", help="only print the table of the runs scored so far")
    args = parser.parse_args()
    args.recipe_of = {recipe.partition(":")[0]: recipe for recipe in args.recipes}
    names = [f"{s}-{r}" for s in args.sets for r in args.recipe_of]
    runs = {name: args.out / name for name in names}
    if not args.table:
        args.out.mkdir(parents=True, exist_ok=True)
        for set_name in args.sets:
            train_all([n for n in names if n.startswith(f"{set_name}-")], runs, args)
        for name in names:
            score(name, runs[name], args)
    table(names, runs)


if __name__ == "__main__":
    main()
