"""The .arz container for files coded as bytes: a header, blocks, an end record (docs/FORMAT.md).

Written and read as a stream, so neither side holds more than one block: a 1 GB file needs no
1 GB of memory, and `cat file | arzip compress -` works. Every record carries its own CRC; the
end record carries the length and BLAKE2b-128 checksum of the whole original, checked by the
reader after the last block.

    header  magic 4 | version 1 | kind 1 (= 2) | name_len 1 | model_name n | model_sha256 16 | crc 4
    block   method 1 | raw_len 4 | coded_len 4 | segments 2 | coded_crc 4 | coded bytes
    end     0xFF 1 | total_len 8 | nll_bits 8 (f64) | checksum 16 | crc 4
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from .container import FORMAT_VERSION, KIND_BYTES, MAGIC, kind_of
from .errors import FormatError

METHOD_MODEL, METHOD_STORED, METHOD_LZMA, METHOD_ZLIB, METHOD_BZ2 = 0, 1, 2, 3, 4
METHODS = {METHOD_MODEL: "model", METHOD_STORED: "stored", METHOD_LZMA: "lzma", METHOD_ZLIB: "zlib",
           METHOD_BZ2: "bz2"}
METHOD_END = 0xFF
BLOCK_SIZE = 1 << 23           # bytes of input per block (8 MiB)
CODED_SLACK = 1 << 16          # a coded block may exceed its raw length by this much at most

_HEAD = struct.Struct("<4sBBB")
_BLOCK = struct.Struct("<BIIHI")
_END = struct.Struct("<Qd16s")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class Block:
    method: int
    raw_len: int
    segments: int
    coded: bytes


@dataclass(frozen=True)
class End:
    total_len: int
    nll_bits: float
    checksum: bytes


def _read(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"truncated archive ({what})")
    return data


def write_header(f: BinaryIO, model_name: str, model_sha16: bytes) -> int:
    name = model_name.encode("ascii")
    head = _HEAD.pack(MAGIC, FORMAT_VERSION, KIND_BYTES, len(name)) + name + model_sha16
    f.write(head + _CRC.pack(zlib.crc32(head)))
    return len(head) + _CRC.size


def read_header(f: BinaryIO) -> tuple[str, bytes]:
    """-> (model name, 16-byte model hash prefix); the stream must start at the magic."""
    fixed = _read(f, _HEAD.size, "header")
    if kind_of(fixed) != KIND_BYTES:
        raise FormatError("not a bytes archive")
    name_len = fixed[-1]
    rest = _read(f, name_len + 16 + _CRC.size, "header")
    (crc,) = _CRC.unpack(rest[-4:])
    if zlib.crc32(fixed + rest[:-4]) != crc:
        raise FormatError("corrupted archive (header checksum mismatch)")
    try:
        name = rest[:name_len].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("corrupted archive (model name)") from None
    return name, rest[name_len:name_len + 16]


def write_block(f: BinaryIO, block: Block) -> int:
    f.write(_BLOCK.pack(block.method, block.raw_len, len(block.coded), block.segments,
                        zlib.crc32(block.coded)))
    f.write(block.coded)
    return _BLOCK.size + len(block.coded)


def write_end(f: BinaryIO, end: End) -> int:
    record = bytes([METHOD_END]) + _END.pack(end.total_len, end.nll_bits, end.checksum)
    f.write(record + _CRC.pack(zlib.crc32(record)))
    return len(record) + _CRC.size


def read_record(f: BinaryIO) -> Block | End:
    """The next block or the end record, lengths validated before anything is allocated."""
    method = _read(f, 1, "block header")[0]
    if method == METHOD_END:
        body = _read(f, _END.size + _CRC.size, "end record")
        (crc,) = _CRC.unpack(body[-4:])
        if zlib.crc32(bytes([METHOD_END]) + body[:-4]) != crc:
            raise FormatError("corrupted archive (end record checksum mismatch)")
        return End(*_END.unpack(body[:-4]))
    if method not in METHODS:
        raise FormatError(f"corrupted archive (unknown block method {method})")
    _, raw_len, coded_len, segments, coded_crc = _BLOCK.unpack(bytes([method]) + _read(f, _BLOCK.size - 1,
                                                                                        "block header"))
    if not 1 <= raw_len <= BLOCK_SIZE or coded_len > raw_len + CODED_SLACK:
        raise FormatError(f"corrupted archive (block of {raw_len} bytes coded in {coded_len})")
    coded = _read(f, coded_len, "block")
    if zlib.crc32(coded) != coded_crc:
        raise FormatError("corrupted archive (block checksum mismatch)")
    return Block(method, raw_len, segments, coded)
