"""What every .arz archive shares: the first six bytes (magic, format version, kind), varints,
and CRC-32 seals on records. Each kind lays out the rest itself: images in
arzip/image/container.py, files coded as bytes in arzip/bytes/container.py (docs/FORMAT.md).

    magic 4 | version 1 | kind 1

Archives are written in FORMAT_VERSION and every version in READABLE_VERSIONS still decodes:
a change that alters any archive bit bumps the version, and the decoder follows the old rule
for old archives (tests/golden holds archives of every version).
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from .errors import FormatError

MAGIC = b"\x89ARZ"
FORMAT_VERSION = 12
# 4: compact byte archives, byte-model tables sized to the block; 5: an image's file kept whole
# (a PNG's bytes after IEND, a Pillow format's patch or WebP metadata chunks in the wrapper:
# arzip/formats/rewrite.py), byte blocks held to the writer's segment rule. A reader of 4 would
# drop what 5 keeps, so 5 is a version of its own: older readers refuse it. 6: byte blocks
# coded by the context-mixing coder (block method 5, arzip/bytes/cm), which a reader of 5
# refuses by name; everything else as in 5. 7 (development builds of 0.4.0 only): byte blocks coded
# by the coder's second profile (block method 6, "cm2": more contexts, weight sets and APMs), which a
# reader of 6 refuses by name. 8: its third (methods 7 and 8, "cm3" and "cm3-strong": record guesses,
# a 1-bit image model, faster cells), which a reader of 7 refuses by name. 9: level 9's byte blocks by
# its fourth (method 9, "cm4-strong": text contexts, the match's byte as a context, a second match on
# long contexts; development builds of 0.5.0 only), which a reader of 8 refuses by name; below level 9
# as in 8. 10: level 9's byte blocks by method 10 ("cm5-strong": method 9 with two more contexts in
# the 1-bit image model), which a reader of 9 refuses by name. 11: byte blocks that hold machine code
# by method 11 (a cm method after a branch-address transform, arzip/bytes/branch.py),
# which a reader of 10 refuses by name; every other block as in 10. 12: files that hold a raster among
# other bytes (DICOM, FITS, TIFF that Pillow cannot rewrite: arzip/formats/raster.py) as images of
# formats 7-9, their wrapper through the byte path where that is smaller (wrapper codec 2); every
# other archive as in 11.
READABLE_VERSIONS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
# Which releases write each version (`info` says it): the package version changes whenever what
# the encoder writes changes.
WRITTEN_BY = {3: "arzip 0.1.0 (early)", 4: "arzip 0.1.0", 5: "arzip 0.2.0", 6: "arzip 0.3.0", 7: "arzip 0.4.0 (development builds)", 8: "arzip 0.4.0", 9: "arzip 0.5.0 (development builds)", 10: "arzip 0.5.0", 11: "arzip 0.6.0", 12: "arzip 0.7.0"}
KIND_IMAGE = 1  # an image's samples, coded by planes: arzip/image/container.py
KIND_BYTES = 2  # any file, coded byte by byte: arzip/bytes/container.py
KIND_JPEG = 3   # a JPEG file through its DCT coefficients: arzip/jpeg/container.py (written from arzip 0.3.0;
                # older readers refuse the kind)
KINDS = {KIND_IMAGE: "image", KIND_BYTES: "bytes", KIND_JPEG: "jpeg"}
PREFIX_SIZE = 6

# How much of a model file's SHA-256 an archive records to name its model: 8 bytes in image
# archives, 16 in byte archives of version 3 (4 in those of version 4, arzip/bytes/container.py;
# any of these is far beyond chance collisions among the handful of shipped models).
IMAGE_MODEL_HASH_BYTES = 8
BYTES_MODEL_HASH_BYTES = 16

CRC = struct.Struct("<I")


def prefix(kind: int) -> bytes:
    return MAGIC + bytes([FORMAT_VERSION, kind])


def kind_of(head: bytes) -> int:
    """The kind of archive from its first 6 bytes (magic, version and kind checked)."""
    return _checked(head)[1]


def version_of(head: bytes) -> int:
    """The format version of an archive from its first 6 bytes (magic, version and kind checked)."""
    return _checked(head)[0]


def _checked(head: bytes) -> tuple[int, int]:
    if len(head) < PREFIX_SIZE or head[:4] != MAGIC:
        raise FormatError("not an arz archive")
    if head[4] not in READABLE_VERSIONS:
        raise FormatError(f"unsupported arz format version {head[4]} (this arzip reads "
                          f"{', '.join(map(str, READABLE_VERSIONS))})")
    if head[5] not in KINDS:
        raise FormatError(f"unknown payload kind {head[5]}")
    return head[4], head[5]


def sealed(record: bytes) -> bytes:
    """The record followed by its CRC-32."""
    return record + CRC.pack(zlib.crc32(record))


def check_seal(record: bytes, seal: bytes, what: str) -> None:
    """FormatError unless seal is the CRC-32 of record."""
    if CRC.unpack(seal)[0] != zlib.crc32(record):
        raise FormatError(f"corrupted archive ({what} checksum mismatch)")


def varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low bits first."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def decode_varint(next_byte: Callable[[], int], max_shift: int = 63) -> int:
    """The varint whose bytes next_byte() gives in turn; a FormatError when it runs on past
    max_shift bits (a damaged length field)."""
    n = shift = 0
    while True:
        b = next_byte()
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n
        shift += 7
        if shift > max_shift:
            raise FormatError("corrupted archive (bad length field)")


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at pos."""
    r = Reader(buf, pos)
    return r.varint(), r.pos


class Reader:
    """Bounds-checked reads from a header: running past the end is a truncated archive."""

    def __init__(self, blob: bytes, pos: int) -> None:
        self.blob, self.pos = blob, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.blob):
            raise FormatError("truncated archive (header incomplete)")
        self.pos += n
        return self.blob[self.pos - n:self.pos]

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        return decode_varint(self.byte)

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))
