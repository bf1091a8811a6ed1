"""braingan: few-shot GANs for brain MRI.

The Python API mirrors the command line: ``braingan.train(config)`` trains a run and
``braingan.load(run_dir).generate(n, seed=...)`` turns a trained run into images.
"""

__version__ = "0.1.0"

from braingan.api import load, train  # noqa: E402  (the version must exist before imports)
from braingan.config import RunConfig, preset  # noqa: E402
from braingan.errors import BrainganError  # noqa: E402

__all__ = ["BrainganError", "RunConfig", "__version__", "load", "preset", "train"]
