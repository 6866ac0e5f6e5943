"""Record length: files of fixed-length records (spreadsheets, databases, tables of numbers,
bitmaps whose rows are a fixed number of bytes) repeat their bytes at one distance. A byte that
recurs at the same distance three times running votes for that distance; two candidates are
kept with their votes, and one that outvotes the other by VOTES becomes the record length,
which the record contexts (arzip/bytes/cm/contexts.py) use as "the byte one and two records
back" and "the column".
"""
from __future__ import annotations

import numpy as np

from ...native import kernel

VOTES = 12          # votes a candidate needs before it becomes the record length
LONGEST = 1 << 16   # longer distances are not records
# the record state: [length (0: none yet), candidate, its votes, other candidate, its votes]
LENGTH, CAND_A, VOTES_A, CAND_B, VOTES_B = range(5)


def fresh() -> tuple[np.ndarray, np.ndarray]:
    """(the last three positions of each byte value, the record state)."""
    return np.zeros((256, 3), dtype=np.int64), np.zeros(5, dtype=np.int64)


@kernel(inline="always")
def observe(i, c, last, rec):
    """Byte c was at position i: its vote, if it recurred at one distance three times."""
    p1, p2, p3 = last[c, 0], last[c, 1], last[c, 2]
    r = i - p1
    if p3 > 0 and 2 <= r < LONGEST and r == p1 - p2 and r == p2 - p3:
        if r == rec[CAND_A]:
            rec[VOTES_A] += 1
        elif r == rec[CAND_B]:
            rec[VOTES_B] += 1
        elif rec[VOTES_A] >= rec[VOTES_B]:
            rec[CAND_B], rec[VOTES_B] = r, 1
        else:
            rec[CAND_A], rec[VOTES_A] = r, 1
        if rec[VOTES_A] > VOTES and rec[CAND_A] != rec[LENGTH] and rec[VOTES_A] > rec[VOTES_B]:
            rec[LENGTH], rec[VOTES_A], rec[VOTES_B] = rec[CAND_A], 0, 0
        elif rec[VOTES_B] > VOTES and rec[CAND_B] != rec[LENGTH] and rec[VOTES_B] > rec[VOTES_A]:
            rec[LENGTH], rec[VOTES_A], rec[VOTES_B] = rec[CAND_B], 0, 0
    last[c, 2], last[c, 1], last[c, 0] = p2, p1, i
