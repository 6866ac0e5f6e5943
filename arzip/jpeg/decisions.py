"""How one decision of the coefficient model is coded, and the decisions that make up a value:
its magnitude class, sign and mantissa bits (arzip/jpeg/model.py decides which, in which
contexts). Every step is integer arithmetic, so the decoder repeats the encoder's exactly.

Why the flags: every function here allocates nothing, so numba compiles them without its
reference counting (`_nrt=False`; a call no longer increments and decrements each array
argument's count atomically: 13 % of a camera photo's time). The three per-decision steps
(code_bit, code_direct, the mixer's _train) are inlined where they are called: a call passed
some sixty words of array descriptors, and inlined they code a photo's coefficients 45 % faster,
for 40 % more compile time (models/EXPERIMENTS.md J22, J27). The value coders stay functions of
their own, which keeps compiling the block walk to about 30 s a profile and direction.
"""
from __future__ import annotations

import numpy as np

from ..mixing import arithmetic, counters
from ..mixing.counters import bit_length
from ..mixing.logistic import STRETCH, apm_learn, apm_refine, squash
from ..native import kernel
from .contexts import (R_DC_X, R_EDGE_SIGN_X, R_EDGE_CLASS_X, R_CLASS_X, APM_RATE, COST, COUNT_LIMIT, INPUTS, MAX_CLASS, MIX_LR, MIX_LR_FRESH, MIX_SHIFT, NZB,
                       NZ_BUCKET, PM, R_CLASS_A, R_CLASS_B, R_CLASS_C, R_DC_A, R_DC_B, R_DC_C, R_EDGE_CLASS_A,
                       R_EDGE_CLASS_B, R_EDGE_CLASS_C, R_EDGE_MANTISSA, R_EDGE_MANTISSA_NEAR, R_EDGE_SIGN,
                       R_MANTISSA, R_MANTISSA_NEAR, R_SIGN, W2_CLASS, W2_DC, W2_EDGE_CLASS, W2_EDGE_MANTISSA,
                       W2_EDGE_SIGN, W2_MANTISSA, W_CLASS, W_DC, W_EDGE_CLASS, W_EDGE_MANTISSA, W_EDGE_SIGN,
                       W_MANTISSA)


@kernel(_nrt=False, inline="always")
def code_bit(bit, ctx, n, cells, weights, row, row2, apm, inputs, decoding, strong, buf, at, coder, nll, cat):
    """One decision from the n cells ctx[0:n], mixed by weight set `row` (and, in the strong
    profile, by `row2` too, their logits averaged), refined by APM row `row`; returns (the
    bit, the new end of buf). Encoding adds its cost to nll[cat]."""
    acc = 256 * weights[row, INPUTS - 1]
    acc2 = 256 * weights[row2, INPUTS - 1] if strong else 0
    for i in range(n):
        s = STRETCH[counters.p12(cells, ctx[i])]
        inputs[i] = s
        acc += weights[row, i] * s
        if strong:
            acc2 += weights[row2, i] * s
    inputs[INPUTS - 1] = 256
    x1 = max(-2047, min(2047, acc >> MIX_SHIFT))
    p1 = squash(x1)
    if strong:
        x2 = max(-2047, min(2047, acc2 >> MIX_SHIFT))
        p2 = squash(x2)
        pm = max(1, min(4095, squash((x1 + x2) >> 1)))
    else:
        p2 = 0
        pm = max(1, min(4095, p1))
    p = pm
    knot = 0
    if strong:  # an APM on the first weight set's context: worth nothing measurable by default
        pa, knot = apm_refine(apm, row, pm)
        p = max(1, min(4095, (pm + 3 * pa + 2) >> 2))
    if decoding:
        bit = arithmetic.decode_bit(coder, buf, p)
    else:
        nll[cat] += COST[p] if bit else COST[4096 - p]
        at = arithmetic.encode_bit(coder, bit, p, buf, at)
    if strong:
        apm_learn(apm, knot, bit, APM_RATE)
    for i in range(n):
        counters.adapt(cells, ctx[i], bit, COUNT_LIMIT)
    _train(weights, row, inputs, n, (bit << 12) - p1)
    if strong:
        _train(weights, row2, inputs, n, (bit << 12) - p2)
    return bit, at


@kernel(_nrt=False, inline="always")
def _train(weights, row, inputs, n, err):
    """One learning step of weight set `row` over inputs 0..n-1 and the bias, at a rate that
    starts high and settles as the set is used (its count of updates in the last column)."""
    uses = weights[row, INPUTS]
    err *= MIX_LR + (MIX_LR_FRESH << 10) // (1024 + uses)
    weights[row, INPUTS] = uses + 1
    for i in range(n):
        weights[row, i] = max(-(1 << 22), min(1 << 22, weights[row, i] + ((inputs[i] * err + 0x8000) >> 16)))
    weights[row, INPUTS - 1] = max(-(1 << 22), min(1 << 22, weights[row, INPUTS - 1] + ((256 * err + 0x8000) >> 16)))


@kernel(_nrt=False, inline="always")
def code_direct(bit, k, cells, decoding, buf, at, coder, nll, cat):
    """One decision from cell k alone."""
    p = max(1, min(4095, counters.p12(cells, k)))
    if decoding:
        bit = arithmetic.decode_bit(coder, buf, p)
    else:
        nll[cat] += COST[p] if bit else COST[4096 - p]
        at = arithmetic.encode_bit(coder, bit, p, buf, at)
    counters.adapt(cells, k, bit, COUNT_LIMIT)
    return bit, at


@kernel(inline="always")
def signed_class(v):
    """0 for 0, 1..11 for negative classes, 12..22 for positive (classes above 11 clamp)."""
    if v == 0:
        return 0
    k = min(11, bit_length(abs(v)))
    return 11 + k if v > 0 else 12 - k


@kernel(inline="always")
def round_div(num, den):
    """num / den rounded to the nearest integer (den > 0), in integers."""
    return (2 * num + den) // (2 * den)


@kernel(_nrt=False)
def interior_value(v, kind, k, i, wp, pm, nzl, inner, ma, xc, xv, coefs, above, left, have_above, have_left, cells, weights,
           apm, ctx, inputs, decoding, strong, buf, at, coder, nll):
    """A non-zero interior coefficient: its class, sign and mantissa; returns (value, end)."""
    e = bit_length(abs(v))
    kb = min(7, k >> 3) if k < 56 else 7
    t = 1
    while t < MAX_CLASS:
        row = W_CLASS + (kind * 8 + kb) * MAX_CLASS + t
        ctx[0] = R_CLASS_A + ((kind * 49 + k) * MAX_CLASS + t) * PM + pm
        ctx[1] = R_CLASS_B + (((kind * 8 + kb) * MAX_CLASS + t) * NZB + nzl) * 8 + inner
        ctx[2] = R_CLASS_C + ((kind * 49 + k) * MAX_CLASS + t) * 8 + min(7, bit_length(ma))
        ctx[3] = R_CLASS_X + ((kind * 49 + k) * MAX_CLASS + t) * 13 + xc
        more, at = code_bit(np.int64(e > t), ctx, 4, cells, weights, row, W2_CLASS + (kind * MAX_CLASS + t) * PM + pm,
                         apm, inputs, decoding, strong, buf, at, coder, nll, 2)
        if not more:
            break
        t += 1
    e = t
    sa = 0
    if have_above:
        w = coefs[above, i]
        sa = 0 if w == 0 else (1 if w > 0 else 2)
    sl = 0
    if have_left:
        w = coefs[left, i]
        sl = 0 if w == 0 else (1 if w > 0 else 2)
    xs = 0 if xv == 0 else (1 if xv > 0 else 2)
    neg, at = code_direct(np.int64(v < 0), R_SIGN + (((kind * 64 + i) * 9 + sa * 3 + sl) * 8 + min(7, e)) * 3 + xs, cells,
                           decoding, buf, at, coder, nll, 3)
    mag = 1
    for b in range(e - 2, -1, -1):
        k1 = R_MANTISSA + ((kind * 64 + i) * (MAX_CLASS + 1) + e) * MAX_CLASS + (e - 2 - b)
        if strong:  # beside the position's cell, where the prefix stands against the neighbours' magnitude
            hi = wp >> (b + 1)
            near = 0 if hi > mag else (1 if hi < mag else 2 + ((wp >> b) & 1))
            ctx[0] = k1
            ctx[1] = R_MANTISSA_NEAR + ((kind * (MAX_CLASS + 1) + e) * MAX_CLASS + (e - 2 - b)) * 4 + near
            bit, at = code_bit(np.int64((abs(v) >> b) & 1), ctx, 2, cells, weights, W_MANTISSA + kind * (MAX_CLASS + 1) + e,
                            W2_MANTISSA + ((kind * (MAX_CLASS + 1) + e) * MAX_CLASS + (e - 2 - b)), apm, inputs,
                            decoding, strong, buf, at, coder, nll, 4)
        else:
            bit, at = code_direct(np.int64((abs(v) >> b) & 1), k1, cells, decoding, buf, at, coder, nll, 4)
        mag = 2 * mag + bit
    return (-mag if neg else mag), at


@kernel(_nrt=False)
def edge_value(v, kind, j, i, pc, pm, cnt, pred, along, along_v, exc, xv, cells, weights, apm, ctx, inputs, decoding, strong, buf, at, coder, nll):
    """A non-zero edge coefficient: its sign first (under the prediction's sign and size), then
    its class and mantissa under whether the sign agreed with the prediction and, bit by bit,
    where the magnitude so far stands against the prediction's."""
    ps = 0 if pred == 0 else (1 if pred > 0 else 2)
    big = abs(pred)
    ej = kind * 14 + j
    ctx[0] = R_SIGN + (((kind * 64 + i) * 9 + ps * 3) * 8 + min(7, bit_length(big))) * 3
    ctx[1] = R_EDGE_SIGN + ej * 24 + along
    ctx[2] = R_EDGE_SIGN_X + ((ej * 3 + (0 if xv == 0 else (1 if xv > 0 else 2))) * 3 + ps) * 8 + min(7, bit_length(big))
    neg, at = code_bit(np.int64(v < 0), ctx, 3, cells, weights, W_EDGE_SIGN + ej, W2_EDGE_SIGN + ej * 24 + along, apm,
                    inputs, decoding, strong, buf, at, coder, nll, 8)
    agree = 2 if ps == 0 else (1 if neg == (ps == 2) else 0)
    e = bit_length(abs(v))
    ej = kind * 14 + j
    t = 1
    while t < MAX_CLASS:
        ctx[0] = R_EDGE_CLASS_A + ((ej * MAX_CLASS + t) * 24 + pc) * 3 + agree
        ctx[1] = R_EDGE_CLASS_B + (ej * MAX_CLASS + t) * 12 + pm
        ctx[2] = R_EDGE_CLASS_C + (ej * MAX_CLASS + t) * 8 + cnt
        ctx[3] = R_EDGE_CLASS_X + (ej * MAX_CLASS + t) * 13 + exc
        more, at = code_bit(np.int64(e > t), ctx, 4, cells, weights, W_EDGE_CLASS + ej * MAX_CLASS + t,
                         W2_EDGE_CLASS + ((kind * MAX_CLASS + t) * 24 + pc) * 3 + agree, apm, inputs,
                         decoding, strong, buf, at, coder, nll, 6)
        if not more:
            break
        t += 1
    e = t
    mag = 1
    for b in range(e - 2, -1, -1):
        rel = 4
        if agree == 1:
            hi = big >> (b + 1)
            rel = 0 if hi > mag else (1 if hi < mag else 2 + ((big >> b) & 1))
        k1 = R_EDGE_MANTISSA + ((ej * (MAX_CLASS + 1) + e) * MAX_CLASS + (e - 2 - b)) * 5 + rel
        if strong:  # and where it stands against the neighbour's along the edge
            m = abs(along_v)
            hi = m >> (b + 1)
            near = 0 if hi > mag else (1 if hi < mag else 2 + ((m >> b) & 1))
            ctx[0] = k1
            ctx[1] = R_EDGE_MANTISSA_NEAR + ((ej * (MAX_CLASS + 1) + e) * MAX_CLASS + (e - 2 - b)) * 4 + near
            bit, at = code_bit(np.int64((abs(v) >> b) & 1), ctx, 2, cells, weights, W_EDGE_MANTISSA + ej,
                            W2_EDGE_MANTISSA + ej * 5 + rel, apm, inputs, decoding, strong, buf, at, coder, nll, 9)
        else:
            bit, at = code_direct(np.int64((abs(v) >> b) & 1), k1, cells, decoding, buf, at, coder, nll, 9)
        mag = 2 * mag + bit
    return (-mag if neg else mag), at


@kernel(_nrt=False)
def dc_residual(r, kind, spread, n, theirs, have_theirs, cells, weights, apm, ctx, inputs, decoding, strong, buf, at, coder, nll):
    """DC's residual from its prediction: its class from 0 (zero) up, sign and mantissa, beside
    the co-located block's of the component before (theirs, where have_theirs)."""
    tc = signed_class(theirs) + 1 if have_theirs else 0
    ts = 0 if theirs == 0 else (1 if theirs > 0 else 2)
    e = bit_length(abs(r))
    t = 0
    nb = NZ_BUCKET[n]
    while t < MAX_CLASS:
        ctx[0] = R_DC_A + (kind * (MAX_CLASS + 1) + t) * 17 + spread
        ctx[1] = R_DC_B + ((kind * (MAX_CLASS + 1) + t) * NZB + nb) * 2 + (spread == 16)
        ctx[2] = R_DC_C + ((kind * (MAX_CLASS + 1) + t) * 17 + spread) * 4 + min(3, nb >> 1)
        ctx[3] = R_DC_X + (kind * (MAX_CLASS + 1) + t) * 24 + tc
        more, at = code_bit(np.int64(e > t), ctx, 4, cells, weights, W_DC + kind * (MAX_CLASS + 1) + t,
                         W2_DC + (kind * (MAX_CLASS + 1) + t) * 17 + spread, apm, inputs,
                         decoding, strong, buf, at, coder, nll, 7)
        if not more:
            break
        t += 1
    e = t
    if e == 0:
        return 0, at
    neg, at = code_direct(np.int64(r < 0), R_SIGN + (((kind * 64) * 9) * 8 + min(7, spread >> 1)) * 3 + ts, cells, decoding,
                           buf, at, coder, nll, 7)
    mag = 1
    for b in range(e - 2, -1, -1):
        bit, at = code_direct(np.int64((abs(r) >> b) & 1),
                               R_MANTISSA + ((kind * 64) * (MAX_CLASS + 1) + e) * MAX_CLASS + (e - 2 - b), cells,
                               decoding, buf, at, coder, nll, 7)
        mag = 2 * mag + bit
    return (-mag if neg else mag), at
