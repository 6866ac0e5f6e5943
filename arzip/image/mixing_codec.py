"""Image payload through the adaptive model: the network's tables or mixtures as the prior,
context mixing around them (arzip.image.adaptive), one bit at a time with constriction's range
coder (the full profile) or the compiled binary coder (arzip.mixing.arithmetic; the others).

Stream order, shared by encoder and decoder: the waves of the schedule (arzip.image.waves);
inside a wave the coded channels in the model's order; inside a channel bit 7 (the most
significant) of every pixel of the wave in the wave's pixel order, then bit 6, ... bit 0.
Every bit is coded with the 12-bit probability the profile's kernels give it
(`constriction.stream.model.Bernoulli(perfect=False)` on p / 4096, as the byte path does).

The encoder computes the network's prior for large chunks of waves and runs the model over
them in one compiled call per (wave, channel); the decoder must know a wave's earlier channels
before their prior exists, so it runs the network per wave and the model per bit: with the
compiled coder (quick, light, medium) every wave of the image in one compiled call
(adaptive.Kernels.decode_waves, the network's products through BLAS called from compiled code),
or where that BLAS is not found the network per wave and the rest of the wave in one compiled
call (adaptive.Kernels.decode_wave); else (full, with constriction) channel by channel.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ..coder import Decoder, Encoder, bit_costs
from ..mixing import arithmetic
from . import adaptive, adaptive_steps, blas, profiles, tables
from .codec import chunk_inputs, schedule_of
from .exact import CHANNELS, ExactImageModel, PixelFeatures, WaveTrunk
from .neighbourhood import gather


def _network_prior(model: ExactImageModel, c: int, feats: PixelFeatures | None, current: np.ndarray,
                   profile: profiles.Profile) -> tuple[np.ndarray, ...]:
    """Channel c's network prior for a batch, as the adaptive model reads it: (cumulative
    frequencies, their first value, the mass of each value outside them) and table means; with
    the mixture prior (the mixtures' parameters, zeros, zeros) and the mixtures' means."""
    n = current.shape[1]
    if not profile.uses_network:  # an ablation: nothing reads the prior (a mean of 128 for the bookkeeping)
        return np.zeros((n, 2), dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), \
            np.full(n, 128, dtype=np.int64)
    if profile.mixture_prior:  # the mixtures themselves, which predict evaluates (tables.mixture_below)
        params, mean = model.channel_mixtures(c, feats, current)
        return params, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), mean
    mean = np.empty(n, dtype=np.int64)
    if profile.window_prior:
        _, window, starts = model.channel_tables(c, feats, current)
        cum, spread = np.empty((n, window.shape[1]), dtype=np.int64), np.empty(n, dtype=np.int64)
        adaptive_steps.window_prior(window, starts, cum, spread, mean)
        return cum, starts.astype(np.int64), spread, mean
    cum = np.empty((n, 257), dtype=np.int64)
    adaptive.network_prior(model.channel_tables(c, feats, current, window=False)[1], cum, mean)
    return cum, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), mean


def _state(sched, profile: profiles.Profile) -> adaptive.AdaptiveState:
    ctx = sched.context
    if min(ctx.pad_top, ctx.pad_left, ctx.pad_right) < adaptive.REACH:
        raise ValueError(f"context {ctx.name} pads too little for the adaptive model's neighbours")
    return adaptive.AdaptiveState(profile, len(sched.tiles) * sched.rows * sched.cols * CHANNELS,
                                  int(np.diff(sched.bounds).max()))


Batch = tuple[np.ndarray, np.ndarray, int]  # one (wave, channel): the pixels' rows, columns, the coded channel


def _coded_bits(model: ExactImageModel, image: np.ndarray, layout: int,
                profile: profiles.Profile) -> Iterator[tuple[np.ndarray, np.ndarray, list[Batch]]]:
    """The encoder's run of the adaptive model, chunk by chunk: the bits it codes and their
    12-bit probabilities in stream order, and the batches they belong to, in order: a batch of
    n pixels holds 8 n bits (bit 7 of each pixel, then bit 6, ...). The encoder codes these
    bits; bits_map charges their costs to the pixels."""
    sched = schedule_of(model, layout, *image.shape[:2])
    flat = sched.buffer(image[..., model.config.coding_order]).reshape(-1)
    state, row, encode_batch = _state(sched, profile), sched.cols * CHANNELS, adaptive.kernels(profile).encode_batch
    lut = model.luts["lut_sigmoid"]
    for waves, feats, current, values in chunk_inputs(model, image, sched, profile.uses_network):
        first, last = sched.bounds[waves.start], sched.bounds[waves.stop]
        base, ys, xs = sched.base[first:last], sched.ys[first:last], sched.xs[first:last]
        priors = [_network_prior(model, c, feats, current, profile) for c in range(model.config.coded_channels)]
        probs = np.empty(8 * CHANNELS * len(base), dtype=np.int64)
        bits = np.empty_like(probs)
        batches: list[Batch] = []
        k = 0
        for w in range(waves.start, waves.stop):
            a, b = sched.bounds[w] - first, sched.bounds[w + 1] - first
            for c, (cum, start, spread, mean) in enumerate(priors):
                k = encode_batch(state.arrays, state.batch, flat, base[a:b], ys[a:b], xs[a:b], c, row, cum[a:b],
                                 start[a:b], spread[a:b], mean[a:b], lut, values[a:b, c], probs, bits, k)
                batches.append((ys[a:b], xs[a:b], c))
        yield bits[:k], probs[:k], batches


def encode_image(model: ExactImageModel, image: np.ndarray, layout: int,
                 profile: profiles.Profile = profiles.FULL) -> tuple[bytes, float]:
    """(H, W, 3) uint8 -> (payload, NLL in bits under the adaptive model)."""
    encoder, nll = Encoder(), 0.0
    compiled, pieces = arithmetic.encoder_state(), []
    for bits, probs, _ in _coded_bits(model, image, layout, profile):
        if profile.compiled_coder:
            out = np.empty(2 * len(bits) + 4, dtype=np.uint8)
            pieces.append(out[:arithmetic.encode(compiled, bits, probs, out, 0)].tobytes())
        else:
            encoder.encode_bits(bits, probs)
        nll += float(bit_costs(bits, probs).sum())
    if profile.compiled_coder:
        out = np.empty(4, dtype=np.uint8)
        return b"".join(pieces) + out[:arithmetic.flush(compiled, out, 0)].tobytes(), nll
    return encoder.finish(), nll


def bits_map(model: ExactImageModel, image: np.ndarray, layout: int,
             profile: profiles.Profile = profiles.FULL) -> np.ndarray:
    """(H, W, 3) float64: the bits encode_image spends on every subpixel (the costs of its eight
    bits), so the map sums to encode_image's NLL; channels a gray model does not code stay 0."""
    out = np.zeros(image.shape, dtype=np.float64)
    order = model.config.coding_order
    for bits, probs, batches in _coded_bits(model, image, layout, profile):
        costs, k = bit_costs(bits, probs), 0
        for ys, xs, c in batches:
            n = len(ys)
            out[ys, xs, order[c]] = costs[k:k + 8 * n].reshape(8, n).sum(axis=0)
            k += 8 * n
    return out


class WaveNetwork(NamedTuple):
    """What adaptive.Kernels.decode_wave reads of the network, built once per image (wave_network):
    per channel the head's weights, its mixture parameters and views of the wave's partial sums in
    the WaveTrunk that the wave's features fill (a gray model's one channel repeated,
    so that the wave decoder has one type whatever the model and numba compiles it once per
    profile); then scratch for a wave's pixels, and the coded channels."""
    heads: tuple                 # per channel: tables.IntegerHead.params
    mixes: tuple                 # per channel: tables.MixtureTables.params
    hidden_parts: tuple          # per channel: (capacity, head_hidden) head hidden partial sums
    out_parts: tuple             # per channel: (capacity, 3K) head output partial sums
    current: np.ndarray          # (CHANNELS, capacity): v - 128 of the pixels' channels decoded so far
    outputs: np.ndarray          # (capacity, 3K): a channel's head outputs
    window: np.ndarray           # (capacity, WINDOW + 1): its window tables ...
    starts: np.ndarray           # ... their first values
    cum: np.ndarray              # (capacity, WINDOW + 1): the prior (adaptive_steps.window_prior)
    spread: np.ndarray
    mean: np.ndarray
    params: np.ndarray           # (capacity, 3K + 1): or the mixture prior (tables.mixture_rows)
    channels: int                # coded channels
    gray: bool                   # a gray model: channel 0 is copied to 1 and 2, as in training


def wave_network(model: ExactImageModel, trunk: WaveTrunk) -> WaveNetwork:
    """The WaveNetwork of a model whose waves' features go to `trunk`'s buffers."""
    capacity, n_out = trunk.out.shape[0], 3 * model.config.components
    feats = model.split(trunk.hidden, trunk.out)
    pad = lambda parts: tuple(parts) + (parts[-1],) * (CHANNELS - len(parts))  # noqa: E731
    return WaveNetwork(
        tuple(head.params for head in model.heads), tuple(model.mixtures[c].params for c in range(CHANNELS)),
        pad(feats.head_hidden), pad(feats.head_out), np.zeros((CHANNELS, capacity)), np.zeros((capacity, n_out)),
        np.zeros((capacity, tables.WINDOW + 1)), np.zeros(capacity, dtype=np.int64),
        np.zeros((capacity, tables.WINDOW + 1), dtype=np.int64), np.zeros(capacity, dtype=np.int64),
        np.zeros(capacity, dtype=np.int64), np.zeros((capacity, n_out + 1), dtype=np.int64),
        model.config.coded_channels, model.config.gray)


def decode_image(model: ExactImageModel, payload: bytes, height: int, width: int, layout: int,
                 profile: profiles.Profile = profiles.FULL) -> np.ndarray:
    """Inverse of encode_image."""
    sched = schedule_of(model, layout, height, width)
    buf = sched.buffer()
    flat = buf.reshape(-1)
    state, row = _state(sched, profile), sched.cols * CHANNELS
    st, sc, run = state.arrays, state.batch, adaptive.kernels(profile)
    data = np.frombuffer(payload, dtype=np.uint8)
    compiled = arithmetic.decoder_state(data) if profile.compiled_coder else None
    decoder = None if profile.compiled_coder else Decoder(payload)
    whole_waves = profile.compiled_coder and (profile.window_prior or profile.mixture_prior) and profile.uses_network
    if profile.compiled_coder and not whole_waves:  # an ablation: its NLL is what it is for
        raise ValueError("the compiled coder decodes profiles that read the network's window tables or mixtures")
    trunk = model.wave_trunk(int(np.diff(sched.bounds).max())) if whole_waves else None
    network = wave_network(model, trunk) if whole_waves else None
    gemms = blas.gemms() if whole_waves and model.device == "cpu" else None
    if gemms is not None:  # every wave, network and mixing, in one compiled call
        run.decode_waves(st, sc, flat, sched.base, sched.ys, sched.xs, sched.bounds, row, sched.offsets, trunk,
                         gemms.of(model.hidden_dtype), gemms.dgemm, network, compiled, data)
        arithmetic.check_within(compiled, data)
        return _image(model, sched, buf)
    for w in range(sched.waves):
        first, last = sched.bounds[w], sched.bounds[w + 1]
        base, ys, xs, n = sched.base[first:last], sched.ys[first:last], sched.xs[first:last], last - first
        if whole_waves:  # the network's tail and every channel in one compiled call
            model.wave_features(flat, base, sched.offsets, trunk)
            run.decode_wave(st, sc, flat, base, ys, xs, row, network, compiled, data)
            arithmetic.check_within(compiled, data)
            continue
        feats = model.pixel_features(gather(flat, base, sched.offsets)) if profile.uses_network else None
        current = np.zeros((CHANNELS, n), dtype=np.float64)
        for c in range(model.config.coded_channels):
            cum, start, spread, mean = _network_prior(model, c, feats, current, profile)
            run.begin(st, sc, flat, base, ys, xs, c, row, mean)  # constriction: a call per bit of the batch
            for j in range(8):
                run.predict(st, sc, n, c, j, cum, start, spread, model.luts["lut_sigmoid"])
                run.update(st, sc, n, c, j, decoder.decode_bit_probs(sc[17][:n]))
            values = sc[12][:n] - 256  # c0 holds a leading 1 above the value's 8 bits
            run.finish(st, sc, base, c, values)
            flat[base + c] = values
            current[c] = flat[base + c] - 128.0
        if model.config.gray:  # the context reads all three channels, as in training
            flat[base + 1] = flat[base + 2] = flat[base]
    return _image(model, sched, buf)


def _image(model: ExactImageModel, sched, buf: np.ndarray) -> np.ndarray:
    """The decoded image, in RGB order, from the schedule's buffer."""
    return np.ascontiguousarray(sched.image(buf)[..., np.argsort(model.config.coding_order)])
