"""braingan: few-shot GANs for brain MRI.

The Python API mirrors the command line: ``braingan.train(config)`` trains a run and
``braingan.load(run_dir).generate(n, seed=...)`` turns a trained run into images.
"""

__version__ = "0.1.0"

from typing import Any  # noqa: E402  (the version must exist before braingan's own imports)

from braingan.config import RunConfig, preset  # noqa: E402
from braingan.errors import BrainganError  # noqa: E402

__all__ = ["BrainganError", "RunConfig", "__version__", "load", "preset", "train"]


def __getattr__(name: str) -> Any:
    """``load`` and ``train`` bring in torch: imported on first use, so that the command line
    answers ``--help``, ``--version`` and argument errors at once."""
    if name in ("load", "train"):
        from braingan import api

        return getattr(api, name)
    raise AttributeError(f"module 'braingan' has no attribute {name!r}")
