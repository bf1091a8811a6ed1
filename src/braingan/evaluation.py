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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from braingan import __version__
from braingan.api import load, saved_config, saved_data
from braingan.config import DataConfig, RunConfig
from braingan.data import Dataset, load_dataset
from braingan.data.fingerprint import check_same_data, fingerprint
from braingan.devices import memory_of, resolve_device
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes, atomic_write_text
from braingan.io.generator_files import GeneratorFile, read_generator_file
from braingan.io.images import save_png
from braingan.io.model_card import write_model_card
from braingan.io.prior_files import load_init
from braingan.metrics import inception, memorization, registry
from braingan.metrics.protocol import STANDARD, Protocol, group_ids
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
    """The run's training images (or ``real``), preprocessed exactly as the run's training was.

    The training images are read from the path the run saved (absolute since runs store it so) and
    must be what the run trained on: another folder of the same name, or one changed since, is
    refused (``data.fingerprint``) rather than silently measured against."""
    trained = trained_config(run)
    if trained is None:
        if real is None:
            raise BrainganError(f"{run} {NO_RECORD}: give the real images to compare with (--real FOLDER)")
        return load_dataset(data_config_of(read_generator_file(Path(run)), real), log=log)
    data = dataclasses.replace(trained.data)
    if real is not None:  # another folder as it is: no --limit draw, classes or --exclude of the run's
        data.path, data.classes, data.limit, data.exclude = str(real), None, None, None
        return load_dataset(data, log=log)
    dataset = load_dataset(data, log=log)
    check_same_data(saved_data(run), fingerprint(dataset), data.path,
                    "give the images it trained on with --train FOLDER (and --real FOLDER to compare with others)")
    return dataset


@dataclass
class Sets:
    """The image sets of one evaluation, preprocessed alike, and what each one is."""

    real: Dataset  # the reference for fidelity
    fake: torch.Tensor
    fake_names: list[str] | None  # class of each generated image, when known
    train: torch.Tensor | None  # what the generator trained on, when not ``real``
    holdout: torch.Tensor | None
    mirror: bool  # the generator trained on left-right flips too
    described: dict[str, str | None]  # metrics.json's account of each set
    prior: PriorData | None = None  # a fine-tuned run's prior: what it trained on


@dataclass
class PriorData:
    """The training images of the prior a run was fine-tuned from, or why they are not at hand."""

    source: str  # the --init the run started from
    images: torch.Tensor | None
    mirror: bool
    missing: str | None  # why the images could not be loaded


def prior_data(trained: RunConfig) -> PriorData | None:
    """The prior's training images, preprocessed as the prior's training was (its --exclude
    included); None for a run not fine-tuned."""
    source = trained.run.init
    if source is None:
        return None
    try:
        prior = RunConfig.from_dict(load_init(source)["config"], f"{source} config")
    except BrainganError as e:
        return PriorData(source, None, False, f"the prior is not readable ({e})")
    if prior.data.path is None or not Path(prior.data.path).is_dir():
        where = prior.data.path or "the embedded demo set"
        return PriorData(source, None, False, f"the prior's training data ({where}) is not on this machine")
    if prior.data.exclude is not None and not Path(prior.data.exclude).is_dir():
        return PriorData(source, None, False, f"the folder the prior's data was cleaned against "
                                              f"({prior.data.exclude}, --exclude) is not on this machine")
    images = load_dataset(prior.data, log=lambda _: None).images
    return PriorData(source, images, prior.augment.mirror, None)


def _folder(data: DataConfig, path: str | Path, **changes: object) -> Dataset:
    return load_dataset(dataclasses.replace(data, path=str(path), classes=None, limit=None, **changes),
                        log=lambda _: None)


def _folder_sets(real: Path | None, fake: Path, train: Path | None, holdout: Path | None,
                 data: DataConfig) -> Sets:
    """Any folders, each read and preprocessed as training would read it with ``data``'s options;
    the generated images are not deduplicated (two equal samples are a finding, not a duplicate)."""
    reference = real if real is not None else train
    if reference is None:
        raise BrainganError("without a run, give the real images to compare with (--real FOLDER or --train FOLDER)")
    real_set = _folder(data, reference)
    return Sets(real=real_set, fake=_folder(data, fake, dedupe=False, cache=False).images, fake_names=None,
                train=_folder(data, train).images if train is not None and real is not None else None,
                holdout=_folder(data, holdout).images if holdout is not None else None, mirror=False,
                described={"real": str(reference), "fake": f"images in {fake}",
                           "train": str(train) if train is not None else None,
                           "holdout": str(holdout) if holdout is not None else None,
                           "preprocessing": f"every folder as training reads it at {data.resolution} px "
                                            f"(crop {'on' if data.crop else 'off'})"})


def _run_sets(run: Path, real: Path | None, fake: Path | None, train: Path | None, holdout: Path | None,
              n: int, runs_per_class: dict[str, Path] | None, seed: int, device: str) -> Sets:
    """The run's samples (or ``fake``) against its training images (or ``real``), preprocessed as
    the run's training was; ``train`` defaults to the run's own training images."""
    trained = trained_config(run)
    real_set = real_dataset(run, real, log=lambda _: None)
    resolution = real_set.images.shape[-1]
    if fake is not None:
        images, names, source = _read_fake(fake, resolution), None, f"images in {fake}"
    else:
        images, names = _generate(runs_per_class or {"": run}, n, seed, device)
        source = f"{len(images)} generated with seed {seed}"
    if train is not None:
        train_images = real_dataset(run, train, log=lambda _: None).images
    elif real is not None and trained is not None:
        train_images = real_dataset(run, log=lambda _: None).images
    else:
        train_images = None
    training_data = (trained.data.path if trained is not None else None) or "the embedded demo set"
    return Sets(real=real_set, fake=images, fake_names=names, train=train_images,
                prior=prior_data(trained) if trained is not None else None,
                holdout=real_dataset(run, holdout, log=lambda _: None).images if holdout is not None else None,
                mirror=trained is not None and trained.augment.mirror,
                described={"real": str(real or training_data), "fake": source,
                           "train": str(train or (training_data if trained is not None else real)),
                           "holdout": str(holdout) if holdout is not None else None,
                           "preprocessing": "the run's own data config (crop, pad, resize), as in training"
                                            if trained is not None else
                                            "the preprocessing recorded in the run's generator.json"})


def _read_fake(folder: Path, resolution: int) -> torch.Tensor:
    config = DataConfig(path=str(folder), resolution=resolution, crop=False, dedupe=False, cache=False)
    return load_dataset(config, log=lambda _: None).images


def _generate(runs: dict[str, Path], n: int, seed: int, device: str) -> tuple[torch.Tensor, list[str]]:
    """n images split over classes: one run per class, or the classes of one conditional run."""
    images, names = [], []
    for run_name, run in runs.items():
        synthesizer = load(run, device=device)
        if (need := 4 * n * synthesizer.resolution**2) > (have := memory_of(torch.device("cpu"))):
            raise BrainganError(f"--n {n:,} samples of {synthesizer.resolution} px need {need / 2**30:,.0f} GiB, "
                                f"more than the {have / 2**30:,.0f} GiB of memory here")
        classes = [run_name] if run_name else synthesizer.class_names
        for i, name in enumerate(classes):
            count = n // len(runs) // len(classes) + (1 if i < n // len(runs) % len(classes) else 0)
            label = None if run_name else name
            images.append(synthesizer.generate_tensor(count, seed=seed + i, label=label))
            names += [name] * count
    return torch.cat(images), names


def _inverted_generator(run: Path, device: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], int] | None:
    """The run's generator as latents -> images, for attacks that search its latent space (an
    unconditional generator only: a conditional one would need the member's class too)."""
    synthesizer = load(run, device=device)
    if len(synthesizer.class_names) > 1:
        return None
    network = synthesizer.generator.requires_grad_(False)  # gradients reach the latents only

    def decode(z: torch.Tensor) -> torch.Tensor:
        labels = torch.zeros(len(z), dtype=torch.int64, device=synthesizer.device)
        return network(z.to(synthesizer.device), labels).cpu()

    return decode, synthesizer.card.latent_dim


def evaluate(run: str | Path | None = None, real: str | Path | None = None, n: int = 1000,
             metrics: str | list[str] | None = None, fake_dir: str | Path | None = None, out: str | Path | None = None,
             inception_weights: str | Path | None = None, runs_per_class: dict[str, Path] | None = None,
             seed: int = 0, device: str = "auto", holdout: str | Path | None = None, train: str | Path | None = None,
             data: DataConfig | None = None, protocol: Protocol | None = STANDARD, log: Log = print) -> dict:
    """Compute ``metrics`` and write ``metrics.json`` (and each metric's pictures) to ``out``.

    With a ``run``: its samples (or ``fake_dir``) against its training images (or ``real``),
    preprocessed as the run's training was. Without one: any two folders (``real`` and
    ``fake_dir``, each read as training reads images with ``data``'s options), so samples of
    another generator can be scored the same way. ``train``: what the generator trained on, for
    the copy audit and membership attacks (default: the run's training images, else ``real``).
    ``holdout``: real scans it did not train on (copies of training scans in it are set aside):
    the copy audit's base rate, the variety yardstick, and the non-members of membership attacks.
    ``protocol``: the draws of each reading's floor and interval (None: readings alone)."""
    registry.parse(metrics)  # unknown names fail before any image is read
    if run is None:
        if fake_dir is None or out is None:
            raise BrainganError("without a run, give the generated images (--fake FOLDER) and where metrics.json "
                                "goes (--out FOLDER)")
        sets = _folder_sets(Path(real) if real else None, Path(fake_dir), Path(train) if train else None,
                            Path(holdout) if holdout else None, data or DataConfig())
    else:
        if n < 2 and fake_dir is None:
            raise BrainganError(f"--n must be at least 2, not {n}")
        sets = _run_sets(Path(run), Path(real) if real else None, Path(fake_dir) if fake_dir else None,
                         Path(train) if train else None, Path(holdout) if holdout else None, n, runs_per_class,
                         seed, device)
    names = registry.parse(metrics, fine_tuned=sets.prior is not None)
    metrics_used = [registry.METRICS[m] for m in names]
    out = Path(out) if out is not None else Path(run)
    real_set = sets.real
    inputs = registry.EvalInputs(real=real_set.images, fake=sets.fake, class_names=real_set.class_names,
                                 mirror=sets.mirror, train=sets.train, protocol=protocol,
                                 groups=group_ids(real_set.groups or real_set.files, len(real_set)))
    if sets.holdout is not None and any(m.reads_holdout for m in metrics_used):
        inputs.holdout = sets.holdout
    if sets.prior is not None and sets.prior.images is not None:
        inputs.prior_train, inputs.prior_mirror = sets.prior.images, sets.prior.mirror
    if run is not None and fake_dir is None and runs_per_class is None and any(m.inverts_generator
                                                                                for m in metrics_used):
        inverted = _inverted_generator(Path(run), device)
        if inverted is not None:
            inputs.generator, inputs.latent_dim = inverted
    if sets.fake_names is not None:
        unknown = sorted(set(sets.fake_names) - set(real_set.class_names))
        if unknown and any(m.needs_labels for m in metrics_used):
            raise BrainganError(f"generated class {unknown[0]!r} has no real images in {real or 'the training data'} "
                                f"(classes there: {', '.join(real_set.class_names)})")
        if not unknown:
            inputs.real_labels = real_set.labels.numpy()
            inputs.fake_labels = np.array([real_set.class_names.index(c) for c in sets.fake_names])

    skipped = {m.name: "needs real scans the generator did not train on (--holdout FOLDER)"
               for m in metrics_used if m.needs_holdout and inputs.holdout is None}
    if inputs.prior_train is None:
        missing = sets.prior.missing if sets.prior is not None else "only for runs fine-tuned from a prior (--init)"
        skipped.update({m.name: missing for m in metrics_used if m.needs_prior})
    if any(m.needs_inception or m.uses_inception_if_available for m in metrics_used):
        path, note = inception.locate_weights(inception_weights)
        inputs.inception_note = note
        if path is None:
            log(note)
            skipped.update({m.name: note for m in metrics_used if m.needs_inception})
        else:
            inputs.extractor = inception.InceptionFeatures(path, device=resolve_device(device))
            inputs.inception_note = f"{note}; run with {inputs.extractor.backend}"

    results: dict[str, MetricResult] = {}
    for metric in metrics_used:
        if metric.name in skipped:
            continue
        results[metric.name] = metric.compute(inputs)
        log(f"{metric.name}: done in {results[metric.name].values['seconds']:.1f} s")

    described = sets.described
    report = {
        "braingan": __version__, "run": str(run) if run is not None else None, "real": described["real"],
        "n_real": len(real_set), "n_fake": len(sets.fake), "fake": described["fake"],
        "resolution": int(real_set.images.shape[-1]), "train": described["train"], "holdout": described["holdout"],
        "n_train": len(sets.train) if sets.train is not None else len(real_set),
        "n_holdout": len(sets.holdout) if sets.holdout is not None else None,
        "prior": sets.prior.source if sets.prior is not None else None,
        "scan_groups": int(len(np.unique(inputs.groups))),
        "protocol": dataclasses.asdict(protocol) if protocol is not None else None,
        "inception": inputs.inception_note or None,
        "metrics": {name: result.values for name, result in results.items()}, "skipped": skipped,
        "notes": {"real_preprocessing": described["preprocessing"],
                  "memorization_against": "the training images (" + str(described["train"]) + ")"
                                          + (", and their left-right flips (the run trained on them)"
                                             if inputs.mirror else "")},
    }
    if (out / METRICS_FILE).is_file():
        (out / METRICS_FILE).replace(out / PREVIOUS_FILE)
        log(f"{out / METRICS_FILE} of an earlier evaluation kept as {PREVIOUS_FILE}")
    atomic_write_text(out / METRICS_FILE, json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n")
    for name, result in results.items():
        save_artifacts(out, name, result)
    if (out / "generator.json").is_file():  # the card beside the weights carries the new readings
        write_model_card(out)
    return report


def json_ready(value: object) -> object:
    """``value`` with numpy numbers as Python ones and NaN/inf as None: metrics.json stays JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def save_artifacts(folder: Path, metric: str, result: MetricResult) -> None:
    """Each picture as ``<metric>_<artifact>.png`` beside metrics.json, where the report looks."""
    for artifact, image in result.artifacts.items():
        path = artifact_path(folder, metric, artifact)
        if isinstance(image, bytes):
            atomic_write_bytes(path, image)
        else:
            save_png(path, image)


def memorization_check(run: str | Path) -> Callable[[np.ndarray], list[int]]:
    """The memorization audit against the run's training set, loaded once: uint8 images -> the
    indices of those it flags as near copies (each image is judged alone, so batches may be checked
    one by one)."""
    trained = trained_config(run)
    if trained is None:  # nothing to audit against: say how to audit with real images instead
        raise BrainganError(f"{run} {NO_RECORD}, so its training images are unknown: generate without "
                            "--reject-memorized, then audit the images with 'braingan evaluate RUN --real FOLDER "
                            "--fake OUT --metrics memorization'")
    train = real_dataset(run, log=lambda _: None).images
    return lambda images: sorted(memorization.audit(train, images, mirror=trained.augment.mirror).flagged)
