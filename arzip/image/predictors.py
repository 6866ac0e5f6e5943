"""The predictor bank of the adaptive image model (arzip.image.adaptive): guesses of a
subpixel's value from its causal neighbours, within its channel and across channels, and two
online least-mean-squares predictors, all in integers; and how their distances and errors are
quantized into contexts.

Every neighbour read here lies in an earlier wave (arzip.image.neighbourhood) or is an earlier
channel of the same pixel, so encoder and decoder see the same values. Positions are indices in
the padded (tile, row, column, channel) buffer of arzip.image.waves: W is 3 bytes back, N one
row (`row` bytes) back.
"""
from __future__ import annotations

import numpy as np

from ..native import kernel

N_BASE = 10                      # neighbour predictors per channel (base_predictions)
N_LMS_IN = 14                    # inputs of the least-mean-squares predictors
LMS_RATES = (24, 4)              # their step sizes, in 1/256 (a fast and a slow one)
N_LMS = len(LMS_RATES)
N_PRED = 2 * N_BASE + 1 + N_LMS  # the bank: base, inter-channel, the network's mean, LMS
DIST_BUCKETS = 33                # distance of a prediction from a node's split point, quantized
ERR_BUCKETS = 8                  # a predictor's recent error around the pixel, quantized


@kernel(inline="always")
def clip8(v):
    """v clamped to a sample's range."""
    return min(max(v, 0), 255)


@kernel()
def base_predictions(flat, pos, row, out, at):
    """N_BASE neighbour predictors of the subpixel at flat[pos] (row = padded row stride in
    bytes), written to out[at:]; neighbours in the coding orientation, all from earlier waves."""
    W = np.int64(flat[pos - 3])
    N = np.int64(flat[pos - row])
    NW = np.int64(flat[pos - row - 3])
    NE = np.int64(flat[pos - row + 3])
    WW = np.int64(flat[pos - 6])
    NN = np.int64(flat[pos - 2 * row])
    NNE = np.int64(flat[pos - 2 * row + 3])
    hi, lo = max(W, N), min(W, N)
    out[at + 0] = W
    out[at + 1] = N
    out[at + 2] = NE
    out[at + 3] = W + N - NW
    out[at + 4] = N + NE - NNE
    out[at + 5] = (W + NE + 1) >> 1
    out[at + 6] = lo if NW >= hi else (hi if NW <= lo else W + N - NW)
    out[at + 7] = 2 * W - WW
    out[at + 8] = 2 * N - NN
    out[at + 9] = W + NE - N


@kernel()
def predictions(flat, pos, row, c, net_mean, pred, scratch):
    """The predictor bank: the base predictors on this channel, the same corrected by the error
    each makes on the previous channel of this pixel (inter-channel), and the network's mean."""
    base_predictions(flat, pos, row, scratch, 0)
    if c > 0:
        base_predictions(flat, pos - 1, row, scratch, N_BASE)
        here = np.int64(flat[pos - 1])
    for k in range(N_BASE):
        pred[k] = clip8(scratch[k])
        pred[N_BASE + k] = clip8(scratch[k] + here - scratch[N_BASE + k]) if c > 0 else pred[k]
    pred[2 * N_BASE] = net_mean


@kernel()
def lms_inputs(flat, pos, row, c, x):
    """The LMS predictors' inputs, relative to ref = (W + N) / 2 (returned): the neighbours of
    the subpixel and, from the second channel on, the pixel's earlier channels and their
    neighbours."""
    W = np.int64(flat[pos - 3])
    N = np.int64(flat[pos - row])
    ref = (W + N + 1) >> 1
    x[0] = W - ref
    x[1] = N - ref
    x[2] = np.int64(flat[pos - row - 3]) - ref
    x[3] = np.int64(flat[pos - row + 3]) - ref
    x[4] = np.int64(flat[pos - 6]) - ref
    x[5] = np.int64(flat[pos - 2 * row]) - ref
    x[6] = np.int64(flat[pos - 2 * row + 3]) - ref
    x[7] = np.int64(flat[pos - row - 6]) - ref
    x[8] = np.int64(flat[pos - 2 * row - 3]) - ref
    x[9] = np.int64(flat[pos - 2 * row + 6]) - ref
    for k in range(10, N_LMS_IN):
        x[k] = 0
    if c > 0:
        d = pos - 1
        here = np.int64(flat[d])
        x[10] = here - ((np.int64(flat[d - 3]) + np.int64(flat[d - row]) + 1) >> 1)
        x[11] = here - np.int64(flat[d - 3])
        x[12] = here - np.int64(flat[d - row])
    if c > 1:
        d = pos - 2
        x[13] = np.int64(flat[d]) - ((np.int64(flat[d - 3]) + np.int64(flat[d - row]) + 1) >> 1)
    return ref


@kernel(inline="always")
def error_bucket(e):
    """0..7 from a summed absolute error (log-like steps)."""
    if e < 2:
        return 0
    if e < 5:
        return 1
    if e < 10:
        return 2
    if e < 18:
        return 3
    if e < 32:
        return 4
    if e < 56:
        return 5
    if e < 100:
        return 6
    return 7


@kernel(inline="always")
def dist_bucket(d):
    """0..32 from a signed distance: 16 for 0, steps of 1 up to 4, then about logarithmic."""
    a = abs(d)
    if a < 4:
        q = a
    elif a < 8:
        q = 4 + ((a - 4) >> 1)
    elif a < 16:
        q = 6 + ((a - 8) >> 2)
    elif a < 32:
        q = 8 + ((a - 16) >> 3)
    elif a < 64:
        q = 10 + ((a - 32) >> 4)
    elif a < 128:
        q = 12 + ((a - 64) >> 5)
    else:
        q = 14 + min((a - 128) >> 6, 1)
    return 16 + q if d >= 0 else 15 - q


DIST_LUT = np.array([dist_bucket.py_func(d) for d in range(-256, 256)], dtype=np.int64)


@kernel(inline="always")
def dist_of(d):
    """dist_bucket(d) for |d| <= 255, from a table: no branches in the hot loop."""
    return DIST_LUT[d + 256]
