"""Fuzzing the reader and the preprocessing: whatever the bytes, only BrainganError escapes.

Bounded by ``max_examples`` (the whole file runs in seconds); no deadline per example, as the
CPU is shared.
"""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from braingan.data.preprocess import Preprocessing, preprocess
from braingan.data.readers import read_grey
from braingan.errors import BrainganError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SETTINGS = st.builds(Preprocessing, resolution=st.sampled_from([8, 16, 32]), crop=st.booleans())


def decode_and_preprocess(data: bytes, settings_: Preprocessing) -> None:
    """The pipeline under test: a BrainganError is an accepted answer, anything else fails."""
    try:
        grey = read_grey(io.BytesIO(data), name="fuzzed.jpg")
    except BrainganError as e:
        assert str(e).startswith("fuzzed.jpg: ") and "\n" not in str(e)
        return
    assert grey.ndim == 2 and grey.dtype == np.float32 and np.isfinite(grey).all()
    assert grey.min() >= 0.0 and grey.max() <= 1.0
    out = preprocess(grey, settings_)
    size = settings_.resolution
    assert out.shape == (size, size) and np.isfinite(out).all() and out.min() >= -1.0 and out.max() <= 1.0


@FUZZ
@given(data=st.binary(max_size=2048), settings_=SETTINGS)
def test_random_bytes(data, settings_):
    decode_and_preprocess(data, settings_)


@FUZZ
@given(which=st.integers(0, 1), cut=st.floats(0.0, 1.0),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8), settings_=SETTINGS)
def test_damaged_real_scans(real_scans, which, cut, flips, settings_):
    """A real JPEG / PNG-named-.jpg, truncated and with bytes overwritten: the damage of real transfers."""
    data = bytearray((real_scans.jpeg, real_scans.png_named_jpg)[which].read_bytes())
    data = data[: max(1, int(len(data) * cut))] if cut < 0.95 else data
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    decode_and_preprocess(bytes(data), settings_)


MODES = {"L": np.uint8, "I;16": np.uint16, "F": np.float32, "RGB": np.uint8, "RGBA": np.uint8}
FORMATS = {"L": ["PNG", "BMP", "TIFF", "GIF"], "I;16": ["PNG", "TIFF"], "F": ["TIFF"],
           "RGB": ["PNG", "JPEG", "TIFF"], "RGBA": ["PNG", "TIFF"]}


@st.composite
def small_images(draw) -> bytes:
    mode = draw(st.sampled_from(list(MODES)))
    shape = (draw(st.integers(1, 24)), draw(st.integers(1, 24))) + ((len(mode),) if mode.startswith("RGB") else ())
    dtype = MODES[mode]
    elements = st.floats(-1e6, 1e6, width=32) if dtype is np.float32 else None
    pixels = draw(arrays(dtype, shape, elements=elements))
    image = Image.fromarray(pixels)  # the mode follows the dtype and the channels
    buffer = io.BytesIO()
    image.save(buffer, format=draw(st.sampled_from(FORMATS[mode])))
    return buffer.getvalue()


@FUZZ
@given(data=small_images(), settings_=SETTINGS)
def test_random_small_images(data, settings_):
    decode_and_preprocess(data, settings_)


@FUZZ
@given(
    grey=arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=st.floats(0.0, 1.0, width=32)),
    settings_=SETTINGS,
)
def test_preprocess_any_grey_array(grey, settings_):
    out = preprocess(grey, settings_)
    assert out.shape == (settings_.resolution,) * 2 and np.isfinite(out).all()
