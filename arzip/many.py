"""Many files at once: expand the inputs, run one job per file (in worker processes with
--jobs), and hand every outcome, failures named in one line, to the caller as it arrives (the
CLI draws its progress bar and prints the lines).

A job is a plain picklable record and a worker runs it with the same API calls as a single
file, so one file and ten thousand behave alike: the same outputs, temp-file-and-rename,
checks and one-line errors. Workers are started fresh ("spawn"): forking a process that has
numba or torch threads running can deadlock.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import api
from .errors import ArzipError
from .files import STDIO, SUFFIX


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


def expand(paths: list[Path], op: str, recursive: bool) -> tuple[list[Path], list[str], list[str]]:
    """The files to work on, warnings for what is skipped, and errors. Folders need -r (then
    every file below them, or every .arz file when decompressing or testing; without -r a
    folder is an error); compressing skips inputs that already end in .arz, as gzip skips .gz."""
    files, warnings, errors = [], [], []
    for path in paths:
        if path != STDIO and path.is_dir():
            if not recursive:
                errors.append(f"{path}: is a directory (use -r to work on the files in it)")
                continue
            found = sorted(p for p in path.rglob("*") if p.is_file() and not _is_temp(p))
            files += [p for p in found if op == "compress" or p.name.endswith(SUFFIX)]
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


def _init_worker(threads: int, device: str, max_pixels: int) -> None:
    api.set_threads(threads)
    api.set_device(device)
    api.set_max_pixels(max_pixels)


def run(jobs: list[Job], workers: int, on_outcome: Callable[[Outcome], None], threads: int = 1,
        device: str = "cpu", max_pixels: int = api.DEFAULT_MAX_PIXELS) -> list[Outcome]:
    """Run the jobs (in `workers` processes when more than one), calling on_outcome(outcome) as
    each finishes, in job order."""
    outcomes = []
    if workers <= 1:
        pool, results = None, map(run_job, jobs)
    else:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(threads, device, max_pixels))
        results = pool.map(run_job, jobs)
    try:
        for outcome in results:
            outcomes.append(outcome)
            on_outcome(outcome)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return outcomes
