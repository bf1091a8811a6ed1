"""The hostile-input table, part three: outputs, writes and paths.

Where braingan writes (``--grid``, ``report --out``, ``export --onnx``, ``generate --out``, a
run directory's own files) may be a FIFO, a symlink, a device, a user's file, a folder holding an
earlier generation, or a full disk; the data a run names may have changed or moved. Machinery and
outcomes in tests/hostile.py; the checks a row's outcome cannot express follow the table.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile import EXIT2, WORKS, Ctx, check, cli, encoded, run_copy
from PIL import Image

from braingan.api import Synthesizer, saved_config
from braingan.cli import main
from braingan.config import DataConfig
from braingan.data import load_dataset
from braingan.io.generator_files import load_generator
from braingan.io.images import to_uint8
from braingan.training.checkpoint import load_checkpoint, save_checkpoint
from braingan.training.logs import COLUMNS
from conftest import REPO

USERS = b"the user's own file, not braingan's\n"


def fifo(name: str) -> Callable[[Ctx], Path]:
    def build(c: Ctx) -> Path:
        os.mkfifo(c.tmp / name)
        return c.tmp / name
    return build


def link(name: str, to: Callable[[Ctx], Path]) -> Callable[[Ctx], Path]:
    def build(c: Ctx) -> Path:
        (c.tmp / name).symlink_to(to(c))
        return c.tmp / name
    return build


def users(name: str) -> Callable[[Ctx], Path]:
    def build(c: Ctx) -> Path:
        (c.tmp / name).write_bytes(USERS)
        return c.tmp / name
    return build


def folder(name: str) -> Callable[[Ctx], Path]:
    def build(c: Ctx) -> Path:
        (c.tmp / name).mkdir()
        return c.tmp / name
    return build


def generate(c: Ctx, *flags: object, n: int = 2) -> list[object]:
    return ["generate", c.run, "-n", n, "--seed", "1", "--out", c.tmp / "gen", *flags]


def earlier(name: str) -> Callable[[Ctx], None]:
    """A folder gen/ holding ``name``, a real scan written as an earlier generate would have."""
    def build(c: Ctx) -> None:
        c.folder("gen", {name: encoded(c.grey(), "PNG")})
    return build


def then_load(prepare: Callable[[Ctx], object], *argvs_of: Callable[[Ctx], list[object]]):
    """Prepare, run commands that must succeed, then load what they wrote to gen/ (a WORKS row)."""
    def build(c: Ctx) -> Callable[[], object]:
        prepare(c)

        def call() -> object:
            for argv_of in argvs_of:
                assert main([str(a) for a in argv_of(c)]) == 0
            return load_dataset(DataConfig(path=str(c.tmp / "gen"), resolution=32, cache=False, dedupe=False),
                                log=lambda _: None)
        return call
    return build


def other_data(c: Ctx, extra: bool) -> Path:
    """A copy of the run's training folder under the same name elsewhere, with one more scan or none."""
    trained = Path(saved_config(c.run).data.path)
    copy = c.tmp / "elsewhere" / trained.name
    shutil.copytree(trained, copy)
    if extra:
        shutil.copy(c.png_mri, copy / "extra.jpg")
    return copy


def claims_other_data(c: Ctx) -> Path:
    """A copy of the run whose checkpoint records another fingerprint: its data changed since training."""
    run = run_copy(c)
    path = run / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    state["data"] = {**state["data"], "sha256": "0" * 64}
    save_checkpoint(path, state)
    return run


def full_disk(c: Ctx, where: str, syscall: str = "fsync", after: int = 0) -> None:
    """``os.<syscall>`` on files whose path holds ``where`` fails with ENOSPC after ``after`` calls;
    a write first writes half of what it was given, as a disk filling up mid-write does."""
    real, calls = getattr(os, syscall), []

    def fake(fd: int, *args: object):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if where in target:
            calls.append(target)
            if len(calls) > after:
                if syscall == "write" and len(calls) == after + 1:
                    return real(fd, args[0][: len(args[0]) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, *args)
    c.monkeypatch.setattr(os, syscall, fake)


def resume(run: Path) -> list[object]:
    """Two more steps of ``run`` (a copy of the finished run)."""
    return ["train", "--resume", "--out", run, "--epochs", "2"]


def after(prepare: Callable[[Ctx], object], argv_of: Callable[[Ctx], list[object]]) -> Callable[[Ctx], list[object]]:
    """``argv_of``, once ``prepare`` has made the input."""
    def build(c: Ctx) -> list[object]:
        prepare(c)
        return argv_of(c)
    return build


def run_with(name: str, make: Callable[[Ctx, Path], object]) -> Callable[[Ctx], Path]:
    """A copy of the finished run whose file ``name`` is replaced by what ``make`` puts there."""
    def build(c: Ctx) -> Path:
        run = run_copy(c)
        (run / name).unlink(missing_ok=True)
        make(c, run / name)
        return run
    return build


def to_users(c: Ctx, path: Path) -> None:
    path.symlink_to(users("users_file")(c))


def mkfifo(c: Ctx, path: Path) -> None:
    os.mkfifo(path)


NOT_OURS = "braingan did not write it"
CHANGED = "not the data this run trained on"
FULL = "cannot write (No space left on device)"

CASES = [
    # (case, build the call, outcome, pattern in the message)
    ("--grid onto a FIFO", cli(lambda c: generate(c, "--grid", fifo("grid.png")(c))),
     EXIT2, "grid.png: exists and is a FIFO; braingan replaces only regular files"),
    ("--grid onto a symlink to a user's file", cli(lambda c: generate(c, "--grid", link("g.png", users("u.png"))(c))),
     EXIT2, "g.png: exists and is a symbolic link"),
    ("--grid onto a symlink to /dev/null",
     cli(lambda c: generate(c, "--grid", link("g.png", lambda c: Path("/dev/null"))(c))),
     EXIT2, "g.png: exists and is a symbolic link"),
    ("--grid onto a folder", cli(lambda c: generate(c, "--grid", folder("g.png")(c))),
     EXIT2, "g.png: exists and is a folder"),
    ("--grid onto a user's file", cli(lambda c: generate(c, "--grid", users("notes.png")(c))), EXIT2, NOT_OURS),
    ("--grid onto a user's file with --force",
     then_load(users("notes.png"), lambda c: generate(c, "--grid", c.tmp / "notes.png", "--force")), WORKS, None),
    ("report --out onto a FIFO", cli(lambda c: ["report", c.run, "--out", fifo("r.html")(c)]),
     EXIT2, "r.html: exists and is a FIFO"),
    ("report --out onto a symlink", cli(lambda c: ["report", c.run, "--out", link("r.html", users("u.html"))(c)]),
     EXIT2, "r.html: exists and is a symbolic link"),
    ("report --out onto a user's file", cli(lambda c: ["report", c.run, "--out", users("r.html")(c)]),
     EXIT2, NOT_OURS),
    ("report.html of a run is a symlink", cli(lambda c: ["report", run_with("report.html", to_users)(c)]),
     EXIT2, "report.html: exists and is a symbolic link"),
    ("export --onnx onto a FIFO", cli(lambda c: ["export", c.run, "--onnx", fifo("g.onnx")(c)]),
     EXIT2, "g.onnx: exists and is a FIFO"),
    ("export --onnx onto a user's file", cli(lambda c: ["export", c.run, "--onnx", users("g.onnx")(c)]),
     EXIT2, NOT_OURS),
    ("generate into a folder of earlier samples", cli(after(earlier("sample_00007.png"), generate)),
     EXIT2, "holds the samples of an earlier generate (sample_00007.png, ...); add --force"),
    ("generate into a folder of earlier DICOM samples", cli(after(earlier("sample_00000.dcm"), generate)),
     EXIT2, "holds the samples of an earlier generate"),
    ("generate into a folder of an earlier NIfTI volume", cli(after(earlier("samples.nii.gz"), generate)),
     EXIT2, "holds the samples of an earlier generate"),
    ("generate --force over earlier samples", then_load(earlier("sample_00009.png"), lambda c: generate(c, "--force")),
     WORKS, None),
    ("generate --force where an earlier sample is a FIFO",
     cli(after(lambda c: mkfifo(c, folder("gen")(c) / "sample_00001.png"), lambda c: generate(c, "--force"))),
     EXIT2, "sample_00001.png: exists and is a FIFO"),
    ("generate with an unfinished write left over",
     then_load(lambda c: c.folder("gen", {".sample_00000.png.x1y2.tmp": b"\x89PNG torn"}), generate), WORKS, None),
    ("generate beside a user's files", then_load(lambda c: c.folder("gen", {"notes.txt": USERS}), generate),
     WORKS, None),
    ("stacked NIfTI of 32,768 samples", cli(lambda c: generate(c, "--format", "nifti", n=32768)),
     EXIT2, "one NIfTI-1 volume holds at most 32,767 slices; add --per-slice"),
    ("grid larger than a viewer opens", cli(lambda c: generate(c, "--grid", c.tmp / "g.png", n=100_000)),
     EXIT2, "more than image viewers open"),
    ("resume on other data of the same name",
     cli(lambda c: ["train", other_data(c, extra=True), "--resume", "--out", run_copy(c), "--epochs", "2"]),
     EXIT2, f"{CHANGED} (3 images then, 4 now); resume it on the data it trained on"),
    ("evaluate after the training data changed",
     cli(lambda c: ["evaluate", claims_other_data(c), "--n", "4", "--metrics", "memorization", "--out", c.tmp / "ev"]),
     EXIT2, f"{CHANGED} (the same number of images (3), but other contents or classes); give the images it "
            "trained on with --train FOLDER"),
    ("generate --reject-memorized after the training data changed",
     cli(lambda c: ["generate", claims_other_data(c), "-n", "2", "--out", c.tmp / "gen", "--reject-memorized"]),
     EXIT2, CHANGED),
    ("log.csv append on a full disk", cli(after(lambda c: full_disk(c, "log.csv", "write"),
                                                lambda c: resume(run_copy(c)))),
     EXIT2, f"log.csv: {FULL}; its earlier lines are intact; the checkpoint was saved at step"),
    ("sample grid on a full disk", cli(after(lambda c: full_disk(c, "/samples/"), lambda c: resume(run_copy(c)))),
     EXIT2, f"step_000004.png: {FULL}; the previous file is intact; the checkpoint was saved at step 4"),
    ("checkpoint and log on a full disk",
     cli(after(lambda c: (full_disk(c, "log.csv", "write"), full_disk(c, "last.pt")),
               lambda c: resume(run_copy(c)))),
     EXIT2, "checkpoints/last.pt keeps step 2 of the"),
    ("generate on a full disk", cli(after(lambda c: full_disk(c, "/gen/", after=3), lambda c: generate(c, n=6))),
     EXIT2, f"{FULL}; the previous file is intact; 3 of 6 images written"),
    ("resume after an interrupted generator export",
     then_load(lambda c: run_copy(c).joinpath(".generator.safetensors.k9x1.tmp").write_bytes(b"torn"),
               lambda c: resume(c.tmp / "run"),
               lambda c: ["generate", c.tmp / "run", "-n", 2, "--out", c.tmp / "gen"]), WORKS, None),
    ("config.toml of a run is a symlink", cli(lambda c: resume(run_with("config.toml", to_users)(c))),
     EXIT2, "config.toml: exists and is a symbolic link"),
    ("log.csv of a run is a FIFO", cli(lambda c: resume(run_with("log.csv", mkfifo)(c))),
     EXIT2, "log.csv: exists and is a FIFO"),
    ("checkpoint of a run is a symlink", cli(lambda c: resume(run_with("checkpoints/last.pt", _copy_aside)(c))),
     EXIT2, "last.pt: exists and is a symbolic link"),
]


def _copy_aside(c: Ctx, path: Path) -> None:
    """The run's checkpoint moved to the user's folder, a symlink left in its place."""
    aside = c.tmp / "kept.pt"
    shutil.copy(c.run / "checkpoints" / "last.pt", aside)
    path.symlink_to(aside)


def _unchanged(*names: str) -> Callable[[Ctx], None]:
    def check_(c: Ctx) -> None:
        for name in names:
            assert (c.tmp / name).read_bytes() == USERS
    return check_


def _kind(name: str, test: Callable[[int], bool]) -> Callable[[Ctx], None]:
    return lambda c: assert_(test(os.lstat(c.tmp / name).st_mode), name)


def assert_(ok: bool, what: object) -> None:
    assert ok, what


def _log_rows_complete(c: Ctx) -> None:
    lines = (c.tmp / "run" / "log.csv").read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and all(line.count(",") == len(COLUMNS) - 1 for line in lines)


def _step(c: Ctx) -> int:
    return load_checkpoint(c.tmp / "run" / "checkpoints" / "last.pt")["step"]


def _nothing_generated(c: Ctx) -> None:
    assert not (c.tmp / "gen").exists()


def _gen_holds(*names: str) -> Callable[[Ctx], None]:
    return lambda c: assert_(sorted(p.name for p in (c.tmp / "gen").iterdir()) == list(names), names)


# What a row leaves behind, beyond its outcome: targets untouched, what was saved.
AFTER: dict[str, Callable[[Ctx], None]] = {
    "--grid onto a FIFO": lambda c: (_kind("grid.png", stat.S_ISFIFO)(c), _nothing_generated(c)),
    "--grid onto a symlink to a user's file": lambda c: (_kind("g.png", stat.S_ISLNK)(c), _unchanged("u.png")(c)),
    "--grid onto a symlink to /dev/null": lambda c: (_kind("g.png", stat.S_ISLNK)(c),
                                                      assert_(stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null")),
    "--grid onto a user's file": _unchanged("notes.png"),
    "--grid onto a user's file with --force": lambda c: assert_((c.tmp / "notes.png").read_bytes()[:4] == b"\x89PNG",
                                                                 "a grid"),
    "report --out onto a FIFO": _kind("r.html", stat.S_ISFIFO),
    "report --out onto a symlink": lambda c: (_kind("r.html", stat.S_ISLNK)(c), _unchanged("u.html")(c)),
    "report --out onto a user's file": _unchanged("r.html"),
    "report.html of a run is a symlink": _unchanged("users_file"),
    "export --onnx onto a FIFO": _kind("g.onnx", stat.S_ISFIFO),
    "export --onnx onto a user's file": _unchanged("g.onnx"),
    "generate into a folder of earlier samples": _gen_holds("sample_00007.png"),
    "generate --force over earlier samples": _gen_holds("sample_00000.png", "sample_00001.png"),
    "generate --force where an earlier sample is a FIFO": lambda c: (_kind("gen/sample_00001.png", stat.S_ISFIFO)(c),
                                                                     _gen_holds("sample_00001.png")(c)),
    "generate with an unfinished write left over": _gen_holds("sample_00000.png", "sample_00001.png"),
    "generate beside a user's files": lambda c: (_gen_holds("notes.txt", "sample_00000.png", "sample_00001.png")(c),
                                                 assert_((c.tmp / "gen" / "notes.txt").read_bytes() == USERS, "notes")),
    "stacked NIfTI of 32,768 samples": _nothing_generated,
    "grid larger than a viewer opens": _nothing_generated,
    "log.csv append on a full disk": lambda c: (_log_rows_complete(c), assert_(_step(c) > 2, "saved")),
    "sample grid on a full disk": lambda c: assert_(_step(c) == 4, "saved"),
    "checkpoint and log on a full disk": lambda c: (_log_rows_complete(c), assert_(_step(c) == 2, "kept")),
    "generate on a full disk": _gen_holds("sample_00000.png", "sample_00001.png", "sample_00002.png"),
    "resume after an interrupted generator export": lambda c: assert_(
        not list((c.tmp / "run").glob(".*.tmp")) and _step(c) == 4, "the orphan removed, the run resumed"),
    "config.toml of a run is a symlink": _unchanged("users_file"),
    "log.csv of a run is a FIFO": _kind("run/log.csv", stat.S_ISFIFO),
    "checkpoint of a run is a symlink": lambda c: (_kind("run/checkpoints/last.pt", stat.S_ISLNK)(c), assert_(
        (c.tmp / "kept.pt").read_bytes() == (c.run / "checkpoints" / "last.pt").read_bytes(), "kept.pt")),
}


@pytest.mark.parametrize("name, build, outcome, pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_output(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys,
                        hang_guard):
    ctx = check(name, build, outcome, pattern, real_scans, finished_run, tmp_path, monkeypatch, capsys)
    AFTER.get(name, lambda c: None)(ctx)


# -- generate streams, reproducibly ------------------------------------------------------------

@pytest.mark.parametrize("latent_dim", [1, 3, 100, 128])
def test_noise_in_batches_is_the_single_draw(finished_run, latent_dim):
    """The batches read the seed's stream exactly as one randn(n, latent_dim) does, for any n and
    batch size, tails shorter than the sampler's blocks of 16 included."""
    generator, card = load_generator(finished_run)
    synthesizer = Synthesizer(generator, dataclasses.replace(card, latent_dim=latent_dim), torch.device("cpu"))
    for n in [1, 5, 15, 16, 17, 63, 64, 65, 70, 129, 1000]:
        one = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(7))
        for batch_size in [1, 2, 16, 64, 100]:
            assert torch.equal(torch.cat(list(synthesizer.noise(n, seed=7, batch_size=batch_size))), one)


def test_generated_files_are_the_images_of_one_noise_draw(finished_run, tmp_path):
    """What generate wrote before it streamed: G on one randn(n, latent) from the seed."""
    n = 1100  # more than a chunk of files
    assert main(["generate", str(finished_run), "-n", str(n), "--seed", "5", "--out", str(tmp_path / "gen")]) == 0
    generator, card = load_generator(finished_run)
    synthesizer = Synthesizer(generator, card, torch.device("cpu"))
    z = torch.randn(n, card.latent_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = to_uint8(synthesizer.generator(z, torch.zeros(n, dtype=torch.int64)))
    files = sorted((tmp_path / "gen").iterdir())
    assert len(files) == n
    for i in [0, 63, 64, 1023, 1024, n - 1]:
        assert np.array_equal(np.asarray(Image.open(files[i])), expected[i]), i


STREAM = """
import os, resource, sys
from braingan.cli import main
import braingan.io.samples as samples

def status(key):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))

resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + int(sys.argv[3]), resource.RLIM_INFINITY))
written = []

def save_png(path, image):  # the sink: counts the files generate hands over, writes none
    written.append(path.name)
    if len(written) == 3000:
        print("streamed", written[0], written[-1], flush=True)
        os._exit(0)

samples.save_png = save_png
sys.exit(main(["generate", sys.argv[1], "-n", "10000000", "--seed", "0", "--out", sys.argv[2], "--device", "cpu"]))
"""


def test_generate_streams_in_bounded_memory(finished_run, tmp_path):
    """-n 10,000,000 under an address-space limit far below its noise alone (4 GB): files are
    handed over from the first chunk on, and memory stays within the limit."""
    margin = 1536 << 20
    assert 10_000_000 * load_generator(finished_run)[1].latent_dim * 4 > 2 * margin
    done = subprocess.run([sys.executable, "-c", STREAM, str(finished_run), str(tmp_path / "gen"), str(margin)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["streamed", "sample_0000000.png", "sample_0002999.png"]


def test_ctrl_c_during_generate_leaves_complete_files_and_says_so(finished_run, tmp_path, monkeypatch, capsys):
    real, calls = os.fsync, []

    def fsync(fd: int) -> None:  # Ctrl-C while the third file is being written
        calls.append(fd)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "gen"
    assert main(["generate", str(finished_run), "-n", "5", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err == f"braingan: interrupted: 2 of 5 images written to {out}, every file complete\n"
    assert sorted(p.name for p in out.iterdir()) == ["sample_00000.png", "sample_00001.png"]  # no .tmp left
    for path in out.iterdir():
        assert Image.open(path).size == (32, 32)


# -- paths mean the same from anywhere -----------------------------------------------------------

TINY = ["--resolution", "32", "--g-width", "16", "--d-width", "8", "--steps-per-epoch", "2", "--epochs", "1"]


def test_resume_and_evaluate_from_another_folder(real_scans, tmp_path, monkeypatch):
    """Trained with a relative data path; resumed and evaluated from a folder where that relative
    path names other scans: both use the scans it trained on, and refuse them once they change."""
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    for folder, scans in ((start / "scans", real_scans.distinct[:3]), (elsewhere / "scans", real_scans.distinct[5:9])):
        folder.mkdir(parents=True)
        for scan in scans:
            shutil.copy(scan, folder / scan.name)
    monkeypatch.chdir(start)
    assert main(["train", "scans", "--out", "run", *TINY]) == 0
    data = str((start / "scans").resolve())
    assert f'path = "{data}"' in (start / "run" / "config.toml").read_text()
    monkeypatch.chdir(elsewhere)
    run = Path("..", "start", "run")
    assert main(["train", "--resume", "--out", str(run), "--epochs", "2"]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4
    assert main(["evaluate", str(run), "--n", "4", "--metrics", "memorization", "--out", "ev"]) == 0
    report = json.loads(Path("ev", "metrics.json").read_text())
    assert report["real"] == data and report["n_real"] == 3 and report["n_train"] == 3
    shutil.copy(real_scans.png_named_jpg, start / "scans" / "new.jpg")  # the data changes
    assert main(["evaluate", str(run), "--n", "4", "--metrics", "memorization", "--out", "ev"]) == 2
    assert main(["train", "--resume", "--out", str(run), "--epochs", "3"]) == 2


# -- files follow the umask ----------------------------------------------------------------------

EVERY_OUTPUT = """
import os, sys
os.umask(0o027)
from braingan.cli import main
root, scans = sys.argv[1], sys.argv[2]
tiny = ["--resolution", "32", "--g-width", "16", "--d-width", "8", "--steps-per-epoch", "2", "--epochs", "1"]
run = os.path.join(root, "run")
for argv in (["train", scans, "--out", run, *tiny],
             ["train", "--resume", "--out", run, "--epochs", "2"],
             ["generate", run, "-n", "3", "--out", os.path.join(root, "png"), "--grid", os.path.join(root, "g.png")],
             ["generate", run, "-n", "2", "--out", os.path.join(root, "dcm"), "--format", "dicom"],
             ["generate", run, "-n", "2", "--out", os.path.join(root, "nii"), "--format", "nifti"],
             ["generate", run, "-n", "2", "--out", os.path.join(root, "slices"), "--format", "nifti", "--per-slice"],
             ["evaluate", run, "--n", "4", "--metrics", "memorization"],
             ["evaluate", run, "--n", "4", "--metrics", "memorization"],
             ["report", run],
             ["report", run, "--out", os.path.join(root, "r.html")],
             ["export", run, "--onnx", os.path.join(root, "g.onnx")]):
    assert main(argv) == 0, argv
"""


def test_every_output_follows_the_umask(real_scans, tmp_path):
    """Under umask 027 every file braingan writes is 0640 and every folder 0750: run directory,
    checkpoints, samples, cache, generated files, metrics, report, export."""
    scans = tmp_path / "scans"
    scans.mkdir()
    for scan in real_scans.distinct[:3]:
        shutil.copy(scan, scans / scan.name)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src"), "BRAINGAN_CACHE": str(out / "cache")}
    done = subprocess.run([sys.executable, "-c", EVERY_OUTPUT, str(out), str(scans)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    modes = {str(p.relative_to(out)): stat.S_IMODE(p.lstat().st_mode) for p in out.rglob("*")}
    expected = {"run/checkpoints/last.pt", "run/generator.safetensors", "run/log.csv", "run/losses.png",
                "run/metrics.json", "run/metrics.previous.json", "run/report.html", "run/.lock", "g.png", "r.html",
                "g.onnx", "png/sample_00000.png", "dcm/sample_00000.dcm", "nii/samples.nii.gz",
                "slices/sample_00000.nii.gz", "cache"}
    assert expected <= set(modes), sorted(expected - set(modes))
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != (0o750 if (out / name).is_dir() else 0o640)}
    assert not wrong
