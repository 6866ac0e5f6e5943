"""Prototype: a compiled context-mixing byte coder (issue 28), one segment per call.

Every byte: contexts from the bytes before it (orders 1-6, words, sparse, records, text columns,
an indirect context), each a line of 16 adaptive cells per nibble in one hashed table; a match
model; a gated linear mixer (several weight sets, averaged); three APMs; the binary arithmetic
coder. Encoder and decoder run the same kernel.
"""
from __future__ import annotations

import numpy as np

from ..mixing import arithmetic, counters
from ..mixing.hashing import M32, h32
from ..mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ..native import kernel

NC = 19                  # hashed contexts
IN_MATCH = NC
IN_BIAS = NC + 1
N_INPUTS = NC + 2
SETS = (256, 512, 256, 256, 2048)
SET_BASE = np.concatenate([[0], np.cumsum(SETS)]).astype(np.int64)
N_SETS = len(SETS)
MIX_SHIFT = 16
MIX_LR = 14
COUNT_LIMIT = 255
MATCH_MIN = 5
APM_RATE = 7


def fresh(n: int):
    """The tables for a segment of n bytes."""
    bits = min(22, max(12, (max(n, 1) * 6).bit_length()))
    slots = counters.line_table(16 << bits)
    match_bits = min(22, max(10, (max(n, 1)).bit_length() + 1))
    weights = np.full((int(SET_BASE[-1]), N_INPUTS), (1 << MIX_SHIFT) // 8, dtype=np.int64)
    weights[:, IN_BIAS] = 0
    return (slots, np.int64(bits), np.zeros(1 << match_bits, dtype=np.int32), np.int64(match_bits),
            np.full(64 * 2, 1 << 15, dtype=np.int64), weights,
            apm_init(256).astype(np.int64), apm_init(65536).astype(np.int64), apm_init(65536).astype(np.int64))


@kernel(inline="always")
def _record(i, c, last, rec):
    """Record-length detection: byte c recurring at one distance three times votes for it;
    rec = [length, candidate, votes, other candidate, its votes]."""
    p1 = last[c, 0]
    p2 = last[c, 1]
    p3 = last[c, 2]
    r = i - p1
    if p3 > 0 and r >= 2 and r == p1 - p2 and r == p2 - p3 and r < 1 << 16:
        if r == rec[1]:
            rec[2] += 1
        elif r == rec[3]:
            rec[4] += 1
        elif rec[2] >= rec[4]:
            rec[3] = r
            rec[4] = 1
        else:
            rec[1] = r
            rec[2] = 1
        if rec[2] > 12 and rec[1] != rec[0] and rec[2] > rec[4]:
            rec[0] = rec[1]
            rec[2] = 0
            rec[4] = 0
        elif rec[4] > 12 and rec[3] != rec[0] and rec[4] > rec[2]:
            rec[0] = rec[3]
            rec[2] = 0
            rec[4] = 0
    last[c, 2] = p2
    last[c, 1] = p1
    last[c, 0] = i


@kernel()
def code(data, n, decoding, slots, bits, mtab, mbits, msm, weights, apm1, apm2, apm3, buf, at, coder, nll):
    """Code (or decode into data) bytes 0..n-1; returns the end of buf. nll[0] gets the bits."""
    ctx = np.zeros(NC, dtype=np.int64)
    line = np.zeros(NC, dtype=np.int64)
    inp = np.zeros(N_INPUTS, dtype=np.int64)
    sets = np.zeros(N_SETS, dtype=np.int64)
    last = np.zeros((256, 3), dtype=np.int64)
    rec = np.zeros(5, dtype=np.int64)
    follow = np.zeros(65536, dtype=np.int64)
    word = 0
    wprev = 0
    c4 = 0
    c8 = 0
    mptr = 0
    mlen = 0
    line_start = 0
    for i in range(n):
        # contexts for byte i
        c1 = c4 & 0xFF
        c2 = (c4 >> 8) & 0xFF
        rl = rec[0]
        above = np.int64(data[i - rl]) if rl > 0 and i >= rl else 0
        above2 = np.int64(data[i - 2 * rl]) if rl > 0 and i >= 2 * rl else 0
        col = i % rl if rl > 0 else 0
        tcol = min(i - line_start, 255)
        ctx[0] = 0
        ctx[1] = h32(c1 + 0x100)
        ctx[2] = h32((c4 & 0xFFFF) + 0x20000)
        ctx[3] = h32((c4 & 0xFFFFFF) + 0x3000000)
        ctx[4] = h32(c4 ^ 0x4000000)
        ctx[5] = h32(h32(c4) + (c8 & 0xFF) + 0x500)
        ctx[6] = h32(h32(c4) + (c8 & 0xFFFF) + 0x60000)
        ctx[7] = h32(word + 0x7000)
        ctx[8] = h32(h32(word) + wprev + 0x8000)
        ctx[9] = h32(c2 + 0x9000)
        ctx[10] = h32((c4 & 0xFFFF00) + 0xA)
        ctx[11] = h32((c4 & 0xFFFF0000) + 0xB)
        ctx[12] = h32(((above << 16) | col) + 0xC000000 + (rl << 32))
        ctx[13] = h32(((above << 8) | c1) + 0xD000000)
        ctx[14] = h32(((above << 8) | above2) + 0xE000000 + (rl << 32))
        ctx[15] = h32((tcol << 8) + c1 + 0xF000000)
        ctx[16] = h32(follow[c1] + 0x10000000 + (c1 << 16))
        ctx[17] = h32(follow[(c4 & 0xFFFF)] + 0x11000000 + ((c4 & 0xFFFF) << 16))
        ctx[18] = h32(((np.int64(data[i - rl - 1]) if rl > 0 and i > rl else 0) << 16 | (above << 8) | c1) + 0x12000000)
        # the match model: the byte after the last occurrence of the last MATCH_MIN bytes
        if mlen > 0 and mptr < i:
            expected = np.int64(data[mptr])
        else:
            mlen = 0
            expected = -1
        c = 0
        c0 = 1
        for j in range(8):
            if j == 0 or j == 4:
                for k in range(NC):
                    line[k] = counters.line(slots, 0, bits, h32(ctx[k] + c0 * 0x9E3779B1 + k))
            node = c0 if j < 4 else ((1 << (j - 4)) | (c0 & ((1 << (j - 4)) - 1)))
            for k in range(NC):
                inp[k] = STRETCH[counters.p12(slots, line[k] + node)]
            mctx = 0
            ebit = 0
            if expected >= 0 and ((expected | 256) >> (8 - j)) == c0:
                ebit = (expected >> (7 - j)) & 1
                mctx = min(mlen, 31) * 2 + ebit
                inp[IN_MATCH] = STRETCH[msm[mctx] >> 4]
                mset = 1 + min(15, mlen)
            else:
                inp[IN_MATCH] = 0
                mset = 0
            inp[IN_BIAS] = 256
            sets[0] = c0
            sets[1] = SET_BASE[1] + (mset * 2 + ebit) * 8 + j
            sets[2] = SET_BASE[2] + c1
            sets[3] = SET_BASE[3] + (above if rl > 0 else c2)
            sets[4] = SET_BASE[4] + (h32((c4 & 0xFFFF) * 256 + c0) >> 21)
            dot = 0
            for s in range(N_SETS):
                for k in range(N_INPUTS):
                    dot += weights[sets[s], k] * inp[k]
            pm = squash(max(-2047, min(2047, (dot // N_SETS) >> MIX_SHIFT)))
            pm = max(1, min(4095, pm))
            a1, k1 = apm_refine(apm1, c0, pm)
            a2, k2 = apm_refine(apm2, c0 | (c1 << 8), pm)
            a3, k3 = apm_refine(apm3, h32((c4 & 0xFFFF) * 256 + c0 + 0x1234) >> 16, pm)
            p = max(1, min(4095, (2 * pm + a1 + 2 * a2 + 3 * a3 + 4) >> 3))
            if decoding:
                bit = arithmetic.decode_bit(coder, buf, p)
            else:
                bit = (np.int64(data[i]) >> (7 - j)) & 1
                at = arithmetic.encode_bit(coder, bit, p, buf, at)
                nll[0] += -np.log2(p / 4096.0) if bit else -np.log2(1.0 - p / 4096.0)
            # learn
            for k in range(NC):
                counters.adapt(slots, line[k] + node, bit, COUNT_LIMIT)
            if mset > 0:
                msm[mctx] += (65535 * bit - msm[mctx]) >> 6
            err = ((bit << 12) - pm) * MIX_LR
            for s in range(N_SETS):
                for k in range(N_INPUTS):
                    w = weights[sets[s], k] + ((inp[k] * err + 0x8000) >> 16)
                    weights[sets[s], k] = max(-(1 << 24), min(1 << 24, w))
            apm_learn(apm1, k1, bit, APM_RATE)
            apm_learn(apm2, k2, bit, APM_RATE)
            apm_learn(apm3, k3, bit, APM_RATE)
            c0 = 2 * c0 + bit
        c = c0 & 0xFF
        if decoding:
            data[i] = c
        # after the byte
        if mlen > 0:
            if expected == c:
                mlen = min(mlen + 1, 65535)
                mptr += 1
            else:
                mlen = 0
        follow[c1] = ((follow[c1] << 8) | c) & 0xFFFF
        follow[c4 & 0xFFFF] = c
        c8 = ((c8 << 8) | (c4 >> 24)) & M32
        c4 = ((c4 << 8) | c) & M32
        if (65 <= c <= 90) or (97 <= c <= 122) or c >= 128:
            word = h32(word + (c | 32) + 1)
        elif word != 0:
            wprev = word
            word = 0
        if c == 10:
            line_start = i + 1
        _record(i, c, last, rec)
        if i + 1 >= MATCH_MIN:
            h = h32(c4 + (c8 & 0xFF) * 0x1000193) >> (32 - mbits)
            if mlen == 0:
                cand = np.int64(mtab[h])
                if cand > 0:
                    k = 0
                    while k < 32 and cand - 1 - k >= 0 and data[cand - 1 - k] == data[i - k]:
                        k += 1
                    if k >= MATCH_MIN:
                        mlen = k
                        mptr = cand
            mtab[h] = i + 1
    return at


def encode(block: bytes) -> tuple[bytes, float]:
    src = np.frombuffer(block, dtype=np.uint8).copy()
    st = fresh(len(src))
    coder = arithmetic.encoder_state()
    buf = np.zeros(len(src) * 2 + 64, dtype=np.uint8)
    nll = np.zeros(1)
    at = code(src, len(src), False, *st, buf, 0, coder, nll)
    at = arithmetic.flush(coder, buf, at)
    return buf[:at].tobytes(), float(nll[0])


def decode(payload: bytes, n: int) -> bytes:
    data = np.zeros(n, dtype=np.uint8)
    st = fresh(n)
    src = np.frombuffer(payload, dtype=np.uint8).copy()
    coder = arithmetic.decoder_state(src)
    code(data, n, True, *st, src, 0, coder, np.zeros(1))
    return data.tobytes()
