"""The logistic domain of context mixing, in integers only: squash (a stretch-domain logit,
logit * 256 clipped to +-2047, to a 12-bit probability), stretch (its inverse, a table), and
the initial rows of an adaptive probability map (APM / SSE stage) over the stretch domain.

Every value is an integer computed the same way on every machine, so encoder and decoder
derive the same probabilities bit for bit.
"""
from __future__ import annotations

import numpy as np

from ..native import kernel


# squash(x) = 4096 / (1 + e^(-x/256)) at x = -2048, -1920, ..., 2048; interpolated in between
_SQUASH_KNOTS = np.array([1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048,
                          2550, 2994, 3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090,
                          4092, 4094, 4095], dtype=np.int64)


@kernel(inline="always")
def squash(x: int) -> int:
    """Logistic of x/256 as a 12-bit probability (integer interpolation of the knots)."""
    if x > 2047:
        x = 2047
    if x < -2047:
        x = -2047
    w = x & 127
    i = (x >> 7) + 16
    return (_SQUASH_KNOTS[i] * (128 - w) + _SQUASH_KNOTS[i + 1] * w + 64) >> 7


@kernel()
def _squash_each(xs, out):
    for i in range(xs.shape[0]):
        out[i] = squash(xs[i])


def squash_all(xs: np.ndarray) -> np.ndarray:
    """squash of each of xs, in one compiled call (not one call per value from Python)."""
    out = np.empty(len(xs), dtype=np.int64)
    _squash_each(np.ascontiguousarray(xs, dtype=np.int64), out)
    return out


def _stretch_table() -> np.ndarray:
    """Inverse of squash over 12-bit probabilities, built from integers only: for each p, the
    least x whose squash reaches p (squash never decreases), 2047 above squash(2047)."""
    xs = np.arange(-2047, 2048, dtype=np.int64)
    first = np.searchsorted(squash_all(xs), np.arange(4096), side="left")
    return xs[np.minimum(first, len(xs) - 1)]


STRETCH = _stretch_table()


@kernel(inline="always")
def apm_refine(apm, ctx, p):
    """An adaptive probability map's estimate for 12-bit probability p in context ctx: its 33
    knots over stretch(p), interpolated; and the knot that learns from the bit (the nearer
    one). Returns (16-bit estimate >> 4, knot)."""
    x = STRETCH[p] + 2048
    w = x & 127
    i = ctx * 33 + (x >> 7)
    return (apm[i] * (128 - w) + apm[i + 1] * w) >> 11, i + (w >> 6)


@kernel(inline="always")
def apm_learn(apm, knot, y, rate):
    apm[knot] += (65535 * y - apm[knot]) >> rate


def apm_init(contexts: int) -> np.ndarray:
    """APM rows for `contexts` contexts: 33 knots over the stretch domain (steps of 128), each a
    16-bit probability starting at squash of its knot, so a fresh APM passes p through."""
    row = (squash_all((np.arange(33) - 16) * 128) * 16).astype(np.int32)
    return np.tile(row, contexts)
