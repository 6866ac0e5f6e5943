"""1-bit images (text, line art, masks) coded pixel by pixel with 2-D contexts, the way JBIG2's
generic regions are, and mixed as the rest of arzip mixes.

Why: the byte path sees a bilevel image as packed bytes in rows, so its contexts mix eight
pixels into each symbol and reach the row above only through byte repeats; JPEG XL's
modular mode beat it by a third. A pixel of such an image is best predicted from the pixels
around it in two dimensions (JBIG's templates), and better still from several such templates
of different reach mixed by how well each has done (paq8px's 1-bit image model).

The model, for pixel (y, x) in raster order, outside the image everything reads 0:
  - three context models, each an adaptive bit probability (arzip.mixing.counters) per
    context: NEAR, the 10 pixels of JBIG's three-line template, direct (1,024 cells); MID,
    16 pixels over three rows (JBIG2's template 0 reach), direct (65,536 cells); FAR, 27
    pixels over four rows, hashed into TABLE_BITS (at most 2^22 cells, fewer for small
    images: what the decoder derives from the geometry);
  - a mixer over their stretched probabilities and a bias, its weight vector chosen by NEAR;
  - the mix refined by an APM keyed by MID's 8 nearest pixels, averaged with the mix.
Every step is integer arithmetic and the decoder runs the encoder's very steps, so both sides
have the same probabilities; the bits go through the compiled binary arithmetic coder
(arzip.mixing.arithmetic). One kernel runs both ways (`decoding` says which), so they cannot
drift apart.
"""
from __future__ import annotations

import math

import numpy as np

from ..native import kernel
from ..mixing import arithmetic, counters
from ..mixing.bilevel import row_bits
from ..mixing.hashing import h32
from ..mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ..mixing.mixer import MIX_SHIFT, dot, train

PAD_TOP, PAD_SIDE = 3, 6          # zero pixels around the image in the kernel's buffer
NEAR_BITS, MID_BITS = 10, 16
TABLE_BITS = 22                   # the FAR model's cells, at most
TABLE_MIN_BITS = 12
INPUTS = 4                        # NEAR, MID, FAR, bias
COUNT_LIMIT = 255                 # a context's adaptation rate falls to 1/(COUNT_LIMIT + 1.25)
MIX_LR = 6
APM_RATE = 7
ROWS_PER_CALL = 256               # the encoder codes bands of this many rows, each into a fresh buffer
WORST_BYTES_PER_PIXEL = 2         # a decision costs at most 12 bits


class State:
    """The model's tables for one image, fresh."""

    def __init__(self, height: int, width: int):
        self.pixels = np.zeros((height + PAD_TOP, width + 2 * PAD_SIDE), dtype=np.uint8)
        self.near = np.zeros(1 << NEAR_BITS, dtype=np.uint32)
        self.mid = np.zeros(1 << MID_BITS, dtype=np.uint32)
        self.far_bits = counters.table_bits(height * width, TABLE_MIN_BITS, TABLE_BITS)
        self.far = np.zeros(1 << self.far_bits, dtype=np.uint32)
        self.weights = np.full((1 << NEAR_BITS, INPUTS), (1 << MIX_SHIFT) // 3, dtype=np.int64)
        self.apm = apm_init(256).astype(np.int64)


def encode(image: np.ndarray, costs: np.ndarray | None = None) -> tuple[bytes, float]:
    """(H, W) 0/1 pixels -> (coded bytes, the model's NLL in bits); costs, an (H, W) float64
    array if given, receives each pixel's cost. Coded as decided, a band of rows at a time:
    memory is the tables, the pixels and the output, about 1 byte per pixel."""
    h, w = image.shape
    st = State(h, w)
    st.pixels[PAD_TOP:, PAD_SIDE:PAD_SIDE + w] = image
    nll = np.zeros(1)
    per_pixel = costs if costs is not None else np.zeros((0, 0))
    coder = arithmetic.encoder_state()
    coded = arithmetic.encode_bands(coder, h, ROWS_PER_CALL, w * WORST_BYTES_PER_PIXEL, lambda y0, y1, buf: _encode_rows(
        st.pixels, y0, y1, w, st.near, st.mid, st.far, st.far_bits, st.weights, st.apm, buf, 0, coder, nll, per_pixel))
    return coded, float(nll[0])


def decode(payload: bytes, height: int, width: int) -> np.ndarray:
    """(H, W) 0/1 pixels of encode's bytes (damaged bytes decode to some pixels, in bounded time)."""
    st = State(height, width)
    data = np.frombuffer(payload, dtype=np.uint8).copy()  # writable: one buffer type serves both ways
    coder = arithmetic.decoder_state(data)
    arithmetic.decode_bands(coder, data, height, width, lambda y0, y1: _decode_rows(
        st.pixels, y0, y1, width, st.near, st.mid, st.far, st.far_bits, st.weights, st.apm, data, 0, coder,
        np.zeros(1), np.zeros((0, 0))))
    return st.pixels[PAD_TOP:, PAD_SIDE:PAD_SIDE + width].copy()


@kernel(inline="always")
def _near(px, r, c):
    """JBIG's three-line template: 3 pixels two rows up, 5 one row up, 2 to the left."""
    return ((px[r - 2, c - 1] << 9) | (px[r - 2, c] << 8) | (px[r - 2, c + 1] << 7)
            | (px[r - 1, c - 2] << 6) | (px[r - 1, c - 1] << 5) | (px[r - 1, c] << 4) | (px[r - 1, c + 1] << 3)
            | (px[r - 1, c + 2] << 2) | (px[r, c - 2] << 1) | px[r, c - 1])


def _kernel(decoding: bool):
    """The coding loop, compiled once each way (`decoding` is a constant inside, so the
    decoder carries none of the encoder's bookkeeping). Rows y0..y1-1 in raster order:
    predict, code (decoding: read the bit from buf and write the pixel; else take the pixel,
    write its bit to buf from `at` and add its cost to nll[0], and to costs[y, x] when costs
    has rows), learn. Returns the new end of buf when encoding."""

    @kernel()
    def code(px, y0, y1, w, near_t, mid_t, far_t, far_bits, weights, apm, buf, at, coder, nll, costs):
        keep = costs.shape[0] > 0
        far_shift = 32 - far_bits
        inputs = np.zeros(INPUTS, dtype=np.int64)
        inputs[3] = 256
        for y in range(y0, y1):
            r = y + PAD_TOP
            for x in range(w):
                c = x + PAD_SIDE
                near = np.int64(_near(px, r, c))
                mid = row_bits(px, r - 2, c - 2, c + 2, 0)
                mid = row_bits(px, r - 1, c - 3, c + 3, mid)
                mid = row_bits(px, r, c - 4, c - 1, mid)
                far = row_bits(px, r - 3, c - 2, c + 2, 0)
                far = row_bits(px, r - 2, c - 3, c + 3, far)
                far = row_bits(px, r - 1, c - 4, c + 4, far)
                far = row_bits(px, r, c - 6, c - 1, far)
                far_cell = h32(far + 0x5BD1E995) >> far_shift
                inputs[0] = STRETCH[counters.p12(near_t, near)]
                inputs[1] = STRETCH[counters.p12(mid_t, mid)]
                inputs[2] = STRETCH[counters.p12(far_t, far_cell)]
                pm = squash(max(-2047, min(2047, dot(weights, near, inputs) >> MIX_SHIFT)))
                apm_ctx = ((mid >> 6) & 0xF0) | (mid & 0xF)  # the 4 nearest above and the 4 to the left
                pa, knot = apm_refine(apm, apm_ctx, pm)
                p = max(1, min(4095, (pm + pa + 1) >> 1))
                if decoding:
                    bit = arithmetic.decode_bit(coder, buf, p)
                    px[r, c] = bit
                else:
                    bit = np.int64(px[r, c])
                    cost = -math.log2((p if bit else 4096 - p) / 4096.0)
                    nll[0] += cost
                    if keep:
                        costs[y, x] = cost
                    at = arithmetic.encode_bit(coder, bit, p, buf, at)
                counters.adapt(near_t, near, bit, COUNT_LIMIT)
                counters.adapt(mid_t, mid, bit, COUNT_LIMIT)
                counters.adapt(far_t, far_cell, bit, COUNT_LIMIT)
                train(weights, near, inputs, ((bit << 12) - pm) * MIX_LR, 1 << 22)
                apm_learn(apm, knot, bit, APM_RATE)
        return at

    return code


_encode_rows, _decode_rows = _kernel(False), _kernel(True)
