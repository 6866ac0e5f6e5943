"""Many files at once: expand the inputs, run one job per file (in worker processes with
--jobs), show progress, name every failure, sum up.

A job is a plain picklable record and a worker runs it with the same API calls as a single
file, so one file and ten thousand behave alike: the same outputs, temp-file-and-rename,
checks and one-line errors. Workers are started fresh ("spawn"): forking a process that has
numba or torch threads running can deadlock.
"""
from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from . import api
from .errors import ArzipError


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
        if path != api.STDIO and path.is_dir():
            if not recursive:
                errors.append(f"{path}: is a directory (use -r to work on the files in it)")
                continue
            found = sorted(p for p in path.rglob("*") if p.is_file() and not _is_temp(p))
            files += [p for p in found if op == "compress" or p.name.endswith(api.SUFFIX)]
        else:
            files.append(path)
    if op == "compress":
        skipped = [p for p in files if p.name.endswith(api.SUFFIX)]
        warnings += [f"{p}: already has the {api.SUFFIX} suffix; skipped" for p in skipped]
        files = [p for p in files if not p.name.endswith(api.SUFFIX)]
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


def run(jobs: list[Job], workers: int, progress: bool, on_outcome, threads: int = 1, device: str = "cpu",
        max_pixels: int = api.DEFAULT_MAX_PIXELS) -> list[Outcome]:
    """Run the jobs (in `workers` processes when more than one), calling on_outcome(outcome,
    write) as each finishes; write prints a line without breaking the progress bar."""
    bar = tqdm(total=len(jobs), unit="file", file=sys.stderr, disable=not progress, leave=False)
    outcomes = []
    try:
        if workers <= 1:
            results = map(run_job, jobs)
            pool = None
        else:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(threads, device, max_pixels))
            results = pool.map(run_job, jobs)
        try:
            for outcome in results:
                outcomes.append(outcome)
                bar.update(1)
                on_outcome(outcome, lambda line: bar.write(line, file=sys.stderr))
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return outcomes
