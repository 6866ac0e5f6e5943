"""The .arz container: a small fixed header, then the entropy-coded payload.

Layout (all integers little-endian; docs/FORMAT.md is the reference):

    magic        4  b"\\x89ARZ"
    version      1  FORMAT_VERSION
    kind         1  1 = image
    mode         1  1 = 8-bit RGB
    method       1  0 = model-coded payload, 1 = stored (raw pixels; used when smaller)
    layout       1  tiles of a model-coded image: 0 = one, 1 = four mirrored quadrants
    adapt        3  i8 per coded channel: log2-scale offset (1/32 steps) chosen for this image
    name_len     1  n
    model_name   n  ASCII
    model_sha256 16 first 16 bytes of the model file's SHA-256
    width        4  u32
    height       4  u32
    nll_bits     8  f64, the model's -log2 likelihood of the content
    checksum     16 BLAKE2b-128 of the original pixels (row-major H x W x C bytes)
    payload_len  8  u64
    payload_crc  4  CRC-32 of the payload
    header_crc   4  CRC-32 of every header byte before it
    payload      payload_len bytes
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from .errors import FormatError
from .schedule import LAYOUTS

MAGIC = b"\x89ARZ"
FORMAT_VERSION = 2
KIND_IMAGE = 1
KIND_BYTES = 2  # any file, coded byte by byte: arzip/byte_container.py
KINDS = {KIND_IMAGE: "image", KIND_BYTES: "bytes"}
MODE_RGB8 = 1
MODES = {MODE_RGB8: "RGB"}
METHOD_MODEL = 0
METHOD_STORED = 1
METHODS = {METHOD_MODEL: "model", METHOD_STORED: "stored"}
MAX_PIXELS = 1 << 32  # refuse absurd geometry before allocating anything

_FIXED = struct.Struct("<4sBBBBB3bB")
_TAIL = struct.Struct("<16sIId16sQI")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class Header:
    kind: int
    mode: int
    method: int
    layout: int
    scale_offsets: tuple[int, int, int]
    model_name: str
    model_sha256: bytes  # 16-byte prefix
    width: int
    height: int
    nll_bits: float
    checksum: bytes
    payload_len: int
    payload_crc: int

    @property
    def size(self) -> int:
        return _FIXED.size + len(self.model_name.encode()) + _TAIL.size + _CRC.size

    @property
    def subpixels(self) -> int:
        return self.width * self.height * 3


def pixel_checksum(pixels: bytes) -> bytes:
    return hashlib.blake2b(pixels, digest_size=16).digest()


def pack(header: Header, payload: bytes) -> bytes:
    name = header.model_name.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError("model name must be 1..255 ASCII bytes")
    head = (_FIXED.pack(MAGIC, FORMAT_VERSION, header.kind, header.mode, header.method,
                           header.layout, *header.scale_offsets, len(name)) + name
            + _TAIL.pack(header.model_sha256, header.width, header.height, header.nll_bits,
                         header.checksum, len(payload), zlib.crc32(payload)))
    return head + _CRC.pack(zlib.crc32(head)) + payload


def kind_of(prefix: bytes) -> int:
    """The kind of archive from its first 6 bytes (magic, version and kind checked)."""
    if len(prefix) < 6 or prefix[:4] != MAGIC:
        raise FormatError("not an arz archive")
    if prefix[4] != FORMAT_VERSION:
        raise FormatError(f"unsupported arz format version {prefix[4]} (this arzip reads {FORMAT_VERSION})")
    if prefix[5] not in KINDS:
        raise FormatError(f"unknown payload kind {prefix[5]}")
    return prefix[5]


def read_header(blob: bytes) -> Header:
    """Parse and validate an image archive's header (not the payload)."""
    if kind_of(blob[:6]) != KIND_IMAGE:
        raise FormatError("not an image archive")
    if len(blob) < _FIXED.size:
        raise FormatError("truncated archive (header incomplete)")
    _, version, kind, mode, method, layout, *offsets, name_len = _FIXED.unpack_from(blob)
    end = _FIXED.size + name_len + _TAIL.size + _CRC.size
    if len(blob) < end:
        raise FormatError("truncated archive (header incomplete)")
    head_end = end - _CRC.size
    (crc,) = _CRC.unpack_from(blob, head_end)
    if zlib.crc32(blob[:head_end]) != crc:
        raise FormatError("corrupted archive (header checksum mismatch)")
    if mode not in MODES:
        raise FormatError(f"unknown image mode {mode}")
    if method not in METHODS:
        raise FormatError(f"unknown coding method {method}")
    if layout not in LAYOUTS:
        raise FormatError(f"unknown tile layout {layout}")
    try:
        name = blob[_FIXED.size:_FIXED.size + name_len].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("corrupted archive (model name)") from None
    sha, width, height, nll, checksum, payload_len, payload_crc = _TAIL.unpack_from(
        blob, _FIXED.size + name_len)
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise FormatError(f"corrupted archive (image size {width}x{height})")
    return Header(kind, mode, method, layout, tuple(offsets), name, sha, width, height, nll, checksum,
                  payload_len, payload_crc)


def unpack(blob: bytes) -> tuple[Header, bytes]:
    """Header and payload, with length and payload checksum verified."""
    header = read_header(blob)
    payload = blob[header.size:]
    if len(payload) < header.payload_len:
        raise FormatError(f"truncated archive ({len(payload)} of {header.payload_len} payload bytes)")
    if len(payload) > header.payload_len:
        raise FormatError("corrupted archive (trailing bytes after the payload)")
    if zlib.crc32(payload) != header.payload_crc:
        raise FormatError("corrupted archive (payload checksum mismatch)")
    return header, payload
