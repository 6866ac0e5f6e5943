"""What a rewritten image file keeps of the original: the contracts, and the two ways of
keeping more than the pixels when Pillow writes the file back.

Every image file arzip codes as pixels comes back under one contract, said by `compress` and
`info` (docs/FORMAT.md, "What comes back"):

- bytes exact: netpbm files (header kept byte for byte), and a Pillow format (BMP, TIFF, TGA,
  QOI) whose rewrite differs from the original in one short stretch: a *patch* (the stretch,
  and how much of the rewrite's start and end surround it) rides in the archive with the
  CRC-32 of the original, so the file comes back byte for byte (a BMP's V5 header, a TIFF's
  tags and descriptions, ...);
- pixels and chunks exact, image data re-deflated: PNG (every chunk, in order, and the bytes
  after IEND);
- pixels and metadata chunks exact, image data re-encoded: lossless WebP (its ICC profile,
  EXIF and XMP chunks, checked in the rewritten file; never patched, since libwebp's output
  changes from version to version and a patch would then no longer apply);
- pixels exact, file re-encoded: archives of Pillow formats written before format version 5.

A file none of these holds (a TIFF from another writer whose rewrite differs throughout, a
WebP with chunks Pillow does not write) is coded as bytes: nothing is dropped silently.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from ..errors import FormatError

BYTES_EXACT = "bytes exact"
PNG_CHUNKS = "pixels and chunks exact, image data re-deflated"
WEBP_CHUNKS = "pixels and metadata chunks exact, image data re-encoded"
PIXELS = "pixels exact, file re-encoded"

# A patch may hold this much of the original, or a sixteenth of it if more: beyond that the
# rewrite has little in common with the original, and the byte path is the honest coding.
_PATCH_BYTES = 1 << 16


def patch(original: bytes, rewritten: bytes) -> dict | None:
    """What turns `rewritten` into `original`: the lengths of their common start ("head") and
    end ("tail") and the original's bytes between ("middle", hex), with the CRC-32 of the
    original; None when the middle would be too long to be worth keeping."""
    a, b = np.frombuffer(original, np.uint8), np.frombuffer(rewritten, np.uint8)
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    head = int(differ[0]) if len(differ) else n
    differ = np.flatnonzero(a[len(a) - n + head:][::-1] != b[len(b) - n + head:][::-1])
    tail = int(differ[0]) if len(differ) else n - head
    middle = original[head:len(original) - tail]
    if len(middle) > max(_PATCH_BYTES, len(original) // 16):
        return None
    found = {"crc32": zlib.crc32(original)}  # the rewrite alone, where it is the original
    if original != rewritten:
        found.update(head=head, tail=tail, middle=middle.hex())
    return found


def apply_patch(rewritten: bytes, p: dict) -> bytes:
    """The original bytes from a rewrite and its patch, checked against the original's CRC-32:
    a Pillow that writes this format differently from the one that made the patch is an error,
    not a wrong file."""
    try:
        head, tail = int(p.get("head", len(rewritten))), int(p.get("tail", 0))
        middle, crc = bytes.fromhex(p.get("middle", "")), int(p["crc32"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise FormatError("corrupted archive (file patch)") from None
    out = rewritten[:head] + middle + rewritten[len(rewritten) - tail:] if 0 <= head and 0 <= tail and \
        head + tail <= len(rewritten) else b""
    if zlib.crc32(out) != crc:
        raise FormatError("the original file cannot be rebuilt byte for byte: this Pillow writes the format "
                          "differently from the one that compressed it (its pixels decode: use --to png)")
    return out


# -- lossless WebP: its RIFF chunks -------------------------------------------------------------

IMAGE_CHUNKS = (b"VP8X", b"VP8L", b"VP8 ", b"ALPH")  # what Pillow's encoder writes afresh
# The metadata chunks Pillow writes back, and the save() keyword that writes each.
WEBP_METADATA = {b"ICCP": "icc_profile", b"EXIF": "exif", b"XMP ": "xmp"}


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """(fourcc, body) of every chunk of a WebP file in order, or None when the RIFF structure
    does not account for every byte (a truncated file, bytes after the RIFF)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    (size,) = struct.unpack_from("<I", data, 4)
    if size + 8 != len(data):
        return None
    chunks, pos = [], 12
    while pos < len(data):
        if pos + 8 > len(data):
            return None
        kind, (n,) = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)
        end = pos + 8 + n + (n & 1)
        if end > len(data):
            return None
        chunks.append((kind, data[pos + 8:pos + 8 + n]))
        pos = end
    return chunks


def webp_metadata(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """The chunks other than the image's own, in order, or None when the file has one Pillow
    cannot write back (then it is coded as bytes)."""
    chunks = webp_chunks(data)
    if chunks is None:
        return None
    metadata = [(kind, body) for kind, body in chunks if kind not in IMAGE_CHUNKS]
    return metadata if all(kind in WEBP_METADATA for kind, _ in metadata) else None
