"""Reading a file a user named: only a regular file, only up to a size limit.

A data folder or a flag may name a FIFO (opening it waits for a writer, forever), a device such
as /dev/zero (endless bytes) or a file far larger than anything braingan reads. Each is refused
from the open file's own metadata, before a byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from braingan.errors import BrainganError, shown

# Far above any scan braingan reads (a 512^3 float32 NIfTI is 512 MiB), far below memory.
MAX_FILE_BYTES = 1 << 30

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words ("a FIFO"); a symbolic link only from ``lstat``."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def read_regular(path: str | Path, limit: int = MAX_FILE_BYTES, head: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, or only its first ``head`` bytes; any other kind of
    file, more than ``limit`` bytes, or a failed read is a ``BrainganError`` naming the file."""
    try:
        _regular(path, os.stat(path).st_mode)  # a socket cannot even be opened
        # O_NONBLOCK: opening a FIFO that no one writes to returns at once instead of waiting;
        # it changes nothing for a regular file. fstat of the open file then decides again, so a
        # file swapped after the first look cannot slip through.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise BrainganError(f"{shown(path)}: cannot read ({e.strerror or e})") from e
    try:
        mode, size = (info := os.fstat(fd)).st_mode, info.st_size
        _regular(path, mode)
        if head is None and size > limit:
            raise BrainganError(f"{shown(path)}: refused, file larger than {_mib(limit)} ({_mib(size)})")
        want = limit + 1 if head is None else min(head, limit + 1)
        # os.read(n) reserves n bytes: ask for the size fstat gave, then in steps for whatever more
        # there is (a file that grew, or one whose size fstat does not know, e.g. under /proc).
        chunks, got, step = [], 0, size + 1
        while got < want and (more := os.read(fd, min(want - got, step))):
            chunks.append(more)
            got, step = got + len(more), 1 << 20
        data = b"".join(chunks)
    except OSError as e:
        raise BrainganError(f"{shown(path)}: cannot read ({e.strerror or e})") from e
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while read, or fstat does not know its size (e.g. under /proc)
        raise BrainganError(f"{shown(path)}: refused, file larger than {_mib(limit)}")
    return data


def require_regular(path: str | Path) -> None:
    """Refuse ``path`` unless it is a regular file, before a library opens it (h5py, torch.load
    and safetensors would wait forever on a FIFO and read a device without end)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise BrainganError(f"{shown(path)}: cannot read ({e.strerror or e})") from e
    _regular(path, mode)


def _regular(path: str | Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise BrainganError(f"{shown(path)}: not a regular file ({file_kind(mode)}), not read")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n:,} bytes"
