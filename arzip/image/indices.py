"""Images of few values (palette indices, 2 and 4-bit gray) coded pixel by pixel under exact 2-D
contexts of their neighbours' values, mixed.

Why: the byte path sees such an image as packed rows, so a context reaches the row above only
through byte repeats; the learned RGB model sees a palette image's colours, which a quantized
graphic or a dithered photo does not follow smoothly. Values like these are labels: what
predicts one is which labels sit around it (paq8px's model of 8-bit palette images, JBIG for
one bit), not arithmetic on them. Against the byte path this model halves the bits of
quantized charts and UI and takes 10-30 % off dithered photos (models/EXPERIMENTS.md, K8).

The part's payload is one byte, the bits coded per pixel (d = bit_length of the largest value,
at least 1), then the compiled binary coder's bytes. For pixel (y, x) in raster order (values
outside the image read 256): its d bits from the most significant, each a node of a binary
tree over the value (1, then 2 * node + bit), predicted by ten context models keyed by hashes
of: nothing; W; N; W, N; W, N, NW; W, N, NE; W, N, NW, NE; W, WW, N, NN; N, NE, NNE; and the
seven neighbours together. Each model keeps a line of 16 adaptive cells per (context, nibble)
(arzip.mixing.counters), the second nibble's line keyed by the first. Two weight vectors mix
their stretched probabilities and a bias, one chosen by the node, one by (bit, which of
W = N, N = NW, N = NE hold); the mean of their dot products is squashed and an APM keyed by
(W's low 8 bits, node) refines it: (mix + 3 APM) / 4. Every step is integer arithmetic but for
the costs the encoder reports, and one kernel runs both ways.
"""
from __future__ import annotations

import math

import numpy as np

from ..native import kernel
from ..errors import FormatError
from ..mixing import arithmetic, counters
from ..mixing.hashing import M32, h32
from ..mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ..mixing.mixer import MIX_SHIFT, dot, train

MODELS = 10                # hashed context models (see _kernel)
LINE_BITS_MIN, LINE_BITS_MAX = 10, 18  # log2 of each model's lines of 16 cells (64 bytes)
OUTSIDE = 256              # the value read outside the image
PAD = 2
COUNT_LIMIT = 255
MIX_LR = 12
APM_RATE = 7
SET_NODE, SET_SHAPE = 0, 256  # weight sets: by the index's bits so far, by (bit, equal neighbours)
WEIGHT_ROWS = 256 + 8 * 8
ROWS_PER_CALL = 64         # the encoder codes bands of this many rows, each into a fresh buffer
WORST_BYTES_PER_PIXEL = 13  # 8 decisions of at most 12 bits


class State:
    """The model's tables for one image, fresh, and the pixels in a frame of OUTSIDE."""

    def __init__(self, height: int, width: int, depth: int):
        self.line_bits = counters.table_bits(height * width * (2 if depth > 4 else 1), LINE_BITS_MIN, LINE_BITS_MAX)
        self.slots = counters.line_table((MODELS << self.line_bits) * 16)
        self.weights = np.full((WEIGHT_ROWS, MODELS + 1), (1 << MIX_SHIFT) // MODELS, dtype=np.int64)
        self.apm = apm_init(1 << 16).astype(np.int64)
        self.pixels = np.full((height + PAD, width + 2 * PAD), OUTSIDE, dtype=np.int64)


def encode(image: np.ndarray, costs: np.ndarray | None = None) -> tuple[bytes, float]:
    """(H, W) uint8 values -> (the part's payload, the model's NLL in bits); costs, an (H, W)
    float64 array if given, receives each pixel's cost."""
    h, w = image.shape
    depth = max(1, int(image.max()).bit_length()) if image.size else 1
    st = State(h, w, depth)
    st.pixels[PAD:, PAD:PAD + w] = image
    nll = np.zeros(1)
    per_pixel = costs if costs is not None else np.zeros((0, 0))
    coder = arithmetic.encoder_state()
    coded = arithmetic.encode_bands(coder, h, ROWS_PER_CALL, w * WORST_BYTES_PER_PIXEL, lambda y0, y1, buf: _encode_rows(
        st.pixels, depth, y0, y1, w, st.line_bits, st.slots, st.weights, st.apm, buf, 0, coder, nll, per_pixel))
    return bytes([depth]) + coded, float(nll[0])


def decode(payload: bytes, height: int, width: int, depth_limit: int) -> np.ndarray:
    """(H, W) uint8 of encode's payload (damaged bytes decode to some values, in bounded time;
    a payload that codes more than depth_limit bits per value is refused)."""
    if not payload or not 1 <= payload[0] <= depth_limit:
        raise FormatError("corrupted archive (an index part's bits per value do not fit the image)")
    depth = payload[0]
    st = State(height, width, depth)
    st.pixels[PAD:, PAD:PAD + width] = 0
    data = np.frombuffer(payload[1:], dtype=np.uint8).copy()  # writable: one buffer type serves both ways
    coder = arithmetic.decoder_state(data)
    arithmetic.decode_bands(coder, data, height, width, lambda y0, y1: _decode_rows(
        st.pixels, depth, y0, y1, width, st.line_bits, st.slots, st.weights, st.apm, data, 0, coder, np.zeros(1),
        np.zeros((0, 0))))
    return st.pixels[PAD:, PAD:PAD + width].astype(np.uint8)


@kernel(inline="always")
def _mix(h, v):
    """A hash of hash h followed by value v."""
    return h32((h * 0x2F0B3 + v + 1) & M32)


def _kernel(decoding: bool):
    """The coding loop, compiled once each way (`decoding` is a constant inside, so the
    decoder carries none of the encoder's bookkeeping). Rows y0..y1-1 in raster order: predict
    each of a value's `depth` bits, code it (decoding: read it from buf, and write the value;
    else take it, write to buf from `at` and add its cost to nll[0], and to costs[y, x] when
    costs has rows), learn. Returns the new end of buf when encoding."""

    @kernel()
    def code(px, depth, y0, y1, w, line_bits, slots, weights, apm, buf, at, coder, nll, costs):
        keep = costs.shape[0] > 0
        hashes = np.zeros(MODELS, dtype=np.int64)
        lines = np.zeros(MODELS, dtype=np.int64)
        cells = np.zeros(MODELS, dtype=np.int64)
        inputs = np.zeros(MODELS + 1, dtype=np.int64)
        inputs[MODELS] = 256
        for y in range(y0, y1):
            r = y + PAD
            for x in range(w):
                c = x + PAD
                W, N, NW, NE = px[r, c - 1], px[r - 1, c], px[r - 1, c - 1], px[r - 1, c + 1]
                WW, NN, NNE = px[r, c - 2], px[r - 2, c], px[r - 2, c + 1]
                hashes[0] = 0
                hashes[1] = _mix(1, W)
                hashes[2] = _mix(2, N)
                hashes[3] = _mix(_mix(3, W), N)
                hashes[4] = _mix(_mix(_mix(4, W), N), NW)
                hashes[5] = _mix(_mix(_mix(5, W), N), NE)
                hashes[6] = _mix(_mix(_mix(_mix(6, W), N), NW), NE)
                hashes[7] = _mix(_mix(_mix(_mix(7, W), WW), N), NN)
                hashes[8] = _mix(_mix(_mix(8, N), NE), NNE)
                hashes[9] = _mix(_mix(_mix(hashes[6], WW), NN), NNE)
                same = (1 if W == N else 0) + (2 if N == NW else 0) + (4 if N == NE else 0)
                value = px[r, c]
                node = 1
                for j in range(depth):
                    if j == 0 or j == 4:
                        for i in range(MODELS):
                            lines[i] = counters.line(slots, (i << line_bits) * 16, line_bits, h32(hashes[i] + node * 0x9E3779))
                    sub = node if j < 4 else (node & ((1 << (j - 4)) - 1)) | (1 << (j - 4))
                    for i in range(MODELS):
                        cells[i] = lines[i] + sub
                        inputs[i] = STRETCH[counters.p12(slots, cells[i])]
                    row_a = SET_NODE + node
                    row_b = SET_SHAPE + j * 8 + same
                    d = (dot(weights, row_a, inputs) + dot(weights, row_b, inputs)) >> (MIX_SHIFT + 1)
                    pm = max(1, min(4095, squash(max(-2047, min(2047, d)))))
                    pa, knot = apm_refine(apm, ((W & 0xFF) << 8) | node, pm)
                    p = max(1, min(4095, (pm + 3 * pa + 2) >> 2))
                    if decoding:
                        bit = arithmetic.decode_bit(coder, buf, p)
                    else:
                        bit = (value >> (depth - 1 - j)) & 1
                        cost = -math.log2((p if bit else 4096 - p) / 4096.0)
                        nll[0] += cost
                        if keep:
                            costs[y, x] += cost
                        at = arithmetic.encode_bit(coder, bit, p, buf, at)
                    apm_learn(apm, knot, bit, APM_RATE)
                    for i in range(MODELS):
                        counters.adapt(slots, cells[i], bit, COUNT_LIMIT)
                    err = ((bit << 12) - pm) * MIX_LR
                    train(weights, row_a, inputs, err, 1 << 22)
                    train(weights, row_b, inputs, err, 1 << 22)
                    node = 2 * node + bit
                if decoding:
                    px[r, c] = node - (1 << depth)
        return at

    return code


_encode_rows, _decode_rows = _kernel(False), _kernel(True)
