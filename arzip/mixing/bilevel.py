"""1-bit pixels (pages, faxes, line art, masks) coded one by one under seven 2-D contexts, mixed:
the model a 1-bit image's pixels take (image part method 10) and a byte block of packed 1-bit
rows (a fax page, block method 14) takes, so it lives here, below both paths.

Why seven: the first bilevel model (arzip/image/bilevel.py, part method 5, still read) had
JBIG's three templates; a page of text has structure of every reach (a glyph's stroke, the
glyph, the line of text above), and paq8px's 1-bit image model mixes many. On a development set
of four fax-shaped pages drawn from man pages (clean, and with a scanner's blur and noise;
bench/bilevel_dev.py, models/EXPERIMENTS.md C44), the four more contexts below took 10.9 % off
method 5's bits: 19-26 % on clean pages, 4 % on noisy ones.

For pixel (y, x) in raster order, everything outside the image reading 0:
  - NEAR, JBIG's three-line template (10 pixels), and MID, JBIG2's template 0 reach (16
    pixels over three rows): direct cells;
  - hashed into one table (at most 2^22 cells, fewer for small images: what the decoder derives
    from the geometry): FAR (27 pixels over four rows); WIDE (17 pixels of the row above, 11 of
    the row two up, 8 to the left: a text line's reach); RUN (the length of the run of the left
    pixel's colour, to 63, with the five pixels above); VERTICAL (the eight pixels above in this
    column and four in each neighbouring column, with the two to the left: rules and strokes);
    FAR ROWS (3 pixels in each of rows 4-6 above, with NEAR);
  - a mixer over their stretched probabilities and a bias: two weight vectors, chosen by NEAR
    and by MID's 8 nearest pixels, their dot products averaged;
  - two APMs (by MID's 8 nearest, by NEAR), averaged with the mix.
Integer arithmetic throughout, and one kernel for both directions (`decoding`, a constant inside
each compiled form), so the decoder has the encoder's probabilities bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from ..native import kernel
from . import arithmetic, counters
from .hashing import h32
from .logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from .mixer import MIX_SHIFT

PAD_TOP, PAD_SIDE = 8, 16         # zero pixels around the image in the kernel's buffer
NEAR_CELLS, MID_CELLS = 1 << 10, 1 << 16
TABLE_BITS, TABLE_MIN_BITS = 22, 12  # the hashed contexts' shared table, at most / at least
CONTEXTS = 7
INPUTS = CONTEXTS + 1             # and a bias
MID_SET = 256                     # weight vectors chosen by MID's 8 nearest pixels, after NEAR's 1024
COUNT_LIMIT = 255
MIX_LR = 16
APM_RATE = 7
ROWS_PER_CALL = 256               # the encoder codes bands of this many rows, each into a fresh buffer
WORST_BYTES_PER_PIXEL = 2         # a decision costs at most 12 bits


class State:
    """The model's tables for one image, fresh."""

    def __init__(self, height: int, width: int):
        self.pixels = np.zeros((height + PAD_TOP, width + 2 * PAD_SIDE), dtype=np.uint8)
        self.direct = np.zeros(NEAR_CELLS + MID_CELLS, dtype=np.uint32)
        self.hashed_bits = counters.table_bits(height * width, TABLE_MIN_BITS, TABLE_BITS)
        self.hashed = np.zeros(1 << self.hashed_bits, dtype=np.uint32)
        self.weights = np.full((NEAR_CELLS + MID_SET, INPUTS), (1 << MIX_SHIFT) // 3, dtype=np.int64)
        self.apms = (apm_init(MID_SET).astype(np.int64), apm_init(NEAR_CELLS).astype(np.int64))

    def arguments(self) -> tuple:
        return self.pixels, self.direct, self.hashed, self.hashed_bits, self.weights, *self.apms


def encode(image: np.ndarray, costs: np.ndarray | None = None) -> tuple[bytes, float]:
    """(H, W) 0/1 pixels -> (coded bytes, the model's NLL in bits); costs, an (H, W) float64
    array if given, receives each pixel's cost (arzip explain). A band of rows at a time: memory
    is the tables, the pixels and the output."""
    h, w = image.shape
    st = State(h, w)
    st.pixels[PAD_TOP:, PAD_SIDE:PAD_SIDE + w] = image
    nll = np.zeros(1)
    per_pixel = costs if costs is not None else np.zeros((0, 0))
    coder = arithmetic.encoder_state()
    coded = arithmetic.encode_bands(coder, h, ROWS_PER_CALL, w * WORST_BYTES_PER_PIXEL, lambda y0, y1, buf: _encode_rows(
        *st.arguments(), y0, y1, w, buf, 0, coder, nll, per_pixel))
    return coded, float(nll[0])


def decode(payload: bytes, height: int, width: int) -> np.ndarray:
    """(H, W) 0/1 pixels of encode's bytes; ValueError where the payload ends before the image
    does (arithmetic.decode_bands): damaged bytes never decode to a large image for free."""
    st = State(height, width)
    data = np.frombuffer(payload, dtype=np.uint8).copy()  # writable: one buffer type serves both ways
    coder = arithmetic.decoder_state(data)
    arithmetic.decode_bands(coder, data, height, width, lambda y0, y1: _decode_rows(
        *st.arguments(), y0, y1, width, data, 0, coder, np.zeros(1), np.zeros((0, 0))))
    return st.pixels[PAD_TOP:, PAD_SIDE:PAD_SIDE + width].copy()


@kernel(inline="always")
def row_bits(px, r, c0, c1, acc):
    """acc with the pixels of row r from column c0 to c1 appended, one bit each."""
    for c in range(c0, c1 + 1):
        acc = (acc << 1) | px[r, c]
    return acc


@kernel(inline="always")
def _contexts(px, r, c, run, cells, hashed_shift):
    """The seven contexts' cells for the pixel at (r, c) of the padded buffer; returns MID."""
    left = np.int64(px[r, c - 1])
    near = row_bits(px, r - 2, c - 1, c + 1, 0)
    near = row_bits(px, r - 1, c - 2, c + 2, near)
    near = row_bits(px, r, c - 2, c - 1, near)
    mid = row_bits(px, r - 2, c - 2, c + 2, 0)
    mid = row_bits(px, r - 1, c - 3, c + 3, mid)
    mid = row_bits(px, r, c - 4, c - 1, mid)
    far = row_bits(px, r - 3, c - 2, c + 2, 0)
    far = row_bits(px, r - 2, c - 3, c + 3, far)
    far = row_bits(px, r - 1, c - 4, c + 4, far)
    far = row_bits(px, r, c - 6, c - 1, far)
    wide = row_bits(px, r - 2, c - 5, c + 5, 0)
    wide = row_bits(px, r - 1, c - 8, c + 8, wide)
    wide = row_bits(px, r, c - 8, c - 1, wide)
    above = row_bits(px, r - 1, c - 2, c + 2, 0)
    vertical = 0
    for k in range(1, 9):
        vertical = (vertical << 1) | px[r - k, c]
    for k in range(1, 5):
        vertical = (vertical << 2) | (px[r - k, c - 1] << 1) | px[r - k, c + 1]
    vertical = (vertical << 2) | (left << 1) | px[r, c - 2]
    far_rows = row_bits(px, r - 6, c - 1, c + 1, 0)
    far_rows = row_bits(px, r - 5, c - 1, c + 1, far_rows)
    far_rows = row_bits(px, r - 4, c - 1, c + 1, far_rows)
    cells[0] = near
    cells[1] = NEAR_CELLS + mid
    cells[2] = h32(far + 0x5BD1E995) >> hashed_shift
    cells[3] = h32(wide * 3 + 0x1234567) >> hashed_shift
    cells[4] = h32((min(run, 63) * 2 + left) * 32 + above + (7 << 40)) >> hashed_shift
    cells[5] = h32(vertical + (11 << 40)) >> hashed_shift
    cells[6] = h32((far_rows << 10) + near + (13 << 40)) >> hashed_shift
    return mid


def _kernel(decoding: bool):
    """The coding loop, compiled once each way. Rows y0..y1-1 in raster order: predict, code
    (decoding: read the bit from buf and write the pixel; else take the pixel, write its bit to
    buf from `at` and add its cost to nll[0], and to costs[y, x] where costs has rows), learn.
    Returns the new end of buf when encoding."""

    @kernel()
    def code(px, direct, hashed, hashed_bits, weights, apm_mid, apm_near, y0, y1, w, buf, at, coder, nll, costs):
        keep = costs.shape[0] > 0
        hashed_shift = 32 - hashed_bits
        cells = np.zeros(CONTEXTS, dtype=np.int64)
        inputs = np.zeros(INPUTS, dtype=np.int64)
        inputs[CONTEXTS] = 256
        for y in range(y0, y1):
            r = y + PAD_TOP
            run = 0  # of the left pixel's colour, ending at it
            for x in range(w):
                c = x + PAD_SIDE
                run = 0 if x == 0 else run + 1 if x > 1 and px[r, c - 1] == px[r, c - 2] else 1
                mid = _contexts(px, r, c, run, cells, hashed_shift)
                for k in range(CONTEXTS):
                    inputs[k] = STRETCH[counters.p12(direct if k < 2 else hashed, cells[k])]
                near_row, mid_row = cells[0], NEAR_CELLS + (((mid >> 6) & 0xF0) | (mid & 0xF))
                dot = 0
                for k in range(INPUTS):
                    dot += (weights[near_row, k] + weights[mid_row, k]) * inputs[k]
                pm = squash(max(-2047, min(2047, (dot >> 1) >> MIX_SHIFT)))
                pa, knot_mid = apm_refine(apm_mid, mid_row - NEAR_CELLS, pm)
                pb, knot_near = apm_refine(apm_near, near_row, pm)
                p = max(1, min(4095, (2 * pm + pa + pb + 2) >> 2))
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
                for k in range(CONTEXTS):
                    counters.adapt(direct if k < 2 else hashed, cells[k], bit, COUNT_LIMIT)
                err = ((bit << 12) - pm) * MIX_LR
                for k in range(INPUTS):
                    step = (inputs[k] * err + 0x8000) >> 16
                    weights[near_row, k] = max(-(1 << 22), min(1 << 22, weights[near_row, k] + step))
                    weights[mid_row, k] = max(-(1 << 22), min(1 << 22, weights[mid_row, k] + step))
                apm_learn(apm_mid, knot_mid, bit, APM_RATE)
                apm_learn(apm_near, knot_near, bit, APM_RATE)
        return at

    return code


_encode_rows, _decode_rows = _kernel(False), _kernel(True)
