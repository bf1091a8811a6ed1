from pathlib import Path

import numpy as np
import pytest

from braingan.config import DataConfig
from braingan.data import dataset as dataset_module
from braingan.data import load_dataset
from braingan.data.preprocess import Preprocessing, head_box, preprocess
from braingan.data.readers import read_grey
from braingan.errors import BrainganError

PNG_NAMED_JPG = ["no/No15.jpg", "no/No17.jpg", "no/No18.jpg", "no/no 96.jpg", "no/no 98.jpg", "no/no.jpg"]


def test_png_files_named_jpg_are_read_by_content(detection_dir):
    for name in PNG_NAMED_JPG:
        path = detection_dir / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        grey = read_grey(path)
        assert grey.ndim == 2 and grey.dtype == np.float32
        assert grey.min() >= 0.0 and grey.max() <= 1.0


def test_every_real_image_loads_and_duplicates_are_reported(detection_dir):
    messages = []
    data = load_dataset(DataConfig(path=str(detection_dir), resolution=32), log=messages.append)
    assert data.class_names == ["no", "yes"]
    assert not data.skipped
    groups = data.duplicates
    assert len(groups) == 22  # 11 groups of byte-identical files in each class
    dropped = sum(len(g) - 1 for g in groups)
    assert len(data) == 253 - dropped
    assert any(" = " in m and "Y30.jpg" in m for m in messages)
    dropped_files = {p for g in groups for p in g[1:]}
    on_disk = {str(p) for p in detection_dir.glob("*/*") if p.is_file()}
    assert set(data.files) | dropped_files == on_disk  # every file loaded or named as a duplicate
    assert data.images.shape == (len(data), 1, 32, 32)
    assert data.images.min() >= -1.0 and data.images.max() <= 1.0
    assert int((data.labels == 1).sum()) == sum(Path(f).parent.name == "yes" for f in data.files)


def test_no_dedupe_keeps_all_files(detection_dir):
    data = load_dataset(DataConfig(path=str(detection_dir), classes=["yes"], resolution=16, dedupe=False))
    assert len(data) == 155
    assert data.class_names == ["yes"]


def test_seed_subset_draws_twenty_with_replacement(detection_dir):
    messages = []
    config = DataConfig(path=str(detection_dir), classes=["yes"], resolution=16, limit=20, subset_seed=40)
    data = load_dataset(config, log=messages.append)
    drawn = np.random.RandomState(40).randint(0, 155, 20)
    assert len(set(drawn)) == 19  # the seed's own subset repeats one image
    assert len(data) <= 19
    assert messages and "duplicate" in messages[0]
    # The repeat is one file drawn twice, not a file "equal to itself".
    assert "(the same file, drawn 2 times by --limit)" in messages[0] and " = " not in messages[0]
    assert len(load_dataset(DataConfig(**{**config.__dict__, "dedupe": False}))) == 20


def test_preprocessing_crops_the_black_border_and_scales():
    grey = np.zeros((100, 300), dtype=np.float32)
    grey[20:80, 100:160] = 0.8  # a "head" of 60x60 in a wide black frame
    assert head_box(grey, 0.1) == (20, 80, 100, 160)
    out = preprocess(grey, Preprocessing(resolution=32, crop=True))
    assert out.shape == (32, 32)
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert out[16, 16] == pytest.approx(0.6, abs=1e-5)  # 0.8 in [0, 1] -> 0.6 in [-1, 1]
    assert (out > 0).mean() > 0.9  # the head fills the frame once cropped
    uncropped = preprocess(grey, Preprocessing(resolution=32, crop=False))
    assert (uncropped > 0).mean() < 0.2


def test_second_load_comes_from_the_cache_without_decoding(small_mri, monkeypatch):
    config = DataConfig(path=str(small_mri), resolution=32)
    first = load_dataset(config)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(dataset_module, "read_grey", no_decoding)
    second = load_dataset(config)
    assert np.array_equal(first.images.numpy(), second.images.numpy())
    assert first.files == second.files
    with pytest.raises(AssertionError):
        load_dataset(DataConfig(path=str(small_mri), resolution=16))  # other settings, other key


def test_non_image_file_is_skipped_with_a_warning(small_mri):
    (small_mri / "notes.jpg").write_text("not an image at all")
    messages = []
    data = load_dataset(DataConfig(path=str(small_mri), resolution=16), log=messages.append)
    assert any("notes.jpg" in m and "not an image" in m for m in messages)
    assert any("notes.jpg" in s for s in data.skipped)
    assert len(data) == 12  # 13 files, one duplicate pair (Y30 = Y38), one text file


@pytest.mark.parametrize("case", ["missing", "empty", "unknown_class", "only_junk"])
def test_clear_errors(tmp_path, case):
    folder = tmp_path / "data"
    classes = None
    if case != "missing":
        folder.mkdir()
    if case == "unknown_class":
        (folder / "yes").mkdir()
        (folder / "yes" / "a.png").write_bytes(b"x")
        classes = ["maybe"]
    if case == "only_junk":
        (folder / "a.jpg").write_text("text")
    with pytest.raises(BrainganError) as error:
        load_dataset(DataConfig(path=str(folder), classes=classes, resolution=16))
    assert str(folder) in str(error.value)


def test_demo_set_is_real_mri():
    data = load_dataset(DataConfig(path=None, resolution=64))
    assert len(data) >= 80
    assert data.images.shape[1:] == (1, 64, 64)
    # Slices of a head: bright in the middle, black in the corners.
    assert data.images[:, 0, 28:36, 28:36].mean() > data.images[:, 0, :4, :4].mean() + 0.5
