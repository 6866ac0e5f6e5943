"""The byte model's online half: context mixing over bits, all in integer arithmetic.

A block of bytes is split into S segments coded side by side: step t codes byte t of every
segment, one bit at a time, so each bit decision is one batch of S probabilities and one call of
the entropy coder. The segments share most statistics, so what one segment learns helps all
the others from the next step on; six context models are keyed by the segment as well, which
keeps each segment's recent statistics sharp (without them the split cost 4-8 %).

For each bit, these inputs (logits in stretch units, logit * 256, clipped to +-2047) are mixed:
- the hashed context models of CONTEXT_MODELS, each an adaptive probability per (context, bit
  position), 16 slots per nibble in one cache line;
- a match model: the byte that followed the last occurrence of the current 6-byte context (in
  this segment first, else in any);
- the pretrained network (arzip.bytes.exact), a logit per tree node from the previous 16 bytes;
- a bias.
A gated linear mixer learns online to combine them: each of WEIGHT_SETS picks a weight vector
by its context, their dot products are averaged and all learn from the same error. Two
secondary estimations (by the partial byte, and by it and the previous byte) refine the result
to a 12-bit probability.

Exactness: everything here is integer arithmetic in int64/uint32 on values that cannot
overflow, executed in the same order by encoder and decoder: predict all segments, code, then
update all segments in segment order. The encoder writes the block into a fresh buffer as it
goes, exactly as the decoder does, so even a read of a byte not coded yet gives both sides the
same zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..native import kernel
from ..mixing import counters, mixer
from ..mixing.hashing import M32, h32
from ..mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ..mixing.mixer import MIX_SHIFT
from . import network

# The context models, in input order: the hash each is keyed by (see _byte_contexts) and the
# log2 of its number of lines (16 slots each, 64 bytes). Small contexts get small tables; the
# "local" ones are keyed by the segment as well, so they follow each segment's own recent
# statistics, which sharing the other tables between segments would blur.
CONTEXT_MODELS = (("order 0", 10), ("order 1", 14), ("order 2", 19), ("order 3", 20), ("order 4", 20),
                  ("order 6", 20), ("word", 20), ("byte -2", 14), ("bytes -3, -4", 19),
                  ("local order 2", 19), ("local order 3", 20), ("local order 4", 20),
                  ("local order 1", 18), ("local order 6", 20), ("local byte -2", 18), ("word alone", 19))
ORDERS = len(CONTEXT_MODELS)
LINE_BITS = np.array([bits for _, bits in CONTEXT_MODELS], dtype=np.int64)
IN_MATCH, IN_NET, IN_BIAS = ORDERS, ORDERS + 1, ORDERS + 2
N_INPUTS = ORDERS + 3
MATCH_BITS = 22
SIZED_MIN_BITS = 10          # the smallest table of a block sized to its length (format version 4)
MATCH_MIN = 6                # bytes of context that start a match
MATCH_VERIFY = 32            # bytes compared backwards when a match candidate is found
COUNT_LIMIT = 1023            # adaptation rate of a context slot falls to 1/(COUNT_LIMIT + 1.5)
MIX_LR = 20
# The mixer: one weight vector per selector below is chosen for each bit, the dot products are
# averaged, and every chosen vector learns from the same error.
WEIGHT_SETS = (("partial byte", 256), ("match length x bit", 64), ("byte -1", 256), ("byte -2", 256),
               ("byte -3", 256), ("bytes -1, -2 hashed", 1024), ("word hashed", 1024),
               ("bytes -1..-3 hashed", 2048))
N_SETS = len(WEIGHT_SETS)
SET_BASE = np.concatenate([[0], np.cumsum([n for _, n in WEIGHT_SETS])]).astype(np.int64)
APM_RATE = 7


@kernel()
def position_of(off: int, q: int, r: int) -> int:
    """Position within its segment of block offset off (r segments of q+1 bytes, then q)."""
    big = r * (q + 1)
    return off % (q + 1) if off < big else (off - big) % q


@dataclass(frozen=True)
class NetTables:
    """The exact byte network as integer lookup tables: its first layer summed over the context
    positions, first[k, b] = W1 . embed(byte b at position k), so a position's pre-activation is
    first_bias + sum over k of first[k, context byte k], then relu and an arithmetic shift to the
    activation scale (clipped at act_max); the output layer gives one logit per tree node."""
    first: np.ndarray       # (context, 256, hidden) int32
    first_bias: np.ndarray  # (hidden,) int64
    act_shift: np.ndarray   # (hidden,) int64, right shift (negative: left)
    out_w: np.ndarray       # (256, hidden) int32
    out_b: np.ndarray       # (256,) int64
    out_shift: np.ndarray   # (256,) int64


def table_bits(n: int, sized: bool) -> tuple[np.ndarray, int]:
    """Log2 of the number of lines of each context model's table, and of the match table's
    entries, for a block of n bytes. Format version 3 always used the full sizes (700 MB for any
    file); from version 4 each table is cut to the first power of two of at least 4n lines (a
    byte touches two lines of a table; 4n keeps them as far apart as a full table would) and the
    match table to 2n entries, never below 2^SIZED_MIN_BITS: a 1 kB file needs 4 MB, not 700."""
    if not sized:
        return LINE_BITS, MATCH_BITS
    fit = max(n, 1).bit_length() + 2
    return (np.minimum(LINE_BITS, max(fit, SIZED_MIN_BITS)).astype(np.int64),
            min(MATCH_BITS, max(fit - 1, SIZED_MIN_BITS)))


class MixerState:
    """Everything the mixer learns and tracks for one block of n bytes in S segments; sized:
    tables cut to the block's length (table_bits, format version 4 on)."""

    def __init__(self, n: int, segments: int, net: NetTables, sized: bool):
        S = segments
        line_bits, match_bits = table_bits(n, sized)
        line_base = np.concatenate([[0], np.cumsum(16 << line_bits)]).astype(np.int64)
        q, r = divmod(n, S)
        lengths = np.array([q + 1] * r + [q] * (S - r), dtype=np.int64)
        self.n, self.segments, self.q, self.r = n, S, q, r
        self.seg_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.steps = q + (r > 0)
        z = lambda *shape: np.zeros(shape, dtype=np.int64)  # noqa: E731
        self.arrays = (
            np.zeros(n, dtype=np.uint8),                      # 0 data, written as coded
            self.seg_start,                                   # 1
            np.array([n, q, r, match_bits], dtype=np.int64),  # 2 geometry, match table bits
            np.ones(S, dtype=np.int64),                       # 3 c0: 1 then the bits so far
            np.ones(S, dtype=np.int64),                       # 4 node within the nibble
            z(S), z(S),                                       # 5 c4, 6 c8: last 8 bytes
            z(S), z(S),                                       # 7 word, 8 previous word
            z(S, ORDERS), z(S, ORDERS),                       # 9 context hashes, 10 line bases
            z(S), z(S), z(S), z(S),                           # 11 match ptr, 12 len, 13 byte, 14 ctx
            np.zeros((S, N_INPUTS), dtype=np.int64),          # 15 inputs of the current bit
            z(S), z(S, 2), z(S),                              # 16 mixer p, 17 apm slots, 18 final p
            np.zeros(line_base[-1], dtype=np.uint32),         # 19 context slots (touched lazily)
            np.zeros(1 << match_bits, dtype=np.int32),       # 20 match table: offset + 1 (blocks < 2^31)
            np.full(64, 1 << 15, dtype=np.int64),             # 21 match statemap (16-bit p)
            np.full((SET_BASE[-1], N_INPUTS), (1 << MIX_SHIFT) // 4, dtype=np.int64),  # 22 mixer weights
            apm_init(256), apm_init(65536),                 # 23, 24 secondary estimation
            net.out_w, net.out_b, net.out_shift,              # 25-27 network output layer
            STRETCH,                                          # 28
            net.first, net.first_bias, net.act_shift,         # 29-31 network first layer
            np.zeros((S, net.first.shape[2]), dtype=np.int64),  # 32 activations of this step
            z(S, N_SETS),                                     # 33 mixer weight vectors in use
            np.zeros(S, dtype=np.float64),                    # 34 final p / 4096, for the coder
            line_bits, line_base,                             # 35, 36 context tables: log2 lines, starts
        )

    @property
    def data(self) -> np.ndarray:
        """The block as coded so far (all of it once coding ends)."""
        return self.arrays[0]

    @property
    def coder_probs(self) -> np.ndarray:
        """The probabilities of a 1 that predict() just made, as the coder takes them."""
        return self.arrays[34]

    def active(self, t: int) -> int:
        return self.r if t == self.q else self.segments


@kernel()
def predict(st, t, j, active):
    """12-bit probabilities that bit j of byte t is 1, for segments 0..active-1, into st[18]."""
    (data, seg_start, geo, c0a, nna, c4a, c8a, word, wprev, ctx, line, mptr, mlen, mbyte, mctx,
     inp, pmix, apm_i, pout, slots, mtab, msm, weights, apm1, apm2, out_w, out_b, out_shift,
     stretch, first, first_bias, act_shift, hidden, mset, pfloat, line_bits, line_base) = st
    n, q, r = geo[0], geo[1], geo[2]
    for s in range(active):
        c0 = c0a[s]
        if j == 0 or j == 4:
            for o in range(ORDERS):
                line[s, o] = counters.line(slots, line_base[o], line_bits[o], h32(ctx[s, o] + c0 * 0x9E3779))
        if j == 0:
            _activations(s, t, data, seg_start[s], first, first_bias, act_shift, hidden)
        if j == 0 and mlen[s] > 0:
            p = mptr[s]
            if p < n and position_of(p, q, r) < t:
                mbyte[s] = data[p]
            else:
                mlen[s] = 0
        node = nna[s]
        for o in range(ORDERS):
            inp[s, o] = stretch[counters.p12(slots, line[s, o] + node)]
        mctx[s] = -1
        inp[s, IN_MATCH] = 0
        if mlen[s] > 0 and ((mbyte[s] | 256) >> (8 - j)) == c0:
            bit = (mbyte[s] >> (7 - j)) & 1
            mctx[s] = min(mlen[s], 31) * 2 + bit
            inp[s, IN_MATCH] = stretch[msm[mctx[s]] >> 4]
        inp[s, IN_NET] = network.logit(c0, out_w, out_b, out_shift, hidden[s])
        inp[s, IN_BIAS] = 256
        c4 = c4a[s]
        mset[s, 0] = c0
        mset[s, 1] = SET_BASE[1] + _match_bucket(mlen[s], mctx[s]) * 8 + j
        mset[s, 2] = SET_BASE[2] + (c4 & 0xFF)
        mset[s, 3] = SET_BASE[3] + ((c4 >> 8) & 0xFF)
        mset[s, 4] = SET_BASE[4] + ((c4 >> 16) & 0xFF)
        mset[s, 5] = SET_BASE[5] + (h32(c4 & 0xFFFF) >> 22)
        mset[s, 6] = SET_BASE[6] + (h32(word[s] + 7) >> 22)
        mset[s, 7] = SET_BASE[7] + (h32((c4 & 0xFFFFFF) + 0x9000000) >> 21)
        dot = 0
        for k in range(N_SETS):
            dot += mixer.dot(weights, mset[s, k], inp[s])
        pm = squash(max(-2047, min(2047, (dot // N_SETS) >> MIX_SHIFT)))
        pmix[s] = pm
        a1, apm_i[s, 0] = apm_refine(apm1, c0, pm)
        a2, apm_i[s, 1] = apm_refine(apm2, c0 | ((c4a[s] & 0xFF) << 8), pm)
        p = (pm + a1 + 2 * a2 + 2) >> 2
        pout[s] = max(1, min(4095, p))
        pfloat[s] = pout[s] / 4096.0  # exact: a 12-bit integer over a power of two


@kernel()
def _match_bucket(length, ctx):
    """0: no prediction for this bit; 1..7: the match's length, in rough steps."""
    if ctx < 0:
        return 0
    if length < 16:
        return 1 + (length >= 8) + (length >= 12)
    return 4 + (length >= 24) + (length >= 32) + (length >= 64)


@kernel()
def _activations(s, t, data, start, first, first_bias, act_shift, hidden):
    """The network's hidden layer for byte t of segment s (arzip/bytes/network.py), from the
    bytes before it (0 before the segment's start)."""
    network.hidden_layer(t, data[start:], first, first_bias, act_shift, np.empty(first_bias.shape[0], np.int64),
                         hidden[s])


@kernel()
def update(st, t, j, bits, active):
    """Learn from the coded bits (bits[s] of segment s) and advance every segment's state."""
    (data, seg_start, geo, c0a, nna, c4a, c8a, word, wprev, ctx, line, mptr, mlen, mbyte, mctx,
     inp, pmix, apm_i, pout, slots, mtab, msm, weights, apm1, apm2, out_w, out_b, out_shift,
     stretch, first, first_bias, act_shift, hidden, mset, pfloat, line_bits, line_base) = st
    for s in range(active):
        y = np.int64(bits[s])
        c0, node = c0a[s], nna[s]
        for o in range(ORDERS):
            counters.adapt(slots, line[s, o] + node, y, COUNT_LIMIT)
        if mctx[s] >= 0:
            msm[mctx[s]] += ((65535 * y - msm[mctx[s]]) >> 6)
        err = ((y << 12) - pmix[s]) * MIX_LR
        for k in range(N_SETS):
            mixer.train(weights, mset[s, k], inp[s], err, 1 << 24)
        apm_learn(apm1, apm_i[s, 0], y, APM_RATE)
        apm_learn(apm2, apm_i[s, 1], y, APM_RATE)
        c0 = 2 * c0 + y
        node = 2 * node + y
        if j == 3:
            node = 1
        if j == 7:
            c = c0 & 255
            off = seg_start[s] + t
            data[off] = c
            c8a[s] = ((c8a[s] << 8) | (c4a[s] >> 24)) & M32
            c4a[s] = ((c4a[s] << 8) | c) & M32
            _byte_contexts(s, c, t, off, data, seg_start, c4a, c8a, word, wprev, ctx, mptr, mlen, mbyte, mtab,
                           geo[3])
            c0, node = 1, 1
        c0a[s], nna[s] = c0, node


@kernel()
def _byte_contexts(s, c, t, off, data, seg_start, c4a, c8a, word, wprev, ctx, mptr, mlen, mbyte, mtab, match_bits):
    """After a whole byte: the context hashes for the next byte and the match model."""
    if (65 <= c <= 90) or (97 <= c <= 122):
        word[s] = h32(word[s] + (c | 32) + 1)
    elif word[s] != 0:
        wprev[s] = word[s]
        word[s] = 0
    c4 = c4a[s]
    ctx[s, 0] = 0
    ctx[s, 1] = h32(c4 & 0xFF)
    ctx[s, 2] = h32((c4 & 0xFFFF) + 0x10000)
    ctx[s, 3] = h32((c4 & 0xFFFFFF) + 0x3000000)
    ctx[s, 4] = h32(c4 ^ 0x4000000)
    ctx[s, 5] = h32(h32(c4) ^ (c8a[s] & 0xFFFF))
    ctx[s, 6] = h32(word[s] ^ h32(wprev[s]))
    ctx[s, 7] = h32((c4 & 0xFF00) + 0x7000000)
    ctx[s, 8] = h32((c4 & 0xFFFF0000) ^ 0x80)
    ctx[s, 9] = h32(ctx[s, 2] + s + 1)
    ctx[s, 10] = h32(ctx[s, 3] + s + 1)
    ctx[s, 11] = h32(ctx[s, 4] + s + 1)
    ctx[s, 12] = h32(ctx[s, 1] + s + 1)
    ctx[s, 13] = h32(ctx[s, 5] + s + 1)
    ctx[s, 14] = h32(ctx[s, 7] + s + 1)
    ctx[s, 15] = h32(word[s] + 0x5F)
    if mlen[s] > 0:
        if mbyte[s] == c:
            mlen[s] = min(mlen[s] + 1, 65535)
            mptr[s] += 1
        else:
            mlen[s] = 0
    if t + 1 >= MATCH_MIN:
        own = h32(ctx[s, 5] + s + 1) >> (32 - match_bits)  # this segment's last occurrence
        slot = ctx[s, 5] >> (32 - match_bits)             # any segment's
        for cand in (mtab[own], mtab[slot]):
            if mlen[s] > 0 or cand == 0:
                continue
            k = 0
            start = seg_start[s]
            while k < MATCH_VERIFY and cand - 1 - k >= 0 and off - k >= start \
                    and data[cand - 1 - k] == data[off - k]:
                k += 1
            if k >= MATCH_MIN:
                mlen[s] = k
                mptr[s] = cand
        mtab[own] = off + 1
        mtab[slot] = off + 1


@kernel()
def update_predict(st, t, j, bits, active, active_next):
    """update() for bit j of step t, then predict() for the next bit (the decoder's one call
    per bit; active_next is the next step's segment count when j is 7)."""
    update(st, t, j, bits, active)
    if j < 7:
        predict(st, t, j + 1, active)
    else:
        predict(st, t + 1, 0, active_next)


@kernel()
def run_encoder(st, source, t0, t1, probs, bits_out):
    """Steps t0..t1-1 of the encoder: the decoder's exact sequence of predict and update, with
    the true bits taken from source. Writes each coded bit's probability and value in stream
    order; returns how many."""
    seg_start, geo = st[1], st[2]
    q, r, S = geo[1], geo[2], len(seg_start)
    k = 0
    bits = np.zeros(S, dtype=np.int64)
    for t in range(t0, t1):
        active = r if t == q else S
        for j in range(8):
            predict(st, t, j, active)
            pout = st[18]
            for s in range(active):
                bits[s] = (source[seg_start[s] + t] >> (7 - j)) & 1
                probs[k] = pout[s]
                bits_out[k] = bits[s]
                k += 1
            update(st, t, j, bits, active)
    return k
