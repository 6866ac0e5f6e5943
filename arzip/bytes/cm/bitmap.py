"""The 1-bit image model (method 7): a page scanned or drawn at one bit a pixel, rows of rl
bytes (the record length of distances of at least records.SHORT), predicted pixel by pixel from
the pixels around it, as JBIG does: each bit of a byte is a pixel, and its neighbours in the two
rows above and to its left are known. Two direct contexts (no hashing: 2^17 and 2^12 cells): 7
pixels above, 5 two rows above and 5 to the left; and 3 above, 1 two above, 2 to the left and
the bit's position. Method 10 adds two: a wide window (11 pixels above, 7 two rows above, 8 to
the left) hashed to 2^22 cells, and the 10 pixels to the left with the 3 above; and the mixer
picks a weight vector by the small context. Where no row length is known, the inputs are 0.
"""
from __future__ import annotations

import numpy as np

from ...native import kernel

LARGE_BITS = 17
SMALL = 1 << LARGE_BITS  # where the small context's 2^12 cells start (its index also picks method 10's weight set)
CELLS = SMALL + (1 << 12)
WIDE_BITS = 22  # method 10's two more contexts: a wide window hashed to 2^22 cells, a run along the row
MORE_CELLS = CELLS + (1 << WIDE_BITS) + (1 << 13)


def fresh(more: bool = False) -> np.ndarray:
    """The model's cells (arzip/mixing/counters.py), zero: p = 1/2, never seen; more: with
    method 10's two more contexts."""
    return np.zeros(MORE_CELLS if more else CELLS, dtype=np.uint32)


@kernel(inline="always")
def rows_above(data, i, rl):
    """The two rows above byte i as 24-bit windows centred on its column (the pixel above the
    byte's bit j is bit 15 - j), once a byte; (-1, -1) without two rows above."""
    if rl <= 0 or i <= 2 * rl:
        return np.int64(-1), np.int64(-1)
    above = (np.int64(data[i - rl - 1]) << 16) | (np.int64(data[i - rl]) << 8) | np.int64(data[i - rl + 1])
    above2 = (np.int64(data[i - 2 * rl - 1]) << 16) | (np.int64(data[i - 2 * rl]) << 8) | np.int64(data[i - 2 * rl + 1])
    return above, above2


@kernel(inline="always")
def cell(above, above2, j, c0, c1, which):
    """The cell of the pixel at bit j of the byte whose rows_above are above, above2 (c0: the
    byte's bits so far with a leading 1, c1: the byte before) in context `which`: 0 the large,
    1 the small, (method 10) 2 a wide window (11 pixels above, 7 two above, 8 to the left, hashed),
    3 the 10 pixels to the left with the 3 above; -1 without two rows above."""
    if above < 0:
        return -1
    run = (c1 << j) | (c0 & ((1 << j) - 1))
    left = run & 31
    r1 = (above >> (12 - j)) & 0x7F
    r2 = (above2 >> (13 - j)) & 0x1F
    if which == 1:
        return SMALL + ((((r1 >> 2) & 7) << 6) | (((r2 >> 2) & 1) << 5) | ((left & 3) << 3) | j)
    if which == 2:
        wide = (((above >> (10 - j)) & 0x7FF) << 15) | (((above2 >> (12 - j)) & 0x7F) << 8) | (run & 0xFF)
        return CELLS + (((wide + 1) * 0x9E3779B1) & 0xFFFFFFFF) >> (32 - WIDE_BITS)
    if which == 3:
        return CELLS + (1 << WIDE_BITS) + (((run & 0x3FF) << 3) | ((r1 >> 2) & 7))
    return (r1 << 10) | (r2 << 5) | left
