"""Blocks of packed 1-bit rows (a fax page, a raw scan, a bitmap font's strike) coded as the page
they are: block method 14, its pixels through the bilevel model (arzip/mixing/bilevel.py).

Why: the cm coder sees such a block as bytes, eight pixels each, and reaches the row above only
through its record contexts and its 1-bit image model's few cells; the bilevel model sees each
pixel with seven 2-D neighbourhoods. On the development set's 1-bit page (bench/bytes_dev.py,
page.bits) it codes 15 % below level 9's cm method, at about eight times its speed.

`detect` finds a block's row length: most of its bytes are white or black (0x00 or 0xFF) and a
byte equals the byte one row before it far more often than the byte at other distances. The
archive codes the block both ways and keeps the smaller, so a wrong guess costs time, not bits.

Payload: the row length in bytes (varint), the bilevel model's stream over the rows' pixels
(eight per byte, most significant bit first, rows of 8 x row length pixels), then the bytes after
the last whole row, as they are.
"""
from __future__ import annotations

import numpy as np

from .. import limits
from ..container import Reader, varint
from ..errors import FormatError
from ..mixing import bilevel

SAMPLE = 1 << 16          # bytes of a block that detect looks at
MIN_ROW, MAX_ROW = 8, 2048  # row lengths tried, in bytes (64 to 16,384 pixels)
PAPER = 0.6               # share of the sample that must be 0x00 or 0xFF (white or black paper)
ROW_AGREES = 0.8          # share of bytes equal to the byte one row up, at the row length
TIE = 0.002               # a shorter row length within this share of the best is taken (not twice the row)


def detect(block: bytes) -> int:
    """The block's row length in bytes if it looks like packed 1-bit rows, else 0."""
    sample = np.frombuffer(block, dtype=np.uint8, count=min(len(block), SAMPLE))
    if len(sample) < 4 * MIN_ROW * 8:
        return 0
    counts = np.bincount(sample, minlength=256)
    if max(counts[0], counts[255]) < PAPER * len(sample):
        return 0
    rows = np.arange(MIN_ROW, min(MAX_ROW, len(sample) // 4) + 1)
    agree = np.array([np.count_nonzero(sample[n:] == sample[:-n]) / (len(sample) - n) for n in rows])
    if agree.max() < ROW_AGREES:
        return 0
    return int(rows[np.argmax(agree >= agree.max() - TIE)])


def encode(block: bytes, row: int) -> tuple[bytes, float]:
    """(payload, the model's NLL in bits) of a block of rows of `row` bytes."""
    height = len(block) // row
    packed = np.frombuffer(block, dtype=np.uint8, count=height * row).reshape(height, row)
    coded, nll = bilevel.encode(np.unpackbits(packed, axis=1))
    return varint(row) + coded + block[height * row:], nll


def decode(payload: bytes, raw_len: int) -> bytes:
    """The block of raw_len bytes that encode's payload holds; FormatError for a damaged one."""
    head = Reader(payload, 0)
    row, pos = head.varint(), head.pos
    height, tail = (raw_len // row, raw_len % row) if MIN_ROW <= row <= MAX_ROW else (0, -1)
    if tail < 0 or pos + tail > len(payload):
        raise FormatError("corrupted archive (bitmap block)")
    coded = payload[pos:len(payload) - tail]
    limits.check_justified(len(coded), height * row * 8, limits.MIN_BITS_BINARY, "bitmap block")
    try:
        pixels = bilevel.decode(coded, height, 8 * row)
    except ValueError as e:
        raise FormatError(f"corrupted archive (bitmap block: {e})") from None
    return np.packbits(pixels, axis=1).tobytes() + payload[len(payload) - tail:]
