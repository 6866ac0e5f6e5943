"""Every limit that an archive's writer and its reader must agree on, in one place.

The encoder never writes what the decoder refuses, and the decoder refuses what no encoder
writes before it spends memory or time on it: both import their limits from here, and
tests/test_limits.py walks every one of them from both sides.

Hostile archives are the reason for most of them. A byte archive's checksum covers the whole
original, so it can only be checked once everything is decoded; an image's samples checksum
likewise. Until then the work an archive can make the decoder do must be justified by the
archive itself: its pixel count by a limit (near Pillow's decompression-bomb limit, raised
with --max-pixels), its allocations by the writer's own rules (a model block's segment count),
and its model-decoding time by its payload's length (`check_justified`): every sample a model
codes costs at least one binary decision or one categorical symbol, and no coder writes those
for less than a known minimum, so a tiny payload cannot claim millions of model-coded samples.
"""
from __future__ import annotations

import math

from .errors import FormatError

# Pixels an image may have by default, on both sides (an input over it goes the byte path, an
# archive over it is refused). 2^27 = 134 M pixels: above a 100-megapixel camera's 102 M, near
# Pillow's decompression-bomb error (179 M pixels); --max-pixels raises it.
MAX_PIXELS = 1 << 27

# Bytes of an image's wrapper (what writes the file back: a PNG's chunks, ...), uncompressed.
MAX_WRAPPER = 1 << 26

# Counts stored in one byte: models an image archive names, its parts, a model name's length.
MAX_MODELS = 255
MAX_PARTS = 255
MAX_MODEL_NAME = 255

# The least a coder can spend on one coded decision, in bits. The binary coders (12-bit
# probabilities, 1..4095 / 4096) spend -log2(4095/4096) = 3.52e-4 bits at best; the image
# network's categorical tables give every value at least 2^-22 of the mass (image/tables.py
# FLOOR_SHIFT), so the likeliest of 256 values costs at least -log2(1 - 255 * 2^-22) = 8.8e-5
# bits. Half of each is the bound (the range coders' rounding stays far inside it).
MIN_BITS_BINARY = -math.log2(4095 / 4096) / 2
MIN_BITS_CATEGORICAL = -math.log2(1 - 255 * 2.0 ** -22) / 2
_CODER_SLACK_BYTES = 64  # what a range coder's start and end may save beyond the bound


def check_justified(payload_bytes: int, decisions: int, min_bits: float, what: str) -> None:
    """FormatError unless a payload of payload_bytes can hold `decisions` coded decisions of at
    least min_bits each: what bounds a model decoder's time by the archive's own length."""
    if decisions * min_bits > 8 * (payload_bytes + _CODER_SLACK_BYTES):
        raise FormatError(f"corrupted archive ({what}: {payload_bytes} bytes cannot code {decisions} "
                          "model decisions)")


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """FormatError for an image of no pixels or of more than max_pixels."""
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise FormatError(f"image of {width}x{height} pixels is over the limit of {max_pixels} pixels "
                          "(corrupted archive, or raise the limit with --max-pixels)")
