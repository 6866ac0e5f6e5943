"""Invertible serialisations of a sample array into bytes, for images coded by the byte path.

The byte path (context mixing, or a classical coder where smaller) models a stream, not a
2-D image, so the stream should already expose the image's structure:
  - PNG: PNG's own filtered scanlines (per row the filter PNG's heuristic picks). Graphics and
    palette images keep their exact repeats; it is also what an optimized PNG deflates, so
    the byte path's zlib fallback on it is never far from the PNG.
  - MED: per sample, the residual of the median edge detector (LOCO-I) in the sample's full
    depth, modulo 2^depth; 16-bit residuals big-endian, so the low byte follows the high byte
    it depends on. Smooth and 16-bit images give small residuals.
"""
from __future__ import annotations

import numpy as np

from ..native import kernel
from . import png

PNG, MED = 0, 1
TRANSFORMS = {PNG: "png", MED: "med"}


def _med(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.where(c >= np.maximum(a, b), np.minimum(a, b),
                    np.where(c <= np.minimum(a, b), np.maximum(a, b), a + b - c))


def med_residuals(samples: np.ndarray) -> bytes:
    """(H, W, C) uint8 or uint16 -> residual stream (row-major, channels interleaved)."""
    v = samples.astype(np.int64)
    padded = np.zeros((v.shape[0] + 1, v.shape[1] + 1, v.shape[2]), dtype=np.int64)
    padded[1:, 1:] = v
    pred = _med(padded[1:, :-1], padded[:-1, 1:], padded[:-1, :-1])
    if samples.dtype == np.uint16:
        return ((v - pred) & 0xFFFF).astype(">u2").tobytes()
    return ((v - pred) & 0xFF).astype(np.uint8).tobytes()


@kernel()
def _undo_med(res: np.ndarray, out: np.ndarray, mask: int) -> None:
    h, w, ch = out.shape
    for y in range(h):
        for x in range(w):
            for c in range(ch):
                a = np.int64(out[y, x - 1, c]) if x > 0 else 0
                b = np.int64(out[y - 1, x, c]) if y > 0 else 0
                d = np.int64(out[y - 1, x - 1, c]) if x > 0 and y > 0 else 0
                hi, lo = max(a, b), min(a, b)
                pred = lo if d >= hi else (hi if d <= lo else a + b - d)
                out[y, x, c] = (pred + res[y, x, c]) & mask


def undo_med(stream: bytes, shape: tuple[int, int, int], depth: int) -> np.ndarray:
    dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
    if len(stream) != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError("residual stream has the wrong length")
    res = np.frombuffer(stream, dtype=dtype).reshape(shape).astype(np.int64)
    out = np.zeros(shape, dtype=np.uint16 if depth == 16 else np.uint8)
    _undo_med(res, out, (1 << depth) - 1)
    return out


def serialise(samples: np.ndarray, depth: int, color_type: int, transform: int) -> bytes:
    if transform == PNG:
        return png.filter_scanlines(samples, depth, color_type)
    return med_residuals(samples)


def deserialise(stream: bytes, shape: tuple[int, int, int], depth: int, color_type: int,
                transform: int) -> np.ndarray:
    """Inverse of serialise; ValueError when the stream does not fit the shape."""
    if transform == PNG:
        return png.unfilter_scanlines(stream, shape[1], shape[0], depth, color_type)
    if transform == MED and depth in (8, 16):
        return undo_med(stream, shape, depth)
    raise ValueError(f"unknown transform {transform} for depth {depth}")


def raw_length(shape: tuple[int, int, int], depth: int, transform: int) -> int:
    """The stream's length for an image of this shape: known before decoding, so a hostile
    archive cannot make the byte path produce more."""
    h, w, c = shape
    if transform == PNG:
        return h * (1 + (w * c * depth + 7) // 8)
    return h * w * c * (2 if depth == 16 else 1)
