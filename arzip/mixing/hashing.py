"""The 32-bit hash that keys context slots, match tables and weight sets: integer multiply
and xor-shift, computed in int64 so numba kernels and numpy give the same values everywhere."""
from __future__ import annotations

from ..native import kernel

M32 = 0xFFFFFFFF
HASH_A, HASH_B = 0x5BD1E995, 0x27D4EB2D  # both < 2^31: products of 32-bit values fit in int64


@kernel(inline="always")
def h32(x: int) -> int:
    x = (x & M32) * HASH_A & M32
    x ^= x >> 15
    x = x * HASH_B & M32
    return x ^ (x >> 13)
