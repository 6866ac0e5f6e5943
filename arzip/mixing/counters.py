"""Adaptive bit probabilities, the cells every context model of the mixing engine is made of:
a 22-bit probability and a 10-bit count packed in a uint32 (0 is p = 1/2, never seen). Each
update moves p towards the coded bit by 1/(count + 1.25), so a new context learns fast and an
old one settles; `limit` caps the count, which keeps a cell able to follow change.

Hashed context models keep their cells in lines of 16, one line per (context, nibble): the
first cell holds a check value of the hash, the other 15 the nodes of the nibble's bit tree.
"""
from __future__ import annotations

import numpy as np

from ..native import intrinsic, kernel

LINE_BYTES = 64  # a line of 16 uint32 cells: one cache line when the table is aligned


def line_table(cells: int) -> np.ndarray:
    """A zeroed uint32 table of `cells` cells whose lines start on cache-line boundaries (numpy's
    own allocations are 16-byte aligned, and a line across two cache lines costs two misses)."""
    raw = np.zeros(cells * 4 + LINE_BYTES, dtype=np.uint8)
    skip = -raw.ctypes.data % LINE_BYTES
    return raw[skip:skip + cells * 4].view(np.uint32)


def table_bits(items: int, least: int, most: int) -> int:
    """log2 of the cells of a table that is to hold `items` contexts: the first power of two of
    at least four per item (contexts stay as far apart as in a larger table), within
    [least, most]. A decoder derives it from the geometry, so it is part of the format."""
    return min(most, max(least, max(items, 1).bit_length() + 2))


@kernel(inline="always")
def bit_length(v):
    """int.bit_length of v >= 0 in compiled code: the magnitude and activity classes of the pixel
    models (arzip/image/depth16.py, gray16.py)."""
    n = 0
    while v:
        n += 1
        v >>= 1
    return n


DT = np.array([262144 // (4 * n + 5) for n in range(1024)], dtype=np.int64)  # 2^16 / (n + 1.25)


@kernel(inline="always")
def line(slots, first, bits, lh):
    """The line for 32-bit hash lh in the region of slots that starts at `first` and holds 2^bits
    lines; a line that another context held is cleared and claimed. Without a branch (the line is
    multiplied by whether it was this context's): inlined in a loop, a branching helper leaves
    numba a reference count on every array the caller holds, per call."""
    b = _line_start(first, bits, lh)
    check = lh | 1
    keep = np.uint32(slots[b] == check)
    for k in range(16):
        slots[b + k] *= keep
    slots[b] = check
    return b


@kernel(inline="always")
def line_of_two(slots, first, bits, lh):
    """line's two-way variant: the hash's line or its neighbour (the other half of the same 128
    bytes), whichever holds this context; else the one whose first cell has seen fewer bits is
    cleared and claimed, so a well-learnt context outlives a passing one. Without a branch, as
    line."""
    b = _line_start(first, bits, lh)
    check = lh | 1
    here = np.int64(slots[b] == check)
    there = np.int64(slots[b ^ 16] == check)
    weaker = np.int64((np.int64(slots[(b ^ 16) + 1]) & 1023) < (np.int64(slots[b + 1]) & 1023))
    b ^= 16 * ((1 - here) & (there | ((1 - there) & weaker)))
    keep = np.uint32(slots[b] == check)
    for k in range(16):
        slots[b + k] *= keep
    slots[b] = check
    return b


@intrinsic
def prefetch(typingctx, array, index):
    """Ask the processor to bring array[index]'s cache line in (LLVM's prefetch: read, keep in all
    levels), without waiting for it or changing any result."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        pointer = cgutils.get_item_pointer(context, builder, array_type,
                                           context.make_array(array_type)(context, builder, args[0]), [args[1]])
        i8_pointer, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        # the name of LLVM's typed pointers (LLVM 14, older numba); later LLVMs rename it on reading
        hint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8_pointer, i32, i32,
                                                                                             i32]), "llvm.prefetch.p0i8")
        builder.call(hint, [builder.bitcast(pointer, i8_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(array, index), codegen


@kernel(inline="always")
def prefetch_line(slots, first, bits, lh):
    """Prefetch the line that line(slots, first, bits, lh) will claim: issued a batch ahead of
    the claim, its cache miss overlaps the work in between."""
    prefetch(slots, _line_start(first, bits, lh))


@kernel(inline="always")
def prefetch_two(slots, first, bits, lh):
    """prefetch_line for line_of_two: both of the lines it may claim."""
    b = _line_start(first, bits, lh)
    prefetch(slots, b)
    prefetch(slots, b ^ 16)


@kernel(inline="always")
def _line_start(first, bits, lh):
    """The first cell of hash lh's line in the region that starts at `first` and holds 2^bits
    lines: where line claims it and prefetch_line fetches it."""
    return first + (lh >> (32 - bits)) * 16


@kernel(inline="always")
def adapt(table, k, y, limit):
    """Learn bit y in cell table[k]."""
    v = np.int64(table[k])
    _learn(table, k, (v >> 10) ^ 0x200000, v & 1023, y, limit)


@kernel(inline="always")
def _learn(table, k, p22, cnt, y, limit):
    """Move probability p22 towards bit y by 1/(cnt + 1.25), count on up to limit, and store the
    cell (adapt's step, and adapt_surprised's after its cut)."""
    p22 += (((0x3FFFFF * y) - p22) * DT[cnt]) >> 16
    if cnt < limit:
        cnt += 1
    table[k] = ((p22 ^ 0x200000) << 10) | cnt


@kernel(inline="always")
def p12(table, k):
    """Cell table[k]'s probability of a 1, in 12 bits (what STRETCH takes)."""
    return ((np.int64(table[k]) >> 10) ^ 0x200000) >> 10


@kernel(inline="always")
def adapt_surprised(table, k, y, limit, surprise, keep):
    """adapt, except that a bit the cell gave less than surprise/4096 first cuts its count to at
    most `keep`: a context that has changed its mind relearns fast, one that holds stays slow."""
    v = np.int64(table[k])
    cnt = v & 1023
    p22 = (v >> 10) ^ 0x200000
    p = p22 >> 10
    surprised = np.int64((y == 1) & (p < surprise)) | np.int64((y == 0) & (p > 4095 - surprise))
    cnt -= max(cnt - keep, 0) * surprised  # without a branch: it is taken at random
    _learn(table, k, p22, cnt, y, limit)
