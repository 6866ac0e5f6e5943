"""Large batches cut into row pieces that run side by side: the only parallelism inside one
stripe (stripes themselves run side by side in arzip.image.planes).

Why only large ones: a batch that is cut must wait for its slowest piece. On an idle machine a
piece of a few hundred rows pays for its hand-off, but beside busy processes a descheduled
helper thread makes every wave wait a time slice: cutting each of the decoder's waves (numba's
OpenMP `prange` did) decoded level 9 1.4x slower with two threads than with one
(bench/results/under-load.md). So only the encoder's chunks of waves, thousands of rows, are
cut. The helper threads block on a queue when idle: they never spin.

How many pieces: numba's thread count of the calling thread (arzip.api.set_threads sets it; a
stripe's own thread has 1), so a stripe coded beside another never cuts its batches. Rows are
independent, so every row's integers are the same whatever the cut.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .. import native

MIN_ROWS = 4096  # each piece has at least this many rows: milliseconds of work
T = TypeVar("T")
_pool: ThreadPoolExecutor | None = None


def row_pieces(rows: int) -> list[slice]:
    """The pieces a batch of `rows` rows is cut into on this thread (one when it is small)."""
    k = max(1, min(native.threads(), rows // MIN_ROWS))
    return [slice(rows * i // k, rows * (i + 1) // k) for i in range(k)]


def side_by_side(work: Callable[[slice], T], pieces: list[slice]) -> list[T]:
    """work(piece) for every piece, in order: the first on the calling thread, the others on
    helper threads at the same time."""
    if len(pieces) == 1:
        return [work(pieces[0])]
    others = [_helpers().submit(work, piece) for piece in pieces[1:]]
    return [work(pieces[0])] + [f.result() for f in others]


def _helpers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, (os.cpu_count() or 1) - 1), thread_name_prefix="arzip-rows")
    return _pool
