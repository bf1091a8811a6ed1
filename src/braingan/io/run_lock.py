"""One writer per run directory: an OS lock that the kernel releases when its process dies.

``fcntl.flock`` on ``RUN/.lock``: a second ``braingan train`` into the same folder is refused at
once, and a process killed with -9 leaves no stale lock behind (the file stays, the lock does not).
The file holds the writer's pid, so the refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from braingan.errors import BrainganError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    path = Path(run_dir) / LOCK_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise BrainganError(f"{run_dir}: cannot lock the run directory ({e.strerror or e})") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise BrainganError(f"{run_dir}: another braingan process (pid {holder}) is training into this "
                                "folder; wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
