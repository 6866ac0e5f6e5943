"""The match model: the byte that followed the last occurrence of the last MATCH_MIN bytes
(found through a hash table of positions and checked backwards), predicted bit by bit while
the match holds, with a confidence learnt per match length. Method 9 runs a second one that
starts only on a longer context (after_hashed with long_hash): where the last 5 bytes last
occurred in another sentence, the last 12 more often point at the one being repeated.
"""
from __future__ import annotations

import numpy as np

from ...mixing.hashing import h32
from ...native import kernel

MATCH_MIN = 5      # bytes of context that start a match
VERIFY = 32        # bytes compared backwards when a candidate is found
LONGEST = 65535
# the match state, kept between calls: [position of the predicted byte, length]
POINTER, LENGTH = 0, 1


def fresh(n: int) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """(the position table, its log2 size, the per-length confidences, the state) for n bytes."""
    bits = min(22, max(10, max(n, 1).bit_length() + 1))
    return (np.zeros(1 << bits, dtype=np.int32), bits, np.full(64, 1 << 15, dtype=np.int64),
            np.zeros(2, dtype=np.int64))


@kernel(inline="always")
def expected(data, i, state):
    """The byte the match predicts at position i, -1 for none (a match ends where its pointer
    would read a byte not yet coded)."""
    if state[LENGTH] > 0 and state[POINTER] < i:
        return np.int64(data[state[POINTER]])
    state[LENGTH] = 0
    return -1


@kernel(inline="always")
def after(c, want, i, data, c4, c8, table, bits, state):
    """Past byte c at position i (want: what the match expected): extend or end the match, look
    for a new one, and record position i + 1 under the last MATCH_MIN bytes."""
    after_hashed(c, want, i, data, h32(c4 + (c8 & 0xFF) * 0x1000193) >> (32 - bits), MATCH_MIN, table, state)


@kernel(inline="always")
def long_hash(data, i, minimum, bits):
    """The table slot of the `minimum` bytes that end at position i (after_hashed's h for a
    second match model that starts only on longer contexts)."""
    h = np.int64(minimum)
    for k in range(min(minimum, i + 1)):
        h = h32(h * 0x2F0B + np.int64(data[i - k]))
    return h >> (32 - bits)


@kernel(inline="always")
def after_hashed(c, want, i, data, h, minimum, table, state):
    """after, with the table slot h of the context that ends at i given, and a match started
    only where at least `minimum` bytes agree."""
    if state[LENGTH] > 0:
        if want == c:
            state[LENGTH] = min(state[LENGTH] + 1, LONGEST)
            state[POINTER] += 1
        else:
            state[LENGTH] = 0
    if i + 1 >= minimum:
        if state[LENGTH] == 0:
            cand = np.int64(table[h])
            if cand > 0:
                k = 0
                while k < max(VERIFY, minimum) and cand - 1 - k >= 0 and data[cand - 1 - k] == data[i - k]:
                    k += 1
                if k >= minimum:
                    state[LENGTH] = k
                    state[POINTER] = cand
        table[h] = i + 1
