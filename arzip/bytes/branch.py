"""Branch-address transforms for machine code: a call names its target relative to itself, so
the same function called from many places is a different 4 bytes at every call, and no context
model sees it repeat; written as an absolute address, it repeats. Block method 11 ("branch",
docs/FORMAT.md) codes a block through the context-mixing coder after this reversible rewrite of
its code regions, as xz's BCJ filters and paq8's exe transform do before their coders:

- x86 and x86-64: E8 (call) and E9 (jmp) with a 32-bit displacement under 2^24 (its top byte
  00 or FF), the displacement plus the position, kept to 25 bits sign-extended so that the top
  byte stays 00 or FF and the decoder finds the same instructions;
- SPARC: call (big-endian words whose top two bits are 01), a word displacement within 2^22,
  kept to 23 bits sign-extended;
- AArch64: BL (little-endian words 100101 + imm26), the word displacement plus the position
  modulo 2^26.

Positions count from the block's start; SPARC and AArch64 words sit at multiples of 4 from it.
Where the code is comes from `detect`: windows of WINDOW bytes in which several candidate calls
go to targets that other calls go to (code calls its functions from many places; a table's
bytes that look like calls point anywhere); runs of such windows are the regions, written in
the block's payload, so the decoder needs no detection of its own.
"""
from __future__ import annotations

import numpy as np

from ..container import decode_varint, varint
from ..native import kernel

X86, SPARC, ARM64 = 1, 2, 3
ISAS = {X86: "x86", SPARC: "SPARC", ARM64: "AArch64"}
WINDOW = 1 << 12
# a window is code when at least this many of its candidate calls go to a target that another
# candidate call in the block goes to as well (code calls its functions from many places; in
# the development set's tables, relocations, spreadsheets and bitmaps no candidate's target
# repeats, though up to 46 a window land inside the block: models/EXPERIMENTS.md C40)
MIN_CALLS = 2
GAP = 4  # code windows this few windows apart are one region (code with few calls between them)


def _x86_candidates(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of E8/E9 whose 32-bit displacement is under 2^24, their targets)."""
    if len(a) < 5:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    top = a[4:]
    at = np.flatnonzero(((a[:-4] & 0xFE) == 0xE8) & ((top == 0) | (top == 0xFF)))
    rel = (a[at + 1].astype(np.int64) | (a[at + 2].astype(np.int64) << 8) | (a[at + 3].astype(np.int64) << 16)
           | (a[at + 4].astype(np.int64) << 24))
    rel -= (rel >= 1 << 31) * (1 << 32)
    return at, at + 5 + rel


def _word_candidates(a: np.ndarray, isa: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions of SPARC or AArch64 calls at multiples of 4 whose displacement is in range, their targets)."""
    words = a[:len(a) // 4 * 4].view(">u4" if isa == SPARC else "<u4").astype(np.int64)
    if isa == SPARC:
        head = words & 0xFFC00000
        hit = (head == 0x40000000) | (head == 0x7FC00000)
        disp = (words & 0x3FFFFFFF) - (head == 0x7FC00000) * (1 << 30)
    else:
        hit = (words & 0xFC000000) == 0x94000000
        disp = (words & 0x03FFFFFF) - ((words & 0x02000000) != 0) * (1 << 26)
    at = np.flatnonzero(hit)
    return at * 4, at * 4 + disp[at] * 4


def detect(block: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(the instruction set, the code regions as (start, end)) of a block; (0, []) where no
    region of code is found. The instruction set is the one with the most calls to shared targets."""
    a = np.frombuffer(block, dtype=np.uint8)
    n = len(a)
    best, best_calls, best_windows = 0, 0, np.zeros(0, dtype=bool)
    for isa in (X86, SPARC, ARM64):
        at, target = _x86_candidates(a) if isa == X86 else _word_candidates(a, isa)
        inside = (target >= 0) & (target < n)
        at, target = at[inside], target[inside]
        _, which, count = np.unique(target, return_inverse=True, return_counts=True)
        shared = at[count[which] >= 2]
        calls = np.bincount(shared // WINDOW, minlength=(n + WINDOW - 1) // WINDOW)
        code = calls >= MIN_CALLS
        if int(calls[code].sum()) > best_calls:
            best, best_calls, best_windows = isa, int(calls[code].sum()), code
    regions: list[tuple[int, int]] = []
    for k in np.flatnonzero(best_windows):
        start, end = int(k) * WINDOW, min((int(k) + 1) * WINDOW, n)
        if regions and start - regions[-1][1] <= GAP * WINDOW:
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return (best, regions) if regions else (0, [])


@kernel()
def _x86(data, start, end, encoding):
    """Rewrite the E8/E9 displacements in data[start:end] in place (encoding: relative to
    absolute; else back). An E8/E9 left as it is keeps the next three positions from being
    rewritten, so both directions see the same bytes where they decide (a rewrite there would
    change the byte the earlier instruction's test read)."""
    i = start
    unconverted = np.int64(-8)  # the last E8/E9 left as it is
    while i + 5 <= end:
        if data[i] == 0xE8 or data[i] == 0xE9:
            if (data[i + 4] == 0 or data[i + 4] == 0xFF) and i - unconverted > 3:
                v = np.int64(data[i + 1]) | (np.int64(data[i + 2]) << 8) | (np.int64(data[i + 3]) << 16) | (np.int64(data[i + 4]) << 24)
                v = v + i + 5 if encoding else v - i - 5
                v &= 0x1FFFFFF
                if v & 0x1000000:
                    v |= 0xFF000000
                for k in range(4):
                    data[i + 1 + k] = (v >> (8 * k)) & 0xFF
                i += 5
                continue
            unconverted = i
        i += 1


@kernel()
def _words(data, start, end, encoding, sparc):
    """Rewrite the SPARC call or AArch64 BL displacements of the words at multiples of 4 in
    data[start:end] in place (encoding: relative to absolute; else back)."""
    for i in range((start + 3) & ~3, end - 3, 4):
        if sparc:
            w = (np.int64(data[i]) << 24) | (np.int64(data[i + 1]) << 16) | (np.int64(data[i + 2]) << 8) | np.int64(data[i + 3])
            head = w & 0xFFC00000
            if head != 0x40000000 and head != 0x7FC00000:
                continue
            v = (w + (i >> 2) if encoding else w - (i >> 2)) & 0x7FFFFF
            if v & 0x400000:
                v |= 0x3F800000
            w = 0x40000000 | v
            for k in range(4):
                data[i + k] = (w >> (24 - 8 * k)) & 0xFF
        else:
            w = np.int64(data[i]) | (np.int64(data[i + 1]) << 8) | (np.int64(data[i + 2]) << 16) | (np.int64(data[i + 3]) << 24)
            if (w & 0xFC000000) != 0x94000000:
                continue
            w = 0x94000000 | ((w + (i >> 2) if encoding else w - (i >> 2)) & 0x03FFFFFF)
            for k in range(4):
                data[i + k] = (w >> (8 * k)) & 0xFF


def rewrite(data: np.ndarray, isa: int, regions: list[tuple[int, int]], encoding: bool) -> None:
    """Apply the transform of `isa` to each region of data (uint8, in place); encoding=False undoes it."""
    for start, end in regions:
        if isa == X86:
            _x86(data, np.int64(start), np.int64(end), encoding)
        else:
            _words(data, np.int64(start), np.int64(end), encoding, isa == SPARC)


def describe(isa: int, regions: list[tuple[int, int]]) -> bytes:
    """What the payload says of the transform: the instruction set, the number of regions, and
    each region as its distance from the previous one's end and its length (varints)."""
    out, at = bytearray([isa]) + varint(len(regions)), 0
    for start, end in regions:
        out += varint(start - at) + varint(end - start)
        at = end
    return bytes(out)


def read_description(payload: bytes, n: int, offset: int = 0) -> tuple[int, list[tuple[int, int]], int]:
    """(isa, regions, where the coded bytes start) from a payload whose bytes from `offset` on
    begin with describe's, checked against a block of n bytes; ValueError where they are not
    such a description."""
    if len(payload) <= offset or payload[offset] not in ISAS:
        raise ValueError("unknown instruction set")
    at = offset + 1

    def next_byte() -> int:
        nonlocal at
        if at >= len(payload):
            raise ValueError("the transform's description runs past the block")
        at += 1
        return payload[at - 1]

    count = decode_varint(next_byte, max_shift=35)
    if count > n // WINDOW + 1:
        raise ValueError("more regions than the block holds")
    regions, end = [], 0
    for _ in range(count):
        start = end + decode_varint(next_byte, max_shift=35)
        end = start + decode_varint(next_byte, max_shift=35)
        if end > n or end <= start:
            raise ValueError("a region outside the block")
        regions.append((start, end))
    return payload[offset], regions, at
