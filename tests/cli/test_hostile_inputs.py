"""The hostile-input table, part one: image files, folders, checkpoints, configs, output paths.

Machinery and outcomes in tests/hostile.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hostile import (
    ERROR,
    EXIT2,
    SCALED,
    SKIP,
    WORKS,
    bomb_png,
    check,
    cli,
    disk_full,
    encoded,
    file_,
    load,
    read,
    rows,
    run_copy,
    toml,
    train_argv,
    truncate,
    unreadable,
    with_scans,
)

from braingan.training.checkpoint import load_checkpoint

CASES = rows([
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
])


@pytest.mark.parametrize("name, build, outcome, pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys,
                       hang_guard):
    ctx = check(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys)
    if name == "full disk":
        assert load_checkpoint(ctx.tmp / "run" / "checkpoints" / "last.pt")["step"] == 2


def test_table_has_at_least_eighty_cases():
    import importlib

    from hostile import PARTS
    assert sum(len(importlib.import_module(part).CASES) for part in PARTS) >= 80
