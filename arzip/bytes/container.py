"""The .arz container for files coded as bytes: a header, blocks, an end record (docs/FORMAT.md).
The first six bytes and the CRC seals are every archive's (arzip/container.py).

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

from ..container import BYTES_MODEL_HASH_BYTES, CRC, KIND_BYTES, check_seal, kind_of, prefix, sealed
from ..errors import FormatError

METHOD_MODEL, METHOD_STORED, METHOD_LZMA, METHOD_ZLIB, METHOD_BZ2 = 0, 1, 2, 3, 4
METHODS = {METHOD_MODEL: "model", METHOD_STORED: "stored", METHOD_LZMA: "lzma", METHOD_ZLIB: "zlib",
           METHOD_BZ2: "bz2"}
METHOD_END = 0xFF
BLOCK_SIZE = 1 << 23           # bytes of input per block (8 MiB)
CODED_SLACK = 1 << 16          # a coded block may exceed its raw length by this much at most

_HEAD = struct.Struct("<4sBBB")
_BLOCK = struct.Struct("<BIIHI")
_END = struct.Struct("<Qd16s")


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
    head = sealed(prefix(KIND_BYTES) + bytes([len(name)]) + name + model_sha16)
    f.write(head)
    return len(head)


def read_header(f: BinaryIO) -> tuple[str, bytes]:
    """-> (model name, 16-byte model hash prefix); the stream must start at the magic."""
    fixed = _read(f, _HEAD.size, "header")
    if kind_of(fixed) != KIND_BYTES:
        raise FormatError("not a bytes archive")
    name_len = fixed[-1]
    rest = _read(f, name_len + BYTES_MODEL_HASH_BYTES + CRC.size, "header")
    check_seal(fixed + rest[:-CRC.size], rest[-CRC.size:], "header")
    try:
        name = rest[:name_len].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("corrupted archive (model name)") from None
    return name, rest[name_len:name_len + BYTES_MODEL_HASH_BYTES]


def write_block(f: BinaryIO, block: Block) -> int:
    f.write(_BLOCK.pack(block.method, block.raw_len, len(block.coded), block.segments,
                        zlib.crc32(block.coded)))
    f.write(block.coded)
    return _BLOCK.size + len(block.coded)


def write_end(f: BinaryIO, end: End) -> int:
    record = sealed(bytes([METHOD_END]) + _END.pack(end.total_len, end.nll_bits, end.checksum))
    f.write(record)
    return len(record)


def read_record(f: BinaryIO) -> Block | End:
    """The next block or the end record, lengths validated before anything is allocated."""
    method = _read(f, 1, "block header")[0]
    if method == METHOD_END:
        body = _read(f, _END.size + CRC.size, "end record")
        check_seal(bytes([METHOD_END]) + body[:-CRC.size], body[-CRC.size:], "end record")
        return End(*_END.unpack(body[:-CRC.size]))
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
