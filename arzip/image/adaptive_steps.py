"""The steps of the adaptive image model (arzip.image.adaptive) on one batch of pixels: begin a
channel, predict bit j, learn from it, finish the channel, and the decoder's whole channel.
Each step takes the profile's constants as arguments, and arzip.image.adaptive's kernels,
compiled per profile, pass theirs. The steps are compiled once for every profile, but for
predict in the decoder's whole waves (decode, decode_wave): inlined there into each profile's
kernel, whose constants then size its loops, it decodes about 9 % faster for 2-4 s more
compiling per profile on first use. Inlining every step everywhere cost 40 s per profile
(K24), and inlining them all into the decoder 14-19 s (models/EXPERIMENTS.md K50).
Integer arithmetic only, in the same order on both sides.
"""
from __future__ import annotations

import numpy as np

from ..native import kernel
from ..mixing import arithmetic, counters
from ..mixing.hashing import h32
from ..mixing.logistic import STRETCH, apm_learn, apm_refine, squash
from ..mixing.mixer import MIX_SHIFT
from . import tables
from .predictors import (DIST_BUCKETS, ERR_BUCKETS, N_BASE, N_LMS, N_LMS_IN, N_PRED, LMS_RATES, clip8, dist_of,
                         error_bucket, lms_inputs, predictions)
from .profiles import CHANNELS, SET_BEST_ERROR, SET_CONFIDENCE, SET_PLAIN

COUNT_LIMIT = 1023
MIX_LR = 6
FINAL_LR = 1
APM_RATE = 7


@kernel(inline="always")
def decode(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, coder, data, need, uses_lms, tracked,
            use_pred, use_ctx, line_base, line_bits, sets, set_base, network, apm1_on, apm2_on, certain, n_in, mixture,
            lut):
    """The decoder's whole channel c of a batch: encode_batch's steps (predict's inlined copy, at
    the end of this module), each bit decoded between predict and update (the compiled coder:
    coder its state, data the stream); the values go into flat."""
    n = base.shape[0]
    begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked, use_ctx, line_base, line_bits)
    bits, probs = np.empty(n, dtype=np.int64), sc[16]
    for j in range(8):
        _predict_inlined(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets,
                         set_base, network, apm1_on, apm2_on, certain, n_in, mixture, lut)
        for i in range(n):
            bits[i] = arithmetic.decode_bit(coder, data, probs[i])
        update(st, sc, n, c, j, bits, use_pred.shape[0], sets.shape[0], apm1_on, apm2_on, n_in, mixture, use_ctx,
               line_base, line_bits)
    values = sc[12][:n] - 256  # c0 holds a leading 1 above the value's 8 bits
    finish(st, sc, base, c, values, uses_lms, tracked)
    for i in range(n):
        flat[base[i] + c] = values[i]


@kernel(inline="always")
def decode_wave(st, sc, flat, base, ys, xs, row, net, coder, data, need, uses_lms, tracked, use_pred, use_ctx,
                line_base, line_bits, sets, set_base, network, apm1_on, apm2_on, certain, n_in, mixture):
    """Kernels.decode_wave: every coded channel of a wave, each channel's prior built first from
    the network's head (arzip.image.tables: the mixtures, or window tables) and the channels
    decoded before it."""
    n, cur, cum, starts, spread, mean = base.shape[0], net.current, net.cum, net.starts, net.spread, net.mean
    for c in range(net.channels):
        lut = net.mixes[c][6]  # the sigmoid table
        if mixture:
            tables.mixture_rows(net.outputs, net.mixes[c], net.params, mean, net.heads[c], net.hidden_parts[c],
                                net.out_parts[c], cur, 0, n)
            prior = net.params
        else:
            tables.rows(net.outputs, net.mixes[c], True, net.window, starts, net.heads[c], net.hidden_parts[c],
                        net.out_parts[c], cur, 0, n)
            window_prior(net.window[:n], starts[:n], cum[:n], spread[:n], mean[:n])
            prior = cum
        decode(st, sc, flat, base, ys, xs, c, row, prior, starts, spread, mean, coder, data, need, uses_lms, tracked,
               use_pred, use_ctx, line_base, line_bits, sets, set_base, network, apm1_on, apm2_on, certain, n_in,
               mixture, lut)
        for i in range(n):
            cur[c, i] = np.float64(flat[base[i] + c]) - 128.0
    if net.gray:  # the context reads all three channels, as in training
        for i in range(n):
            flat[base[i] + 1] = flat[base[i] + 2] = flat[base[i]]


@kernel()
def begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked, use_ctx, line_base, line_bits):
    """Kernels.begin; need[k]: whether the profile reads hashed context k. Prefetches the lines
    that predict's first bit will claim (use_ctx, line_base, line_bits: the profile's contexts)."""
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
        _prefetch_lines(slots, ctx, c0, i, use_ctx, line_base, line_bits)


@kernel(inline="always")
def _line_hash(ctx, c0, i, context):
    """The 32-bit hash of a context's line for pixel i's current nibble."""
    return h32(ctx[i, context] + c0[i] * 0x9E3779)


@kernel(inline="always")
def _prefetch_lines(slots, ctx, c0, i, use_ctx, line_base, line_bits):
    """Prefetch the lines pixel i's contexts will claim for its current nibble (begin: the first,
    update after bit 3: the second), a whole batch ahead of predict's claims, so the tables' cache
    misses overlap the work in between instead of stalling the claims (models/EXPERIMENTS.md K39)."""
    for o in range(use_ctx.shape[0]):
        counters.prefetch_line(slots, line_base[o], line_bits[o], _line_hash(ctx, c0, i, use_ctx[o]))


# numpy's error model: no exception path for a division by zero (a node's mass is never 0), which
# would keep numba from pruning the reference counts of every array predict holds, per call
@kernel(error_model="numpy")
def predict(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets, set_base, network,
             apm1_on, apm2_on, certain, n_in, mixture, lut):
    """Kernels.predict: the n pixels' 12-bit probabilities that bit j is 1 into sc[16], keeping what
    _update learns from. The network's prior: with mixture, cum holds the pixels' mixtures
    (arzip.image.tables.mixture_rows; lut the sigmoid table), else cum, start and spread its
    cumulative table (node_p)."""
    slots, dist, weights, final, apm1, apm2, err, lms = st
    preds, ebucket, best, ctx, line, inp, dslot, mset = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]
    pmix, layer1, p1, ai, c0, parity, is_certain = sc[8], sc[9], sc[10], sc[11], sc[12], sc[18], sc[19]
    lo_mass, hi_mass, mid_mass = sc[20], sc[21], sc[22]
    n_pred, n_ctx, n_sets = use_pred.shape[0], use_ctx.shape[0], sets.shape[0]
    at_ctx, at_bias = 1 + n_pred, 1 + n_pred + n_ctx
    pout = sc[16]
    for i in range(n):
        node = c0[i]
        if j == 0 or j == 4:  # a line of 16 slots per context for the next nibble
            for o in range(n_ctx):
                line[i, o] = counters.line(slots, line_base[o], line_bits[o], _line_hash(ctx, c0, i, use_ctx[o]))
        sub = _nibble_node(node, j)
        lo = (node - (1 << j)) << (8 - j)
        mid = lo + (1 << (7 - j))  # the node splits values below mid from the rest
        if not (network or certain):
            p16 = 32768
        elif mixture:
            p16 = mixture_node_p(cum, lut, lo_mass, hi_mass, mid_mass, i, j, mid)
        else:
            p16 = node_p(cum, start, spread, i, lo, mid, lo + (1 << (8 - j)))
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


@kernel(inline="always")
def _below(cum, start, spread, i, v):
    """The prior's mass of the values below v: cum covers the values from start[i] on, each
    value outside it weighs spread[i]."""
    inside = min(max(v - start[i], 0), cum.shape[1] - 1)
    return cum[i, inside] + spread[i] * (v - inside)


@kernel(inline="always")
def node_p(cum, start, spread, i, lo, mid, hi):
    """The network's 16-bit probability that a value in [lo, hi) lies in [mid, hi)."""
    m = _below(cum, start, spread, i, mid)
    return _upper_share(m - _below(cum, start, spread, i, lo), _below(cum, start, spread, i, hi) - m)


@kernel(inline="always")
def _upper_share(below, above):
    """The 16-bit probability of the upper part of a node whose lower part has mass `below` and
    upper part mass `above` (rounded, within 1..65535): node_p and mixture_node_p both end here."""
    return min(max((above * 65536 + (below + above) // 2) // (below + above), 1), 65535)


@kernel(inline="always")
def mixture_node_p(params, lut, lo_mass, hi_mass, mid_mass, i, j, mid):
    """node_p of the mixture prior (arzip.image.tables.mixture_below): the masses below the node's
    bounds carry over from bit to bit (update moves one bound to mid), so each bit evaluates the
    mixture's CDF at one edge, mid's."""
    if j == 0:
        lo_mass[i] = 0
        hi_mass[i] = tables.mixture_total(params, i, lut)
    m = tables.mixture_below(params, i, mid, lut)
    mid_mass[i] = m
    return _upper_share(m - lo_mass[i], hi_mass[i] - m)


@kernel(inline="always")
def _nibble_node(node, j):
    """The node's slot within its nibble's line (1..15)."""
    return node if j < 4 else (node & ((1 << (j - 4)) - 1)) | (1 << (j - 4))


@kernel()
def update(st, sc, n, c, j, bits, n_pred, n_sets, apm1_on, apm2_on, n_in, mixture, use_ctx, line_base, line_bits):
    """Kernels.update; after bit 3 it prefetches the lines of the second nibble."""
    slots, dist, weights, final, apm1, apm2, err, lms = st
    ctx, line, inp, dslot, mset, pmix, layer1, p1 = sc[3], sc[4], sc[5], sc[6], sc[7], sc[8], sc[9], sc[10]
    ai, c0, is_certain, lo_mass, hi_mass, mid_mass = sc[11], sc[12], sc[19], sc[20], sc[21], sc[22]
    n_ctx = use_ctx.shape[0]
    fr = c * 8 + j
    for i in range(n):
        y = np.int64(bits[i])
        node = c0[i]
        c0[i] = 2 * node + y
        if j == 3:
            _prefetch_lines(slots, ctx, c0, i, use_ctx, line_base, line_bits)
        if mixture:  # the node's bounds: [mid, hi) after a 1, [lo, mid) after a 0
            if y:
                lo_mass[i] = mid_mass[i]
            else:
                hi_mass[i] = mid_mass[i]
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


@kernel()
def finish(st, sc, base, c, values, uses_lms, tracked):
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


@kernel()
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


# predict compiled again for inlining into decode (numba's IR inlining): decode and decode_wave
# inline too, so each profile's whole-wave decode kernel holds predict with the profile's
# constants, which size its loops (models/EXPERIMENTS.md K50)
_predict_inlined = kernel(error_model="numpy", inline="always")(predict.py_func)
