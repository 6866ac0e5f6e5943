"""Record length: files of fixed-length records (spreadsheets, databases, tables of numbers,
bitmaps whose rows are a fixed number of bytes) repeat their bytes at one distance. A byte that
recurs at the same distance three times running votes for that distance; two candidates are
kept with their votes, and one that outvotes the other by VOTES becomes the record length,
which the record contexts (arzip/bytes/cm/contexts.py) use as "the byte one and two records
back" and "the column". From method 7 a second state keeps the length among periods of at least
SHORT bytes (a bitmap's rows, which a glyph's short period would otherwise outvote), for the
1-bit image model (bitmap.py), and the guesses below predict a byte from the records above.
"""
from __future__ import annotations

import numpy as np

from ...native import kernel

VOTES = 12          # votes a candidate needs before it becomes the record length
LONGEST = 1 << 16   # longer distances are not records
SHORT = 16          # shorter ones need more evidence in method 7
# the record state: [length (0: none yet), candidate, its votes, other candidate, its votes],
# then (method 7) the same for distances of at least SHORT only: a bitmap's rows
LENGTH, CAND_A, VOTES_A, CAND_B, VOTES_B = range(5)
LONG = 5  # where the second state starts


def fresh() -> tuple[np.ndarray, np.ndarray]:
    """(the last three positions of each byte value, the record states)."""
    return np.zeros((256, 3), dtype=np.int64), np.zeros(2 * LONG, dtype=np.int64)


@kernel(inline="always")
def observe(i, c, last, rec, data, strict):
    """Byte c was at position i: its vote, if it recurred at one distance three times. Strict
    (method 7 on): a distance under SHORT also needs c at 4 and 5 distances back, so that a
    glyph's or a field's short period outvotes a bitmap's rows less often, and distances of at
    least SHORT vote in the second state too, whose length the 1-bit image model uses."""
    p1, p2, p3 = last[c, 0], last[c, 1], last[c, 2]
    r = i - p1
    if strict and 2 <= r < SHORT and (i < 5 * r or data[i - 4 * r] != c or data[i - 5 * r] != c):
        r = 0
    if p3 > 0 and 2 <= r < LONGEST and r == p1 - p2 and r == p2 - p3:
        _vote(rec, 0, r)
        if strict and r >= SHORT:
            _vote(rec, LONG, r)
    last[c, 2], last[c, 1], last[c, 0] = p2, p1, i


@kernel(inline="always")
def _vote(rec, at, r):
    """A vote for distance r in the state at rec[at:at + LONG]."""
    if r == rec[at + CAND_A]:
        rec[at + VOTES_A] += 1
    elif r == rec[at + CAND_B]:
        rec[at + VOTES_B] += 1
    elif rec[at + VOTES_A] >= rec[at + VOTES_B]:
        rec[at + CAND_B], rec[at + VOTES_B] = r, 1
    else:
        rec[at + CAND_A], rec[at + VOTES_A] = r, 1
    if rec[at + VOTES_A] > VOTES and rec[at + CAND_A] != rec[at + LENGTH] and rec[at + VOTES_A] > rec[at + VOTES_B]:
        rec[at + LENGTH], rec[at + VOTES_A], rec[at + VOTES_B] = rec[at + CAND_A], 0, 0
    elif rec[at + VOTES_B] > VOTES and rec[at + CAND_B] != rec[at + LENGTH] and rec[at + VOTES_B] > rec[at + VOTES_A]:
        rec[at + LENGTH], rec[at + VOTES_A], rec[at + VOTES_B] = rec[at + CAND_B], 0, 0


# Guesses from the records above (method 7): the byte one record back (a column that repeats),
# and the one extrapolated from the two records back (2·above − above2, a column that counts or
# drifts). A hashed context must meet a value before it predicts it; a guess predicts a value
# never seen, so a counter's next value costs little from its first record. Each guess's
# confidence is learnt per (column, its last two outcomes in that column, bit position, guessed bit).
GUESSES = 2
GUESS_COLUMNS = 64


def fresh_guesses() -> tuple[np.ndarray, np.ndarray]:
    """(the confidences, 16-bit probabilities that a guessed bit is a 1; the outcomes by column)."""
    return (np.full((GUESSES, GUESS_COLUMNS * 4 * 8 * 2), 1 << 15, dtype=np.int64),
            np.zeros((GUESSES, 256), dtype=np.int64))


@kernel(inline="always")
def guess(data, i, rl, g):
    """Guess g (0: the byte above; 1: extrapolated) for byte i, -1 for none."""
    if rl <= 0 or i < (g + 1) * rl:
        return -1
    above = np.int64(data[i - rl])
    if g == 0:
        return above
    return (2 * above - np.int64(data[i - 2 * rl])) & 0xFF


@kernel(inline="always")
def guess_slot(col, outcomes, g, j, expected_bit):
    """The confidence slot of guess g at bit j of a byte in column col of its record."""
    return (((col % GUESS_COLUMNS) * 4 + outcomes[g, col & 0xFF]) * 8 + j) * 2 + expected_bit


@kernel(inline="always")
def guessed(col, outcomes, g, right):
    """Record whether guess g for a byte in column col was right."""
    outcomes[g, col & 0xFF] = ((outcomes[g, col & 0xFF] << 1) | right) & 3
