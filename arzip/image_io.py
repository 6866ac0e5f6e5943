"""Reading and writing the images arzip handles: 8-bit RGB PNG for now.

Anything else is refused with a clear "not supported yet" rather than converted, because a
silent conversion (Pillow reduces 16-bit RGB to 8 bits, drops transparency, and so on) would
mean the decompressed file is not what went in.
"""
from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image

from .errors import UnsupportedInput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}
# Pillow info keys that carry PNG metadata arzip does not keep yet
_METADATA_KEYS = ("icc_profile", "gamma", "chromaticity", "srgb", "dpi", "exif", "text")


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)


def read_png_rgb8(data: bytes, name: str = "input") -> tuple[np.ndarray, list[str]]:
    """Decode an 8-bit RGB PNG -> ((H, W, 3) uint8, names of metadata that will not be kept)."""
    if not is_png(data):
        raise UnsupportedInput(f"{name}: not a PNG file (only 8-bit RGB PNG is supported yet)")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise UnsupportedInput(f"{name}: damaged PNG (no IHDR chunk)")
    bit_depth, color_type = data[24], data[25]
    kind = _COLOR_TYPES.get(color_type, f"color type {color_type}")
    if color_type != 2 or bit_depth != 8:
        raise UnsupportedInput(f"{name}: {bit_depth}-bit {kind} PNG is not supported yet "
                               "(only 8-bit RGB)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if getattr(im, "n_frames", 1) > 1:
                    raise UnsupportedInput(f"{name}: animated PNG is not supported yet")
                if "transparency" in im.info:
                    raise UnsupportedInput(f"{name}: RGB PNG with a transparent colour (tRNS) is "
                                           "not supported yet")
                dropped = [k for k in _METADATA_KEYS if im.info.get(k)]
                dropped += [k for k in im.info if isinstance(k, str) and k not in _METADATA_KEYS
                            and k not in ("interlace", "transparency") and isinstance(im.info[k], str)]
                if im.mode != "RGB":
                    raise UnsupportedInput(f"{name}: PNG decodes to mode {im.mode}, not RGB")
                im.load()
                pixels = np.asarray(im, dtype=np.uint8)
    except UnsupportedInput:
        raise
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError) as e:
        raise UnsupportedInput(f"{name}: cannot decode PNG ({e})") from None
    return np.ascontiguousarray(pixels), dropped


def write_png(pixels: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
