"""The logistic domain of context mixing, in integers only: squash (a stretch-domain logit,
logit * 256 clipped to +-2047, to a 12-bit probability), stretch (its inverse, a table), and
the initial rows of an adaptive probability map (APM / SSE stage) over the stretch domain.

Every value is an integer computed the same way on every machine, so encoder and decoder
derive the same probabilities bit for bit.
"""
from __future__ import annotations

import numba
import numpy as np

# squash(x) = 4096 / (1 + e^(-x/256)) at x = -2048, -1920, ..., 2048; interpolated in between
_SQUASH_KNOTS = np.array([1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048,
                          2550, 2994, 3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090,
                          4092, 4094, 4095], dtype=np.int64)


@numba.njit(cache=True, nogil=True, inline="always")
def squash(x: int) -> int:
    """Logistic of x/256 as a 12-bit probability (integer interpolation of the knots)."""
    if x > 2047:
        x = 2047
    if x < -2047:
        x = -2047
    w = x & 127
    i = (x >> 7) + 16
    return (_SQUASH_KNOTS[i] * (128 - w) + _SQUASH_KNOTS[i + 1] * w + 64) >> 7


def _stretch_table() -> np.ndarray:
    """Inverse of squash over 12-bit probabilities, built from integers only."""
    table = np.full(4096, 2047, dtype=np.int64)
    lo = 0
    for x in range(-2047, 2048):
        v = squash(x)
        table[lo:v + 1] = x
        lo = max(lo, v + 1)
    return table


STRETCH = _stretch_table()


@numba.njit(cache=True, nogil=True, inline="always")
def apm_refine(apm, ctx, p):
    """An adaptive probability map's estimate for 12-bit probability p in context ctx: its 33
    knots over stretch(p), interpolated; and the knot that learns from the bit (the nearer
    one). Returns (16-bit estimate >> 4, knot)."""
    x = STRETCH[p] + 2048
    w = x & 127
    i = ctx * 33 + (x >> 7)
    return (apm[i] * (128 - w) + apm[i + 1] * w) >> 11, i + (w >> 6)


@numba.njit(cache=True, nogil=True, inline="always")
def apm_learn(apm, knot, y, rate):
    apm[knot] += (65535 * y - apm[knot]) >> rate


def apm_init(contexts: int) -> np.ndarray:
    """APM rows for `contexts` contexts: 33 knots over the stretch domain (steps of 128), each a
    16-bit probability starting at squash of its knot, so a fresh APM passes p through."""
    row = np.array([squash((k - 16) * 128) * 16 for k in range(33)], dtype=np.int32)
    return np.tile(row, contexts)
