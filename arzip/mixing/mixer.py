"""The gated linear mixer of the mixing engine, in integers: a weight vector (fixed point,
2^16 = 1) chosen by a context combines the inputs (stretch-domain logits), and learns from the
coded bit by err * input, err = (bit * 4096 - p) * learning rate.
"""
from __future__ import annotations

from ..native import kernel


MIX_SHIFT = 16


@kernel(inline="always")
def dot(weights, row, inputs):
    """Sum of weights[row, i] * inputs[i], at scale 2^MIX_SHIFT."""
    acc = 0
    for i in range(inputs.shape[0]):
        acc += weights[row, i] * inputs[i]
    return acc


@kernel(inline="always")
def train(weights, row, inputs, err, limit):
    """One learning step of weight vector `row`; weights stay within +-limit."""
    for i in range(inputs.shape[0]):
        weights[row, i] = max(-limit, min(limit, weights[row, i] + ((inputs[i] * err + 0x8000) >> 16)))
