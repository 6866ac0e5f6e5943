"""The adaptive image model: online context mixing around the learned network, bit by bit.

Each subpixel is coded as 8 binary decisions, most significant bit first (node c0 = 1, then
2 * c0 + bit). For every decision these inputs, logits in stretch units (logit * 256, clipped
to +-2047), are mixed:
- the network's probability of the bit, from the cumulative sums of its table
  (arzip.image.tables; network_prior, adaptive_steps.window_prior): the trained prior;
- a bank of predictors (arzip.image.predictors: neighbour gradients within and across
  channels, MED, the network's mean, two online LMS predictors): for each, an adaptive
  probability keyed by where the prediction lies relative to the values still possible (its
  distance from the split point of the node), by the predictor's recent error around the
  pixel, the channel and the bit position;
- hashed contexts of exact and quantized neighbour values (within the channel, across
  channels, with the pixel's position parity), each an adaptive probability per node, 16
  slots per nibble (arzip.mixing.counters);
- a bias.
A two-layer gated linear mixer learns the weights online: weight sets chosen by channel and
bit position, and by it with the best predictor's recent error, the network's confidence or
the position parity; a second layer per channel and bit combines them. APM stages refine the
result to a 12-bit probability. Which of these inputs, sets and stages run, and how large the
tables are, is the level's profile (arzip.image.profiles): the full profile has them all; the
lighter ones read the network's window tables instead (window_prior) and leave the bits the
network is sure of to it alone.

Pixels are coded in the wave order of arzip.image.waves: per (wave, channel) the pixels of the
wave are a batch whose bit j is predicted for all of them, coded, then learned from in pixel
order, exactly as the decoder does it. A pixel's contexts only read earlier waves (its causal
neighbourhood) and its own earlier channels, so the batch never reads what it codes.

Exactness: integer arithmetic only (int64 and uint32 on values that cannot overflow), in the
same order on both sides.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..native import kernel
from ..mixing import counters
from ..mixing.logistic import apm_init
from ..mixing.mixer import MIX_SHIFT
from . import adaptive_steps as steps
from .exact import trunk_features
from .predictors import DIST_BUCKETS, ERR_BUCKETS, N_LMS, N_LMS_IN, N_PRED
from .profiles import CHANNELS, N_HASHED, Profile

REACH = 2  # neighbours read up to 2 rows up and 2 columns either side: the padding must cover that


class AdaptiveState:
    """What the model learns while an image (or a stripe) is coded, and the scratch of one batch:
    the profile's kernels (kernels()) take them as tuples of arrays (`arrays`, `batch`)."""

    def __init__(self, profile: Profile, buffer_size: int, batch_capacity: int) -> None:
        args = profile.kernel_args()
        line_base, n_sets, tracked = args[2], len(profile.sets), args[7]
        weights = np.zeros((int(args[5][-1]), profile.inputs), dtype=np.int64)
        weights[:, 0] = 1 << MIX_SHIFT  # the first layer starts as the network alone
        self.arrays = (
            counters.line_table(int(line_base[-1])),  # 0 hashed context slots: p22 << 10 | count (0: p = 1/2)
            np.zeros(N_PRED * CHANNELS * 8 * ERR_BUCKETS * DIST_BUCKETS, dtype=np.uint32),  # 1 predictor maps
            weights,                                     # 2 first mixer layer (set rows, inputs)
            np.full((CHANNELS * 8, n_sets), (1 << MIX_SHIFT) // max(n_sets, 1), dtype=np.int64),  # 3 second layer
            apm_init(CHANNELS * 256),                    # 4 APM by channel and node
            apm_init(CHANNELS * 8 * DIST_BUCKETS),       # 5 APM by channel, bit and best prediction
            np.zeros((len(tracked), buffer_size), dtype=np.uint8),  # 6 per tracked predictor: |prediction -
                                                                             # value| per coded subpixel, <= 255
            np.zeros((CHANNELS, N_LMS, N_LMS_IN), dtype=np.int64),  # 7 LMS weights, 2^16 = 1
        )
        n = batch_capacity
        z = lambda *shape: np.zeros(shape, dtype=np.int64)  # noqa: E731
        n_ctx, n_pred = len(profile.contexts), len(profile.predictors)
        self.batch = (
            z(n, N_PRED), z(n, N_PRED), z(n),            # 0 predictions, 1 their error buckets, 2 best
            z(n, N_HASHED), z(n, n_ctx),                 # 3 context hashes, 4 slot lines
            z(n, profile.inputs), z(n, n_pred), z(n, n_sets),  # 5 mixer inputs, 6 predictor-map slots, 7 sets
            z(n), z(n, n_sets), z(n, n_sets), z(n, 2),   # 8 mixer p, 9 first-layer logits, 10 their p, 11 APM slots
            z(n),                                        # 12 c0: 1, then the value's bits so far
            z(n, N_LMS_IN), z(n), z(n, N_LMS),           # 13 LMS inputs, 14 reference, 15 predictions
            z(n),                                        # 16 the final 12-bit probabilities
            np.zeros(n, dtype=np.float64),               # 17 the same / 4096, as the coder takes them
            z(n),                                        # 18 position parity: (y mod 2) * 2 + x mod 2
            z(n),                                        # 19 1 where the bit is certain (profile.certain)
            z(n), z(n), z(n),                            # 20-22 mixture prior: the masses below the node's
        )                                                #   lower bound, its upper bound and its split point


class Kernels(NamedTuple):
    """The model's kernels compiled for one profile (kernels()), its inputs, tables and stages
    held as constants. All take the state (AdaptiveState.arrays, .batch) first.
    - begin(st, sc, flat, base, ys, xs, c, row, net_mean): start channel c of a batch of n
      pixels (base: flat index of each pixel's subpixel 0 in the padded buffer, row: its row
      stride; ys, xs: image coordinates): predictions, errors and context hashes, read from
      earlier waves and the pixels' earlier channels only;
    - predict(st, sc, n, c, j, cum, start, spread, lut): the probability that bit j (0: most
      significant) of channel c is 1, for the n pixels, into sc[16] (12-bit) and sc[17]
      (/ 4096). cum, start, spread: the network's prior (network_prior, steps.window_prior), or with
      the profile's mixture prior cum the pixels' mixtures (arzip.image.tables.mixture_rows)
      and lut the model's sigmoid table;
    - update(st, sc, n, c, j, bits): learn from bit j of the n pixels, pixel by pixel;
    - finish(st, sc, base, c, values): after channel c of the batch is coded, the predictors'
      errors that later pixels' contexts read, and a step of the LMS predictors;
    - encode_batch(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, lut, values,
      probs_out, bits_out, k0): the encoder's whole channel c of a batch, the same steps in the
      same order as the decoder's; writes each bit's 12-bit probability and value in stream
      order (bit j of every pixel, then bit j + 1) from index k0; returns the next index;
    - decode_wave(st, sc, flat, base, ys, xs, row, net, coder, data): the decoder's
      whole wave with the compiled coder (arzip.mixing.arithmetic: coder its state, data the
      stream), every coded channel in one call, each channel's prior built first from the
      network's head (arzip.image.tables: window tables, or the mixtures with the mixture
      prior) and the channels decoded before it.
      net: the head's weights and mixture parameters per channel, the wave's partial sums, and
      scratch (arzip.image.mixing_codec.WaveNetwork, built once per image). One compiled call
      per wave keeps the interpreter out of the mixing;
    - decode_waves(st, sc, flat, base, ys, xs, bounds, row, offsets, trunk, gemm, gemm64, net, coder,
      data): every wave of a stripe (wave w: pixels bounds[w] to bounds[w + 1] of base, ys, xs),
      each wave's features (arzip.image.exact.trunk_features: offsets the context's, trunk the
      layers and buffers, gemm and gemm64 the BLAS products of arzip.image.blas) and then
      decode_wave, in one call that never takes the interpreter, so stripes decoded side by
      side share nothing but the cores."""
    begin: Callable
    predict: Callable
    update: Callable
    finish: Callable
    encode_batch: Callable
    decode_wave: Callable
    decode_waves: Callable


_compiled: dict[Profile, Kernels] = {}


def kernels(profile: Profile) -> Kernels:
    """The kernels of a profile, compiled on first use (numba caches them on disk per profile)."""
    if profile not in _compiled:
        _compiled[profile] = _compile(profile)
    return _compiled[profile]


def _compile(profile: Profile) -> Kernels:
    """Closures over the profile's constants (numba freezes closure arrays into the code), which
    call the steps of arzip.image.adaptive_steps with them; each profile's kernels, and their
    disk cache entries, are their own."""
    use_pred, use_ctx, line_base, line_bits, sets, set_base, flags, tracked = profile.kernel_args()
    need = np.array([k in use_ctx for k in range(N_HASHED)])
    network, apm1_on, apm2_on, certain, uses_lms, mixture = (int(f) for f in flags)
    n_in = profile.inputs

    n_pred, n_sets = len(use_pred), len(sets)

    @kernel()
    def begin(st, sc, flat, base, ys, xs, c, row, net_mean):
        steps.begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked, use_ctx, line_base,
                    line_bits)

    @kernel()
    def predict(st, sc, n, c, j, cum, start, spread, lut):
        steps.predict(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets,
                      set_base, network, apm1_on, apm2_on, certain, n_in, mixture, lut)
        for i in range(n):
            sc[17][i] = sc[16][i] / 4096.0  # exact: a 12-bit integer over a power of two

    @kernel()
    def update(st, sc, n, c, j, bits):
        steps.update(st, sc, n, c, j, bits, n_pred, n_sets, apm1_on, apm2_on, n_in, mixture, use_ctx, line_base,
                     line_bits)

    @kernel()
    def finish(st, sc, base, c, values):
        steps.finish(st, sc, base, c, values, uses_lms, tracked)

    @kernel()
    def encode_batch(st, sc, flat, base, ys, xs, c, row, cum, start, spread, net_mean, lut, values, probs_out,
                     bits_out, k0):
        n = base.shape[0]
        steps.begin(st, sc, flat, base, ys, xs, c, row, net_mean, need, uses_lms, tracked, use_ctx, line_base,
                    line_bits)
        bits = np.empty(n, dtype=np.int64)
        for j in range(8):
            steps.predict(st, sc, n, c, j, cum, start, spread, use_pred, use_ctx, line_base, line_bits, sets,
                          set_base, network, apm1_on, apm2_on, certain, n_in, mixture, lut)
            for i in range(n):
                bits[i] = (values[i] >> (7 - j)) & 1
                probs_out[k0 + i] = sc[16][i]
                bits_out[k0 + i] = bits[i]
            steps.update(st, sc, n, c, j, bits, n_pred, n_sets, apm1_on, apm2_on, n_in, mixture, use_ctx, line_base,
                         line_bits)
            k0 += n
        steps.finish(st, sc, base, c, values, uses_lms, tracked)
        return k0

    @kernel()
    def decode_wave(st, sc, flat, base, ys, xs, row, net, coder, data):
        steps.decode_wave(st, sc, flat, base, ys, xs, row, net, coder, data, need, uses_lms, tracked, use_pred,
                          use_ctx, line_base, line_bits, sets, set_base, network, apm1_on, apm2_on, certain, n_in,
                          mixture)

    @kernel()
    def decode_waves(st, sc, flat, base, ys, xs, bounds, row, offsets, trunk, gemm, gemm64, net, coder, data):
        # steps.decode_wave, not the kernel above: numba's disk cache cannot key a function that
        # holds another compiled function in its closure, and would compile this one in every process
        for w in range(bounds.shape[0] - 1):
            a, b = bounds[w], bounds[w + 1]
            trunk_features(gemm, gemm64, flat, base[a:b], offsets, trunk)
            steps.decode_wave(st, sc, flat, base[a:b], ys[a:b], xs[a:b], row, net, coder, data, need, uses_lms,
                              tracked, use_pred, use_ctx, line_base, line_bits, sets, set_base, network, apm1_on,
                              apm2_on, certain, n_in, mixture)

    return Kernels(begin, predict, update, finish, encode_batch, decode_wave, decode_waves)


@kernel()
def network_prior(tables, cum, mean):
    """From the network's integer frequency tables (n, 256): their cumulative sums (cum
    (n, 257): the prior predict reads, with start 0 and spread 0) and each table's mean value
    (mean (n,)), integers only."""
    for i in range(tables.shape[0]):
        total = 0
        weighted = 0
        cum[i, 0] = 0
        for v in range(256):
            f = np.int64(tables[i, v])
            total += f
            weighted += f * v
            cum[i, v + 1] = total
        mean[i] = (weighted + total // 2) // total
