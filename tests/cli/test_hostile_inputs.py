"""Hostile and broken inputs, built from the real MRI: each works, is a named skip, or is a clear
one-line error (exit code 2 on the command line) — never a traceback or a hang.

One table, ``CASES``; each row builds its input under ``tmp_path`` and says what must happen.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import braingan
from braingan.cli import main
from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.data.readers import read_grey
from braingan.errors import BrainganError
from braingan.training.checkpoint import load_checkpoint
from conftest import RealScans, tiny_config

HANG_LIMIT_S = 60  # a case still running after this is a hang, and fails


@dataclass
class Ctx:
    tmp: Path
    mri: Path  # a real scan (JPEG)
    png_mri: Path  # a real scan stored as PNG but named .jpg
    run: Path  # a finished tiny run (checkpoint + generator files)
    monkeypatch: pytest.MonkeyPatch

    def folder(self, name: str, files: dict[str, bytes]) -> Path:
        folder = self.tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        for file, data in files.items():
            (folder / file).write_bytes(data)
        return folder

    def grey(self) -> np.ndarray:
        with Image.open(self.mri) as image:
            return np.asarray(image.convert("L"))


def encoded(array: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, format=fmt)
    return buffer.getvalue()


def bomb_png(size: int = 30000) -> bytes:
    """A PNG header claiming size x size pixels: decoding it would need gigabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def read(path_of: Callable[[Ctx], Path]) -> Callable[[Ctx], Callable[[], object]]:
    return lambda c: (lambda: read_grey(path_of(c)))


def load(folder_of: Callable[[Ctx], Path], **data: object) -> Callable[[Ctx], Callable[[], object]]:
    return lambda c: (lambda: load_dataset(DataConfig(path=str(folder_of(c)), resolution=32, cache=False, **data),
                                           log=lambda _: None))


def cli(argv_of: Callable[[Ctx], list[str]]) -> Callable[[Ctx], Callable[[], object]]:
    return lambda c: (lambda: main([str(a) for a in argv_of(c)]))


def file_(name: str, data: Callable[[Ctx], bytes]) -> Callable[[Ctx], Path]:
    def build(c: Ctx) -> Path:
        path = c.tmp / name
        path.write_bytes(data(c))
        return path
    return build


def with_scans(extra: Callable[[Ctx, Path], None]) -> Callable[[Ctx], Path]:
    """A class folder of two real scans plus whatever ``extra`` adds to it."""
    def build(c: Ctx) -> Path:
        folder = c.folder("data", {"a.jpg": c.mri.read_bytes(), "b.jpg": c.png_mri.read_bytes()})
        extra(c, folder)
        return folder
    return build


def unreadable(c: Ctx, folder: Path) -> None:
    # Tests run as root, where chmod 000 does not stop reads: simulate the denied read instead.
    (folder / "locked.jpg").write_bytes(c.mri.read_bytes())
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.jpg":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self)
    c.monkeypatch.setattr(Path, "read_bytes", read_bytes)


def run_copy(c: Ctx, damage: Callable[[Path], None] = lambda _: None) -> Path:
    run = c.tmp / "run"
    shutil.copytree(c.run, run)
    damage(run / "checkpoints" / "last.pt")
    return run


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def toml(text: str) -> Callable[[Ctx], Path]:
    return file_("bad.toml", lambda c: text.encode())


def train_argv(c: Ctx, *flags: object) -> list[object]:
    folder = c.folder("data", {"a.jpg": c.mri.read_bytes()})
    return ["train", folder, "--out", c.tmp / "out", "--resolution", "32", *flags]


def disk_full(c: Ctx) -> list[object]:
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    c.monkeypatch.setattr(os, "fsync", fsync)
    return ["train", "--resume", "--out", run_copy(c), "--epochs", "2"]


WORKS, SKIP, ERROR, EXIT2 = "works", "skip", "error", "exit 2"
SCALED = "scaled to the range the data uses"
CASES = [
    # (case, build the call, outcome, pattern in the message / skip)
    ("zero-byte file", read(file_("empty.jpg", lambda c: b"")), ERROR, "empty.jpg: not an image file"),
    ("truncated JPEG", read(file_("t.jpg", lambda c: c.mri.read_bytes()[:3000])), ERROR, "t.jpg: cannot read"),
    ("truncated PNG", read(file_("t.png", lambda c: c.png_mri.read_bytes()[:3000])), ERROR, "t.png: cannot read"),
    ("PNG named .jpg", read(lambda c: c.png_mri), WORKS, None),
    ("16-bit PNG", read(file_("16.png", lambda c: encoded(c.grey().astype(np.uint16) * 257, "PNG"))), WORKS, SCALED),
    ("16-bit TIFF", read(file_("16.tif", lambda c: encoded(c.grey().astype(np.uint16) * 257, "TIFF"))),
     WORKS, SCALED),
    ("palette PNG", read(file_("p.png", lambda c: encoded(c.grey(), "PNG", "P"))), WORKS, None),
    ("RGBA PNG", read(file_("rgba.png", lambda c: encoded(c.grey(), "PNG", "RGBA"))), WORKS, None),
    ("decompression bomb", read(file_("bomb.png", lambda c: bomb_png())), ERROR, "bomb.png: refused, image too large"),
    ("text named .jpg", read(file_("notes.jpg", lambda c: b"patient notes\n" * 50)), ERROR, "notes.jpg: not an image"),
    ("unreadable file", load(with_scans(unreadable)), SKIP, "locked.jpg: cannot read (Permission denied)"),
    ("symlink loop (file)", load(with_scans(lambda c, f: (f / "loop.jpg").symlink_to(f / "loop.jpg"))),
     SKIP, "loop.jpg: cannot read (Too many levels of symbolic links)"),
    ("symlink loop (folder)", load(with_scans(lambda c, f: (f / "again").symlink_to(f, target_is_directory=True))),
     WORKS, None),
    ("text file among scans", load(with_scans(lambda c, f: (f / "README.jpg").write_text("hi")))),
    ("folder with no images", load(lambda c: c.folder("texts", {"a.txt": b"x", "b.jpg": b"y"})),
     ERROR, "texts: no usable image found"),
    ("empty folder", load(lambda c: c.folder("nothing", {})), ERROR, "nothing: no usable image found"),
    ("empty class folder", load(lambda c: (c.folder("classes/yes", {"a.jpg": c.mri.read_bytes()}),
                                           c.folder("classes/no", {}))[0].parent),
     ERROR, "no: class folder is empty"),
    ("mixed sizes", load(lambda c: c.folder("mixed", {
        "big.png": encoded(c.grey(), "PNG"), "small.png": encoded(c.grey()[::3, ::2], "PNG"),
        "tiny.png": encoded(c.grey()[:20, :9], "PNG")})), WORKS, None),
    ("corrupt checkpoint", cli(lambda c: ["train", "--resume", "--out", run_copy(
        c, lambda p: p.write_bytes(os.urandom(4096)))]), EXIT2, "last.pt: corrupt or truncated checkpoint"),
    ("truncated checkpoint", cli(lambda c: ["train", "--resume", "--out", run_copy(c, truncate)]),
     EXIT2, "last.pt: corrupt or truncated checkpoint"),
    ("checkpoint of another architecture", cli(lambda c: ["train", "--resume", "--out", run_copy(c),
                                                          "--g-width", "32"]),
     EXIT2, "last.pt: does not match this run's architecture"),
    ("config with an unknown key", cli(lambda c: train_argv(c, "--config", toml("[train]\nbogus = 1\n")(c))),
     EXIT2, "bad.toml: unknown key 'train.bogus'"),
    ("config with a wrong type", cli(lambda c: train_argv(c, "--config", toml('[train]\nbatch_size = "4"\n')(c))),
     EXIT2, "batch_size must be"),
    ("config that is not TOML", cli(lambda c: train_argv(c, "--config", toml("[train\n")(c))),
     EXIT2, "bad.toml: not valid TOML"),
    ("negative resolution", cli(lambda c: train_argv(c, "--resolution", "-32")), EXIT2, "resolution must be positive"),
    ("zero batch size", cli(lambda c: train_argv(c, "--batch-size", "0")), EXIT2, "batch_size must be positive"),
    ("negative epochs", cli(lambda c: train_argv(c, "--epochs", "-1")), EXIT2, "epochs must not be negative"),
    ("zero limit", cli(lambda c: train_argv(c, "--limit", "0")), EXIT2, "limit must be positive"),
    ("generate -n 0", cli(lambda c: ["generate", c.run, "-n", "0", "--out", c.tmp / "gen"]),
     EXIT2, "-n must be at least 1"),
    ("generate into a file", cli(lambda c: ["generate", c.run, "-n", "2", "--out", file_("f", lambda c: b"")(c)]),
     EXIT2, "exists and is not a folder"),
    ("train into a file", cli(lambda c: ["train", c.folder("data", {"a.jpg": c.mri.read_bytes()}), "--out",
                                         file_("f", lambda c: b"")(c), "--resolution", "32"]),
     EXIT2, "exists and is not a folder"),
    ("generate from a folder without a run", cli(lambda c: ["generate", c.tmp, "-n", "1", "--out", c.tmp / "g"]),
     EXIT2, "no trained generator"),
    ("full disk", cli(disk_full), EXIT2, "cannot write (No space left on device); the previous file is intact"),
]
CASES = [case if len(case) == 4 else (*case, SKIP, "README.jpg: not an image file") for case in CASES]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, real_scans: RealScans) -> Path:
    data = tmp_path_factory.mktemp("data")
    for path in real_scans.distinct[:3]:
        shutil.copy(path, data / path.name)
    config = tiny_config(data, steps=2)
    config.data.cache = False
    return braingan.train(config, tmp_path_factory.mktemp("runs") / "run", log=lambda _: None)


@pytest.fixture
def hang_guard():
    def on_alarm(signum, frame):
        raise TimeoutError(f"still running after {HANG_LIMIT_S} s: a hang")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(HANG_LIMIT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name, build, outcome, pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys,
                       hang_guard):
    ctx = Ctx(tmp_path, real_scans.jpeg, real_scans.png_named_jpg, finished_run, monkeypatch)
    call = build(ctx)
    if outcome == ERROR:
        with pytest.raises(BrainganError) as caught:
            call()
        message = str(caught.value)
        assert pattern in message and "\n" not in message
    elif outcome == EXIT2:
        assert call() == 2
        err = capsys.readouterr().err
        assert err.startswith("braingan: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert pattern in err
    else:
        result = call()
        if isinstance(result, np.ndarray):  # a decoded image: grey, in [0, 1]
            assert result.ndim == 2 and result.dtype == np.float32
            assert result.min() >= 0.0 and result.max() <= 1.0 and result.max() > 0.5
            if pattern == SCALED:
                grey = ctx.grey().astype(np.float32)
                expected = (grey - grey.min()) / (grey.max() - grey.min())
                assert np.abs(result - expected).max() < 1e-3
        else:
            assert result.images.shape[1:] == (1, 32, 32) and np.isfinite(result.images.numpy()).all()
        if outcome == SKIP:
            assert any(pattern in message for message in result.skipped), result.skipped
            assert len(result) >= 2  # the good scans beside it still load
    if name == "full disk":
        assert load_checkpoint(ctx.tmp / "run" / "checkpoints" / "last.pt")["step"] == 2


def test_table_has_at_least_twenty_cases():
    assert len(CASES) >= 20
