"""Which pixels form each batch: tiles, each coded from its own image corner in wavefront order.

The decoder runs the network once per wave (arzip.image.neighbourhood), and an H x W tile has W + 2H - 2
waves. Cutting the image into four quadrants, each mirrored so that it starts at its own corner
of the image, halves the number of waves and doubles the pixels per batch. The price is the
context lost along the two cut lines (+0.27 % bits on 512 x 512 validation crops; a mirrored
tile is still a natural photo, and training sees all 8 flips/rotations). Small images keep one
tile: there the cut lines would cost relatively more and speed hardly matters.

Wave t of the schedule holds wave t of every tile, tile after tile, each in increasing y. All
tiles live in one padded buffer (tile, row, column, channel), so a context gather is one
fancy index whatever the tile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .neighbourhood import PAD_VALUE, WAVE_SLOPE, Context

LAYOUT_SINGLE = 0
LAYOUT_QUADRANTS = 1
LAYOUTS = {LAYOUT_SINGLE: "single", LAYOUT_QUADRANTS: "quadrants"}
QUADRANTS_MIN_SIDE = 256  # smaller images are coded as one tile (the cut lines cost more there)


@dataclass(frozen=True)
class Tile:
    """Image rows y0..y0+height-1 and columns x0..x0+width-1, mirrored as flagged."""
    y0: int
    x0: int
    height: int
    width: int
    flip_y: bool
    flip_x: bool

    def take(self, image: np.ndarray) -> np.ndarray:
        """The tile's pixels, in coding orientation."""
        part = image[self.y0:self.y0 + self.height, self.x0:self.x0 + self.width]
        return part[::-1 if self.flip_y else 1, ::-1 if self.flip_x else 1]

    def put(self, image: np.ndarray, part: np.ndarray) -> None:
        image[self.y0:self.y0 + self.height, self.x0:self.x0 + self.width] = \
            part[::-1 if self.flip_y else 1, ::-1 if self.flip_x else 1]


def layout_for(height: int, width: int) -> int:
    return LAYOUT_QUADRANTS if min(height, width) >= QUADRANTS_MIN_SIDE else LAYOUT_SINGLE


def tiles(layout: int, height: int, width: int) -> list[Tile]:
    if layout == LAYOUT_SINGLE:
        return [Tile(0, 0, height, width, False, False)]
    if layout == LAYOUT_QUADRANTS:
        hy, hx = (height + 1) // 2, (width + 1) // 2
        quads = [Tile(0, 0, hy, hx, False, False), Tile(0, hx, hy, width - hx, False, True),
                 Tile(hy, 0, height - hy, hx, True, False), Tile(hy, hx, height - hy, width - hx, True, True)]
        return [t for t in quads if t.height and t.width]
    raise ValueError(f"unknown tile layout {layout}")


class Schedule:
    """The coding order of an image's pixels and the padded buffer their contexts are read from."""

    def __init__(self, layout: int, height: int, width: int, context: Context, channels: int):
        self.tiles = tiles(layout, height, width)
        self.height, self.width, self.channels, self.context = height, width, channels, context
        self.rows = max(t.height for t in self.tiles) + context.pad_top
        self.cols = max(t.width for t in self.tiles) + context.pad_left + context.pad_right
        ks, ys, xs = [], [], []
        for k, t in enumerate(self.tiles):
            y, x = np.divmod(np.arange(t.height * t.width, dtype=np.int64), t.width)
            ks.append(np.full(len(y), k, dtype=np.int64))
            ys.append(y)
            xs.append(x)
        k, y, x = np.concatenate(ks), np.concatenate(ys), np.concatenate(xs)
        wave = x + WAVE_SLOPE * y
        order = np.lexsort((y, k, wave))
        k, y, x, wave = k[order], y[order], x[order], wave[order]
        #: flat buffer index of subpixel 0 of every pixel, in stream order
        self.base = (((k * self.rows + y + context.pad_top) * self.cols) + x + context.pad_left) * channels
        #: pixels [bounds[i], bounds[i+1]) form wave i (empty waves left out)
        self.bounds = np.flatnonzero(np.diff(wave, prepend=-1, append=wave[-1] + 1))
        #: image coordinates of every pixel, in stream order
        y0, x0, tile_h, tile_w, flip_y, flip_x = np.array(
            [(t.y0, t.x0, t.height, t.width, t.flip_y, t.flip_x) for t in self.tiles], dtype=np.int64)[k].T
        self.ys = y0 + np.where(flip_y, tile_h - 1 - y, y)
        self.xs = x0 + np.where(flip_x, tile_w - 1 - x, x)
        #: offsets of every context subpixel from a pixel's base index
        self.offsets = context.flat_offsets(self.cols, channels)

    @property
    def waves(self) -> int:
        return len(self.bounds) - 1

    def buffer(self, image: np.ndarray | None = None) -> np.ndarray:
        """The padded (tiles, rows, cols, channels) buffer, holding the image when given."""
        ctx = self.context
        buf = np.full((len(self.tiles), self.rows, self.cols, self.channels), PAD_VALUE, dtype=np.uint8)
        if image is not None:
            for k, t in enumerate(self.tiles):
                buf[k, ctx.pad_top:ctx.pad_top + t.height, ctx.pad_left:ctx.pad_left + t.width] = t.take(image)
        return buf

    def image(self, buf: np.ndarray) -> np.ndarray:
        """Inverse of buffer(image)."""
        ctx = self.context
        out = np.empty((self.height, self.width, self.channels), dtype=np.uint8)
        for k, t in enumerate(self.tiles):
            t.put(out, buf[k, ctx.pad_top:ctx.pad_top + t.height, ctx.pad_left:ctx.pad_left + t.width])
        return out
