"""Files in, one tensor out: discovery, reading, preprocessing and caching of training images."""

from braingan.data.dataset import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
