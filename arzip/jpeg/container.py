"""The .arz container for JPEG files coded through their coefficients (docs/FORMAT.md). The
first six bytes are every archive's (arzip/container.py), kind 3.

    prefix   magic 4 | version 1 | kind 1 (= 3)
    header   method 1 | level 1 | original_len varint | original_crc32 4 | side_len varint |
             side_coded_len varint | byte_model_sha256 4 | prior_sha256 8 | segments varint |
             per segment: bands varint | stream_len varint | nll_bits 8 (f64) | header_crc32 4
    payload  side (a byte-coded part: arzip/bytes/archive.encode_part) | the segments' streams

method names the coefficient model (arzip/jpeg/model.py): a change to its bits is a new method,
the old one still decoded. level is what the writer was asked for (informational). side is what
arzip.jpeg.transcode needs beside the coefficients to rebuild the file (headers, scan layout,
anything not coefficients), coded by the byte path's rules, the byte model named by the first 4
bytes of its SHA-256 (zeros where no block of it is model-coded). prior_sha256 names the
trained starting state of the coefficient model's tables (arzip/jpeg/prior.py) by the first 8
bytes of its file's SHA-256 (zeros: fresh tables). original_crc32 checks the rebuilt file; the
header's own CRC-32 guards the lengths before anything is allocated.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ..container import CRC, KIND_JPEG, PREFIX_SIZE, Reader, check_seal, kind_of, prefix, varint, version_of
from ..errors import FormatError

METHOD_DEFAULT, METHOD_STRONG = 1, 2   # the coefficient model's two profiles (arzip/jpeg/model.py)
METHODS = {METHOD_DEFAULT: "coefficients, default profile", METHOD_STRONG: "coefficients, strong profile"}
MODEL_HASH_BYTES = 4
PRIOR_HASH_BYTES = 8
NO_PRIOR = bytes(PRIOR_HASH_BYTES)
FIRST_VERSION = 5  # the format version kind 3 arrived in
MAX_SEGMENTS = 64
_NLL = struct.Struct("<d")


@dataclass(frozen=True)
class Header:
    version: int
    method: int
    level: int
    original_len: int
    original_crc: int
    side_len: int
    side_coded_len: int
    byte_model_sha: bytes
    prior_sha: bytes                        # NO_PRIOR: the tables start fresh
    segments: tuple[tuple[int, int], ...]   # (bands, stream length) each
    nll_bits: float
    size: int                               # bytes up to the payload


def pack(h: Header) -> bytes:
    """The prefix and header of h (h.version and h.size are ignored)."""
    record = bytes([h.method, h.level]) + varint(h.original_len) + CRC.pack(h.original_crc) + varint(h.side_len) \
        + varint(h.side_coded_len) + h.byte_model_sha + h.prior_sha + varint(len(h.segments)) \
        + b"".join(varint(bands) + varint(n) for bands, n in h.segments) + _NLL.pack(h.nll_bits)
    head = prefix(KIND_JPEG) + record
    return head + CRC.pack(zlib.crc32(head))


def unpack(blob: bytes) -> Header:
    """The header of a JPEG archive, its checksum and lengths checked against the blob."""
    version = version_of(blob[:PREFIX_SIZE])
    if kind_of(blob[:PREFIX_SIZE]) != KIND_JPEG:
        raise FormatError("not a JPEG archive")
    if version < FIRST_VERSION:
        raise FormatError(f"corrupted archive (a JPEG archive cannot be of format version {version})")
    r = Reader(blob, PREFIX_SIZE)
    method, level = r.byte(), r.byte()
    original_len = r.varint()
    original_crc = r.unpack(CRC)[0]
    side_len, side_coded_len = r.varint(), r.varint()
    sha = r.take(MODEL_HASH_BYTES)
    prior_sha = r.take(PRIOR_HASH_BYTES)
    count = r.varint()
    if count > MAX_SEGMENTS:
        raise FormatError("corrupted archive (JPEG segment count)")
    segments = tuple((r.varint(), r.varint()) for _ in range(count))
    nll = r.unpack(_NLL)[0]
    end = r.pos
    check_seal(blob[:end], r.take(CRC.size), "JPEG header")
    if method not in METHODS:
        raise FormatError(f"unsupported JPEG method {method} (a newer arzip wrote this archive)")
    size = r.pos
    if size + side_coded_len + sum(n for _, n in segments) != len(blob):
        raise FormatError("corrupted archive (JPEG payload lengths)")
    return Header(version, method, level, original_len, original_crc, side_len, side_coded_len, sha, prior_sha,
                  segments, nll, size)
