"""16-bit images of one to four channels (CT, MR, microscopy, scans, HDR and raw photos),
coded sample by sample at full depth: blended predictors and context mixing.

Why: the byte path sees a 16-bit image as residuals split into high and low bytes, so no
context knows both halves of a value or how busy the neighbourhood is, and colour channels
never predict one another. Coders of deep images (JPEG-LS, CALIC, JPEG XL's modular mode)
predict at full depth and code the residual under a context of local activity; this does that
with several predictors blended by their recent errors (as JPEG XL's weighted predictor does)
and arzip's context mixing. It replaced the 16-bit gray model of part method 6
(arzip/image/gray16.py, still decoded): 8 % smaller on real CT and MR slices, and it serves
colour and alpha too.

Samples are reduced first: per channel, a base (the least value) and a step (the greatest
common divisor of value - base), so 12-bit data shifted left by 4, or 8-bit data times 257,
costs what its real depth does. The part's payload is the bases and steps (varints, two per
channel), then the coded bits.

The model, for pixel (y, x) in raster order and its channels c = 0, 1, ... in turn (neighbours
outside the image take the nearest known one, and 0 before the first pixel):
  - predictions at scale 8 (3 fractional bits): eight spatial predictors of channel c (MED, W,
    N, (W + NE) / 2, W + N - NW, N + NE - NNE, W + NE - N, (W + N) / 2 + (NE - NW) / 4), and for
    c >= 1 (and c >= 2) the same eight plus channel c - 1's (and c - 2's) actual value minus
    that channel's own predictor: colour channels move together;
  - each predictor i is weighted by 2^32 // (1 + s_i^2), s_i its absolute errors at W, N, NW
    and NE plus half those at WW and NN; the blend, rounded and clamped to [0, 65535], is the
    prediction, and e = value - prediction the residual;
  - e is coded as binary decisions: its magnitude class k = bit_length(|e|) (0..16) by
    questions "k > t?" that start at t = k0 - 1, k0 the class of the expected error, and walk
    up or down until k is known (two questions when the guess is right); then the sign; then
    the bits of |e| below its leading one (the top two under a context, the rest at p = 1/2);
  - a class question is predicted by six hashed context models of (channel, question) with:
    the expected-error class q (a half-octave class of 2|eW| + 2|eN| + |eNW| + |eNE| + |eWW| +
    |eNN|, the neighbours' residuals); W's and N's residual classes; q with NE's and NW's; the
    gradient activity with q / 2; the predictors' spread with q / 2; the previous channel's
    residual class at this pixel with q. A weight vector chosen by (channel, question, q) mixes
    them, and an APM on the same context refines the mix;
  - the sign by a context of W's, N's and the previous channel's residual signs, the class and
    the prediction's fractional part.
Every step is integer arithmetic but for the costs the encoder reports (each sample's NLL), and
the decoder runs the encoder's very steps; the bits go through the compiled binary arithmetic
coder (arzip.mixing.arithmetic), coded as they are decided.
"""
from __future__ import annotations

import math

import numpy as np

from ..native import kernel
from ..container import read_varint, varint
from ..errors import FormatError
from ..mixing import arithmetic, counters
from ..mixing.counters import bit_length
from ..mixing.hashing import h32
from ..mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ..mixing.mixer import MIX_SHIFT, dot, train

PREDICTORS = 8             # spatial predictors per channel
FRAC = 3                   # predictions carry 3 fractional bits
MAX_CLASS = 16             # bit_length(|e|) <= 16
QUESTIONS = 3 * MAX_CLASS  # "k > t?" for t = 0..15, asked first, going up or going down
ERROR_CLASSES = 40         # half-octave classes of the expected error
MODELS = 6                 # hashed context models of the class questions
TABLE_BITS = 16            # cells per context model, at most (the contexts are few)
TABLE_MIN_BITS = 12
SIGN, MANTISSA = MODELS, MODELS + 1  # the tables of the sign and the mantissa's top bits
COUNT_LIMIT = 255
MIX_LR = 6
APM_RATE = 7
ROWS_PER_CALL = 8          # the encoder codes bands of this many rows, each into a fresh buffer
WORST_BYTES_PER_SAMPLE = 52  # at most 32 decisions of at most 12 bits each


class State:
    """The model's tables for one image, fresh."""

    def __init__(self, height: int, width: int, channels: int):
        self.bits = counters.table_bits(height * width * channels, TABLE_MIN_BITS, TABLE_BITS)
        self.cells = np.zeros((MODELS + 2) << self.bits, dtype=np.uint32)
        rows = channels * QUESTIONS * ERROR_CLASSES
        self.weights = np.full((rows, MODELS + 1), (1 << MIX_SHIFT) // MODELS, dtype=np.int64)
        self.apm = apm_init(rows).astype(np.int64)
        # each predictor's |error| (scale 2^FRAC) and the residuals, on a ring of three rows
        # with two columns of padding on either side
        self.errors = np.zeros((3 * PREDICTORS, channels, 3, width + 4), dtype=np.int64)
        self.residuals = np.zeros((channels, 3, width + 4), dtype=np.int64)


def reduce(image: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(H, W, C) uint16 (or uint8) -> the samples as (value - base) // step per channel, uint16,
    and each channel's (base, step)."""
    reduced = image.astype(np.uint16)  # a copy, worked on in place
    scales = []
    for c in range(image.shape[2]):
        v = reduced[..., c]
        base = int(v.min()) if v.size else 0
        v -= base
        step = max(1, int(np.gcd.reduce(v, axis=None))) if v.size else 1
        v //= step
        scales.append((base, step))
    return reduced, scales


def encode(image: np.ndarray, costs: np.ndarray | None = None) -> tuple[bytes, float]:
    """(H, W, C) uint16 (or uint8), C in 1..4 -> (the part's payload, the model's NLL in bits);
    costs, an (H, W, C) float64 array if given, receives each sample's cost. Memory: the
    samples at 2 bytes each, small tables and the output."""
    h, w, c = image.shape
    px, scales = reduce(image)
    head = b"".join(varint(base) + varint(step) for base, step in scales)
    st = State(h, w, c)
    coder, nll = arithmetic.encoder_state(), np.zeros(1)
    per_sample = costs.reshape(h, w * c) if costs is not None else np.zeros((0, 0))
    payload = arithmetic.encode_bands(
        coder, h, ROWS_PER_CALL, w * c * WORST_BYTES_PER_SAMPLE, lambda y0, y1, buf: _encode_rows(
            px, y0, y1, st.bits, st.cells, st.weights, st.apm, st.errors, st.residuals, buf, 0, coder, nll, per_sample),
        head)
    return payload, float(nll[0])


def decode(payload: bytes, height: int, width: int, channels: int) -> np.ndarray:
    """(H, W, C) uint16 of encode's payload (damaged bytes decode to some values, in bounded
    time; a base or step that leaves the 16-bit range is refused)."""
    scales, pos = [], 0
    for _ in range(channels):
        base, pos = read_varint(payload, pos)
        step, pos = read_varint(payload, pos)
        if step < 1 or base > 65535 or step > 65535:
            raise FormatError("corrupted archive (a 16-bit part's scale is out of range)")
        scales.append((base, step))
    st = State(height, width, channels)
    px = np.zeros((height, width, channels), dtype=np.uint16)
    data = np.frombuffer(payload[pos:], dtype=np.uint8).copy()  # writable: one buffer type serves both ways
    coder = arithmetic.decoder_state(data)
    arithmetic.decode_bands(coder, data, height, width, lambda y0, y1: _decode_rows(
        px, y0, y1, st.bits, st.cells, st.weights, st.apm, st.errors, st.residuals, data, 0, coder, np.zeros(1),
        np.zeros((0, 0))))
    for c, (base, step) in enumerate(scales):
        v = px[..., c].astype(np.uint32) * step + base
        if v.size and v.max() > 65535:
            raise FormatError("corrupted archive (a 16-bit sample out of range)")
        px[..., c] = v
    return px


@kernel(inline="always")
def _half_octave(v):
    """0 and 1 for v = 0 and 1, then two classes per octave."""
    if v < 2:
        return v
    n = bit_length(v)
    return 2 * n - 2 + ((v >> (n - 2)) & 1)


@kernel(inline="always")
def _decide(bit, p, decoding, buf, at, coder, nll, costs, y, i):
    """Code one decision (decoding: read it; else write it and add its cost to nll[0], and to
    costs[y, i] when costs has rows); returns (the bit, the new end of buf)."""
    if decoding:
        return arithmetic.decode_bit(coder, buf, p), at
    cost = -math.log2((p if bit else 4096 - p) / 4096.0)
    nll[0] += cost
    if costs.shape[0] > 0:
        costs[y, i] += cost
    return bit, arithmetic.encode_bit(coder, bit, p, buf, at)


@kernel(inline="always")
def _neighbours(px, y, x, c, w):
    """W, N, NW, NE, WW, NN, NNE of (y, x) in channel c, the nearest known for those outside."""
    W = np.int64(px[y, x - 1, c]) if x > 0 else (np.int64(px[y - 1, x, c]) if y > 0 else np.int64(0))
    N = np.int64(px[y - 1, x, c]) if y > 0 else W
    NW = np.int64(px[y - 1, x - 1, c]) if x > 0 and y > 0 else N
    NE = np.int64(px[y - 1, x + 1, c]) if y > 0 and x + 1 < w else N
    WW = np.int64(px[y, x - 2, c]) if x > 1 else W
    NN = np.int64(px[y - 2, x, c]) if y > 1 else N
    NNE = np.int64(px[y - 2, x + 1, c]) if y > 1 and x + 1 < w else NE
    return W, N, NW, NE, WW, NN, NNE


@kernel(inline="always")
def _spatial(preds, px, y, x, c, w):
    """Channel c's spatial predictors at scale 2^FRAC, into preds[0:PREDICTORS]."""
    W, N, NW, NE, WW, NN, NNE = _neighbours(px, y, x, c, w)
    hi, lo = max(W, N), min(W, N)
    preds[0] = (lo if NW >= hi else (hi if NW <= lo else W + N - NW)) << FRAC
    preds[1] = W << FRAC
    preds[2] = N << FRAC
    preds[3] = (W + NE) << (FRAC - 1)
    preds[4] = (W + N - NW) << FRAC
    preds[5] = (N + NE - NNE) << FRAC
    preds[6] = (W + NE - N) << FRAC
    preds[7] = ((W + N) << (FRAC - 1)) + ((NE - NW) << (FRAC - 2))


def _kernel(decoding: bool):
    """The coding loop, compiled once each way: `decoding` is a constant inside, so the
    decoder carries none of the encoder's bookkeeping (with it, decoding was 1.5x slower).
    Rows y0..y1-1 in raster order: predict, code each decision (decoding: read it from buf
    and write the sample; else take the sample, write to buf from `at` and add its cost to
    nll[0], and to costs when costs has rows), learn. Returns the new end of buf."""

    @kernel()
    def code(px, y0, y1, bits, cells, weights, apm, errors, residuals, buf, at, coder, nll, costs):
        h, w, channels = px.shape
        shift = 32 - bits
        top = 65535 << FRAC
        inputs = np.zeros(MODELS + 1, dtype=np.int64)
        inputs[MODELS] = 256
        cell = np.zeros(MODELS, dtype=np.int64)
        preds = np.zeros(3 * PREDICTORS, dtype=np.int64)
        other = np.zeros(PREDICTORS, dtype=np.int64)
        for y in range(y0, y1):
            r0, r1, r2 = y % 3, (y + 2) % 3, (y + 1) % 3  # the ring rows of y, y - 1 and y - 2
            for x in range(w):
                xc = x + 2
                prev_e, prev_k = 0, 0  # the previous channel's residual at this pixel, and its class
                for c in range(channels):
                    xs = x * channels + c  # the sample's column in costs
                    _spatial(preds, px, y, x, c, w)
                    n_pred = np.int64(PREDICTORS)  # not a literal: numba's AOT typing keeps literals
                    for back in range(1, min(c, 2) + 1):
                        _spatial(other, px, y, x, c - back, w)
                        actual = np.int64(px[y, x, c - back]) << FRAC
                        for i in range(PREDICTORS):
                            preds[n_pred + i] = preds[i] + actual - other[i]
                        n_pred += PREDICTORS
                    num, den, lowest, highest = 0, 0, preds[0], preds[0]
                    for i in range(n_pred):
                        s = (errors[i, c, r0, xc - 1] + errors[i, c, r1, xc] + errors[i, c, r1, xc - 1]
                             + errors[i, c, r1, xc + 1] + ((errors[i, c, r0, xc - 2] + errors[i, c, r2, xc]) >> 1))
                        wt = max(1, (1 << 32) // (1 + s * s))
                        num += wt * preds[i]
                        den += wt
                        lowest, highest = min(lowest, preds[i]), max(highest, preds[i])
                    blend = max(0, min(top, (num + (den >> 1)) // den))
                    pred = (blend + (1 << (FRAC - 1))) >> FRAC
                    frac = blend & ((1 << FRAC) - 1)
                    eW, eN, eNW = residuals[c, r0, xc - 1], residuals[c, r1, xc], residuals[c, r1, xc - 1]
                    eNE, eWW, eNN = residuals[c, r1, xc + 1], residuals[c, r0, xc - 2], residuals[c, r2, xc]
                    expect = 2 * abs(eW) + 2 * abs(eN) + abs(eNW) + abs(eNE) + abs(eWW) + abs(eNN)
                    q = min(ERROR_CLASSES - 1, _half_octave(expect))
                    spread = min(15, _half_octave((highest - lowest) >> FRAC))
                    kw, kn, kne, knw = bit_length(abs(eW)), bit_length(abs(eN)), bit_length(abs(eNE)), \
                        bit_length(abs(eNW))
                    W, N, NW, NE, WW, NN, _ = _neighbours(px, y, x, c, w)
                    activity = min(19, bit_length(abs(W - NW) + abs(N - NW) + abs(N - NE) + abs(W - WW) + abs(N - NN)))
                    e = np.int64(px[y, x, c]) - pred
                    k = bit_length(abs(e))
                    # the magnitude class: questions "k > t?" from the expected class, up or down
                    t = max(0, min(MAX_CLASS, bit_length(expect >> 3)) - 1)
                    lo, hi, step = 0, MAX_CLASS, 0
                    cbase = c * 0x1000000
                    while lo < hi:
                        j = t * 3 + step
                        cell[0] = h32(cbase + j * 64 + q)
                        cell[1] = h32(cbase + 0x100000 + (j * 32 + kw) * 32 + kn)
                        cell[2] = h32(cbase + 0x200000 + ((j * 64 + q) * 32 + kne) * 32 + knw)
                        cell[3] = h32(cbase + 0x300000 + (j * 32 + activity) * 64 + q // 2)
                        cell[4] = h32(cbase + 0x400000 + (j * 16 + spread) * 64 + q // 2)
                        cell[5] = h32(cbase + 0x500000 + (j * 32 + prev_k) * 64 + q)
                        for i in range(MODELS):
                            cell[i] = (i << bits) + (cell[i] >> shift)
                            inputs[i] = STRETCH[counters.p12(cells, cell[i])]
                        row = (c * QUESTIONS + j) * ERROR_CLASSES + q
                        pm = max(1, min(4095, squash(max(-2047, min(2047, dot(weights, row, inputs) >> MIX_SHIFT)))))
                        pa, knot = apm_refine(apm, row, pm)
                        p = max(1, min(4095, (pm + 3 * pa + 2) >> 2))
                        bit, at = _decide(np.int64(1 if k > t else 0), p, decoding, buf, at, coder, nll, costs, y, xs)
                        apm_learn(apm, knot, bit, APM_RATE)
                        for i in range(MODELS):
                            counters.adapt(cells, cell[i], bit, COUNT_LIMIT)
                        train(weights, row, inputs, ((bit << 12) - pm) * MIX_LR, 1 << 22)
                        if bit:
                            lo, t, step = t + 1, t + 1, 1
                        else:
                            hi, t, step = t, t - 1, 2
                    got = lo
                    sign, mag = 0, 0
                    if got > 0:
                        sw = 0 if eW == 0 else (1 if eW > 0 else 2)
                        sn = 0 if eN == 0 else (1 if eN > 0 else 2)
                        sp = 0 if prev_e == 0 else (1 if prev_e > 0 else 2)
                        sc = (SIGN << bits) + (h32(cbase + 0x600000 + (((sw * 3 + sn) * 3 + sp) * 16 + min(got, 15)) * 8
                                                   + frac) >> shift)
                        neg, at = _decide(np.int64(1 if e < 0 else 0), max(1, min(4095, counters.p12(cells, sc))),
                                          decoding, buf, at, coder, nll, costs, y, xs)
                        counters.adapt(cells, sc, neg, COUNT_LIMIT)
                        sign = -1 if neg else 1
                        mag, mc = 1, 0
                        for b in range(got - 2, -1, -1):
                            if b >= got - 3:
                                mc = (MANTISSA << bits) + (h32(cbase + 0x700000 + ((got * 32 + b) * 64 + q) * 4
                                                               + (mag & 3)) >> shift)
                                p = max(1, min(4095, counters.p12(cells, mc)))
                            else:
                                p = 2048
                            bit, at = _decide(np.int64((abs(e) >> b) & 1), p, decoding, buf, at, coder, nll, costs,
                                              y, xs)
                            if b >= got - 3:
                                counters.adapt(cells, mc, bit, COUNT_LIMIT)
                            mag = 2 * mag + bit
                    if decoding:
                        px[y, x, c] = (pred + sign * mag) & 0xFFFF
                    v = np.int64(px[y, x, c]) << FRAC
                    for i in range(n_pred):
                        errors[i, c, r0, xc] = abs(v - preds[i])
                    e = np.int64(px[y, x, c]) - pred
                    residuals[c, r0, xc] = e
                    prev_e, prev_k = e, bit_length(abs(e))
        return at

    return code


_encode_rows, _decode_rows = _kernel(False), _kernel(True)
