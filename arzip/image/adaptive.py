"""The adaptive image model: online context mixing around the learned network, bit by bit.

Each subpixel is coded as 8 binary decisions, most significant bit first (node c0 = 1, then
2 * c0 + bit). For every decision these inputs, logits in stretch units (logit * 256, clipped
to +-2047), are mixed:
- the network's probability of the bit, summed from its 256-value table (arzip.image.tables):
  the trained prior;
- a bank of predictors (arzip.image.predictors: neighbour gradients within and across
  channels, MED, the network's mean, two online LMS predictors): for each, an adaptive
  probability keyed by where the prediction lies relative to the values still possible (its
  distance from the split point of the node), by the predictor's recent error around the
  pixel, the channel and the bit position;
- hashed contexts of exact and quantized neighbour values (within the channel, across
  channels, with the pixel's position parity), each an adaptive probability per node, 16
  slots per nibble (arzip.mixing.counters);
- a bias.
A two-layer gated linear mixer learns the weights online: four weight sets chosen by channel
and bit position, and by it with the best predictor's recent error, the network's confidence
or the position parity; a second layer per channel and bit combines them. Two APM stages
refine the result to a 12-bit probability.

Pixels are coded in the wave order of arzip.image.waves: per (wave, channel) the pixels of the
wave are a batch whose bit j is predicted for all of them, coded, then learned from in pixel
order, exactly as the decoder does it. A pixel's contexts only read earlier waves (its causal
neighbourhood) and its own earlier channels, so the batch never reads what it codes.

Exactness: integer arithmetic only (int64 and uint32 on values that cannot overflow), in the
same order on both sides.
"""
from __future__ import annotations

import numba
import numpy as np

from ..mixing import counters, mixer
from ..mixing.hashing import h32
from ..mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ..mixing.mixer import MIX_SHIFT
from .predictors import (DIST_BUCKETS, ERR_BUCKETS, N_BASE, N_LMS, N_LMS_IN, N_PRED, LMS_RATES, clip8, dist_bucket,
                         error_bucket, lms_inputs, predictions)

CHANNELS = 3
REACH = 2  # neighbours read up to 2 rows up and 2 columns either side: the padding must cover that
HASHED = (("W, N", 20), ("W, NW", 19), ("N, NE", 19), ("gradient W+N-NW", 18), ("N+NE-NNE", 18),
          ("W+NE-N", 18), ("cross-channel W", 19), ("cross-channel N", 19), ("net mean, confidence", 18),
          ("quantized W, N, NW, NE", 20), ("MED, activity", 18), ("earlier channels", 19),
          ("position, W, N", 19))
N_HASHED = len(HASHED)
LINE_BITS = np.array([bits for _, bits in HASHED], dtype=np.int64)
LINE_BASE = np.concatenate([[0], np.cumsum(16 << LINE_BITS)]).astype(np.int64)
IN_NET, IN_PRED, IN_HASHED = 0, 1, 1 + N_PRED  # input families, which ablations switch off
IN_BIAS = IN_HASHED + N_HASHED
N_INPUTS = IN_BIAS + 1
USE_ALL, NO_NETWORK, NO_PREDICTORS, NO_HASHED = 0, 1, 2, 4  # ablation flags
SETS = (("channel x bit", CHANNELS * 8), ("channel x bit x best error", CHANNELS * 8 * ERR_BUCKETS),
        ("channel x bit x network confidence", CHANNELS * 8 * 16), ("channel x bit x position", CHANNELS * 8 * 4))
N_SETS = len(SETS)
SET_BASE = np.concatenate([[0], np.cumsum([n for _, n in SETS])]).astype(np.int64)
COUNT_LIMIT = 1023
MIX_LR = 6
FINAL_LR = 1
APM_RATE = 7


class AdaptiveState:
    """What the model learns while an image (or a stripe) is coded, and the scratch of one batch:
    numba kernels take them as tuples of arrays (`arrays`, `batch`)."""

    def __init__(self, buffer_size: int, batch_capacity: int) -> None:
        weights = np.zeros((SET_BASE[-1], N_INPUTS), dtype=np.int64)
        weights[:, IN_NET] = 1 << MIX_SHIFT  # the first layer starts as the network alone
        self.arrays = (
            np.zeros(LINE_BASE[-1], dtype=np.uint32),   # 0 hashed context slots: p22 << 10 | count (0: p = 1/2)
            np.zeros(N_PRED * CHANNELS * 8 * ERR_BUCKETS * DIST_BUCKETS, dtype=np.uint32),  # 1 predictor maps
            weights,                                     # 2 first mixer layer (sets, inputs)
            np.full((CHANNELS * 8, N_SETS), (1 << MIX_SHIFT) // N_SETS, dtype=np.int64),  # 3 second layer
            apm_init(CHANNELS * 256),                    # 4 APM by channel and node
            apm_init(CHANNELS * 8 * DIST_BUCKETS),       # 5 APM by channel, bit and best prediction
            np.zeros((N_PRED, buffer_size), dtype=np.int16),  # 6 |prediction - value| per coded subpixel
            np.zeros((CHANNELS, N_LMS, N_LMS_IN), dtype=np.int64),  # 7 LMS weights, 2^16 = 1
        )
        n = batch_capacity
        z = lambda *shape: np.zeros(shape, dtype=np.int64)  # noqa: E731
        self.batch = (
            z(n, N_PRED), z(n, N_PRED), z(n),            # 0 predictions, 1 their error buckets, 2 best
            z(n, N_HASHED), z(n, N_HASHED),              # 3 context hashes, 4 slot lines
            z(n, N_INPUTS), z(n, N_PRED), z(n, N_SETS),  # 5 mixer inputs, 6 predictor-map slots, 7 weight sets
            z(n), z(n, N_SETS), z(n, N_SETS), z(n, 2),   # 8 mixer p, 9 first-layer logits, 10 their p, 11 APM slots
            z(n),                                        # 12 c0: 1, then the value's bits so far
            z(n, N_LMS_IN), z(n), z(n, N_LMS),           # 13 LMS inputs, 14 reference, 15 predictions
            z(n),                                        # 16 the final 12-bit probabilities
            np.zeros(n, dtype=np.float64),               # 17 the same / 4096, as the coder takes them
            z(n),                                        # 18 position parity: (y mod 2) * 2 + x mod 2
        )


@numba.njit(cache=True, nogil=True)
def begin(st, sc, flat, base, ys, xs, c, row, net_mean):
    """Start channel c of a batch of n pixels (base: flat index of each pixel's subpixel 0 in the
    padded buffer, row: its row stride; ys, xs: image coordinates): predictions, errors and
    context hashes, read from earlier waves and the pixels' earlier channels only."""
    slots, dist, weights, final, apm1, apm2, err, lms = st
    preds, ebucket, best, ctx = sc[0], sc[1], sc[2], sc[3]
    c0, lx, lref, lpred, parity = sc[12], sc[13], sc[14], sc[15], sc[18]
    pred = np.zeros(N_PRED, dtype=np.int64)
    scratch = np.zeros(2 * N_BASE, dtype=np.int64)
    for i in range(base.shape[0]):
        c0[i] = 1
        parity[i] = ((ys[i] & 1) << 1) | (xs[i] & 1)
        pos = base[i] + c
        predictions(flat, pos, row, c, net_mean[i], pred, scratch)
        lref[i] = lms_inputs(flat, pos, row, c, lx[i])
        for m in range(N_LMS):
            acc = 0
            for q in range(N_LMS_IN):
                acc += lms[c, m, q] * lx[i, q]
            lpred[i, m] = (acc + 32768) >> 16
            pred[2 * N_BASE + 1 + m] = clip8(lref[i] + lpred[i, m])
        bsum = 1 << 30
        for k in range(N_PRED):
            preds[i, k] = pred[k]
            e = (np.int64(err[k, pos - 3]) + np.int64(err[k, pos - row]) + np.int64(err[k, pos - row - 3])
                 + np.int64(err[k, pos - row + 3]))
            ebucket[i, k] = error_bucket(e)
            if e < bsum:
                bsum, best[i] = e, k
        W = np.int64(flat[pos - 3])
        N = np.int64(flat[pos - row])
        NW = np.int64(flat[pos - row - 3])
        NE = np.int64(flat[pos - row + 3])
        NNE = np.int64(flat[pos - 2 * row + 3])
        salt = (c + 1) << 24
        ctx[i, 0] = h32(salt + (W << 8) + N)
        ctx[i, 1] = h32(salt + 0x100000 + (W << 8) + NW)
        ctx[i, 2] = h32(salt + 0x200000 + (N << 8) + NE)
        ctx[i, 3] = h32(salt + 0x300000 + clip8(W + N - NW))
        ctx[i, 4] = h32(salt + 0x400000 + clip8(N + NE - NNE))
        ctx[i, 5] = h32(salt + 0x500000 + clip8(W + NE - N))
        if c > 0:
            d = pos - 1
            here = np.int64(flat[d])
            ctx[i, 6] = h32(salt + 0x600000 + (preds[i, N_BASE + 3] << 8) + ((here - np.int64(flat[d - 3])) & 255))
            ctx[i, 7] = h32(salt + 0x700000 + (clip8(N + here - np.int64(flat[d - row])) << 8) + (here >> 2))
            ctx[i, 11] = h32(salt + 0xB00000 + (np.int64(flat[base[i]]) << 8) + (here if c > 1 else 0))
        else:
            ctx[i, 6] = h32(salt + 0x600000 + (W >> 1 << 8) + (N >> 1))
            ctx[i, 7] = h32(salt + 0x700000 + (NW >> 2 << 8) + (NE >> 2))
            ctx[i, 11] = h32(salt + 0xB00000 + (W >> 3 << 10) + (N >> 3 << 5) + (NE >> 3))
        ctx[i, 8] = h32(salt + 0x800000 + (net_mean[i] << 4) + ebucket[i, 2 * N_BASE])
        ctx[i, 9] = h32(salt + 0x900000 + (W >> 4 << 12) + (N >> 4 << 8) + (NW >> 4 << 4) + (NE >> 4))
        ctx[i, 10] = h32(salt + 0xA00000 + (preds[i, 6] << 4) + ebucket[i, 6])
        ctx[i, 12] = h32(salt + 0xC00000 + (parity[i] << 16) + (W >> 1 << 8) + (N >> 1))


@numba.njit(cache=True, nogil=True)
def predict(st, sc, n, c, j, node_p, disabled):
    """The probability that bit j (0: most significant) of channel c is 1, for the n pixels of
    the batch, into sc[16] (12-bit) and sc[17] (/ 4096). node_p: (n, 256) the network's 16-bit
    probability of a 1 at each node. disabled: input families left out (ablations; 0 codes)."""
    slots, dist, weights, final, apm1, apm2, err, lms = st
    preds, ebucket, best, ctx, line, inp, dslot, mset = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]
    pmix, layer1, p1, ai, c0, pout, pfloat, parity = sc[8], sc[9], sc[10], sc[11], sc[12], sc[16], sc[17], sc[18]
    for i in range(n):
        node = c0[i]
        if j == 0 or j == 4:  # a line of 16 slots per context for the next nibble
            for o in range(N_HASHED):
                line[i, o] = counters.line(slots, LINE_BASE[o], LINE_BITS[o], h32(ctx[i, o] + node * 0x9E3779))
        sub = _nibble_node(node, j)
        inp[i, IN_NET] = 0 if disabled & NO_NETWORK else STRETCH[node_p[i, node] >> 4]
        mid = ((node - (1 << j)) << (8 - j)) + (1 << (7 - j))  # the node splits values below mid from the rest
        for k in range(N_PRED):
            s = ((((k * CHANNELS + c) * 8 + j) * ERR_BUCKETS + ebucket[i, k]) * DIST_BUCKETS
                 + dist_bucket(preds[i, k] - mid))
            dslot[i, k] = s
            inp[i, IN_PRED + k] = 0 if disabled & NO_PREDICTORS else STRETCH[counters.p12(dist, s)]
        for o in range(N_HASHED):
            inp[i, IN_HASHED + o] = 0 if disabled & NO_HASHED else STRETCH[counters.p12(slots, line[i, o] + sub)]
        inp[i, IN_BIAS] = 256
        fr = c * 8 + j
        mset[i, 0] = fr
        mset[i, 1] = SET_BASE[1] + fr * ERR_BUCKETS + ebucket[i, best[i]]
        mset[i, 2] = SET_BASE[2] + fr * 16 + min(abs(inp[i, IN_NET]) >> 7, 15)
        mset[i, 3] = SET_BASE[3] + fr * 4 + parity[i]
        dot2 = 0
        for m in range(N_SETS):
            dot = max(-2047, min(2047, mixer.dot(weights, mset[i, m], inp[i]) >> MIX_SHIFT))
            layer1[i, m] = dot
            p1[i, m] = squash(dot)
            dot2 += final[fr, m] * dot
        pm = squash(max(-2047, min(2047, dot2 >> MIX_SHIFT)))
        pmix[i] = pm
        a1, ai[i, 0] = apm_refine(apm1, c * 256 + node, pm)
        a2, ai[i, 1] = apm_refine(apm2, fr * DIST_BUCKETS + dist_bucket(preds[i, best[i]] - mid), pm)
        pout[i] = max(1, min(4095, (2 * pm + a1 + a2 + 2) >> 2))
        pfloat[i] = pout[i] / 4096.0  # exact: a 12-bit integer over a power of two


@numba.njit(cache=True, nogil=True, inline="always")
def _nibble_node(node, j):
    """The node's slot within its nibble's line (1..15)."""
    return node if j < 4 else (node & ((1 << (j - 4)) - 1)) | (1 << (j - 4))


@numba.njit(cache=True, nogil=True)
def update(st, sc, n, c, j, bits):
    """Learn from bit j of the n pixels (bits[i]), pixel by pixel."""
    slots, dist, weights, final, apm1, apm2, err, lms = st
    line, inp, dslot, mset, pmix, layer1, p1, ai, c0 = sc[4], sc[5], sc[6], sc[7], sc[8], sc[9], sc[10], sc[11], \
        sc[12]
    fr = c * 8 + j
    for i in range(n):
        y = np.int64(bits[i])
        node = c0[i]
        sub = _nibble_node(node, j)
        for o in range(N_HASHED):
            counters.adapt(slots, line[i, o] + sub, y, COUNT_LIMIT)
        for k in range(N_PRED):
            counters.adapt(dist, dslot[i, k], y, COUNT_LIMIT)
        e = ((y << 12) - pmix[i]) * FINAL_LR
        for m in range(N_SETS):
            final[fr, m] = max(-(1 << 22), min(1 << 22, final[fr, m] + ((layer1[i, m] * e + 0x8000) >> 16)))
        for m in range(N_SETS):
            mixer.train(weights, mset[i, m], inp[i], ((y << 12) - p1[i, m]) * MIX_LR, 1 << 22)
        apm_learn(apm1, ai[i, 0], y, APM_RATE)
        apm_learn(apm2, ai[i, 1], y, APM_RATE)
        c0[i] = 2 * node + y


@numba.njit(cache=True, nogil=True)
def finish(st, sc, base, c, values):
    """After channel c of the batch is coded (values): the predictors' errors, which later
    pixels' contexts read, and a step of the LMS predictors."""
    err, lms = st[6], st[7]
    preds, lx, lref, lpred = sc[0], sc[13], sc[14], sc[15]
    for i in range(base.shape[0]):
        pos = base[i] + c
        v = np.int64(values[i])
        for k in range(N_PRED):
            err[k, pos] = min(abs(preds[i, k] - v), 255)
        norm = 64
        for q in range(N_LMS_IN):
            norm += lx[i, q] * lx[i, q]
        for m in range(N_LMS):
            e = v - lref[i] - lpred[i, m]
            for q in range(N_LMS_IN):
                wq = lms[c, m, q] + (e * lx[i, q] * LMS_RATES[m] << 8) // norm
                lms[c, m, q] = max(-(1 << 20), min(1 << 20, wq))


@numba.njit(cache=True, nogil=True)
def encode_batch(st, sc, flat, base, ys, xs, c, row, node_p, net_mean, values, disabled, probs_out, bits_out, k0):
    """The encoder's whole channel c of a batch: begin, then per bit predict and learn from the
    true bit, then finish; the same calls in the same order as the decoder's. Writes each bit's
    12-bit probability and value in stream order (bit j of every pixel, then bit j + 1) from
    index k0; returns the next index."""
    n = base.shape[0]
    begin(st, sc, flat, base, ys, xs, c, row, net_mean)
    bits = np.zeros(n, dtype=np.int64)
    for j in range(8):
        predict(st, sc, n, c, j, node_p, disabled)
        for i in range(n):
            bits[i] = (values[i] >> (7 - j)) & 1
            probs_out[k0 + i] = sc[16][i]
            bits_out[k0 + i] = bits[i]
        update(st, sc, n, c, j, bits)
        k0 += n
    finish(st, sc, base, c, values)
    return k0


@numba.njit(cache=True, nogil=True)
def network_bits(tables, node_p, mean):
    """From the network's integer frequency tables (n, 256): the 16-bit probability of a 1 at
    every node of the value's bit tree (node_p (n, 256), node 0 unused) and the table's mean
    value (mean (n,)), integers only."""
    n = tables.shape[0]
    cum = np.zeros(257, dtype=np.int64)
    for i in range(n):
        total = 0
        weighted = 0
        for v in range(256):
            f = np.int64(tables[i, v])
            total += f
            weighted += f * v
            cum[v + 1] = total
        mean[i] = (weighted + total // 2) // total
        for j in range(8):
            for prefix in range(1 << j):
                lo = prefix << (8 - j)
                mid = lo + (1 << (7 - j))
                hi = lo + (1 << (8 - j))
                below, above = cum[mid] - cum[lo], cum[hi] - cum[mid]
                p = (above * 65536 + (below + above) // 2) // (below + above)
                node_p[i, (1 << j) + prefix] = min(max(p, 1), 65535)
