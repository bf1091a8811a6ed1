"""Atomic writes: files follow the user's umask, so a generator "you can share" is readable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

WRITE = ("import os, sys\n"
         "os.umask(int(sys.argv[1], 8))\n"
         "from braingan.io.atomic import atomic_write_text\n"
         "atomic_write_text(sys.argv[2], 'x')\n"
         "print(oct(os.stat(sys.argv[2]).st_mode & 0o777))\n")


@pytest.mark.parametrize("umask, mode", [("022", "0o644"), ("077", "0o600"), ("002", "0o664")])
def test_written_files_follow_the_umask(umask, mode, tmp_path):
    done = subprocess.run([sys.executable, "-c", WRITE, umask, str(tmp_path / "f.txt")], capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == mode
