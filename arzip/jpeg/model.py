"""The coefficient model: a JPEG's quantised DCT coefficients, block by block, as binary
decisions predicted by context mixing (arzip.mixing) and coded by the compiled binary
arithmetic coder. One kernel serves both directions.

Why this shape: a JPEG's Huffman code spends its bits on coefficients one at a time with no
knowledge of the neighbouring blocks, and that is where its redundancy is. Lepton showed the
contexts that pay (the same frequency in the blocks above and to the left, how many non-zeros
a block has, the block edges continued from the neighbour's pixels, DC from the neighbours'
boundaries); paq8px showed that mixing several such contexts beats any single one. This model
takes Lepton's decomposition and predicts each decision from several contexts, mixed.

Order. Blocks go band by band (a band is one row of MCUs: `rows[c]` block rows of each
component c, the components in turn, so a chroma block sees its luma block's counts), each
block in raster order within its component. Within a block:
  1. n, the number of non-zero coefficients of the 7x7 interior (row and column >= 1),
     coded as 6 bits, most significant first;
  2. the interior in zigzag order until n non-zeros have been coded: each coefficient's
     "non-zero?" (skipped where every remaining position must be non-zero), then for a
     non-zero one its magnitude class e = bit_length(|v|) as questions "e > t?" for t = 1, 2,
     ..., its sign, and the e - 1 bits below its leading one;
  3. the top edge (row 0, columns 1..7) and the left edge (column 0, rows 1..7), each first
     by the position of its last non-zero (3 bits), then each coefficient up to it as in 2
     ("non-zero?" not asked at the last), predicted by continuity with the
     neighbour block: the 1-D profile of frequency u along the shared boundary is the same
     on both sides, which fixes B[0][u] from the above block's column u and this block's
     column u below row 0 (dequantised, in integers with an 12-bit basis);
  4. DC as a residual from the mean of the same continuity predictions for frequency 0 from
     above and from the left.
A band's "above" is unavailable on the first block row of a segment (segments are coded
side by side, each with fresh tables), and "left" on the first column.

Each decision is predicted by 2 to 4 context cells (adaptive probabilities in direct tables,
arzip.mixing.counters), mixed by a weight set chosen by the decision and its position
(arzip.mixing.mixer's rule, with a learning rate that starts high and settles); the mantissa's
lower bits use one cell each. The strong profile (method 2: level 9, and small images at every
level) adds a second weight set chosen by other contexts, an APM after the mix, and mixes the
mantissa bits with where the magnitude so far stands against the neighbours'. The tables are
laid out in contexts.py; decisions.py codes one decision and the decisions of one value. All
integer arithmetic: the decoder repeats the encoder's steps exactly.
"""
from __future__ import annotations

import numpy as np

from ..mixing.counters import bit_length
from ..native import kernel
from .contexts import (R_EDGE_LAST_X, R_EDGE_ZERO_X, R_ZERO_X, R_EDGE_LAST_A, R_EDGE_LAST_B, R_EDGE_LAST_C, W_EDGE_LAST, W2_EDGE_LAST, BASIS, EDGES, INPUTS, INTERIOR, KINDS, MAX_CLASS, NZB, NZ_BUCKET, PM, R_COUNT_A, R_COUNT_B,
                       R_COUNT_C, R_EDGE_ZERO_A, R_EDGE_ZERO_B, R_EDGE_ZERO_C, R_ZERO_A, R_ZERO_B, R_ZERO_C,
                       R_ZERO_D, W2_COUNT, W2_EDGE_ZERO, W2_ZERO, W_COUNT, W_EDGE_ZERO, W_ZERO)
from .decisions import code_bit, dc_residual, edge_value, round_div, signed_class, interior_value


@kernel(inline="always")
def last_nonzero(block, step):
    """The position 1..7 of the last non-zero coefficient on an edge of block (step 1: row 0,
    step 8: column 0), 0 when there is none."""
    last = 0
    for u in range(1, 8):
        if block[u * step] != 0:
            last = u
    return last


@kernel(inline="always")
def continuity(coefs, nb, cur, q, first, stride):
    """The prediction of cur[first] (on the row-0 edge with stride 8, the column-0 edge with
    stride 1) that makes the block's 1-D profile along `stride` meet neighbour block nb's at
    their shared boundary: round((sum_k (-1)^k nb[first + k stride] q b_k - sum_{k>=1}
    cur[first + k stride] q b_k) / (b_0 q[first])), dequantised, b the DCT basis at the
    block's first sample."""
    num = 0
    for k in range(8):
        at = first + k * stride
        t = np.int64(coefs[nb, at]) * q[at] * BASIS[k]
        num += -t if k & 1 else t
    for k in range(1, 8):
        at = first + k * stride
        num -= cur[at] * q[at] * BASIS[k]
    return round_div(num, BASIS[0] * q[first])


def _kernel(decoding: bool, strong: bool):
    """The coding loop over bands b0..b1-1 of one segment (whose first band is `first`),
    compiled once each way. coefs: (blocks, 64) int16 of every component, component c's
    plane at blocks offset[c] with width[c] blocks per row and rows[c] block rows per band;
    quant: (components, 64) int64; counts: each block's interior non-zero count (int8);
    dc_residuals: each block's DC residual (int32).
    Encoding reads coefs and writes buf from `at`; decoding fills coefs from buf. Returns the
    new end of buf."""

    @kernel()
    def code(coefs, offset, width, rows, quant, counts, dc_residuals, b0, b1, first, cells, weights, apm, buf, at, coder, nll):
        comps = offset.shape[0]
        ctx = np.zeros(INPUTS - 1, dtype=np.int64)
        inputs = np.zeros(INPUTS, dtype=np.int64)
        cur = np.zeros(64, dtype=np.int64)       # this block, dequantised where needed below
        for band in range(b0, b1):
            for c in range(comps):
                kind = min(c, KINDS - 1)
                q = quant[c]
                wc = width[c]
                for yy in range(rows[c]):
                    y = band * rows[c] + yy
                    have_above = y > first * rows[c]
                    for x in range(wc):
                        blk = offset[c] + y * wc + x
                        above, left = blk - wc, blk - 1
                        have_left = x > 0
                        if not decoding:
                            for i in range(64):
                                cur[i] = coefs[blk, i]
                        else:
                            for i in range(64):
                                cur[i] = 0
                        # 1. the interior's non-zero count
                        na = np.int64(counts[above]) if have_above else 0
                        nl = np.int64(counts[left]) if have_left else 0
                        if have_above and have_left:
                            guess = (na + nl + 1) >> 1
                        elif have_above or have_left:
                            guess = na + nl
                        else:
                            guess = 0
                        cross = -1  # the co-located block of the component before (chroma: 1 for 2, else 0)
                        if c > 0:
                            if c >= 2 and rows[1] == rows[c] and width[1] == wc:
                                cross = offset[1] + y * wc + x
                            else:
                                cross = offset[0] + (y * rows[0] // rows[c]) * width[0] + x * width[0] // wc
                            other = np.int64(counts[cross])
                        elif have_above and x + 1 < wc:
                            other = np.int64(counts[above + 1])
                        else:
                            other = 0
                        n = 0
                        if not decoding:
                            for k in range(49):
                                n += cur[INTERIOR[k]] != 0
                        node = 1
                        for sh in range(5, -1, -1):
                            base = kind * 64 + node
                            ctx[0] = R_COUNT_A + base * NZB + NZ_BUCKET[guess]
                            ctx[1] = R_COUNT_B + (base * NZB + NZ_BUCKET[na]) * NZB + NZ_BUCKET[nl]
                            ctx[2] = R_COUNT_C + base * 16 + min(15, bit_length(other))
                            bit, at = code_bit((n >> sh) & 1, ctx, 3, cells, weights, W_COUNT + base,
                                            W2_COUNT + base * NZB + NZ_BUCKET[guess], apm, inputs,
                                            decoding, strong, buf, at, coder, nll, 0)
                            node = 2 * node + bit
                        n = min(49, node - 64)
                        counts[blk] = n
                        # 2. the interior, zigzag
                        left_n = n
                        for k in range(49):
                            if left_n == 0:
                                break
                            i = INTERIOR[k]
                            ma = abs(np.int64(coefs[above, i])) if have_above else 0
                            ml = abs(np.int64(coefs[left, i])) if have_left else 0
                            if have_above and have_left:
                                mal = abs(np.int64(coefs[above - 1, i]))
                                wp = (13 * ma + 13 * ml + 6 * mal + 16) >> 5
                            else:
                                wp = ma + ml
                            pm = min(PM - 1, bit_length(wp))
                            nzl = NZ_BUCKET[left_n]
                            # the coded neighbours in frequency (the edges come later)
                            west = abs(cur[i - 1]) if (i & 7) > 1 else 0
                            north = abs(cur[i - 8]) if i >= 16 else 0
                            inner = min(7, bit_length(west + north))
                            v = cur[i]
                            xc = min(11, bit_length(abs(np.int64(coefs[cross, i])))) + 1 if cross >= 0 else 0
                            if left_n < 49 - k:
                                zk = kind * 49 + k
                                ctx[0] = R_ZERO_A + (zk * NZB + nzl) * PM + pm
                                ctx[1] = R_ZERO_B + (zk * 8 + min(7, bit_length(ma))) * 8 + min(7, bit_length(ml))
                                ctx[2] = R_ZERO_C + (zk * NZB + nzl) * 8 + inner
                                ctx[3] = R_ZERO_D + (zk * NZB + NZ_BUCKET[n]) * PM + pm
                                ctx[4] = R_ZERO_X + zk * 13 + xc
                                nonzero, at = code_bit(np.int64(v != 0), ctx, 5, cells, weights, W_ZERO + zk,
                                                    W2_ZERO + (kind * NZB + nzl) * PM + pm, apm,
                                                    inputs, decoding, strong, buf, at, coder, nll, 1)
                                if not nonzero:
                                    continue
                            left_n -= 1
                            v, at = interior_value(v, kind, k, i, wp, pm, nzl, inner, ma, xc,
                                                   np.int64(coefs[cross, i]) if cross >= 0 else 0, coefs, above, left, have_above,
                                           have_left, cells, weights, apm, ctx, inputs, decoding, strong, buf, at, coder,
                                           nll)
                            cur[i] = v
                        # 3. the edges, predicted by continuity across the boundary
                        last = 0
                        for j in range(14):
                            i = EDGES[j]
                            if j == 0 or j == 7:  # where the edge's last non-zero is (0: none)
                                side = j // 7
                                step = 1 if side == 0 else 8
                                if not decoding:
                                    last = last_nonzero(cur, step)
                                inner_n = 0  # the interior's first row (or column), beside the edge
                                for u in range(1, 8):
                                    inner_n += cur[8 + u if side == 0 else 1 + 8 * u] != 0
                                nb = left if side == 0 else above
                                had = have_left if side == 0 else have_above
                                other = last_nonzero(coefs[nb], step) + 1 if had else 0
                                theirs = last_nonzero(coefs[cross], step) + 1 if cross >= 0 else 0
                                node = 1
                                for sh in range(2, -1, -1):
                                    base = (kind * 2 + side) * 8 + node
                                    ctx[0] = R_EDGE_LAST_A + base * NZB + NZ_BUCKET[n]
                                    ctx[1] = R_EDGE_LAST_B + base * 8 + inner_n
                                    ctx[2] = R_EDGE_LAST_C + base * 9 + other
                                    ctx[3] = R_EDGE_LAST_X + base * 9 + theirs
                                    bit, at = code_bit((last >> sh) & 1, ctx, 4, cells, weights, W_EDGE_LAST + base,
                                                       W2_EDGE_LAST + base * NZB + NZ_BUCKET[n], apm, inputs,
                                                       decoding, strong, buf, at, coder, nll, 5)
                                    node = 2 * node + bit
                                last = node - 8
                            u = j - 7 * (j // 7) + 1  # the position along the edge, 1..7
                            if u > last:
                                cur[i] = 0
                                continue
                            if j < 7:  # row 0, column u: from the block above, down column u
                                have, nb, stride = have_above, above, 8
                            else:      # column 0, row r: from the block to the left, along row r
                                have, nb, stride = have_left, left, 1
                            pred = continuity(coefs, nb, cur, q, i, stride) if have else 0
                            cnt = 0
                            for r in range(1, 8):
                                cnt += cur[i + r * stride] != 0
                            pc = signed_class(pred) + 1 if have else 0
                            ma = abs(np.int64(coefs[above, i])) if have_above else 0
                            ml = abs(np.int64(coefs[left, i])) if have_left else 0
                            pm = min(11, bit_length(ma + ml))
                            # the same coefficient in the neighbour along the edge's direction
                            if j < 7:
                                along_v = np.int64(coefs[left, i]) if have_left else 0
                                along = signed_class(along_v) + 1 if have_left else 0
                            else:
                                along_v = np.int64(coefs[above, i]) if have_above else 0
                                along = signed_class(along_v) + 1 if have_above else 0
                            ej = kind * 14 + j
                            ctx[0] = R_EDGE_ZERO_A + ej * 24 + pc
                            ctx[1] = R_EDGE_ZERO_B + (ej * 12 + pm) * 8 + cnt
                            ctx[2] = R_EDGE_ZERO_C + (ej * NZB + NZ_BUCKET[n]) * 8 + cnt
                            exc = min(11, bit_length(abs(np.int64(coefs[cross, i])))) + 1 if cross >= 0 else 0
                            ctx[3] = R_EDGE_ZERO_X + ej * 13 + exc
                            v = cur[i]
                            nonzero = 1
                            if u < last:
                                nonzero, at = code_bit(np.int64(v != 0), ctx, 4, cells, weights, W_EDGE_ZERO + ej,
                                                       W2_EDGE_ZERO + ej * 8 + cnt, apm,
                                                       inputs, decoding, strong, buf, at, coder, nll, 5)
                            if nonzero:
                                v, at = edge_value(v, kind, j, i, pc, pm, cnt, pred, along, along_v, exc,
                                                   np.int64(coefs[cross, i]) if cross >= 0 else 0, cells, weights, apm, ctx,
                                                    inputs, decoding, strong, buf, at, coder, nll)
                            else:
                                v = 0
                            cur[i] = v
                        # 4. DC from the boundary means above and to the left
                        preds = 0
                        total = 0
                        pa = 0
                        if have_above:
                            pa = continuity(coefs, above, cur, q, 0, 8)
                            total += pa
                            preds += 1
                        pl = 0
                        if have_left:
                            pl = continuity(coefs, left, cur, q, 0, 1)
                            total += pl
                            preds += 1
                        if preds == 2:
                            dc_pred = (total + 1) >> 1
                            spread = min(16, bit_length(abs(pa - pl)))
                        elif preds == 1:
                            dc_pred = total
                            spread = 16
                        else:
                            dc_pred = np.int64(coefs[blk - 1, 0]) if x > 0 else 0
                            spread = 16
                        dc_pred = max(-32768, min(32767, dc_pred))  # |r| < 2^16: the class fits MAX_CLASS
                        r = cur[0] - dc_pred
                        r, at = dc_residual(r, kind, spread, n, np.int64(dc_residuals[cross]) if cross >= 0 else 0,
                                            cross >= 0, cells, weights, apm, ctx, inputs, decoding, strong, buf, at,
                                            coder, nll)
                        dc_residuals[blk] = max(-(1 << 30), min(1 << 30, r))
                        cur[0] = dc_pred + r
                        if decoding:
                            for i in range(64):
                                coefs[blk, i] = cur[i]
        return at

    return code


# the default profile and the strong one (a second mixer beside the first, level 9)
KERNELS = {(decoding, strong): _kernel(decoding, strong) for strong in (False, True) for decoding in (False, True)}
