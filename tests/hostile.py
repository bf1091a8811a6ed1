"""The hostile-input table's machinery, shared by its parts (tests/cli/test_hostile_*.py).

Each part is a list of rows ``(case, build the call, outcome, pattern)``: ``build`` makes its input
under ``tmp_path`` from the real MRI and returns the call; the call must work, skip a named file,
or fail with a clear one-line error (exit code 2 on the command line), never a traceback or a
hang. ``bounded`` makes a row's call in a child whose memory is capped; ``check`` asserts one row;
``PARTS`` lists the parts, so one test counts the whole table.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import resource
import shutil
import signal
import struct
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from braingan.cli import main
from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.data.readers import read_grey
from braingan.errors import BrainganError
from conftest import RealScans

# the modules holding a CASES list: add a new part here
PARTS = ["test_hostile_inputs", "test_hostile_data", "test_hostile_outputs", "test_hostile_values"]


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
    real = os.open

    def open_(path, flags, *args, **kwargs):  # what io/safe_read.py opens files with
        if Path(path).name == "locked.jpg":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, flags, *args, **kwargs)
    c.monkeypatch.setattr(os, "open", open_)


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


def rows(cases: list) -> list:
    """The rows with a default outcome filled in: a 3-tuple is "skips the text file README.jpg"."""
    return [case if len(case) == 4 else (*case, SKIP, "README.jpg: not an image file") for case in cases]


BUDGET = 3 << 29  # 1.5 GiB of address space beyond what the process holds when the call starts


def bounded(build: Callable[[Ctx], Callable[[], object]]) -> Callable[[Ctx], Callable[[], object]]:
    """``build``'s call, made in a forked child whose address space may grow only BUDGET: a reader
    that allocates what a header claims dies there of MemoryError, failing the row, instead of
    swapping the machine. Its outcome (a value, or the BrainganError) comes back as if made here."""
    def wrapped(c: Ctx) -> Callable[[], object]:
        call, out, failure = build(c), c.tmp / "outcome.pickle", c.tmp / "failure.txt"

        def run() -> object:
            pid = os.fork()
            if pid == 0:  # the child: never returns into pytest
                code = 1
                try:
                    torch.set_num_threads(1)  # the parent's thread pool does not survive a fork
                    with open("/proc/self/status") as f:
                        size = next(int(line.split()[1]) << 10 for line in f if line.startswith("VmSize:"))
                    resource.setrlimit(resource.RLIMIT_AS, (size + BUDGET, resource.getrlimit(resource.RLIMIT_AS)[1]))
                    try:
                        outcome = call()
                    except BrainganError as e:
                        outcome = e
                    out.write_bytes(pickle.dumps(outcome))
                    code = 0
                except BaseException:
                    failure.write_text(traceback.format_exc())
                finally:
                    os._exit(code)
            try:
                _, status = os.waitpid(pid, 0)
            except BaseException:  # the hang guard: the child goes too
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise
            assert status == 0, failure.read_text() if failure.exists() else f"the child died (status {status})"
            outcome = pickle.loads(out.read_bytes())
            if isinstance(outcome, BrainganError):
                raise outcome
            return outcome
        return run
    return wrapped


def check(name: str, build, outcome: str, pattern: str | None, real_scans: RealScans, finished_run: Path,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Ctx:
    """Build one row's input, make its call and assert its outcome; returns the context for
    row-specific checks afterwards."""
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
    return ctx
