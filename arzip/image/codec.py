"""Image payload: the pixels of an 8-bit RGB image, coded wave by wave with the exact model.

Stream order, which encoder and decoder share: the waves of the image's schedule
(arzip.image.waves: tiles, wave t of every tile together); inside a wave the first-coded channel
of all its pixels (R, unless the model's config orders them otherwise), then the second, then
the third (a gray model codes only the first: its image is gray given as three equal
channels). Each (wave, channel) is coded in two stages with the same
probabilities as one 256-value table:
  1. every subpixel against its window table: the WINDOW values around the heaviest mixture
     component's mean, plus one escape entry holding the exact mass of all other values;
  2. the subpixels that escaped, against their full table with the window values zeroed.
Building and coding 33-entry tables is several times cheaper than 256-entry ones, and few
values escape. The decoder runs the network once per wave and the coder twice per
(wave, channel); the encoder evaluates large chunks of whole waves at once, and exact
arithmetic makes its tables identical to the decoder's.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..coder import Decoder, Encoder, symbol_bits
from .exact import CHANNELS, ExactImageModel, PixelFeatures
from .neighbourhood import gather
from .tables import WINDOW
from .waves import Schedule, layout_for

CHUNK_PIXELS = 16384  # encoder batch (whole waves)


@dataclass
class ChannelCode:
    """One channel of a chunk of pixels, ready to code."""
    window: np.ndarray   # (n, WINDOW + 1) tables
    first: np.ndarray    # (n,) stage-1 symbols: value - start, or WINDOW for an escape
    escaped: np.ndarray  # (e,) indices of the escaped pixels
    full: np.ndarray     # (e, 256) their tables, window values zeroed
    values: np.ndarray   # (n,) the values

    def bits(self) -> np.ndarray:
        """(n,) bits of each value: its window-stage symbol, plus its escape-stage symbol."""
        bits = symbol_bits(self.first, self.window)
        bits[self.escaped] += symbol_bits(self.values[self.escaped], self.full)
        return bits

    def nll(self) -> float:
        return float(self.bits().sum())


Offsets = tuple[int, int, int]  # per coded channel, the log2-scale offset (arzip.image.tables)
NO_OFFSETS: Offsets = (0, 0, 0)


def _escape_tables(model: ExactImageModel, c: int, outputs: np.ndarray, starts: np.ndarray,
                   offset: int) -> np.ndarray:
    """Full tables of the given rows with their window values zeroed (they were not escapes)."""
    full = model.full_tables(c, outputs, offset)
    if len(full):
        full[np.arange(len(full))[:, None], starts[:, None] + np.arange(WINDOW)[None, :]] = 0
    return full


def _channel_code(model: ExactImageModel, c: int, feats: PixelFeatures, current: np.ndarray,
                  values: np.ndarray, offset: int) -> ChannelCode:
    outputs, window, starts = model.channel_tables(c, feats, current, offset)
    in_window = values - starts
    inside = (in_window >= 0) & (in_window < WINDOW)
    first = np.where(inside, in_window, WINDOW).astype(np.int32)
    escaped = np.flatnonzero(~inside)
    return ChannelCode(window, first, escaped,
                       _escape_tables(model, c, outputs[escaped], starts[escaped], offset), values)


@dataclass
class Chunk:
    """Whole consecutive waves of an image, ready to code."""
    sizes: np.ndarray         # pixels per wave
    ys: np.ndarray            # (n,) image coordinates of the pixels, wave after wave
    xs: np.ndarray
    codes: list[ChannelCode]  # one per channel


def schedule_of(model: ExactImageModel, layout: int, height: int, width: int) -> Schedule:
    return Schedule(layout, height, width, model.context, CHANNELS)


def chunk_inputs(model: ExactImageModel, image: np.ndarray, sched: Schedule, features: bool = True
                 ) -> Iterator[tuple[slice, PixelFeatures | None, np.ndarray, np.ndarray]]:
    """Chunks of whole waves in stream order: (wave range, the network's features (None
    without `features`), the pixels' values as (3, n) v - 128, and as (n, 3) int64), channels
    in the model's coding order."""
    flat = sched.buffer(image[..., model.config.coding_order]).reshape(-1)
    bounds = sched.bounds
    i = 0
    while i < sched.waves:
        j = max(i + 1, int(np.searchsorted(bounds, bounds[i] + CHUNK_PIXELS, side="right")) - 1)
        base = sched.base[bounds[i]:bounds[j]]
        values = gather(flat, base, np.arange(CHANNELS)).astype(np.int64)
        feats = model.pixel_features(gather(flat, base, sched.offsets)) if features else None
        yield slice(i, j), feats, np.ascontiguousarray(values.T - 128.0), values
        i = j


def _chunks(model: ExactImageModel, image: np.ndarray, layout: int, offsets: Offsets) -> Iterator[Chunk]:
    """Chunks of whole waves, ready to code."""
    sched = schedule_of(model, layout, *image.shape[:2])
    for waves, feats, current, values in chunk_inputs(model, image, sched):
        a, b = sched.bounds[waves.start], sched.bounds[waves.stop]
        codes = [_channel_code(model, c, feats, current, values[:, c], offsets[c])
                 for c in range(model.config.coded_channels)]
        yield Chunk(np.diff(sched.bounds[waves.start:waves.stop + 1]), sched.ys[a:b], sched.xs[a:b], codes)


def image_nll(model: ExactImageModel, image: np.ndarray, layout: int | None = None,
              offsets: Offsets = NO_OFFSETS) -> float:
    """The model's -log2 likelihood of an image, in bits, without coding it."""
    layout = layout_for(*image.shape[:2]) if layout is None else layout
    return sum(code.nll() for chunk in _chunks(model, image, layout, offsets) for code in chunk.codes)


def bits_map(model: ExactImageModel, image: np.ndarray, layout: int | None = None,
             offsets: Offsets = NO_OFFSETS) -> np.ndarray:
    """(H, W, 3) float64: the bits the model spends on every subpixel (-log2 of its probability)."""
    layout = layout_for(*image.shape[:2]) if layout is None else layout
    out = np.zeros(image.shape, dtype=np.float64)
    for chunk in _chunks(model, image, layout, offsets):
        for c, code in zip(model.config.coding_order, chunk.codes):
            out[chunk.ys, chunk.xs, c] = code.bits()
    return out


def encode_image(model: ExactImageModel, image: np.ndarray, layout: int,
                 offsets: Offsets = NO_OFFSETS) -> tuple[bytes, float]:
    """(H, W, 3) uint8 -> (payload, NLL in bits under the model's integer tables), pixels in
    the order of the given tile layout (arzip.image.waves), log2 scales moved by offsets."""
    encoder = Encoder()
    nll = 0.0
    for chunk in _chunks(model, image, layout, offsets):
        bounds = np.concatenate([[0], np.cumsum(chunk.sizes)])
        cuts = [np.searchsorted(code.escaped, bounds) for code in chunk.codes]
        for w in range(len(chunk.sizes)):
            a, b = bounds[w], bounds[w + 1]
            for code, cut in zip(chunk.codes, cuts):
                encoder.encode(code.first[a:b], code.window[a:b])
                e0, e1 = cut[w], cut[w + 1]
                encoder.encode(code.values[code.escaped[e0:e1]], code.full[e0:e1])
        nll += sum(code.nll() for code in chunk.codes)
    return encoder.finish(), nll


def decode_image(model: ExactImageModel, payload: bytes, height: int, width: int, layout: int,
                 offsets: Offsets = NO_OFFSETS) -> np.ndarray:
    """Inverse of encode_image."""
    sched = schedule_of(model, layout, height, width)
    buf = sched.buffer()
    flat = buf.reshape(-1)
    decoder = Decoder(payload)
    for w in range(sched.waves):
        base = sched.base[sched.bounds[w]:sched.bounds[w + 1]]
        feats = model.pixel_features(gather(flat, base, sched.offsets))
        current = np.zeros((CHANNELS, len(base)), dtype=np.float64)
        for c in range(model.config.coded_channels):
            outputs, window, starts = model.channel_tables(c, feats, current, offsets[c])
            first = decoder.decode(window)
            values = starts + first
            escaped = np.flatnonzero(first == WINDOW)
            if len(escaped):
                values[escaped] = decoder.decode(_escape_tables(model, c, outputs[escaped], starts[escaped],
                                                                offsets[c]))
            flat[base + c] = values  # 0..255 by construction: start <= 256 - WINDOW, escapes < 256
            current[c] = values - 128
        if model.config.gray:  # the context reads all three channels, as in training
            flat[base + 1] = flat[base + 2] = flat[base]
    return np.ascontiguousarray(sched.image(buf)[..., np.argsort(model.config.coding_order)])
