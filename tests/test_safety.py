"""Nothing lost, everything named: many files, --jobs, --rm, `arzip test`, `-d`, real processes
killed mid-run, processes sharing a folder, unreadable inputs, unwritable outputs, a full
disk, size limits, and the Dask recipe."""
from __future__ import annotations

import io
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from arzip import api

from .conftest import arzip, assert_one_line_error, leftovers, png_bytes



def _text(n: int, seed: int = 7) -> bytes:
    """n bytes of text-like words drawn from a fixed vocabulary: the byte model codes it (no
    classical coder finds repeats in it) at its usual speed, so the slow inputs below take
    seconds; fixed by the seed, not by any file of the project (a README whose repeats lzma
    coded smaller made a 'slow' input decode in an instant)."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("etaoinshrdlucmfwypvbgk") for _ in range(rng.randint(1, 9)))
                  for _ in range(4000)]
    words = []
    while sum(map(len, words)) + len(words) < n:
        words.append(rng.choice(vocabulary) + rng.choice([" ", " ", " ", " ", ", ", ".\n"]))
    return "".join(words).encode()[:n]


TEXT = _text(400_000)


@pytest.fixture
def folder(tmp_path, small_photo) -> Path:
    """A folder of mixed files, one nested, and an archive that compress must skip."""
    (tmp_path / "notes.txt").write_bytes(TEXT[:3000])
    (tmp_path / "photo.png").write_bytes(png_bytes(small_photo))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "sub" / "old.arz").write_bytes(b"not really")
    return tmp_path


def originals(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".arz")}


def test_many_files_recursive_with_jobs(folder):
    before = originals(folder)
    r = arzip("compress", folder, "-r", "--jobs", "2", "-v")
    assert r.returncode == 2, r.stderr  # gzip's status where an input was skipped with a warning
    assert "old.arz: already has the .arz suffix; skipped" in r.stderr
    assert "3 files compressed" in r.stderr and "1 skipped" in r.stderr
    for name in before:
        assert (folder / f"{name}.arz").exists()
    for name in before:
        (folder / name).unlink()
    r = arzip("decompress", folder / "notes.txt.arz", folder / "photo.png.arz", folder / "sub" / "data.bin.arz", "-q")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert originals(folder).keys() == before.keys()
    assert (folder / "notes.txt").read_bytes() == before["notes.txt"]
    assert leftovers(folder) == [] and leftovers(folder / "sub") == []


def test_every_failure_is_named_and_the_rest_is_done(folder):
    missing = folder / "missing.txt"
    r = arzip("compress", folder / "notes.txt", missing, folder / "sub", "-q")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert any(f"{missing}: no such file" in line for line in lines), r.stderr
    assert any("sub: is a directory" in line for line in lines), r.stderr
    assert (folder / "notes.txt.arz").exists()
    assert "Traceback" not in r.stderr


def test_d_alias_and_test_command(folder):
    assert arzip("compress", folder / "notes.txt", "-q").returncode == 0
    arz = folder / "notes.txt.arz"
    r = arzip("test", arz)
    assert r.returncode == 0 and "OK" in r.stdout + r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "notes.txt.arz", "photo.png", "sub"]
    damaged = bytearray(arz.read_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    bad = folder / "bad.arz"
    bad.write_bytes(bytes(damaged))
    assert_one_line_error(arzip("test", bad, "-q"), "bad.arz: (corrupted|checksum mismatch)")
    (folder / "notes.txt").unlink()
    assert arzip("-d", arz).returncode == 0
    assert (folder / "notes.txt").read_bytes() == TEXT[:3000]


def test_rm_removes_inputs_only_after_success(folder):
    src = folder / "notes.txt"
    assert arzip("compress", src, "--rm", "-q").returncode == 0
    assert not src.exists() and (folder / "notes.txt.arz").exists()
    assert arzip("decompress", folder / "notes.txt.arz", "--rm", "-q").returncode == 0
    assert src.read_bytes() == TEXT[:3000] and not (folder / "notes.txt.arz").exists()
    (folder / "photo.png.arz").write_bytes(b"in the way")
    assert_one_line_error(arzip("compress", folder / "photo.png", "--rm"), "already exists")
    assert (folder / "photo.png").exists()  # a failed compress never removes its input
    assert_one_line_error(arzip("compress", src, "--rm", "-c", "-f"), "--rm needs")
    assert src.exists()


def _wait_until_writing(proc: subprocess.Popen, target: Path, timeout: float = 60) -> None:
    """Until the process holds an output file open in target's folder (its work in progress,
    named or anonymous): a signal sent then lands mid-run, however fast the machine."""
    folder = str(target.parent)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            links = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        except OSError:
            links = []
        if any(link.startswith(folder + "/") and (link.endswith((".tmp", "(deleted)")) or "/#" in link)
               for link in links):
            return
        time.sleep(0.02)


def _interruptible() -> None:
    """Ctrl-C as at a terminal: a test run started in the background (nohup, `cmd &`) inherits
    an ignored SIGINT, which Python then leaves ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "arzip.cli", *map(str, args)], cwd=tempfile.gettempdir(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible)


@pytest.fixture(scope="module")
def slow_input(tmp_path_factory) -> Path:
    """Text that takes the byte path several seconds on one thread."""
    path = tmp_path_factory.mktemp("kill") / "big.txt"
    path.write_bytes(TEXT[:300_000])
    return path


@pytest.mark.parametrize("how,mid_run", [(signal.SIGKILL, False), (signal.SIGKILL, True), (signal.SIGINT, True),
                                       (signal.SIGTERM, True)])
def test_killed_compress_loses_nothing(slow_input, how, mid_run):
    before = slow_input.read_bytes()
    target = slow_input.parent / f"out-{how}-{mid_run}.arz"
    proc = _start("compress", slow_input, "-o", target, "-q", "--threads", "1")
    if mid_run:
        _wait_until_writing(proc, target)
    else:
        time.sleep(0.3)  # during start-up, before any output exists
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, "the run finished before the signal: make the input larger"
    assert slow_input.read_bytes() == before and not target.exists()
    if how != signal.SIGKILL:
        code, word = (143, "terminated") if how == signal.SIGTERM else (130, "interrupted")
        assert proc.returncode == code and word in err and "Traceback" not in err
        assert leftovers(slow_input.parent) == []
    else:  # an anonymous work file vanishes with the process; a named one (file systems
        # without O_TMPFILE links) is removed by the next run for the same target
        assert all(name.startswith(f".{target.name}.") for name in leftovers(slow_input.parent))
        small = slow_input.parent / "small.txt"
        small.write_bytes(TEXT[:100])
        assert arzip("compress", small, "-o", target, "-q").returncode == 0
        assert leftovers(slow_input.parent) == []
        target.unlink()


def test_killed_decompress_loses_nothing(slow_input):
    archive = slow_input.parent / "big.txt.arz"
    assert arzip("compress", slow_input, "-o", archive, "-q", "-f").returncode == 0
    before = archive.read_bytes()
    for how in (signal.SIGKILL, signal.SIGINT):
        target = slow_input.parent / f"restored-{how}.txt"
        proc = _start("decompress", archive, "-o", target, "--threads", "1")
        _wait_until_writing(proc, target)
        proc.send_signal(how)
        proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert archive.read_bytes() == before and not target.exists()
        assert all(name.startswith(".restored-") for name in leftovers(slow_input.parent))


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_jobs_still_report_every_file_done(tmp_path, how):
    """--jobs 2 on a small file between two slow ones: once the small one's archive exists,
    Ctrl-C (to the whole process group, as a terminal sends it) or SIGTERM (to arzip alone,
    which must stop its workers itself). The small file still gets its line and its place in
    the summary, though a file before it in job order is unfinished; the slow ones leave
    nothing behind; the exit status is the signal's."""
    slow = [tmp_path / "slow1.txt", tmp_path / "slow2.txt"]
    for i, path in enumerate(slow):
        path.write_bytes(TEXT[i:300_000 + i])  # several seconds each
    small = tmp_path / "small.txt"
    small.write_bytes(TEXT[:2000])
    proc = subprocess.Popen([sys.executable, "-m", "arzip.cli", "compress", slow[0], small, slow[1], "--jobs", "2",
                             "-v", "--threads", "1"], cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible, start_new_session=True)
    deadline = time.time() + 60
    while not (tmp_path / "small.txt.arz").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, how) if how == signal.SIGINT else proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    code, word = (143, "terminated") if how == signal.SIGTERM else (130, "interrupted")
    assert proc.returncode == code, err
    assert f"{small}: 2.0 kB -> " in err and "arzip: 1 file compressed, 2,000 bytes in" in err, err
    assert err.strip().endswith(f"arzip: error: {word}") and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow1.txt", "slow2.txt", "small.txt", "small.txt.arz"], err
    assert api.decompress((tmp_path / "small.txt.arz").read_bytes()) == TEXT[:2000]


@pytest.mark.parametrize("committed", [False, True])
def test_a_worker_stops_a_job_unless_its_output_is_committed(tmp_path, monkeypatch, committed):
    """The rule behind the test above, without its timing: a stop signal in a --jobs worker
    interrupts the running job, unless that job's output has begun to be linked into place
    (files.commits moved since it started); then the job finishes and is reported."""
    from arzip import files, many
    monkeypatch.setattr(many, "_stopping", False)
    monkeypatch.setattr(many, "_busy", True)
    monkeypatch.setattr(many, "_commits_before", files.commits())
    if committed:
        files.write_atomic(tmp_path / "out.arz", b"done", force=False)
        many._stop_worker(signal.SIGINT, None)
    else:
        with pytest.raises(KeyboardInterrupt):
            many._stop_worker(signal.SIGINT, None)
    assert many._stopping


def _wait_until_main_runs(proc: subprocess.Popen) -> None:
    """Until arzip's main() has taken SIGTERM (its bit in /proc's SigCgt mask): before that the
    interpreter is still starting and importing click (0.1-0.3 s on a busy machine), and SIGTERM
    ends it by the default action, as it would any program, with nothing written. The delays
    below count from here, so that they fall while the codecs load however slow the start."""
    deadline = time.time() + 30
    while proc.poll() is None and time.time() < deadline:
        with open(f"/proc/{proc.pid}/status") as status:
            caught = next(int(line.split()[1], 16) for line in status if line.startswith("SigCgt:"))
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.005)
    raise AssertionError("arzip never took SIGTERM")


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.4])
def test_an_interrupt_while_the_codecs_load_is_one_line(tmp_path, delay):
    """Ctrl-C to the process group (or SIGTERM to arzip) in the first half second after its
    main() starts, while arzip imports numpy and numba and starts its workers: the one line and the
    shells' exit status, nothing written. It used to say "internal error" (a module left half
    imported, a process pool half started)."""
    sources = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for i, path in enumerate(sources):
        path.write_bytes(TEXT[i:100_000 + i])
    for how in (signal.SIGINT, signal.SIGTERM):
        proc = subprocess.Popen([sys.executable, "-m", "arzip.cli", "compress", *sources, "--jobs", "2", "--threads",
                                 "1"], cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, preexec_fn=_interruptible, start_new_session=True)
        _wait_until_main_runs(proc)
        time.sleep(delay)
        os.killpg(proc.pid, how) if how == signal.SIGINT else proc.send_signal(how)
        _, err = proc.communicate(timeout=60)
        word = "interrupted" if how == signal.SIGINT else "terminated"
        assert proc.returncode == 128 + how and err.strip() == f"arzip: error: {word}", (proc.returncode, err)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_processes_sharing_a_folder(tmp_path):
    names = [f"f{i}.txt" for i in range(4)]
    for i, name in enumerate(names):
        (tmp_path / name).write_bytes(TEXT[i * 500:(i + 8) * 500])
    procs = [_start("compress", tmp_path / name, "-q") for name in names]
    procs += [_start("compress", tmp_path / names[0], "-o", tmp_path / "same.arz", "-q") for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results[:4]), results
    rcs = sorted(rc for rc, _ in results[4:])
    assert rcs == [0, 1] and "already exists" in "".join(err for _, err in results[4:])  # one wins, never both
    assert leftovers(tmp_path) == []
    for name in names:
        assert api.decompress((tmp_path / f"{name}.arz").read_bytes()) == (tmp_path / name).read_bytes()
    assert api.decompress((tmp_path / "same.arz").read_bytes()) == (tmp_path / names[0]).read_bytes()


def test_unreadable_input_and_unwritable_output(tmp_path, png_file):
    assert_one_line_error(arzip("compress", "/proc/self/mem", "-o", tmp_path / "mem.arz"), "/proc/self/mem: .*error")
    assert not (tmp_path / "mem.arz").exists() and leftovers(tmp_path) == []
    assert_one_line_error(arzip("compress", png_file, "-o", "/proc/photo.arz"), "cannot write")
    assert_one_line_error(arzip("compress", png_file, "-o", tmp_path / "no" / "x.arz"), "does not exist")


def test_full_disk(tmp_path):
    """A file size limit stands in for a full disk: the write fails mid-way, one line, nothing left."""
    src = tmp_path / "notes.txt"
    src.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8)))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    r = subprocess.run([sys.executable, "-m", "arzip.cli", "compress", str(src)], cwd=tempfile.gettempdir(),
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert_one_line_error(r, "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_pixel_limit_is_an_option(tmp_path, png_file, small_photo):
    archive = tmp_path / "p.arz"
    assert arzip("compress", png_file, "-o", archive, "-q").returncode == 0
    assert_one_line_error(arzip("decompress", archive, "-o", tmp_path / "p.png", "--max-pixels", "100"),
                          "over the limit")
    assert not (tmp_path / "p.png").exists()
    from arzip.errors import ArzipError
    try:
        api.set_max_pixels(small_photo.shape[0] * small_photo.shape[1])
        assert api.decompress_image(archive.read_bytes()).shape == small_photo.shape
        api.set_max_pixels(100)
        with pytest.raises(ArzipError, match="too large|limit"):
            api.compress(png_file.read_bytes(), as_="image")
    finally:
        api.set_max_pixels(api.DEFAULT_MAX_PIXELS)


def _compress_path(path: str) -> tuple[str, int, int, str]:
    """The Dask recipe's task (docs/DASK.md), as the recipe has it: compress one file next to
    itself, decoded back from disk and compared under the file's contract, report."""
    report = api.compress_file(path, force=True, verify=True)
    return str(report.target), report.source_bytes, report.target_bytes, report.contract


def test_dask_recipe_on_a_local_cluster(folder):
    distributed = pytest.importorskip("distributed")
    recipe = (Path(__file__).resolve().parents[1] / "docs" / "DASK.md").read_text()
    assert "api.compress_file(path, force=True, verify=True)" in recipe  # the task above is the recipe's
    files = [str(folder / "notes.txt"), str(folder / "sub" / "data.bin"), str(folder / "photo.png")]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        results = client.gather(client.map(_compress_path, files))
    for src, (target, _, _, contract) in zip(files, results):
        decoded = api.decompress(Path(target).read_bytes())
        if src.endswith(".png"):  # pixels and chunks exact, image data re-deflated
            assert contract == "pixels and chunks exact, image data re-deflated"
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(decoded))), np.asarray(Image.open(src)))
        else:
            assert contract == "bytes exact" and decoded == Path(src).read_bytes()


def test_progress_bar_on_a_terminal_only(folder):
    """With several files and stderr a terminal, tqdm draws a progress bar; -q silences it."""
    import fcntl
    import pty
    import struct
    import termios

    def stderr_of(*args) -> str:
        main, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a sized terminal
        proc = subprocess.Popen([sys.executable, "-m", "arzip.cli", *map(str, args)], cwd=tempfile.gettempdir(),
                                stdout=subprocess.DEVNULL, stderr=secondary)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=120)
        os.close(main)
        return b"".join(chunks).decode(errors="replace")

    files = [folder / "notes.txt", folder / "sub" / "data.bin"]
    assert "file/s" in stderr_of("compress", *files, "-f")
    assert stderr_of("compress", *files, "-f", "-q") == ""


def test_outputs_keep_the_inputs_mode_and_times(tmp_path, small_photo):
    """As gzip does: a private file's archive is private too, and both the archive and what
    it decompresses to carry the original's permission bits and modification time."""
    when = 1_580_000_000  # 2020
    inputs = {"notes.txt": b"private notes, " * 40, "photo.png": png_bytes(small_photo[:24, :32])}
    for name, data in inputs.items():
        source = tmp_path / name
        source.write_bytes(data)
        source.chmod(0o600)
        os.utime(source, (when, when))
        archive = tmp_path / f"{name}.arz"
        api.compress_file(source, archive)
        restored = tmp_path / f"restored-{name}"
        api.decompress_file(archive, restored)
        for out in (archive, restored):
            st = out.stat()
            assert (st.st_mode & 0o777, int(st.st_mtime)) == (0o600, when), out
        if name.endswith(".txt"):
            assert restored.read_bytes() == data
    api.compress_file(tmp_path / "notes.txt", tmp_path / "again.arz")  # mode 600 again, no error
    assert (tmp_path / "again.arz").stat().st_mode & 0o777 == 0o600
