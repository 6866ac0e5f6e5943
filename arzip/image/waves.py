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

from ..native import kernel
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
        tile_table = np.array([(t.y0, t.x0, t.height, t.width, t.flip_y, t.flip_x) for t in self.tiles], dtype=np.int64)
        #: base: flat buffer index of subpixel 0 of every pixel, in stream order; ys, xs: its
        #: image coordinates; pixels [bounds[i], bounds[i+1]) form wave i (empty waves left out)
        self.base, self.ys, self.xs, self.bounds = _stream_order(tile_table, WAVE_SLOPE, self.rows, self.cols,
                                                                 context.pad_top, context.pad_left, channels)
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


@kernel()
def _stream_order(tiles: np.ndarray, slope: int, rows: int, cols: int, pad_top: int, pad_left: int,
                  channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pixel of the tiles (rows of y0, x0, height, width, flip_y, flip_x) in stream order:
    wave t = x + slope * y, then tile, then y, in each tile's coding orientation; as (flat index
    of its subpixel 0 in the padded buffer, image row, image column), and the waves' bounds.
    Generated in order rather than sorted: sorting a stripe's pixels took 4 ms, 1.5 % of
    decoding it."""
    n = 0
    last = 0
    for k in range(tiles.shape[0]):
        n += tiles[k, 2] * tiles[k, 3]
        last = max(last, tiles[k, 3] - 1 + slope * (tiles[k, 2] - 1))
    base, ys, xs = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    bounds = np.empty(last + 2, np.int64)
    i = waves = 0
    for t in range(last + 1):
        start = i
        for k in range(tiles.shape[0]):
            y0, x0, height, width, flip_y, flip_x = tiles[k]
            for y in range(max(0, (t - width + slope) // slope), min(height - 1, t // slope) + 1):
                x = t - slope * y
                base[i] = ((k * rows + y + pad_top) * cols + x + pad_left) * channels
                ys[i] = y0 + (height - 1 - y if flip_y else y)
                xs[i] = x0 + (width - 1 - x if flip_x else x)
                i += 1
        if i > start:
            bounds[waves] = start
            waves += 1
    bounds[waves] = n
    return base, ys, xs, bounds[:waves + 1].copy()
