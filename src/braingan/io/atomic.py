"""Every file braingan writes goes through here: never a torn file, never someone else's file replaced.

Writes go to a temporary file beside the target (``.NAME.XXXX.tmp``), then a rename; the result
follows the user's umask. A target that exists and is not a regular file (a symlink, FIFO,
device node, socket or folder) is refused, so ``--grid /dev/null`` leaves /dev/null a device.

Whose file it is, for the paths users name (``--grid``, ``report --out``, ``export --onnx``):
braingan replaces an existing regular file only when it lies in a run directory (a folder holding
a run's ``generator.json`` or ``checkpoints/last.pt``, names other tools do not use as they do
``.lock`` or ``config.toml``) or in a folder directly inside one (RUN/generated), where every file
is braingan's own; anywhere else it is taken to be the user's, replaced only with ``--force``. No
marker is left in the user's folders to decide it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from braingan.errors import BrainganError, shown
from braingan.io.safe_read import file_kind

RUN_MARKERS = ("generator.json", "checkpoints/last.pt")  # what makes a folder a run directory


class WriteError(BrainganError):
    """A file could not be written (disk full, no permission); what was on disk before is intact."""


def refuse_special(path: str | Path) -> None:
    """Refuse ``path`` when it exists and is not a regular file (a symlink counts, whatever it points to)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise WriteError(f"{shown(path)}: cannot write ({e.strerror or e})") from e
    if not stat.S_ISREG(mode):
        raise BrainganError(f"{shown(path)}: exists and is {file_kind(mode)}; braingan replaces only regular files "
                            "it wrote")


def in_run_directory(path: str | Path) -> bool:
    """Whether ``path``'s folder, or the folder above it, is a run directory (see the module's docstring)."""
    folder = Path(path).absolute().parent
    return any((f / marker).exists() for f in (folder, folder.parent) for marker in RUN_MARKERS)


def writable(path: str | Path, force: bool = False) -> None:
    """Check a path the user named before any work is done: a special file is always refused, an
    existing regular file outside a run directory unless ``force``."""
    path = Path(path)
    refuse_special(path)
    if path.exists() and not force and not in_run_directory(path):
        raise BrainganError(f"{shown(path)}: exists and braingan did not write it (it is not in a run directory); "
                            "add --force to replace it, or choose another path")


def remove_orphans(folder: str | Path, names: str, log: Callable[[str], None]) -> None:
    """Delete the temporary files that writes to ``folder/names`` (a glob) left when killed; only
    while no other process writes there (a run directory's lock holder, generate in its --out)."""
    for torn in sorted(Path(folder).glob(f".{names}.*.tmp")):
        torn.unlink(missing_ok=True)
        log(f"removed {shown(torn.name)}, an unfinished write")


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temporary file for binary writing; on success it replaces ``path`` in one step.

    On any error the temporary file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    refuse_special(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise WriteError(f"{shown(path)}: cannot write ({e.strerror or e})") from e
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a file we write follows the user's umask
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise WriteError(f"{shown(path)}: cannot write ({e.strerror or e}); the previous file is intact") from e
        raise


@functools.cache
def _umask() -> int:
    """The process's umask, read once: reading it means setting it, which is not thread-safe."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(f)`` on a temporary file that then atomically becomes ``path``."""
    with atomic_open(path) as f:
        write(f)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def append_text(path: str | Path, text: str) -> None:
    """Append to ``path`` (a log). A write that fails (disk full) is cut back off, so no torn line
    is left for the next append to run into."""
    path = Path(path)
    refuse_special(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise WriteError(f"{shown(path)}: cannot write ({e.strerror or e})") from e
    try:
        size = os.fstat(fd).st_size
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
    except OSError as e:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)  # needs no free space
        raise WriteError(f"{shown(path)}: cannot write ({e.strerror or e}); its earlier lines are intact") from e
    finally:
        os.close(fd)
