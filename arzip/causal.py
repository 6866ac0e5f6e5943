"""The causal neighbourhood every image model sees, and the wavefront order that follows from it.

A pixel (y, x) is predicted from already-coded pixels: a few to its left in its own row and a
window over the rows above. The window reaches at most one pixel to the right in the row just
above (two rows up it may reach three, three rows up five), so every context pixel of (y, x) has
a smaller wave index ``t = x + 2*y``. All pixels of one wave are therefore independent given the
earlier waves, and the decoder evaluates each wave as one batch.
"""
from __future__ import annotations

import numpy as np

# (dy, dx) of the context pixels, dy <= 0. Their wave index x + 2y is always below the pixel's own.
OFFSETS: tuple[tuple[int, int], ...] = (
    tuple((-3, dx) for dx in range(-2, 3))
    + tuple((-2, dx) for dx in range(-3, 4))
    + tuple((-1, dx) for dx in range(-4, 2))
    + tuple((0, dx) for dx in range(-4, 0))
)
PAD_TOP = 3
PAD_LEFT = 4
PAD_RIGHT = 3
PAD_VALUE = 128  # pixels outside the image read as mid-grey (0 once centred)
N_CONTEXT = len(OFFSETS)
WAVE_SLOPE = 2

assert all(dx + WAVE_SLOPE * dy < 0 for dy, dx in OFFSETS), "context must precede the pixel"


def pad(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 -> (H+PAD_TOP, W+PAD_LEFT+PAD_RIGHT, C) uint8 with PAD_VALUE borders."""
    h, w, c = image.shape
    out = np.full((h + PAD_TOP, w + PAD_LEFT + PAD_RIGHT, c), PAD_VALUE, dtype=np.uint8)
    out[PAD_TOP:, PAD_LEFT:PAD_LEFT + w] = image
    return out


def flat_offsets(padded_width: int, channels: int) -> np.ndarray:
    """Offsets, in a flattened padded (H, W, C) array, of every context subpixel of a pixel.

    Order: context pixels as in OFFSETS, channels inside each pixel.
    """
    pix = np.array([dy * padded_width + dx for dy, dx in OFFSETS], dtype=np.int64) * channels
    return (pix[:, None] + np.arange(channels)[None, :]).reshape(-1)


def pixel_base(ys: np.ndarray, xs: np.ndarray, padded_width: int, channels: int) -> np.ndarray:
    """Flat index of subpixel 0 of pixels (ys, xs) (image coordinates) in the padded array."""
    return ((ys + PAD_TOP) * padded_width + (xs + PAD_LEFT)) * channels


def waves(height: int, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pixels grouped by wave index t = x + 2y, in increasing t: a list of (ys, xs).
    Empty waves (odd t in a one-pixel-wide image) are left out."""
    out = []
    for t in range(width + WAVE_SLOPE * (height - 1)):
        y_hi = min(height - 1, t // WAVE_SLOPE)
        y_lo = max(0, -((width - 1 - t) // WAVE_SLOPE))  # ceil((t - width + 1) / 2)
        ys = np.arange(y_lo, y_hi + 1, dtype=np.int64)
        xs = t - WAVE_SLOPE * ys
        if len(ys):
            out.append((ys, xs))
    return out
