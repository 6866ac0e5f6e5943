"""The byte network's integer steps, shared by both byte models (arzip/bytes/cm and the first
model, arzip/bytes/mixer.py): its hidden layer once a byte (the previous CONTEXT bytes' rows
of the first layer summed, relu, shifted, clipped to [0, HIDDEN_MAX]) and its logit for each
bit-tree node (arzip/bytes/exact.py defines the integers).

Why the buffers: the caller keeps the sums' buffer between bytes (no allocation a byte), and
the cm coder keeps the hidden layer in int32, so the output layer's 384 products a bit
vectorise as 32-bit multiplies; the network had been 38 % of the coder's time
(models/EXPERIMENTS.md C10, C11).
"""
from __future__ import annotations

import numpy as np

from ..native import kernel

HIDDEN_MAX = 4095  # the byte network's hidden activations are integers in [0, HIDDEN_MAX]


@kernel(inline="always")
def hidden_layer(i, data, first, first_bias, act_shift, acc, hidden):
    """hidden[:] for byte i of data, from the bytes before it (0 before the start); acc: an
    int64 buffer of the layer's width."""
    width = first.shape[0]
    for k in range(acc.shape[0]):
        acc[k] = first_bias[k]
    for j in range(width):
        pos = i - width + j
        row = first[j, data[pos] if pos >= 0 else 0]
        for k in range(acc.shape[0]):
            acc[k] += row[k]
    for k in range(acc.shape[0]):
        a = acc[k]
        if a <= 0:
            hidden[k] = 0
        else:
            sh = act_shift[k]
            a = a >> sh if sh >= 0 else a << (-sh)
            hidden[k] = min(a, HIDDEN_MAX)


@kernel(inline="always")
def logit(c0, out_w, out_b, out_shift, hidden):
    """The network's logit for node c0, in the mixer's stretch units, clipped to +-2047."""
    acc = out_b[c0]
    for k in range(hidden.shape[0]):
        acc += np.int64(out_w[c0, k] * hidden[k])
    return max(-2047, min(2047, acc >> out_shift[c0]))
