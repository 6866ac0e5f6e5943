"""The causal neighbourhoods image models see, and the wavefront order that follows from them.

A pixel (y, x) is predicted from already-coded pixels: a few to its left in its own row and a
window over the rows above. The window may reach at most 2k - 1 pixels to the right k rows up
(one pixel in the row just above), so every context pixel of (y, x) has a smaller wave index
``t = x + 2*y``. All pixels of one wave are therefore independent given the earlier waves, and
the decoder evaluates each wave as one batch (arzip.image.waves builds the batches).

gather() reads the neighbourhoods of a batch of pixels out of a padded image buffer; coding
(arzip.image.codec) and training (arzip.image.train) both use it, so the network is trained
on exactly the inputs the coder gives it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_VALUE = 128  # pixels outside the image read as mid-grey (0 once centred)
WAVE_SLOPE = 2


@dataclass(frozen=True)
class Context:
    """A causal neighbourhood: (dy, dx) offsets with dy <= 0, all in earlier waves."""
    name: str
    offsets: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not all(dx + WAVE_SLOPE * dy < 0 for dy, dx in self.offsets):
            raise ValueError(f"context {self.name}: every offset must lie in an earlier wave")

    @property
    def size(self) -> int:
        return len(self.offsets)

    @property
    def pad_top(self) -> int:
        return -min(dy for dy, _ in self.offsets)

    @property
    def pad_left(self) -> int:
        return max(0, -min(dx for _, dx in self.offsets))

    @property
    def pad_right(self) -> int:
        return max(0, max(dx for _, dx in self.offsets))

    def pad(self, image: np.ndarray) -> np.ndarray:
        """(H, W, C) uint8 -> the image inside a PAD_VALUE border wide enough for the context."""
        h, w, c = image.shape
        out = np.full((h + self.pad_top, w + self.pad_left + self.pad_right, c), PAD_VALUE, dtype=np.uint8)
        out[self.pad_top:, self.pad_left:self.pad_left + w] = image
        return out

    def flat_offsets(self, padded_width: int | np.ndarray, channels: int) -> np.ndarray:
        """Offsets, in a flattened padded (H, W, C) array, of every context subpixel of a pixel;
        context pixels in the order of `offsets`, channels inside each pixel. (size * C,) for
        one padded width; (n, size * C) for an array of n widths (pixels of images of
        different sizes)."""
        dy, dx = np.array(self.offsets, dtype=np.int64).T
        width = np.asarray(padded_width, dtype=np.int64)[..., None]
        pix = (dy * width + dx) * channels
        return (pix[..., None] + np.arange(channels)).reshape(*width.shape[:-1], -1)

    def pixel_base(self, ys: np.ndarray, xs: np.ndarray, padded_width, channels: int) -> np.ndarray:
        """Flat index of subpixel 0 of pixels (ys, xs) (image coordinates) in the padded array."""
        return ((ys + self.pad_top) * padded_width + (xs + self.pad_left)) * channels


def gather(flat: np.ndarray, base: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n, k) values flat[base[i] + offsets[(i,) j]]: the context (offsets from flat_offsets) or
    the own subpixels (offsets 0..C-1) of n pixels whose subpixel 0 sits at flat[base]."""
    return flat[base[:, None] + offsets]


def _rows(*rows: tuple[int, int, int]) -> tuple[tuple[int, int], ...]:
    """Offsets from (dy, first dx, last dx) rows."""
    return tuple((dy, dx) for dy, lo, hi in rows for dx in range(lo, hi + 1))


CONTEXTS = {
    # 22 pixels: 3 rows above (reaching 1 right one row up) and 4 to the left
    "c22": Context("c22", _rows((-3, -2, 2), (-2, -3, 3), (-1, -4, 1), (0, -4, -1))),
    # 44 pixels: 5 rows above and 6 to the left
    "c44": Context("c44", _rows((-5, -2, 2), (-4, -3, 3), (-3, -4, 4), (-2, -5, 3), (-1, -6, 1),
                                (0, -6, -1))),
}
