"""Image payload through the adaptive model: the network's tables as the prior, context mixing
around them (arzip.image.adaptive), one bit at a time with constriction's range coder.

Stream order, shared by encoder and decoder: the waves of the schedule (arzip.image.waves);
inside a wave the coded channels in the model's order; inside a channel bit 7 (the most
significant) of every pixel of the wave in the wave's pixel order, then bit 6, ... bit 0.
Every bit is coded with the 12-bit probability adaptive.predict gives it
(`constriction.stream.model.Bernoulli(perfect=False)` on p / 4096, as the byte path does).

The encoder computes the network's tables for large chunks of waves and runs the model over
them in one compiled call per (wave, channel); the decoder must know a wave's earlier channels
before their tables exist, so it runs the network per wave and the model per bit.
"""
from __future__ import annotations

import numpy as np

from ..coder import Decoder, Encoder, bit_costs
from . import adaptive
from .codec import chunk_inputs, schedule_of
from .exact import CHANNELS, ExactImageModel, PixelFeatures
from .neighbourhood import gather


def _network_bits(model: ExactImageModel, c: int, feats: PixelFeatures,
                  current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel c's network prior for a batch: node probabilities (n, 256) and table means (n,)."""
    tables = model.channel_tables(c, feats, current, window=False)[1]
    node_p = np.empty((len(tables), 256), dtype=np.int64)
    mean = np.empty(len(tables), dtype=np.int64)
    adaptive.network_bits(tables, node_p, mean)
    return node_p, mean


def _state(sched) -> adaptive.AdaptiveState:
    ctx = sched.context
    if min(ctx.pad_top, ctx.pad_left, ctx.pad_right) < adaptive.REACH:
        raise ValueError(f"context {ctx.name} pads too little for the adaptive model's neighbours")
    return adaptive.AdaptiveState(len(sched.tiles) * sched.rows * sched.cols * CHANNELS,
                                  int(np.diff(sched.bounds).max()))


def encode_image(model: ExactImageModel, image: np.ndarray, layout: int,
                 disabled: int = adaptive.USE_ALL) -> tuple[bytes, float]:
    """(H, W, 3) uint8 -> (payload, NLL in bits under the adaptive model)."""
    sched = schedule_of(model, layout, *image.shape[:2])
    flat = sched.buffer(image[..., model.config.coding_order]).reshape(-1)
    state, row = _state(sched), sched.cols * CHANNELS
    encoder, nll = Encoder(), 0.0
    for waves, feats, current, values in chunk_inputs(model, image, sched):
        first, last = sched.bounds[waves.start], sched.bounds[waves.stop]
        base, ys, xs = sched.base[first:last], sched.ys[first:last], sched.xs[first:last]
        priors = [_network_bits(model, c, feats, current) for c in range(model.config.coded_channels)]
        probs = np.empty(8 * CHANNELS * len(base), dtype=np.int64)
        bits = np.empty_like(probs)
        k = 0
        for w in range(waves.start, waves.stop):
            a, b = sched.bounds[w] - first, sched.bounds[w + 1] - first
            for c, (node_p, mean) in enumerate(priors):
                k = adaptive.encode_batch(state.arrays, state.batch, flat, base[a:b], ys[a:b], xs[a:b], c, row,
                                          node_p[a:b], mean[a:b], values[a:b, c], disabled, probs, bits, k)
        encoder.encode_bits(bits[:k], probs[:k])
        nll += float(bit_costs(bits[:k], probs[:k]).sum())
    return encoder.finish(), nll


def decode_image(model: ExactImageModel, payload: bytes, height: int, width: int, layout: int) -> np.ndarray:
    """Inverse of encode_image."""
    sched = schedule_of(model, layout, height, width)
    buf = sched.buffer()
    flat = buf.reshape(-1)
    state, row = _state(sched), sched.cols * CHANNELS
    sc = state.batch
    decoder = Decoder(payload)
    for w in range(sched.waves):
        first, last = sched.bounds[w], sched.bounds[w + 1]
        base, n = sched.base[first:last], last - first
        feats = model.pixel_features(gather(flat, base, sched.offsets))
        current = np.zeros((CHANNELS, n), dtype=np.float64)
        for c in range(model.config.coded_channels):
            node_p, mean = _network_bits(model, c, feats, current)
            adaptive.begin(state.arrays, sc, flat, base, sched.ys[first:last], sched.xs[first:last], c, row, mean)
            for j in range(8):
                adaptive.predict(state.arrays, sc, n, c, j, node_p, adaptive.USE_ALL)
                adaptive.update(state.arrays, sc, n, c, j, decoder.decode_bit_probs(sc[17][:n]))
            values = sc[12][:n] - 256  # c0 holds a leading 1 above the value's 8 bits
            adaptive.finish(state.arrays, sc, base, c, values)
            flat[base + c] = values
            current[c] = values - 128
        if model.config.gray:  # the context reads all three channels, as in training
            flat[base + 1] = flat[base + 2] = flat[base]
    return np.ascontiguousarray(sched.image(buf)[..., np.argsort(model.config.coding_order)])
