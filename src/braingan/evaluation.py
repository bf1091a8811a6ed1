"""``evaluate``: a run's samples against the real set, every metric, one metrics.json.

This is where runs meet metrics: it loads the run's generator, preprocesses the real images
exactly as training did (``data.load_dataset`` on the run's saved data config, or for a
generator imported without its training record, on the preprocessing its generator.json
records), makes or reads the generated images, and hands arrays to ``metrics.registry``. What
each metric needs and shows is declared there, so nothing here knows a metric by name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from braingan import __version__
from braingan.api import load, saved_config
from braingan.config import DataConfig, RunConfig
from braingan.data import Dataset, load_dataset
from braingan.devices import resolve_device
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes, atomic_write_text
from braingan.io.generator_files import GeneratorFile, read_generator_file
from braingan.io.images import save_png
from braingan.metrics import inception, memorization, registry
from braingan.metrics.result import MetricResult, artifact_path

Log = Callable[[str], None]
METRICS_FILE, PREVIOUS_FILE = "metrics.json", "metrics.previous.json"  # one earlier evaluation is kept
CHECKPOINT = Path("checkpoints", "last.pt")  # where api.saved_config finds the training config
NO_RECORD = "holds a generator without its training record (made by import-keras)"


def trained_config(run: str | Path) -> RunConfig | None:
    """The config ``run`` was trained with; None for a folder of generator files alone."""
    return saved_config(run) if (Path(run) / CHECKPOINT).is_file() else None


def data_config_of(card: GeneratorFile, path: str | Path) -> DataConfig:
    """The images in ``path`` preprocessed as the generator's training images were, from what its
    generator.json records (crop, size and, where recorded, how volumes became slices)."""
    volumes = dict(card.volumes or {})
    return DataConfig(path=str(path), resolution=card.resolution, crop=bool(card.preprocessing.get("crop", True)),
                      **{k: volumes[k] for k in ("slices", "axis", "brain_fraction", "clip_low", "clip_high")
                         if k in volumes})


def real_dataset(run: str | Path, real: str | Path | None = None, log: Log = print) -> Dataset:
    """The run's training images (or ``real``), preprocessed exactly as the run's training was."""
    trained = trained_config(run)
    if trained is None:
        if real is None:
            raise BrainganError(f"{run} {NO_RECORD}: give the real images to compare with (--real FOLDER)")
        return load_dataset(data_config_of(read_generator_file(Path(run)), real), log=log)
    data = dataclasses.replace(trained.data)
    if real is not None:
        data.path, data.classes, data.limit = str(real), None, None
    return load_dataset(data, log=log)


def _read_fake(folder: Path, resolution: int, log: Log) -> torch.Tensor:
    config = DataConfig(path=str(folder), resolution=resolution, crop=False, dedupe=False, cache=False)
    return load_dataset(config, log=log).images


def _generate(runs: dict[str, Path], n: int, seed: int, device: str) -> tuple[torch.Tensor, list[str]]:
    """n images split over classes: one run per class, or the classes of one conditional run."""
    images, names = [], []
    for run_name, run in runs.items():
        synthesizer = load(run, device=device)
        classes = [run_name] if run_name else synthesizer.class_names
        for i, name in enumerate(classes):
            count = n // len(runs) // len(classes) + (1 if i < n // len(runs) % len(classes) else 0)
            label = None if run_name else name
            images.append(synthesizer.generate_tensor(count, seed=seed + i, label=label))
            names += [name] * count
    return torch.cat(images), names


def evaluate(run: str | Path, real: str | Path | None = None, n: int = 1000, metrics: str | list[str] | None = None,
             fake_dir: str | Path | None = None, out: str | Path | None = None,
             inception_weights: str | Path | None = None, runs_per_class: dict[str, Path] | None = None,
             seed: int = 0, device: str = "auto", holdout: str | Path | None = None, log: Log = print) -> dict:
    """Compute ``metrics`` for ``run`` and write ``metrics.json`` (and the memorization pairs) to ``out``.

    ``holdout``: real scans the run did not train on (a folder; copies of training scans in it are
    set aside), which the memorization audit flags at the base rate a sample is compared with,
    and whose own pairwise MS-SSIM is the diversity a generator of new patients would show."""
    run, out = Path(run), Path(out) if out is not None else Path(run)
    names = registry.parse(metrics)
    metrics_used = [registry.METRICS[m] for m in names]
    if n < 2 and fake_dir is None:
        raise BrainganError(f"--n must be at least 2, not {n}")
    trained = trained_config(run)
    real_set = real_dataset(run, real, log=lambda _: None)
    resolution = real_set.images.shape[-1]

    if fake_dir is not None:
        fake, fake_names, source = _read_fake(Path(fake_dir), resolution, log), None, f"images in {fake_dir}"
    else:
        runs = runs_per_class or {"": run}
        fake, fake_names = _generate(runs, n, seed, device)
        source = f"{len(fake)} generated with seed {seed}"
    mirror = trained is not None and trained.augment.mirror  # the audit then searches flipped images too
    inputs = registry.EvalInputs(real=real_set.images, fake=fake, class_names=real_set.class_names, mirror=mirror)
    if holdout is not None and any(m.reads_holdout for m in metrics_used):
        inputs.holdout = real_dataset(run, holdout, log=lambda _: None).images
    if fake_names is not None:
        unknown = sorted(set(fake_names) - set(real_set.class_names))
        if unknown and any(m.needs_labels for m in metrics_used):
            raise BrainganError(f"generated class {unknown[0]!r} has no real images in {real or 'the training data'} "
                                f"(classes there: {', '.join(real_set.class_names)})")
        if not unknown:
            inputs.real_labels = real_set.labels.numpy()
            inputs.fake_labels = np.array([real_set.class_names.index(c) for c in fake_names])

    skipped = {}
    if any(m.needs_inception or m.uses_inception_if_available for m in metrics_used):
        path, note = inception.locate_weights(inception_weights)
        inputs.inception_note = note
        if path is None:
            log(note)
            skipped = {m.name: note for m in metrics_used if m.needs_inception}
        else:
            inputs.extractor = inception.InceptionFeatures(path, device=resolve_device(device))
            inputs.inception_note = f"{note}; run with {inputs.extractor.backend}"

    results: dict[str, MetricResult] = {}
    for metric in metrics_used:
        if metric.name in skipped:
            continue
        results[metric.name] = metric.compute(inputs)
        log(f"{metric.name}: done in {results[metric.name].values['seconds']:.1f} s")

    training_data = (trained.data.path if trained is not None else None) or "the embedded demo set"
    report = {
        "braingan": __version__, "run": str(run), "real": str(real or training_data),
        "n_real": len(real_set), "n_fake": len(fake), "fake": source, "resolution": resolution,
        "holdout": str(holdout) if holdout is not None else None,
        "inception": inputs.inception_note or None,
        "metrics": {name: result.values for name, result in results.items()}, "skipped": skipped,
        "notes": {"real_preprocessing": "the run's own data config (crop, pad, resize), as in training"
                                        if trained is not None else
                                        "the preprocessing recorded in the run's generator.json",
                  "memorization_against": "the real set above (by default the run's training images)"
                                          + (", and its left-right flips (the run trained on them)"
                                             if inputs.mirror else "")},
    }
    if (out / METRICS_FILE).is_file():
        (out / METRICS_FILE).replace(out / PREVIOUS_FILE)
        log(f"{out / METRICS_FILE} of an earlier evaluation kept as {PREVIOUS_FILE}")
    atomic_write_text(out / METRICS_FILE, json.dumps(report, indent=2, default=float) + "\n")
    for name, result in results.items():
        save_artifacts(out, name, result)
    return report


def save_artifacts(folder: Path, metric: str, result: MetricResult) -> None:
    """Each picture as ``<metric>_<artifact>.png`` beside metrics.json, where the report looks."""
    for artifact, image in result.artifacts.items():
        path = artifact_path(folder, metric, artifact)
        if isinstance(image, bytes):
            atomic_write_bytes(path, image)
        else:
            save_png(path, image)


def reject_memorized(run: str | Path, images: np.ndarray, log: Log = print) -> tuple[np.ndarray, list[int]]:
    """Drop generated uint8 images that the memorization audit flags against the run's training set."""
    trained = trained_config(run)
    if trained is None:  # nothing to audit against: say how to audit with real images instead
        raise BrainganError(f"{run} {NO_RECORD}, so its training images are unknown: generate without "
                            "--reject-memorized, then audit the images with 'braingan evaluate RUN --real FOLDER "
                            "--fake OUT --metrics memorization'")
    train = real_dataset(run, log=lambda _: None).images
    result = memorization.audit(train, images, mirror=trained.augment.mirror)
    keep = np.setdiff1d(np.arange(len(images)), result.flagged)
    return images[keep], sorted(result.flagged)
