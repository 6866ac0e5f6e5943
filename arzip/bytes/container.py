"""The .arz container for files coded as bytes: a header, blocks, an end record (docs/FORMAT.md).
The first six bytes are every archive's (arzip/container.py).

Written and read as a stream, so neither side holds more than one block: a 1 GB file needs no
1 GB of memory, and `cat file | arzip compress -` works.

Version 4 (written) is compact, so that a small file costs a small archive (19 bytes beyond the
coded data for a file of one block under 128 bytes; gzip spends 18): the model is named by 4
bytes of its SHA-256, lengths are varints, and one CRC-32 of the whole original, checked by the
reader after the last block, guards everything (a damaged header or block decodes to bytes
that fail it).

    header  magic 4 | version 1 (= 4) | kind 1 (= 2) | model_sha256 4
    block   method 1 | raw_len varint | coded_len varint | [segments varint: model and cm blocks] | coded
    end     0xFF 1 | crc32 of the original 4

Version 3 (read; its block records are still how an image part of several blocks is laid out)
seals every record with its own CRC-32 and ends with the BLAKE2b-128 of the original:

    header  magic 4 | version 1 (= 3) | kind 1 (= 2) | name_len 1 | model_name n | model_sha256 16 | crc 4
    block   method 1 | raw_len 4 | coded_len 4 | segments 2 | coded_crc 4 | coded bytes
    end     0xFF 1 | total_len 8 | nll_bits 8 (f64) | checksum 16 | crc 4
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from ..container import (BYTES_MODEL_HASH_BYTES, CRC, KIND_BYTES, PREFIX_SIZE, check_seal, decode_varint, prefix,
                         varint, version_of)
from ..errors import FormatError

METHOD_MODEL, METHOD_STORED, METHOD_LZMA, METHOD_ZLIB, METHOD_BZ2, METHOD_CM, METHOD_CM2 = 0, 1, 2, 3, 4, 5, 6
METHOD_CM3, METHOD_CM3_STRONG, METHOD_CM4_STRONG, METHOD_CM5_STRONG = 7, 8, 9, 10
METHOD_BRANCH, METHOD_CM6_STRONG, METHOD_CM3_X86 = 11, 12, 13
METHOD_BITMAP = 14  # packed 1-bit rows through the bilevel model (arzip/bytes/pages.py), from version 12
METHOD_CM7_STRONG = 15  # level 9 from version 12: method 12 with run predictions (arzip/bytes/cm/runs.py)
METHODS = {METHOD_MODEL: "model", METHOD_STORED: "stored", METHOD_LZMA: "lzma", METHOD_ZLIB: "zlib",
           METHOD_BZ2: "bz2", METHOD_CM: "cm", METHOD_CM2: "cm2", METHOD_CM3: "cm3", METHOD_CM3_STRONG: "cm3-strong",
           METHOD_CM4_STRONG: "cm4-strong", METHOD_CM5_STRONG: "cm5-strong", METHOD_BRANCH: "branch",
           METHOD_CM6_STRONG: "cm6-strong", METHOD_CM3_X86: "cm3-x86", METHOD_BITMAP: "bitmap",
           METHOD_CM7_STRONG: "cm7-strong"}
# profiles of the context-mixing coder (arzip/bytes/cm/engine.py PROFILES): version 6 wrote method 5;
# version 8 wrote 7 below level 9 and 8 at level 9; version 9 (development builds of 0.5.0 only) 7
# and 9; version 10 writes 7 below level 9 and 10 at level 9 (arzip.bytes.cm.method_for); version 7
# wrote 6 (development builds of 0.4.0 only; tests/golden/v7 holds such archives). Version 11 adds
# method 11 ("branch"): a cm method (its first payload byte) on a block whose machine code's branch
# addresses were made absolute (arzip/bytes/branch.py; the transform's description follows),
# written where a block holds code; method 12 ("cm6-strong", level 9: method 10 with field contexts
# and the x86 model, arzip/bytes/cm/exe.py) and method 13 ("cm3-x86": method 7 with the x86 model,
# written only inside a branch block of x86 code below level 9). Version 12 writes method 15
# ("cm7-strong": method 12 with run predictions) at level 9 instead of 12, and method 14 ("bitmap",
# not a cm method) where a block is a page of packed 1-bit rows
CM_METHODS = (METHOD_CM, METHOD_CM2, METHOD_CM3, METHOD_CM3_STRONG, METHOD_CM4_STRONG, METHOD_CM5_STRONG, METHOD_BRANCH,
              METHOD_CM6_STRONG, METHOD_CM3_X86, METHOD_CM7_STRONG)
CM_WRITTEN = (METHOD_CM3, METHOD_BRANCH, METHOD_CM7_STRONG)
SEGMENTED = (METHOD_MODEL, *CM_METHODS)  # the methods whose records carry a segment count
METHOD_END = 0xFF
BLOCK_SIZE = 1 << 23           # bytes of input per block (8 MiB)
CODED_SLACK = 1 << 16          # a coded block may exceed its raw length by this much at most

COMPACT_MODEL_HASH_BYTES = 4  # version 4 names its model by this much of the model file's SHA-256
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
    """Version 3 ends with the length and BLAKE2b-128 of the original and the model's NLL;
    version 4 with the CRC-32 of the original alone (total_len and nll_bits are then None)."""
    total_len: int | None
    nll_bits: float | None
    checksum: bytes


@dataclass(frozen=True)
class Head:
    version: int
    model_name: str | None  # version 3 names the model; version 4 only hashes it
    model_sha: bytes        # a prefix of the model file's SHA-256 (16 bytes in 3, 4 in 4)


def _read(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FormatError(f"truncated archive ({what})")
    return data


def write_header(f: BinaryIO, model_sha: bytes) -> int:
    """The version-4 header naming the byte model by the start of its SHA-256."""
    head = prefix(KIND_BYTES) + model_sha[:COMPACT_MODEL_HASH_BYTES]
    f.write(head)
    return len(head)


def read_header(f: BinaryIO) -> Head:
    """The header of a version 3 or 4 byte archive; the stream must start at the magic."""
    fixed = _read(f, PREFIX_SIZE, "header")
    version = version_of(fixed)
    if fixed[5] != KIND_BYTES:
        raise FormatError("not a bytes archive")
    if version >= 4:
        return Head(version, None, _read(f, COMPACT_MODEL_HASH_BYTES, "header"))
    name_len = _read(f, 1, "header")[0]
    rest = _read(f, name_len + BYTES_MODEL_HASH_BYTES + CRC.size, "header")
    check_seal(fixed + bytes([name_len]) + rest[:-CRC.size], rest[-CRC.size:], "header")
    try:
        name = rest[:name_len].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("corrupted archive (model name)") from None
    return Head(version, name, rest[name_len:name_len + BYTES_MODEL_HASH_BYTES])


def write_compact_block(f: BinaryIO, block: Block) -> int:
    """A version-4 block record."""
    record = bytes([block.method]) + varint(block.raw_len) + varint(len(block.coded))
    if block.method in SEGMENTED:
        record += varint(block.segments)
    f.write(record)
    f.write(block.coded)
    return len(record) + len(block.coded)


def write_compact_end(f: BinaryIO, crc32: int) -> int:
    f.write(bytes([METHOD_END]) + CRC.pack(crc32))
    return 1 + CRC.size


def read_compact_record(f: BinaryIO) -> Block | End:
    """The next version-4 block or the end record, lengths validated before anything is allocated."""
    method = _read(f, 1, "block header")[0]
    if method == METHOD_END:
        return End(None, None, _read(f, CRC.size, "end record"))
    if method not in METHODS:
        raise FormatError(f"corrupted archive (unknown block method {method})")
    raw_len, coded_len = _read_varint(f), _read_varint(f)
    segments = _read_varint(f) if method in SEGMENTED else 0
    _check_lengths(raw_len, coded_len)
    return Block(method, raw_len, segments, _read(f, coded_len, "block"))


def _read_varint(f: BinaryIO) -> int:
    """A block record's varint: at most 35 bits, more than any block length."""
    return decode_varint(lambda: _read(f, 1, "block header")[0], max_shift=35)


def _check_lengths(raw_len: int, coded_len: int) -> None:
    if not 1 <= raw_len <= BLOCK_SIZE or coded_len > raw_len + CODED_SLACK:
        raise FormatError(f"corrupted archive (block of {raw_len} bytes coded in {coded_len})")


def write_block(f: BinaryIO, block: Block) -> int:
    """A version-3 block record (how an image part of several blocks lays out its blocks)."""
    f.write(_BLOCK.pack(block.method, block.raw_len, len(block.coded), block.segments,
                        zlib.crc32(block.coded)))
    f.write(block.coded)
    return _BLOCK.size + len(block.coded)


def read_record(f: BinaryIO) -> Block | End:
    """The next version-3 block or end record, lengths validated before anything is allocated."""
    method = _read(f, 1, "block header")[0]
    if method == METHOD_END:
        body = _read(f, _END.size + CRC.size, "end record")
        check_seal(bytes([METHOD_END]) + body[:-CRC.size], body[-CRC.size:], "end record")
        return End(*_END.unpack(body[:-CRC.size]))
    if method not in METHODS:
        raise FormatError(f"corrupted archive (unknown block method {method})")
    _, raw_len, coded_len, segments, coded_crc = _BLOCK.unpack(bytes([method]) + _read(f, _BLOCK.size - 1,
                                                                                        "block header"))
    _check_lengths(raw_len, coded_len)
    coded = _read(f, coded_len, "block")
    if zlib.crc32(coded) != coded_crc:
        raise FormatError("corrupted archive (block checksum mismatch)")
    return Block(method, raw_len, segments, coded)
