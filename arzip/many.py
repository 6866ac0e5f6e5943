"""Many files at once: expand the inputs, run one job per file (in worker processes with
--jobs), and hand every outcome, failures named in one line, to the caller as it arrives (the
CLI draws its progress bar and prints the lines).

A job is a plain picklable record and a worker runs it with the same API calls as a single
file, so one file and ten thousand behave alike: the same outputs, temp-file-and-rename,
checks and one-line errors. Workers are started fresh ("spawn"): forking a process that has
numba or torch threads running can deadlock.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import api
from .errors import ArzipError
from .files import STDIO, SUFFIX, commits


@dataclass(frozen=True)
class Job:
    op: str                        # "compress", "decompress" or "test"
    source: Path
    target: Path | None = None     # None: the default name next to the source
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    job: Job
    report: api.Report | None
    error: str | None              # one line, when the job failed


def expand(paths: list[Path], op: str, recursive: bool,
           force: bool = False) -> tuple[list[Path], list[str], list[str]]:
    """The files to work on, warnings for what is skipped, and errors. Folders need -r (then
    every file below them, or every .arz file when decompressing or testing; without -r a
    folder is an error); compressing skips inputs that already end in .arz, as gzip skips .gz.
    Symbolic links are skipped without force, as gzip does: the output would land beside the
    link, not beside the data, and --rm would remove the link, not the file read."""
    files, warnings, errors = [], [], []

    def skipped_link(p: Path) -> bool:
        if p != STDIO and p.is_symlink() and not force:
            warnings.append(f"{p}: is a symbolic link; skipped (use -f)")
            return True
        return False

    for path in paths:
        if skipped_link(path):
            continue
        if path != STDIO and path.is_dir():
            if not recursive:
                errors.append(f"{path}: is a directory (use -r to work on the files in it)")
                continue
            found = sorted(p for p in path.rglob("*") if p.is_file() and not _is_temp(p))
            files += [p for p in found if (op == "compress" or p.name.endswith(SUFFIX)) and not skipped_link(p)]
        else:
            files.append(path)
    if op == "compress":
        skipped = [p for p in files if p.name.endswith(SUFFIX)]
        warnings += [f"{p}: already has the {SUFFIX} suffix; skipped" for p in skipped]
        files = [p for p in files if not p.name.endswith(SUFFIX)]
    return files, warnings, errors


def _is_temp(path: Path) -> bool:
    """arzip's own temporary files (another process's work in progress)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def run_job(job: Job) -> Outcome:
    """One file, errors caught as one line (in a worker they cannot reach the terminal otherwise)."""
    try:
        if job.op == "compress":
            report = api.compress_file(job.source, job.target, **job.options)
        elif job.op == "decompress":
            report = api.decompress_file(job.source, job.target, **job.options)
        else:
            report = api.test_file(job.source)
        return Outcome(job, report, None)
    except ArzipError as e:
        message = str(e)
        named = message.startswith(f"{job.source}") or message.startswith(f"{job.target}")
        return Outcome(job, None, message if named else f"{job.source}: {message}")
    except MemoryError:
        return Outcome(job, None, f"{job.source}: out of memory")
    except OSError as e:
        return Outcome(job, None, f"{job.source}: {e.strerror or e}")


_busy = False      # in a worker: a job is running
_stopping = False  # in a worker: told to stop (Ctrl-C at the terminal, or the main process)
_commits_before = 0  # in a worker: files.commits() when the running job started


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _init_worker(threads: int, device: str, max_pixels: int, max_output: int | None) -> None:
    """A worker's set-up. It starts with STOP_SIGNALS blocked (run() blocks them while it
    spawns the workers, and a process keeps its mask); they are unblocked once the handlers
    are in, so a signal that came meanwhile acts now, through them."""
    signal.signal(signal.SIGINT, _stop_worker)
    signal.signal(signal.SIGTERM, _stop_worker)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    api.set_threads(threads)
    api.set_device(device)
    api.set_max_pixels(max_pixels)
    api.set_max_output(max_output)


def _stop_worker(signum: int, frame: object) -> None:
    """SIGINT or SIGTERM in a worker: the job in progress unwinds as Ctrl-C unwinds a single
    file (its output never appears: arzip.files), and no further job starts. Between jobs the
    worker waits for the pool to close it: an interrupt there would only print a traceback.
    A job whose output has begun to be linked into place (files.commits) is not interrupted: it
    finishes and is reported, rather than leave its output there unreported. Only the first
    signal acts, so a second one cannot cut the first unwinding short."""
    global _stopping
    if not _stopping:
        _stopping = True
        if _busy and commits() == _commits_before:
            raise KeyboardInterrupt


def _run_in_worker(job: Job) -> Outcome:
    """run_job in a worker process, unless the worker was told to stop."""
    global _busy, _commits_before
    _commits_before = commits()
    _busy = True  # before the check: a signal in between finds the job busy and interrupts it
    try:
        if _stopping:
            raise KeyboardInterrupt
        return run_job(job)
    finally:
        _busy = False


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM waits until the workers are spawned, then acts: a worker cut off while
    it reads its start-up data from this process prints a traceback. Blocking the signals in
    this thread keeps them from the workers too (they start with this thread's mask), but the
    kernel may hand a process's signal to another thread (BLAS's, say), whose handler would
    then interrupt this one all the same: so the handlers only note the signal meanwhile, and it
    is raised again here once the block is lifted."""
    noted: list[int] = []
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    handlers = {s: signal.signal(s, lambda signum, frame: noted.append(signum))
                for s in (STOP_SIGNALS if main else ())}
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if noted:
            signal.raise_signal(noted[0])


def run(jobs: list[Job], workers: int, on_outcome: Callable[[Outcome], None], threads: int = 1,
        device: str = "cpu", max_pixels: int = api.DEFAULT_MAX_PIXELS,
        max_output: int | None = None) -> list[Outcome]:
    """Run the jobs (in `workers` processes when more than one), calling on_outcome(outcome) as
    each finishes, in job order. On an interrupt (KeyboardInterrupt: Ctrl-C, or the CLI's
    SIGTERM) the running jobs stop and leave no output, the others never start, and every job
    that had finished is still handed to on_outcome, in job order, before the interrupt goes
    on: a file that is done is reported as done, whatever the job order."""
    outcomes: list[Outcome] = []
    if workers <= 1:
        for job in jobs:
            outcomes.append(run_job(job))
            on_outcome(outcomes[-1])
        return outcomes
    import multiprocessing  # only for workers: a one-file command does not pay for its import
    from concurrent.futures import ProcessPoolExecutor
    others = set(multiprocessing.active_children())
    futures: list[Future] = []
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads, device, max_pixels, max_output))
    try:
        with _signals_held():  # the workers are spawned as the jobs are submitted
            futures += [pool.submit(_run_in_worker, job) for job in jobs]
        for future in futures:
            outcomes.append(future.result())
            on_outcome(outcomes[-1])
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the workers too, a signal to this process alone does not:
        # tell them (they stop once, whoever tells them first), let them unwind, then report
        # every job that finished, those whose results were on their way included.
        for worker in set(multiprocessing.active_children()) - others:
            worker.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        for future in futures[len(outcomes):]:
            if future.done() and not future.cancelled() and future.exception() is None:
                outcomes.append(future.result())
                on_outcome(outcomes[-1])
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes
