"""Image payload: the pixels of an 8-bit RGB image, coded wave by wave with the exact model.

Stream order, which encoder and decoder share: waves of increasing t = x + 2y (arzip.causal);
inside a wave all R values, then all G, then all B. The decoder runs the network once per wave
and the coder once per (wave, channel). The encoder knows every pixel, so it evaluates the
network on large chunks of whole waves; exact arithmetic makes its tables identical to the
decoder's.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from . import causal
from .coder import Decoder, Encoder, nll_bits
from .image_model import CHANNELS, ExactImageModel

CHUNK_PIXELS = 16384  # encoder batch (whole waves); bounds memory to ~100 MB of tables


def _gather_context(flat: np.ndarray, base: np.ndarray, offsets: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(flat[base[:, None] + offsets[None, :]].astype(np.float32) - 128.0)


def _chunks(model: ExactImageModel, image: np.ndarray):
    """Yield (wave sizes, values (n, 3) int32, tables [3 x (n, 256)]) for chunks of whole waves,
    in stream order."""
    h, w, _ = image.shape
    padded = causal.pad(image)
    flat = padded.reshape(-1)
    offsets = causal.flat_offsets(padded.shape[1], CHANNELS)
    wave_list = causal.waves(h, w)
    i = 0
    while i < len(wave_list):
        j, n = i, 0
        while j < len(wave_list) and (n == 0 or n + len(wave_list[j][0]) <= CHUNK_PIXELS):
            n += len(wave_list[j][0])
            j += 1
        ys = np.concatenate([wv[0] for wv in wave_list[i:j]])
        xs = np.concatenate([wv[1] for wv in wave_list[i:j]])
        values = image[ys, xs].astype(np.int32)
        base = causal.pixel_base(ys, xs, padded.shape[1], CHANNELS)
        feats = model.pixel_features(_gather_context(flat, base, offsets))
        current = torch.from_numpy(values.astype(np.float32) - 128.0)
        tables = [model.tables(c, model.channel_outputs(c, feats, current)) for c in range(CHANNELS)]
        yield [len(wv[0]) for wv in wave_list[i:j]], values, tables
        i = j


def image_nll(model: ExactImageModel, image: np.ndarray) -> float:
    """The model's -log2 likelihood of an image, in bits, without coding it."""
    return sum(nll_bits(values[:, c], tables[c])
               for _, values, tables in _chunks(model, image) for c in range(CHANNELS))


def bits_map(model: ExactImageModel, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float64: the bits the model spends on every subpixel (-log2 of its probability)."""
    out = np.zeros(image.shape, dtype=np.float64)
    waves = causal.waves(*image.shape[:2])
    w = 0
    for sizes, values, tables in _chunks(model, image):
        ys = np.concatenate([waves[w + i][0] for i in range(len(sizes))])
        xs = np.concatenate([waves[w + i][1] for i in range(len(sizes))])
        w += len(sizes)
        for c in range(CHANNELS):
            p = tables[c][np.arange(len(values)), values[:, c]] / tables[c].sum(axis=1)
            out[ys, xs, c] = -np.log2(p)
    return out


def encode_image(model: ExactImageModel, image: np.ndarray,
                 progress: Callable[[int], None] | None = None) -> tuple[bytes, float]:
    """(H, W, 3) uint8 -> (payload, NLL in bits under the model's integer tables)."""
    encoder = Encoder()
    nll = 0.0
    for sizes, values, tables in _chunks(model, image):
        start = 0
        for size in sizes:
            for c in range(CHANNELS):
                encoder.encode(values[start:start + size, c], tables[c][start:start + size])
            start += size
        nll += sum(nll_bits(values[:, c], tables[c]) for c in range(CHANNELS))
        if progress:
            progress(len(values))
    return encoder.finish(), nll


def decode_image(model: ExactImageModel, payload: bytes, height: int, width: int,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Inverse of encode_image."""
    padded = causal.pad(np.zeros((height, width, CHANNELS), dtype=np.uint8))
    flat = padded.reshape(-1)
    offsets = causal.flat_offsets(padded.shape[1], CHANNELS)
    decoder = Decoder(payload)
    for ys, xs in causal.waves(height, width):
        base = causal.pixel_base(ys, xs, padded.shape[1], CHANNELS)
        feats = model.pixel_features(_gather_context(flat, base, offsets))
        current = torch.zeros((len(ys), CHANNELS), dtype=torch.float32)
        for c in range(CHANNELS):
            symbols = decoder.decode(model.tables(c, model.channel_outputs(c, feats, current)))
            flat[base + c] = symbols
            current[:, c] = torch.from_numpy(symbols.astype(np.float32) - 128.0)
        if progress:
            progress(len(ys))
    return padded[causal.PAD_TOP:, causal.PAD_LEFT:causal.PAD_LEFT + width].copy()
