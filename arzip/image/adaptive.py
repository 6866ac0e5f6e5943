"""The adaptive image model: online context mixing around the learned network, bit by bit.

Each subpixel is coded as 8 binary decisions, most significant bit first (node c0 = 1, then
2 * c0 + bit). For every decision these inputs, logits in stretch units (logit * 256, clipped
to +-2047), are mixed:
- the network's probability of the bit, from the cumulative sums of its table
  (arzip.image.tables; network_prior, window_prior): the trained prior;
- a bank of predictors (arzip.image.predictors: neighbour gradients within and across
  channels, MED, the network's mean, two online LMS predictors): for each, an adaptive
  probability keyed by where the prediction lies relative to the values still possible (its
  distance from the split point of the node), by the predictor's recent error around the
  pixel, the channel and the bit position;
- hashed contexts of exact and quantized neighbour values (within the channel, across
  channels, with the pixel's position parity), each an adaptive probability per node, 16
  slots per nibble (arzip.mixing.counters);
- a bias.
A two-layer gated linear mixer learns the weights online: weight sets chosen by channel and
bit position, and by it with the best predictor's recent error, the network's confidence or
the position parity; a second layer per channel and bit combines them. APM stages refine the
result to a 12-bit probability. Which of these inputs, sets and stages run, and how large the
tables are, is the level's profile (arzip.image.profiles): the full profile has them all; the
lighter ones read the network's window tables instead (window_prior) and leave the bits the
network is sure of to it alone.

Pixels are coded in the wave order of arzip.image.waves: per (wave, channel) the pixels of the
wave are a batch whose bit j is predicted for all of them, coded, then learned from in pixel
order, exactly as the decoder does it. A pixel's contexts only read earlier waves (its causal
neighbourhood) and its own earlier channels, so the batch never reads what it codes.

Exactness: integer arithmetic only (int64 and uint32 on values that cannot overflow), in the
same order on both sides.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from ..mixing import arithmetic, counters
from ..mixing.hashing import h32
from ..mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ..mixing.mixer import MIX_SHIFT
from . import tables
from .predictors import (DIST_BUCKETS, ERR_BUCKETS, N_BASE, N_LMS, N_LMS_IN, N_PRED, LMS_RATES, clip8, dist_of,
                         error_bucket, lms_inputs, predictions)
from .profiles import CHANNELS, N_HASHED, SET_BEST_ERROR, SET_CONFIDENCE, SET_PLAIN, Profile

REACH = 2  # neighbours read up to 2 rows up and 2 columns either side: the padding must cover that
COUNT_LIMIT = 1023
MIX_LR = 6
FINAL_LR = 1
APM_RATE = 7


class AdaptiveState:
    """What the model learns while an image (or a stripe) is coded, and the scratch of one batch:
    the profile's kernels (kernels()) take them as tuples of arrays (`arrays`, `batch`)."""

    def __init__(self, profile: Profile, buffer_size: int, batch_capacity: int) -> None:
        args = profile.kernel_args()
        line_base, n_sets, tracked = args[2], len(profile.sets), args[7]
        weights = np.zeros((int(args[5][-1]), profile.inputs), dtype=np.int64)
        weights[:, 0] = 1 << MIX_SHIFT  # the first layer starts as the network alone
        self.arrays = (
            counters.line_table(int(line_base[-1])),  # 0 hashed context slots: p22 << 10 | count (0: p = 1/2)
            np.zeros(N_PRED * CHANNELS * 8 * ERR_BUCKETS * DIST_BUCKETS, dtype=np.uint32),  # 1 predictor maps
            weights,                                     # 2 first mixer layer (set rows, inputs)
            np.full((CHANNELS * 8, n_sets), (1 << MIX_SHIFT) // max(n_sets, 1), dtype=np.int64),  # 3 second layer
            apm_init(CHANNELS * 256),                    # 4 APM by channel and node
            apm_init(CHANNELS * 8 * DIST_BUCKETS),       # 5 APM by channel, bit and best prediction
            np.zeros((len(tracked), buffer_size), dtype=np.uint8),  # 6 per tracked predictor: |prediction -
                                                                             # value| per coded subpixel, <= 255
            np.zeros((CHANNELS, N_LMS, N_LMS_IN), dtype=np.int64),  # 7 LMS weights, 2^16 = 1
        )
        n = batch_capacity
        z = lambda *shape: np.zeros(shape, dtype=np.int64)  # noqa: E731
        n_ctx, n_pred = len(profile.contexts), len(profile.predictors)
        self.batch = (
            z(n, N_PRED), z(n, N_PRED), z(n),            # 0 predictions, 1 their error buckets, 2 best
            z(n, N_HASHED), z(n, n_ctx),                 # 3 context hashes, 4 slot lines
            z(n, profile.inputs), z(n, n_pred), z(n, n_sets),  # 5 mixer inputs, 6 predictor-map slots, 7 sets
            z(n), z(n, n_sets), z(n, n_sets), z(n, 2),   # 8 mixer p, 9 first-layer logits, 10 their p, 11 APM slots
            z(n),                                        # 12 c0: 1, then the value's bits so far
            z(n, N_LMS_IN), z(n), z(n, N_LMS),           # 13 LMS inputs, 14 reference, 15 predictions
            z(n),                                        # 16 the final 12-bit probabilities
            np.zeros(n, dtype=np.float64),               # 17 the same / 4096, as the coder takes them
            z(n),                                        # 18 position parity: (y mod 2) * 2 + x mod 2
            z(n),                                        # 19 1 where the bit is certain (profile.certain)
            z(1),                                        # 20 the sum of the slots _touch reads
        )


class Kernels(NamedTuple):
    """The model's kernels compiled for one profile (kernels()): its inputs, tables and stages
    are constants inside, so a level's loops carry none of the others' work. All take the state
    (AdaptiveState.arrays, .batch) first.
    - begin(st, sc, flat, base, ys, xs, c, row, net_mean): start channel c of a batch of n
      pixels (base: flat index of each pixel's subpixel 0 in the padded buffer, row: its row
      stride; ys, xs: image coordinates): predictions, errors and context hashes, read from
      earlier waves and the pixels' earlier channels only;
    - predict(st, sc, n, c, j, cum, start, spread): the probability that bit j (0: most
      significant) of channel c is 1, for the n pixels, into sc[16] (12-bit) and sc[17]
      (/ 4096). cum, start, spread: the network's prior (network_prior, window_prior);
    - update(st, sc, n, c, j, bits): learn from bit j of the n pixels, pixel by pixel;
    - finish(st, sc, base, c, values): after channel c of the batch is coded, the predictors'
      errors that later pixels' contexts read, and a step of the LMS predictors;
    - encode_batch(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, values,
      probs_out, bits_out, k0): the encoder's whole channel c of a batch, the same steps in the
      same order as the decoder's; writes each bit's 12-bit probability and value in stream
      order (bit j of every pixel, then bit j + 1) from index k0; returns the next index;
    - decode_batch(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, coder,
      data): the decoder's whole channel c with the compiled coder (arzip.mixing.arithmetic:
      coder its state, data the stream), each bit decoded between predict and update; the
      values go into flat;
    - decode_wave(st, sc, flat, base, ys, xs, row, network_tail, coder, data): decode_batch for
      every coded channel of a wave in one call, each channel's prior built first from the
      network's head (arzip.image.tables, window tables) and the channels decoded before it.
      network_tail: the head's weights and mixture parameters per channel, the wave's partial
      sums, and scratch (arzip.image.mixing_codec builds it). One compiled call per wave keeps
      the interpreter out of the decoder's loop, so stripes decoded side by side do not wait
      for each other."""
    begin: Callable
    predict: Callable
    update: Callable
    finish: Callable
    encode_batch: Callable
    decode_batch: Callable
    decode_wave: Callable


_compiled: dict[Profile, Kernels] = {}


def kernels(profile: Profile) -> Kernels:
    """The kernels of a profile, compiled on first use (numba caches them on disk per profile)."""
    if profile not in _compiled:
        _compiled[profile] = _compile(profile)
    return _compiled[profile]


def _compile(profile: Profile) -> Kernels:
    """Closures over the profile's constants (numba freezes closure arrays into the code, so the
    loops over inputs unroll and unused branches vanish: 1.2x faster than one kernel reading the
    profile at run time)."""
    use_pred, use_ctx, line_base, line_bits, sets, set_base, flags, tracked = profile.kernel_args()
    need = np.array([k in use_ctx for k in range(N_HASHED)])
    network, apm1_on, apm2_on, certain, uses_lms = (int(f) for f in flags)
    n_in = profile.inputs

    @numba.njit(cache=True, nogil=True)
    def begin(st, sc, flat, base, ys, xs, c, row, net_mean):
        _begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked)

    @numba.njit(cache=True, nogil=True)
    def predict(st, sc, n, c, j, cum, start, spread):
        _predict(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets, set_base, network,
                 apm1_on, apm2_on, certain, n_in)
        for i in range(n):
            sc[17][i] = sc[16][i] / 4096.0  # exact: a 12-bit integer over a power of two

    @numba.njit(cache=True, nogil=True)
    def update(st, sc, n, c, j, bits):
        _update(st, sc, n, c, j, bits, use_pred.shape[0], use_ctx.shape[0], sets.shape[0], apm1_on, apm2_on, n_in)

    @numba.njit(cache=True, nogil=True)
    def finish(st, sc, base, c, values):
        _finish(st, sc, base, c, values, uses_lms, tracked)

    @numba.njit(cache=True, nogil=True)
    def encode_batch(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, values, probs_out, bits_out,
                     k0):
        n = base.shape[0]
        _begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked)
        bits = np.empty(n, dtype=np.int64)
        for j in range(8):
            _predict(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets, set_base,
                     network, apm1_on, apm2_on, certain, n_in)
            for i in range(n):
                bits[i] = (values[i] >> (7 - j)) & 1
                probs_out[k0 + i] = sc[16][i]
                bits_out[k0 + i] = bits[i]
            _update(st, sc, n, c, j, bits, use_pred.shape[0], use_ctx.shape[0], sets.shape[0], apm1_on, apm2_on, n_in)
            k0 += n
        _finish(st, sc, base, c, values, uses_lms, tracked)
        return k0

    @numba.njit(cache=True, nogil=True)
    def decode_batch(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, coder, data):
        _decode(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, coder, data, need, uses_lms, tracked,
                use_pred, use_ctx, line_base, line_bits, sets, set_base, network, apm1_on, apm2_on, certain, n_in)

    @numba.njit(cache=True, nogil=True)
    def decode_wave(st, sc, flat, base, ys, xs, row, network_tail, coder, data):
        heads, mixes, hidden_parts, out_parts, cur, acc, window, starts, cum, spread, mean, channels, gray = \
            network_tail
        n = base.shape[0]
        for c in range(channels):
            tables.rows(acc, mixes[c], True, window, starts, heads[c], hidden_parts[c], out_parts[c], cur, 0, n)
            window_prior(window[:n], starts[:n], cum[:n], spread[:n], mean[:n])
            _decode(st, sc, flat, base, ys, xs, c, row, cum, starts, spread, mean, coder, data, need, uses_lms, tracked,
                    use_pred, use_ctx, line_base, line_bits, sets, set_base, network, apm1_on, apm2_on, certain, n_in)
            for i in range(n):
                cur[c, i] = np.float64(flat[base[i] + c]) - 128.0
        if gray:  # the context reads all three channels, as in training
            for i in range(n):
                flat[base[i] + 1] = flat[base[i] + 2] = flat[base[i]]

    return Kernels(begin, predict, update, finish, encode_batch, decode_batch, decode_wave)


@numba.njit(cache=True, nogil=True, inline="always")
def _decode(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, coder, data, need, uses_lms, tracked,
            use_pred, use_ctx, line_base, line_bits, sets, set_base, network, apm1_on, apm2_on, certain, n_in):
    """Kernels.decode_batch, the profile's constants as arguments (the closures pass theirs)."""
    n = base.shape[0]
    _begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked)
    bits, probs = np.empty(n, dtype=np.int64), sc[16]
    for j in range(8):
        _predict(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets, set_base,
                 network, apm1_on, apm2_on, certain, n_in)
        for i in range(n):
            bits[i] = arithmetic.decode_bit(coder, data, probs[i])
        _update(st, sc, n, c, j, bits, use_pred.shape[0], use_ctx.shape[0], sets.shape[0], apm1_on, apm2_on, n_in)
    values = sc[12][:n] - 256  # c0 holds a leading 1 above the value's 8 bits
    _finish(st, sc, base, c, values, uses_lms, tracked)
    for i in range(n):
        flat[base[i] + c] = values[i]


@numba.njit(cache=True, nogil=True, inline="always")
def _begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked):
    """Kernels.begin; need[k]: whether the profile reads hashed context k."""
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
        if uses_lms:
            lref[i] = lms_inputs(flat, pos, row, c, lx[i])
            for m in range(N_LMS):
                acc = 0
                for q in range(N_LMS_IN):
                    acc += lms[c, m, q] * lx[i, q]
                lpred[i, m] = (acc + 32768) >> 16
                pred[2 * N_BASE + 1 + m] = clip8(lref[i] + lpred[i, m])
        for k in range(N_PRED):
            preds[i, k] = pred[k]
        bsum = 1 << 30
        for t in range(tracked.shape[0]):  # err row t belongs to predictor tracked[t]
            k = tracked[t]
            e = (np.int64(err[t, pos - 3]) + np.int64(err[t, pos - row]) + np.int64(err[t, pos - row - 3])
                 + np.int64(err[t, pos - row + 3]))
            ebucket[i, k] = error_bucket(e)
            if e < bsum:
                bsum, best[i] = e, k
        W = np.int64(flat[pos - 3])
        N = np.int64(flat[pos - row])
        NW = np.int64(flat[pos - row - 3])
        NE = np.int64(flat[pos - row + 3])
        NNE = np.int64(flat[pos - 2 * row + 3])
        salt = (c + 1) << 24
        if need[0]:
            ctx[i, 0] = h32(salt + (W << 8) + N)
        if need[1]:
            ctx[i, 1] = h32(salt + 0x100000 + (W << 8) + NW)
        if need[2]:
            ctx[i, 2] = h32(salt + 0x200000 + (N << 8) + NE)
        if need[3]:
            ctx[i, 3] = h32(salt + 0x300000 + clip8(W + N - NW))
        if need[4]:
            ctx[i, 4] = h32(salt + 0x400000 + clip8(N + NE - NNE))
        if need[5]:
            ctx[i, 5] = h32(salt + 0x500000 + clip8(W + NE - N))
        if c > 0:
            d = pos - 1
            here = np.int64(flat[d])
            if need[6]:
                ctx[i, 6] = h32(salt + 0x600000 + (preds[i, N_BASE + 3] << 8) + ((here - np.int64(flat[d - 3])) & 255))
            if need[7]:
                ctx[i, 7] = h32(salt + 0x700000 + (clip8(N + here - np.int64(flat[d - row])) << 8) + (here >> 2))
            if need[11]:
                ctx[i, 11] = h32(salt + 0xB00000 + (np.int64(flat[base[i]]) << 8) + (here if c > 1 else 0))
        else:
            if need[6]:
                ctx[i, 6] = h32(salt + 0x600000 + (W >> 1 << 8) + (N >> 1))
            if need[7]:
                ctx[i, 7] = h32(salt + 0x700000 + (NW >> 2 << 8) + (NE >> 2))
            if need[11]:
                ctx[i, 11] = h32(salt + 0xB00000 + (W >> 3 << 10) + (N >> 3 << 5) + (NE >> 3))
        if need[8]:
            ctx[i, 8] = h32(salt + 0x800000 + (net_mean[i] << 4) + ebucket[i, 2 * N_BASE])
        if need[9]:
            ctx[i, 9] = h32(salt + 0x900000 + (W >> 4 << 12) + (N >> 4 << 8) + (NW >> 4 << 4) + (NE >> 4))
        if need[10]:
            ctx[i, 10] = h32(salt + 0xA00000 + (preds[i, 6] << 4) + ebucket[i, 6])
        if need[12]:
            ctx[i, 12] = h32(salt + 0xC00000 + (parity[i] << 16) + (W >> 1 << 8) + (N >> 1))


@numba.njit(cache=True, nogil=True, inline="always")
def _line_hash(ctx, c0, i, context):
    """The 32-bit hash of a context's line for pixel i's current nibble."""
    return h32(ctx[i, context] + c0[i] * 0x9E3779)


@numba.njit(cache=True, nogil=True, inline="always")
def _touch(slots, sc, n, j, use_ctx, line_base, line_bits):
    """Before the steps that claim the lines of a nibble (j = 0, 4): read the first slot of every
    line the batch will claim, a loop of independent loads the processor overlaps, so the
    tables' cache misses are paid together instead of one per pixel (1.2x faster decoding). It
    only reads (the claims, in pixel order, stay where they were); the slots' sum goes to
    sc[20] so that the compiler keeps the loads."""
    if j == 0 or j == 4:
        ctx, c0, touched = sc[3], sc[12], 0
        for i in range(n):
            for o in range(use_ctx.shape[0]):
                touched += slots[line_base[o] + (_line_hash(ctx, c0, i, use_ctx[o]) >> (32 - line_bits[o])) * 16]
        sc[20][0] = touched


@numba.njit(cache=True, nogil=True, inline="always")
def _predict(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets, set_base, network,
             apm1_on, apm2_on, certain, n_in):
    """Kernels.predict: the n pixels' 12-bit probabilities that bit j is 1 into sc[16], keeping what
    _update learns from."""
    slots, dist, weights, final, apm1, apm2, err, lms = st
    preds, ebucket, best, ctx, line, inp, dslot, mset = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]
    pmix, layer1, p1, ai, c0, parity, is_certain = sc[8], sc[9], sc[10], sc[11], sc[12], sc[18], sc[19]
    n_pred, n_ctx, n_sets = use_pred.shape[0], use_ctx.shape[0], sets.shape[0]
    at_ctx, at_bias = 1 + n_pred, 1 + n_pred + n_ctx
    pout = sc[16]
    _touch(slots, sc, n, j, use_ctx, line_base, line_bits)
    for i in range(n):
        node = c0[i]
        if j == 0 or j == 4:  # a line of 16 slots per context for the next nibble
            for o in range(n_ctx):
                line[i, o] = counters.line(slots, line_base[o], line_bits[o], _line_hash(ctx, c0, i, use_ctx[o]))
        sub = _nibble_node(node, j)
        lo = (node - (1 << j)) << (8 - j)
        mid = lo + (1 << (7 - j))  # the node splits values below mid from the rest
        p16 = _node_p(cum, start, spread, i, lo, mid, lo + (1 << (8 - j))) if network or certain else 32768
        if p16 <= certain or p16 >= 65536 - certain:
            is_certain[i] = 1
            pout[i] = max(1, min(4095, (p16 + 8) >> 4))
            continue
        is_certain[i] = 0
        inp[i, 0] = STRETCH[p16 >> 4] if network else 0
        for q in range(n_pred):
            k = use_pred[q]
            s = ((((k * CHANNELS + c) * 8 + j) * ERR_BUCKETS + ebucket[i, k]) * DIST_BUCKETS
                 + dist_of(preds[i, k] - mid))
            dslot[i, q] = s
            inp[i, 1 + q] = STRETCH[counters.p12(dist, s)]
        for o in range(n_ctx):
            inp[i, at_ctx + o] = STRETCH[counters.p12(slots, line[i, o] + sub)]
        inp[i, at_bias] = 256
        fr = c * 8 + j
        dot2 = 0
        for m in range(n_sets):
            kind = sets[m]
            if kind == SET_PLAIN:
                row = fr
            elif kind == SET_BEST_ERROR:
                row = fr * ERR_BUCKETS + ebucket[i, best[i]]
            elif kind == SET_CONFIDENCE:
                row = fr * 16 + min(abs(inp[i, 0]) >> 7, 15)
            else:  # SET_POSITION
                row = fr * 4 + parity[i]
            r = set_base[m] + row
            mset[i, m] = r
            acc = 0
            for q in range(n_in):
                acc += weights[r, q] * inp[i, q]
            dot = max(-2047, min(2047, acc >> MIX_SHIFT))
            layer1[i, m] = dot
            p1[i, m] = squash(dot)
            dot2 += final[fr, m] * dot
        pm = squash(max(-2047, min(2047, dot2 >> MIX_SHIFT)))
        pmix[i] = pm
        refined, stages = 0, 0  # the APM stages the profile has
        if apm1_on:
            a1, ai[i, 0] = apm_refine(apm1, c * 256 + node, pm)
            refined, stages = refined + a1, stages + 1
        if apm2_on:
            a2, ai[i, 1] = apm_refine(apm2, fr * DIST_BUCKETS + dist_of(preds[i, best[i]] - mid), pm)
            refined, stages = refined + a2, stages + 1
        # the mix weighs as much as the stages together; 2 * stages = 2 ** stages for 1 or 2 stages
        p = pm if stages == 0 else (stages * pm + refined + stages) >> stages
        pout[i] = max(1, min(4095, p))


@numba.njit(cache=True, nogil=True, inline="always")
def _below(cum, start, spread, i, v):
    """The prior's mass of the values below v: cum covers the values from start[i] on, each
    value outside it weighs spread[i]."""
    inside = min(max(v - start[i], 0), cum.shape[1] - 1)
    return cum[i, inside] + spread[i] * (v - inside)


@numba.njit(cache=True, nogil=True, inline="always")
def _node_p(cum, start, spread, i, lo, mid, hi):
    """The network's 16-bit probability that a value in [lo, hi) lies in [mid, hi)."""
    m = _below(cum, start, spread, i, mid)
    below, above = m - _below(cum, start, spread, i, lo), _below(cum, start, spread, i, hi) - m
    return min(max((above * 65536 + (below + above) // 2) // (below + above), 1), 65535)


@numba.njit(cache=True, nogil=True, inline="always")
def _nibble_node(node, j):
    """The node's slot within its nibble's line (1..15)."""
    return node if j < 4 else (node & ((1 << (j - 4)) - 1)) | (1 << (j - 4))


@numba.njit(cache=True, nogil=True, inline="always")
def _update(st, sc, n, c, j, bits, n_pred, n_ctx, n_sets, apm1_on, apm2_on, n_in):
    """Kernels.update."""
    slots, dist, weights, final, apm1, apm2, err, lms = st
    line, inp, dslot, mset, pmix, layer1, p1, ai, c0 = sc[4], sc[5], sc[6], sc[7], sc[8], sc[9], sc[10], sc[11], \
        sc[12]
    is_certain = sc[19]
    fr = c * 8 + j
    for i in range(n):
        y = np.int64(bits[i])
        node = c0[i]
        c0[i] = 2 * node + y
        if is_certain[i]:
            continue
        sub = _nibble_node(node, j)
        for o in range(n_ctx):
            counters.adapt(slots, line[i, o] + sub, y, COUNT_LIMIT)
        for q in range(n_pred):
            counters.adapt(dist, dslot[i, q], y, COUNT_LIMIT)
        e = ((y << 12) - pmix[i]) * FINAL_LR
        for m in range(n_sets):
            final[fr, m] = max(-(1 << 22), min(1 << 22, final[fr, m] + ((layer1[i, m] * e + 0x8000) >> 16)))
        for m in range(n_sets):
            r, err1 = mset[i, m], ((y << 12) - p1[i, m]) * MIX_LR
            for q in range(n_in):
                weights[r, q] = max(-(1 << 22), min(1 << 22, weights[r, q] + ((inp[i, q] * err1 + 0x8000) >> 16)))
        if apm1_on:
            apm_learn(apm1, ai[i, 0], y, APM_RATE)
        if apm2_on:
            apm_learn(apm2, ai[i, 1], y, APM_RATE)


@numba.njit(cache=True, nogil=True, inline="always")
def _finish(st, sc, base, c, values, uses_lms, tracked):
    """Kernels.finish."""
    err, lms = st[6], st[7]
    preds, lx, lref, lpred = sc[0], sc[13], sc[14], sc[15]
    for i in range(base.shape[0]):
        pos = base[i] + c
        v = np.int64(values[i])
        for t in range(tracked.shape[0]):
            err[t, pos] = min(abs(preds[i, tracked[t]] - v), 255)
        if not uses_lms:
            continue
        norm = 64
        for q in range(N_LMS_IN):
            norm += lx[i, q] * lx[i, q]
        for m in range(N_LMS):
            e = v - lref[i] - lpred[i, m]
            for q in range(N_LMS_IN):
                wq = lms[c, m, q] + (e * lx[i, q] * LMS_RATES[m] << 8) // norm
                lms[c, m, q] = max(-(1 << 20), min(1 << 20, wq))


@numba.njit(cache=True, nogil=True)
def network_prior(tables, cum, mean):
    """From the network's integer frequency tables (n, 256): their cumulative sums (cum
    (n, 257): the prior predict reads, with start 0 and spread 0) and each table's mean value
    (mean (n,)), integers only."""
    for i in range(tables.shape[0]):
        total = 0
        weighted = 0
        cum[i, 0] = 0
        for v in range(256):
            f = np.int64(tables[i, v])
            total += f
            weighted += f * v
            cum[i, v + 1] = total
        mean[i] = (weighted + total // 2) // total


@numba.njit(cache=True, nogil=True)
def window_prior(window, starts, cum, spread, mean):
    """The prior from window tables (arzip.image.tables: `width` values from starts[i], then the
    escape mass of all others) without building full tables: cum (n, width + 1) the window's
    cumulative sums, spread (n,) the escape mass shared evenly by the values outside it, and
    the prior's mean (n,)."""
    width = window.shape[1] - 1
    outside = 256 - width
    for i in range(window.shape[0]):
        share = max(np.int64(window[i, width]) // outside, 1)
        start = np.int64(starts[i])
        total = 0
        weighted = 0
        cum[i, 0] = 0
        for k in range(width):
            f = np.int64(window[i, k])
            total += f
            weighted += f * (start + k)
            cum[i, k + 1] = total
        spread[i] = share
        out_sum = 255 * 256 // 2 - (2 * start + width - 1) * width // 2  # the values outside, summed
        total += share * outside
        weighted += share * out_sum
        mean[i] = (weighted + total // 2) // total
