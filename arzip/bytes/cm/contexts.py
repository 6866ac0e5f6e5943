"""The hashed contexts of the context-mixing byte coder: what each byte is predicted from, as one
32-bit hash per context model, computed once per byte from the bytes before it (the engine
keys a line of 16 cells per nibble by each, arzip/bytes/cm/engine.py).

Context models (paq8's families, chosen and keyed here):
- orders 0-4 and 6, 8: the last n bytes;
- words: the current word (letters, case-folded, and bytes >= 128) alone and with the previous;
- sparse: the byte two back, bytes two and three back, bytes three and four back;
- records (arzip/bytes/cm/records.py): the byte one record back with the column, with the last
  byte, with the byte two records back, and with its left neighbour and the last byte (2-D
  contexts for bitmaps and tables);
- a text column: the position in the line with the last byte;
- indirect: the bytes that followed the last occurrences of the last byte, and of the last two.

Method 6 adds EXTRA (compute_extra): the byte above in the previous line of text (at the same
column) with the last byte, with the last two, and with the column; the current word with the
two before it, and with the last byte; the word before with the last two bytes; the word two
back with the current word; order 7. They bought 1.6 % on the development set's text and 3 %
on its machine code (models/EXPERIMENTS.md C13). Method 8 adds EXTRA2 (compute_extra2): order 5,
order 12, and two sparse pairs (C22). Method 9 adds TEXT (compute_text): the two innermost open
brackets, the line's indentation and first byte, the last five bytes case-folded, each with
the last byte; and the bytes that followed the last occurrence of the last three (models/
EXPERIMENTS.md C30, C31).
"""
from __future__ import annotations

import numpy as np

from ...mixing.hashing import M32, h32
from ...native import kernel

CONTEXTS = 19
EXTRA = 8  # method 6's contexts, after method 5's 19
EXTRA2 = 4  # method 8's, after those
TEXT = 6  # method 9's text contexts (compute_text: its first 4), method 12's (all 6)
# the history registers, kept between calls in one int64 array; then where each of the first
# FIELDS fields of the line before and of this line started (fields: text between , ; | or tab)
C4, C8, WORD, WORD_BEFORE, LINE_START, WORD_BEFORE2, LINE_BEFORE, BRACKETS, INDENT, LINE_FIRST, FIELD, FIELD_START = range(12)
FIELDS = 32
FIELDS_BEFORE, FIELDS_NOW = 12, 12 + FIELDS
REGISTERS = 12 + 2 * FIELDS


def fresh() -> tuple[np.ndarray, np.ndarray]:
    """(the registers, the indirect table: the bytes that followed each byte and byte pair, then
    (method 9) the two that followed each hashed byte triple)."""
    return np.zeros(REGISTERS, dtype=np.int64), np.zeros(2 * 65536, dtype=np.int64)


@kernel(inline="always")
def compute(ctx, data, i, regs, record_length, follow):
    """ctx[0:CONTEXTS] for byte i of data."""
    c4, c8, word = regs[C4], regs[C8], regs[WORD]
    c1 = c4 & 0xFF
    c2 = (c4 >> 8) & 0xFF
    rl = record_length
    above = np.int64(data[i - rl]) if rl > 0 and i >= rl else 0
    above2 = np.int64(data[i - 2 * rl]) if rl > 0 and i >= 2 * rl else 0
    above_left = np.int64(data[i - rl - 1]) if rl > 0 and i > rl else 0
    col = i % rl if rl > 0 else 0
    text_col = min(i - regs[LINE_START], 255)
    ctx[0] = 0
    ctx[1] = h32(c1 + 0x100)
    ctx[2] = h32((c4 & 0xFFFF) + 0x20000)
    ctx[3] = h32((c4 & 0xFFFFFF) + 0x3000000)
    ctx[4] = h32(c4 ^ 0x4000000)
    ctx[5] = h32(h32(c4) + (c8 & 0xFF) + 0x500)
    ctx[6] = h32(h32(c4) + (c8 & 0xFFFF) + 0x60000)
    ctx[7] = h32(word + 0x7000)
    ctx[8] = h32(h32(word) + regs[WORD_BEFORE] + 0x8000)
    ctx[9] = h32(c2 + 0x9000)
    ctx[10] = h32((c4 & 0xFFFF00) + 0xA)
    ctx[11] = h32((c4 & 0xFFFF0000) + 0xB)
    ctx[12] = h32(((above << 16) | col) + 0xC000000 + (rl << 32))
    ctx[13] = h32(((above << 8) | c1) + 0xD000000)
    ctx[14] = h32(((above << 8) | above2) + 0xE000000 + (rl << 32))
    ctx[15] = h32((text_col << 8) + c1 + 0xF000000)
    ctx[16] = h32(follow[c1] + 0x10000000 + (c1 << 16))
    ctx[17] = h32(follow[c4 & 0xFFFF] + 0x11000000 + ((c4 & 0xFFFF) << 16))
    ctx[18] = h32(((above_left << 16) | (above << 8) | c1) + 0x12000000)
    return above


@kernel(inline="always")
def compute_extra(ctx, data, i, regs):
    """ctx[CONTEXTS:CONTEXTS + EXTRA] for byte i (method 6)."""
    c4 = regs[C4]
    c1 = c4 & 0xFF
    text_col = i - regs[LINE_START]
    up = regs[LINE_BEFORE] + text_col
    text_above = np.int64(data[up]) if up < regs[LINE_START] else 0
    word, w1, w2 = regs[WORD], regs[WORD_BEFORE], regs[WORD_BEFORE2]
    ctx[CONTEXTS] = h32((text_above << 8) + c1 + 0x13000000)
    ctx[CONTEXTS + 1] = h32((text_above << 16) + (c4 & 0xFFFF) + (1 << 40))
    ctx[CONTEXTS + 2] = h32(h32(h32(word) + w1) + w2 + 0x15000)
    ctx[CONTEXTS + 3] = h32(h32(word) + c1 + 0x16000)
    ctx[CONTEXTS + 4] = h32(h32(w1) + (c4 & 0xFFFF) + (3 << 40))
    ctx[CONTEXTS + 5] = h32((text_above << 8) + min(text_col, 255) + (4 << 40))
    ctx[CONTEXTS + 6] = h32(h32(c4) + (regs[C8] & 0xFFFFFF) + (5 << 40))
    ctx[CONTEXTS + 7] = h32(h32(w2) + word + (6 << 40))


@kernel(inline="always")
def compute_extra2(ctx, data, i, regs):
    """ctx[CONTEXTS + EXTRA:CONTEXTS + EXTRA + EXTRA2] for byte i (method 8): order 5, order 12,
    and the sparse pairs of bytes 1 and 3 back and 2 and 4 back."""
    c4, c8 = regs[C4], regs[C8]
    at = CONTEXTS + EXTRA
    ctx[at] = h32(h32(c4) + (c8 & 0xFF) + (7 << 40))
    long = np.int64(0x12345)
    for k in range(1, 13):
        long = h32(long + (np.int64(data[i - k]) if i >= k else 0) + k)
    ctx[at + 1] = h32(long + (8 << 40))
    ctx[at + 2] = h32((c4 & 0x00FF00FF) + (9 << 40))
    ctx[at + 3] = h32((c4 & 0xFF00FF00) + (10 << 40))


@kernel(inline="always")
def compute_text(ctx, at, n_text, data, i, regs, follow):
    """ctx[at:at + TEXT] for byte i (method 9): the two innermost open brackets with the last
    byte (code and markup nest); the line's indentation and first byte with the last byte; the
    last five bytes with letters case-folded (what follows "The" follows "the"); the two bytes
    that followed the last occurrence of the last three, with the last byte."""
    c4 = regs[C4]
    c1 = c4 & 0xFF
    ctx[at] = h32(((regs[BRACKETS] & 0xFFFF) << 8) + c1 + (13 << 40))
    ctx[at + 1] = h32((min(regs[INDENT], 63) << 16) + (regs[LINE_FIRST] << 8) + c1 + (14 << 40))
    folded = np.int64(0x5A5A)
    for k in range(1, 6):
        b = np.int64(data[i - k]) if i >= k else 0
        folded = h32(folded + (b | 32 if 65 <= b <= 90 else b) + (k << 8))
    ctx[at + 2] = h32(folded + (15 << 40))
    ctx[at + 3] = h32(follow[65536 + (h32(c4 & 0xFFFFFF) >> 16)] + ((c4 & 0xFF) << 16) + (16 << 40))
    if n_text > 4:  # a table's fields: the field's index and the position in it, with the last byte;
        # and with the byte at that position of the same field in the line before
        field = min(regs[FIELD], FIELDS - 1)
        inside = min(i - regs[FIELD_START], 255)
        ctx[at + 4] = h32((field << 16) + (inside << 8) + c1 + (19 << 40))
        up = regs[FIELDS_BEFORE + field] + inside
        end = regs[FIELDS_BEFORE + field + 1] if field + 1 < FIELDS else 0
        end = regs[LINE_START] if end == 0 else end  # the line before's last field ends with it
        above = np.int64(data[up]) if regs[FIELDS_BEFORE + field] > 0 and up < end else 256
        ctx[at + 5] = h32((field << 26) + (inside << 17) + (above << 8) + c1 + (20 << 40))


@kernel(inline="always")
def after(c, i, regs, follow):
    """Advance the registers and the indirect table past byte c at position i."""
    c4 = regs[C4]
    c1 = c4 & 0xFF
    follow[c1] = ((follow[c1] << 8) | c) & 0xFFFF
    follow[c4 & 0xFFFF] = c
    three = 65536 + (h32(c4 & 0xFFFFFF) >> 16)
    follow[three] = ((follow[three] << 8) | c) & 0xFFFF
    regs[C8] = ((regs[C8] << 8) | (c4 >> 24)) & M32
    regs[C4] = ((c4 << 8) | c) & M32
    if (65 <= c <= 90) or (97 <= c <= 122) or c >= 128:
        regs[WORD] = h32(regs[WORD] + (c | 32) + 1)
    elif regs[WORD] != 0:
        regs[WORD_BEFORE2] = regs[WORD_BEFORE]
        regs[WORD_BEFORE] = regs[WORD]
        regs[WORD] = 0
    if c == 40 or c == 91 or c == 123 or c == 60:  # ( [ { <
        regs[BRACKETS] = ((regs[BRACKETS] << 8) | c) & 0xFFFFFFFFFFFF
    elif (c == 41 or c == 93 or c == 125 or c == 62) and regs[BRACKETS] != 0:
        regs[BRACKETS] >>= 8
    if c == 10:
        for k in range(FIELDS):
            regs[FIELDS_BEFORE + k] = regs[FIELDS_NOW + k]
            regs[FIELDS_NOW + k] = 0
        regs[FIELDS_NOW] = i + 1
        regs[FIELD] = 0
        regs[FIELD_START] = i + 1
        regs[LINE_BEFORE] = regs[LINE_START]
        regs[LINE_START] = i + 1
        regs[INDENT] = 0
        regs[LINE_FIRST] = 0
    elif regs[LINE_FIRST] == 0:
        if c == 32 or c == 9:
            regs[INDENT] += 1
        else:
            regs[LINE_FIRST] = c
    if c == 44 or c == 9 or c == 59 or c == 124:  # , tab ; |
        regs[FIELD] += 1
        regs[FIELD_START] = i + 1
        if regs[FIELD] < FIELDS:
            regs[FIELDS_NOW + regs[FIELD]] = i + 1
