"""``generator.safetensors`` + ``generator.json``: all that generating images needs.

The JSON (one ``GeneratorFile``) names the architecture and its constructor arguments, the
class names and the preprocessing, so a generator rebuilds without the training code's config
or checkpoint. The trainer's export and ``import-keras`` both write this one schema. The
weights file carries the same JSON in its header, so weights always come with their own
description, even when a crash falls between the two writes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors
from torch import nn

from braingan import __version__
from braingan.compat import generator_kwargs
from braingan.errors import BrainganError
from braingan.io.atomic import atomic_write_bytes, atomic_write_text
from braingan.io.safe_read import read_regular, require_regular
from braingan.models import build_generator

WEIGHTS, META = "generator.safetensors", "generator.json"
FORMAT = 1
MAX_META_BYTES = 1 << 24  # a description is a few kilobytes


@dataclass(frozen=True)
class GeneratorFile:
    """What generator.json says. Fields after ``classes`` were added over time and have defaults,
    so files written before them still load."""

    arch: str  # models registry name
    kwargs: dict[str, Any]  # constructor arguments of that architecture
    resolution: int
    latent_dim: int
    classes: list[str]  # class names, in label order
    conditional: bool = False  # the label input chooses the class
    ema: bool = False  # the weights are the exponential moving average of the trained ones
    preprocessing: dict[str, Any] = field(default_factory=dict)  # data.preprocess.Preprocessing.to_dict()
    volumes: dict[str, Any] | None = None  # data.slices.VolumeOptions.to_dict(): how volumes became slices
    steps: int | None = None  # training steps behind the weights
    braingan: str = __version__  # the version that wrote the file
    source: str | None = None  # where the weights came from when not trained here, e.g. "keras:generator_final.h5"
    # what it trained on: {"path", "images", "per_class": {name: count}, "duplicates_dropped", "scans"}
    training_data: dict[str, Any] | None = None
    format: int = FORMAT

    def __post_init__(self) -> None:
        problems = [name for name, ok in (
            ("arch", isinstance(self.arch, str) and bool(self.arch)),
            ("kwargs", isinstance(self.kwargs, dict)),
            ("resolution", _positive_int(self.resolution)),
            ("latent_dim", _positive_int(self.latent_dim)),
            ("classes", isinstance(self.classes, list) and bool(self.classes)
             and all(isinstance(c, str) for c in self.classes)),
            ("preprocessing", isinstance(self.preprocessing, dict)),
            ("volumes", self.volumes is None or isinstance(self.volumes, dict)),
            ("steps", self.steps is None or (isinstance(self.steps, int) and self.steps >= 0)),
            ("training_data", self.training_data is None or isinstance(self.training_data, dict)),
        ) if not ok]
        if problems:
            raise BrainganError(f"{META}: invalid {', '.join(problems)}")
        if self.format != FORMAT:
            raise BrainganError(f"{META}: unknown generator format {self.format!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, ``format`` first as before; unset optional fields are left out."""
        values = dataclasses.asdict(self)
        optional = {"volumes", "steps", "source", "training_data"}
        return {"format": values.pop("format"),
                **{k: v for k, v in values.items() if not (k in optional and v is None)}}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = META) -> GeneratorFile:
        """Parse a generator.json object; keys a later version added are ignored."""
        if not isinstance(values, dict):
            raise BrainganError(f"{source}: not a JSON object")
        if values.get("format") != FORMAT:
            raise BrainganError(f"{source}: unknown generator format {values.get('format')!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   and f.name not in values]
        if missing:
            raise BrainganError(f"{source}: missing {', '.join(missing)}")
        try:
            return cls(**{k: v for k, v in values.items() if k in known})
        except BrainganError as e:
            raise BrainganError(str(e).replace(META, source, 1)) from e


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def save_generator(run_dir: Path, generator: nn.Module, card: GeneratorFile) -> None:
    """Write weights (with the description in their header), then the description for people and tools."""
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    text = json.dumps(card.to_dict(), indent=2) + "\n"
    atomic_write_bytes(Path(run_dir) / WEIGHTS, save_safetensors(state, metadata={META: text}))
    atomic_write_text(Path(run_dir) / META, text)


def _files(run_dir: Path) -> tuple[Path, Path]:
    meta_path, weights_path = run_dir / META, run_dir / WEIGHTS
    if not meta_path.exists() or not weights_path.exists():
        raise BrainganError(f"{run_dir}: no trained generator ({META} and {WEIGHTS}); has training finished?")
    require_regular(weights_path)
    return meta_path, weights_path


def _parse(own: str | None, meta_path: Path) -> GeneratorFile:
    """The weights' own header wins; files written before it existed have only generator.json."""
    try:
        values = json.loads(own if own is not None else read_regular(meta_path, MAX_META_BYTES).decode("utf-8"))
    except ValueError as e:
        raise BrainganError(f"{meta_path}: unreadable ({e})") from e
    return GeneratorFile.from_dict(values, source=str(meta_path))


def read_generator_file(run_dir: Path) -> GeneratorFile:
    """The description of a run's generator, without loading its weights."""
    meta_path, weights_path = _files(Path(run_dir))
    try:
        with safe_open(weights_path, framework="pt") as f:
            own = (f.metadata() or {}).get(META)
    except (OSError, ValueError, SafetensorError) as e:
        raise BrainganError(f"{run_dir}: unreadable generator files ({e})") from e
    return _parse(own, meta_path)


def load_generator(run_dir: Path) -> tuple[nn.Module, GeneratorFile]:
    """Rebuild the generator of a run directory (or of a folder holding the two files)."""
    run_dir = Path(run_dir)
    meta_path, weights_path = _files(run_dir)
    try:
        with safe_open(weights_path, framework="pt") as f:
            state = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not iterable)
            own = (f.metadata() or {}).get(META)
    except (OSError, ValueError, SafetensorError) as e:
        raise BrainganError(f"{run_dir}: unreadable generator files ({e})") from e
    card = _parse(own, meta_path)
    with torch.device("meta"):  # checked against the card and the weights before it costs memory
        _check_fit(_built(card, meta_path), card, state, meta_path, weights_path)
    generator = _built(card, meta_path)
    generator.load_state_dict(state)
    return generator.eval(), card


def _built(card: GeneratorFile, meta_path: Path) -> nn.Module:
    try:
        # generator.json of older versions names some arguments differently (braingan.compat)
        return build_generator(card.arch, **generator_kwargs(dict(card.kwargs)))
    except (TypeError, ValueError, RuntimeError, BrainganError) as e:
        raise BrainganError(f"{meta_path}: {card.arch} cannot be built from {card.kwargs} ({e})") from e


def _check_fit(generator: nn.Module, card: GeneratorFile, state: dict[str, torch.Tensor], meta_path: Path,
               weights_path: Path) -> None:
    """The generator the kwargs build must be the one the card describes (its noise size, image
    size and classes, which generating relies on) and have the weights' names and shapes."""
    built = (generator.latent_dim, generator.resolution, getattr(generator, "num_classes", 0))
    described = (card.latent_dim, card.resolution, len(card.classes) if card.conditional else 0)
    if built != described:
        raise BrainganError(f"{meta_path}: its kwargs build a generator of latent {built[0]}, {built[1]} px and "
                            f"{built[2]} classes, but it describes latent {described[0]}, {described[1]} px and "
                            f"{described[2]} classes")
    shapes = {name: tuple(t.shape) for name, t in generator.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in state.items()}
    if shapes != found:
        name = next(n for n in sorted(shapes.keys() | found.keys()) if shapes.get(n) != found.get(n))
        raise BrainganError(f"{weights_path}: weights do not fit {card.arch} ({name}: "
                            f"{found.get(name, 'missing')} in the file, {shapes.get(name, 'none')} in the network)")
