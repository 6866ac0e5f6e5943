"""16-bit gray images (CT, MR, microscopy, raw scans) coded pixel by pixel at full depth.

Why: the byte path sees a 16-bit image as MED residuals split into high and low bytes, so no
context knows both halves of a value, and a residual's size is never predicted from how busy
the neighbourhood is. Lossless coders of deep images (JPEG-LS, CALIC, JPEG XL's modular mode)
predict at full depth and code the residual under a context of local activity; this does that
with arzip's context mixing.

The model, for pixel (y, x) in raster order (neighbours outside the image take the nearest
known one, and 0 before the first pixel):
  - prediction: MED of W, N, NW; residual e = value - prediction;
  - e is coded as binary decisions: "is bit_length(|e|) > j?" for j = 0, 1, ... (unary, at
    most 17), then the sign, then the bits of |e| below its leading one (the top two under a
    context, the rest at p = 1/2);
  - a unary decision is predicted by four hashed context models (j with: the activity class
    q = bit_length(|W-NW| + |N-NW| + |N-NE| + |W-WW| + |N-NN|); the magnitude classes of W's
    and N's residuals; q, W's and NE's classes; N's class and the larger of W's and NE's with
    q / 2), mixed by a weight vector chosen by (j, q);
  - the sign by a context of W's and N's signs and the magnitude class.
Every step is integer arithmetic but for the costs the encoder reports (each pixel's NLL, for
the archive and `arzip explain`), and the decoder runs the encoder's very steps; the bits go through the compiled binary arithmetic coder
(arzip.mixing.arithmetic), coded as they are decided.
"""
from __future__ import annotations

import numpy as np

from ..native import kernel
from ..mixing import arithmetic, counters
from ..mixing.counters import bit_length
from ..mixing.hashing import h32
from ..mixing.logistic import STRETCH, squash
from ..mixing.mixer import MIX_SHIFT, dot, train

MODELS = 4                 # hashed context models of the unary decisions
TABLE_BITS = 20            # cells per context model, at most (fewer for small images)
TABLE_MIN_BITS = 12
SIGN, MANTISSA = MODELS, MODELS + 1  # the tables of the sign and the mantissa's top bits
UNARY_MAX = 17             # bit_length(|e|) <= 16, so "> 16?" is the last question
ACTIVITY_CLASSES = 20
COUNT_LIMIT = 255
MIX_LR = 6
ROWS_PER_CALL = 64         # the encoder codes bands of this many rows, each into a fresh buffer
WORST_BYTES_PER_PIXEL = 52  # 34 decisions of at most 12 bits each


class State:
    """The model's tables for one image, fresh."""

    def __init__(self, height: int, width: int):
        self.bits = counters.table_bits(height * width, TABLE_MIN_BITS, TABLE_BITS)
        self.cells = np.zeros((MODELS + 2) << self.bits, dtype=np.uint32)
        self.weights = np.full((UNARY_MAX * ACTIVITY_CLASSES, MODELS + 1), (1 << MIX_SHIFT) // MODELS, dtype=np.int64)
        self.classes = np.zeros((height + 1, width + 2), dtype=np.int64)  # bit_length(|e|), 1-padded
        self.signs = np.zeros((height + 1, width + 2), dtype=np.int64)


def encode(image: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(H, W) uint16 -> (coded bytes, (H, W) the model's cost of each pixel in bits)."""
    h, w = image.shape
    st = State(h, w)
    px = image.astype(np.int64)
    coder, costs = arithmetic.encoder_state(), np.zeros((h, w))
    coded = arithmetic.encode_bands(coder, h, ROWS_PER_CALL, w * WORST_BYTES_PER_PIXEL, lambda y0, y1, buf: _code(
        px, y0, y1, st.bits, st.cells, st.weights, st.classes, st.signs, False, buf, 0, coder, costs))
    return coded, costs


def decode(payload: bytes, height: int, width: int) -> np.ndarray:
    """(H, W) uint16 of encode's bytes (damaged bytes decode to some values, in bounded time)."""
    st = State(height, width)
    px = np.zeros((height, width), dtype=np.int64)
    data = np.frombuffer(payload, dtype=np.uint8).copy()  # writable: the kernel's one buffer type serves both ways
    _code(px, 0, height, st.bits, st.cells, st.weights, st.classes, st.signs, True, data, 0,
          arithmetic.decoder_state(data), np.zeros((0, 0)))
    return px.astype(np.uint16)


@kernel(inline="always")
def _decide(bit, p, decoding, buf, at, coder, costs, y, x):
    """Code one decision (decoding: read it; else write it and charge its cost to pixel (y, x));
    returns (the bit, the new end of buf)."""
    if decoding:
        return arithmetic.decode_bit(coder, buf, p), at
    costs[y, x] -= np.log2((p if bit else 4096 - p) / 4096.0)
    return bit, arithmetic.encode_bit(coder, bit, p, buf, at)


@kernel()
def _code(px, y0, y1, bits, cells, weights, classes, signs, decoding, buf, at, coder, costs):
    """Rows y0..y1-1 in raster order: predict, code each decision (decoding: read it from buf
    and write the pixel; else take the pixel and write to buf from `at`), learn. Returns the
    new end of buf when encoding."""
    h, w = px.shape
    shift = 32 - bits
    inputs = np.zeros(MODELS + 1, dtype=np.int64)
    inputs[MODELS] = 256
    cell = np.zeros(MODELS, dtype=np.int64)
    for y in range(y0, y1):
        for x in range(w):
            W = px[y, x - 1] if x > 0 else (px[y - 1, x] if y > 0 else 0)
            N = px[y - 1, x] if y > 0 else W
            NW = px[y - 1, x - 1] if x > 0 and y > 0 else N
            NE = px[y - 1, x + 1] if y > 0 and x + 1 < w else N
            WW = px[y, x - 2] if x > 1 else W
            NN = px[y - 2, x] if y > 1 else N
            hi, lo = max(W, N), min(W, N)
            pred = lo if NW >= hi else (hi if NW <= lo else W + N - NW)
            q = min(ACTIVITY_CLASSES - 1, bit_length(abs(W - NW) + abs(N - NW) + abs(N - NE) + abs(W - WW)
                                                     + abs(N - NN)))
            kw, kn, kne = classes[y + 1, x], classes[y, x + 1], classes[y, x + 2]
            e = px[y, x] - pred
            m = abs(e)
            k = bit_length(m)
            got = 0  # the magnitude class, as decoded
            for j in range(UNARY_MAX):
                cell[0] = h32(j * 64 + q)
                cell[1] = h32(0x100000 + (j * 32 + kw) * 32 + kn)
                cell[2] = h32(0x200000 + ((j * 32 + q) * 32 + kw) * 32 + kne)
                cell[3] = h32(0x300000 + ((j * 32 + kn) * 32 + max(kw, kne)) * 32 + q // 2)
                for i in range(MODELS):
                    cell[i] = (i << bits) + (cell[i] >> shift)
                    inputs[i] = STRETCH[counters.p12(cells, cell[i])]
                row = j * ACTIVITY_CLASSES + q
                p = max(1, min(4095, squash(max(-2047, min(2047, dot(weights, row, inputs) >> MIX_SHIFT)))))
                bit, at = _decide(np.int64(1 if k > j else 0), p, decoding, buf, at, coder, costs, y, x)
                for i in range(MODELS):
                    counters.adapt(cells, cell[i], bit, COUNT_LIMIT)
                train(weights, row, inputs, ((bit << 12) - p) * MIX_LR, 1 << 22)
                if not bit:
                    break
                got = j + 1
            sign = 0
            if got > 0:
                sc = (SIGN << bits) + (h32(0x400000 + (signs[y + 1, x] + 1) * 3 + signs[y, x + 1] + 1
                                           + 9 * min(got, 8)) >> shift)
                neg, at = _decide(np.int64(1 if e < 0 else 0), max(1, min(4095, counters.p12(cells, sc))),
                                  decoding, buf, at, coder, costs, y, x)
                counters.adapt(cells, sc, neg, COUNT_LIMIT)
                sign = -1 if neg else 1
                mag, mc = 1, 0
                for b in range(got - 2, -1, -1):
                    if b >= got - 3:
                        mc = (MANTISSA << bits) + (h32(0x500000 + ((got * 32 + b) * 32 + q) * 4 + (mag & 3)) >> shift)
                        p = max(1, min(4095, counters.p12(cells, mc)))
                    else:
                        p = 2048
                    bit, at = _decide(np.int64((m >> b) & 1), p, decoding, buf, at, coder, costs, y, x)
                    if b >= got - 3:
                        counters.adapt(cells, mc, bit, COUNT_LIMIT)
                    mag = 2 * mag + bit
                if decoding:
                    px[y, x] = (pred + sign * mag) & 0xFFFF
            elif decoding:
                px[y, x] = pred
            classes[y + 1, x + 1] = got
            signs[y + 1, x + 1] = sign
    return at
