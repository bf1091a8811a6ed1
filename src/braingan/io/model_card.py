"""``generator.card.md``: what a shared generator is, how it was made, how good and how private.

A model card (Mitchell et al. 2019) beside the weights, so whoever receives the generator
learns, without the run directory, what it was trained on (counts, classes, resolution,
deduplication), the recipe, how many images it saw, the readings of the last evaluation with
their floors and intervals, the privacy audit's readings, and what it is for. The trainer
writes it with every export and ``evaluate`` rewrites it with the new readings; everything in
it comes from files in the folder (generator.json, config.toml, log.csv, metrics.json).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braingan import __version__
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_text
from braingan.metrics.result import Paragraph

if TYPE_CHECKING:
    from braingan.config import RunConfig
    from braingan.data import Dataset

CARD = "generator.card.md"
RECIPE_SECTIONS = ("model", "optim", "loss", "augment", "ema")
INTENDED_USE = (
    "Research and teaching: synthetic brain MRI slices for method development, for augmenting the "
    "training data of image classifiers (check the utility study first), and as material for students. "
    "Not for diagnosis or any clinical decision, and not a substitute for real data in a validation or "
    "test set. Synthetic scans are not patient records, but a generator can reproduce its training "
    "scans: read the privacy readings below (copies against the held-out base rate, membership "
    "attacks against chance) before sharing it or its samples outside the group that may see the "
    "training data."
)


def training_summary(config: RunConfig, dataset: Dataset) -> dict[str, Any]:
    """What the generator trains on, for generator.json and the card."""
    per_class = Counter(dataset.class_names[int(label)] for label in dataset.labels)
    return {"path": str(Path(config.data.path).resolve()) if config.data.path else "the embedded MNI152 demo slices",
            "images": len(dataset), "per_class": {name: per_class[name] for name in dataset.class_names},
            "scans": len(set(dataset.groups or dataset.files)),
            "duplicates_dropped": sum(len(g) - 1 for g in dataset.duplicates) if config.data.dedupe else 0,
            **({"excluded": {"against": str(Path(config.data.exclude).resolve()), "images": len(dataset.excluded)}}
               if config.data.exclude else {})}


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _trained(folder: Path, generator: dict) -> list[str]:
    from braingan.config import RunConfig, load_toml
    from braingan.training.logs import LossLog

    lines = []
    data = generator.get("training_data") or {}
    if data:
        classes = ", ".join(f"{name} {count}" for name, count in (data.get("per_class") or {}).items())
        lines += ["## Training data", "",
                  f"- {data.get('images')} images from {data.get('scans')} scans in `{data.get('path')}` ({classes})",
                  f"- byte-identical duplicate files dropped: {data.get('duplicates_dropped')}"]
        excluded = data.get("excluded")
        if isinstance(excluded, dict):
            lines.append(f"- images dropped as the same scan as one in `{excluded.get('against')}` (--exclude): "
                         f"{excluded.get('images')}")
    elif generator.get("source"):
        lines += ["## Training data", "", f"- not recorded: imported from {generator['source']}"]
    prep = generator.get("preprocessing") or {}
    lines.append(f"- preprocessing: {prep.get('resolution')} px, head crop {'on' if prep.get('crop') else 'off'}, "
                 "padded to square")
    if (folder / "config.toml").is_file():
        try:
            config = RunConfig.from_dict(load_toml(folder / "config.toml"), str(folder / "config.toml"))
        except BrainganError as e:  # a card is written at every export: an unreadable config is said, not fatal
            lines += ["", f"(config.toml not readable: {e})"]
        else:
            values = config.to_dict()
            lines += ["", "## Recipe", "", f"- preset `{config.preset}`"]
            lines += [f"- [{name}] " + ", ".join(f"{k} = {v}" for k, v in values[name].items())
                      for name in RECIPE_SECTIONS if name in values]
            rows = LossLog(folder / "log.csv").read()
            if rows:
                steps = int(rows[-1]["step"])
                lines.append(f"- trained {steps:,} steps, {steps * config.run.batch_size:,} images shown")
    return lines


def _readings(metrics: dict) -> list[str]:
    from braingan.metrics.registry import METRICS, result_of

    lines = ["## Measured quality and privacy", "",
             f"{metrics.get('n_fake')} samples against {metrics.get('n_real')} real scans at "
             f"{metrics.get('resolution')} px (`braingan evaluate`, protocol {metrics.get('protocol')}). "
             "'real vs real' is what two halves of the real scans give against each other; 'samples, same n' "
             "the samples at that n.", "",
             "| reading | value | 95% interval | real vs real | samples, same n | better |",
             "|---|---:|---:|---:|---:|---|"]
    privacy = []
    for name, values in (metrics.get("metrics") or {}).items():
        try:
            result = result_of(name, values)
        except (KeyError, TypeError, ValueError, AttributeError):
            lines.append(f"| {name} | (not readable by braingan {__version__}) | | | | |")
            continue
        lines += [f"| {name}{'.' + row.label if row.label else ''} | {row.value} | {row.interval} | {row.floor} | "
                  f"{row.at_floor_n} | {row.better} |" for row in result.rows if row.better is not None]
        if name in METRICS and METRICS[name].privacy:
            privacy += [block.text for block in result.headline if isinstance(block, Paragraph)]
    if privacy:
        lines += ["", *privacy]
    return lines


def write_model_card(folder: str | Path) -> Path:
    """(Re)write ``folder/generator.card.md`` from the files in ``folder``."""
    folder = Path(folder)
    generator = _read_json(folder / "generator.json") or {}
    classes = generator.get("classes") or []
    kind = "class-conditional " if generator.get("conditional") else ""
    lines = [f"# Generator card: {folder.resolve().name}", "",
             f"A {kind}`{generator.get('arch')}` generator of {generator.get('resolution')} px grey brain MRI "
             f"slices ({', '.join(classes)}), latent size {generator.get('latent_dim')}"
             + (", exponential-moving-average weights" if generator.get("ema") else "")
             + f". Written by braingan {__version__}.", ""]
    lines += _trained(folder, generator)
    metrics = _read_json(folder / "metrics.json")
    lines += [""] + (_readings(metrics) if metrics else
                     ["## Measured quality and privacy", "",
                      f"Not evaluated yet: `braingan evaluate {folder} --holdout HELD_OUT` fills this in."])
    lines += ["", "## Intended use", "", INTENDED_USE, ""]
    path = folder / CARD
    atomic_write_text(path, "\n".join(lines))
    return path
