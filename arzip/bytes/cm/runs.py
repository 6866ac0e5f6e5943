"""Run predictions (paq8's run map): for a few of the orders, the byte that last followed the
context and how many times in a row it has, each an input to the mixer while the byte's bits so
far agree with it (method 15 on, engine.P_RUNS); and (P_RUNS 2) two of those bytes as contexts
of their own (indirect contexts: in a table of records, a column's value one row up).

Why: a context's cells say how often each bit followed it, over its whole history; a run says
that the same whole byte followed it the last k times, which on text and tables is a sharper
prediction than the cells' counts once they have learnt slowly (models/EXPERIMENTS.md C43, C46).
Each order's confidence is learnt per run length (to 31) and expected bit, as the match model's.

One table of 2^22 entries shared by the orders: a 10-bit check of the context's hash, the byte,
the run length (to 255), in one int64.
"""
from __future__ import annotations

import numpy as np

from ...mixing.hashing import h32
from ...native import kernel

ORDERS = np.array([1, 2, 3, 4, 6, 25], dtype=np.int64)  # contexts.py's orders 1-4 and 6, and order 7 (compute_extra)
RUNS = len(ORDERS)
TABLE_BITS = 22
CONFIDENCE = 64  # slots per order: run length to 31, times the expected bit
INDIRECT = 2  # contexts of the runs' bytes (P_RUNS 2): order 6's with its length and the last byte; order 4's with two


def fresh(runs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the table, the confidences (16-bit probabilities of a 1), each order's entry this byte:
    index, expected byte or -1, run length, check)."""
    return (np.zeros(1 << TABLE_BITS if runs else 1, dtype=np.int64),
            np.full(RUNS * CONFIDENCE, 32768, dtype=np.int64), np.zeros((RUNS, 4), dtype=np.int64))


@kernel(inline="always")
def look_up(ctx, table, state):
    """Each order's run for this byte: state[r] = (the entry's index, its byte or -1, its length)."""
    for r in range(RUNS):
        h = h32(ctx[ORDERS[r]] + (r + 1) * 0x3C6EF372)
        index = h >> (32 - TABLE_BITS)
        entry = table[index]
        state[r, 0] = index
        state[r, 3] = h & 0x3FF
        if entry != 0 and (entry >> 16) == (h & 0x3FF):
            state[r, 1] = (entry >> 8) & 0xFF
            state[r, 2] = entry & 0xFF
        else:
            state[r, 1] = -1
            state[r, 2] = 0


@kernel(inline="always")
def slot(state, r, j, c0):
    """The confidence slot of order r's run for bit j of a byte whose bits so far are c0, or -1
    where the run's byte disagrees with them."""
    want = state[r, 1]
    if want < 0 or ((want | 256) >> (8 - j)) != c0:
        return -1
    return r * CONFIDENCE + min(state[r, 2], 31) * 2 + ((want >> (7 - j)) & 1)


@kernel(inline="always")
def after(c, table, state):
    """The byte c followed each order's context: its run grows, or starts."""
    for r in range(RUNS):
        length = min(state[r, 2] + 1, 255) if state[r, 1] == c else 1
        table[state[r, 0]] = (state[r, 3] << 16) | (c << 8) | length


@kernel(inline="always")
def indirect(ctx, at, state, c4):
    """ctx[at], ctx[at + 1]: the byte that last followed the order-6 context (its run length to 3)
    with the last byte, and the byte that last followed the order-4 context with the last two:
    indirect contexts, which see a column's value one row up in a table of records."""
    ctx[at] = h32(((state[4, 1] + 1) << 10) + (min(state[4, 2], 3) << 8) + (c4 & 0xFF) + (21 << 40))
    ctx[at + 1] = h32(((state[3, 1] + 1) << 16) + (c4 & 0xFFFF) + (22 << 40))
