"""Files as bytes: cut the input into blocks, code each with the byte model or, when smaller, a
classical coder from the standard library (or store it), and stream the records out.

Every block is coded on its own (the model starts fresh), so memory is bounded by one block and
a damaged block cannot corrupt the rest. Trying lzma, zlib and bz2 on every block is the
never-expand guarantee: a block costs at most its raw length plus its 15-byte record header.
"""
from __future__ import annotations

import bz2
import contextlib
import hashlib
import io
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .. import limits, native
from ..errors import FormatError
from . import branch, cm, codec, container as bc, pages
from .mixer import NetTables

# xz -9e, with the dictionary cut to the block size (a larger one cannot help, and costs memory)
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": bc.BLOCK_SIZE}]
# for a block that looks random: lzma's fastest search, which still finds a repeat anywhere in the
# block (the one structure noise can hide), at half the time; the same decoder reads it
_LZMA_QUICK_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 1, "dict_size": bc.BLOCK_SIZE}]


def _deflate(block: bytes) -> bytes:
    """zlib level 9, with the default or the filtered-data strategy (as libpng uses for PNG's
    filtered scanlines), whichever is smaller: any inflater reads either."""
    filtered = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_FILTERED)
    return min(zlib.compress(block, 9), filtered.compress(block) + filtered.flush(), key=len)


def _classical(block: bytes, noise: bool = False) -> dict[int, bytes]:
    """The classical candidates for a block; for noise (looks_random) lzma's quick search alone,
    beside storing it."""
    if noise:
        return {bc.METHOD_LZMA: lzma.compress(block, format=lzma.FORMAT_RAW, filters=_LZMA_QUICK_FILTERS),
                bc.METHOD_STORED: block}
    return {bc.METHOD_LZMA: lzma.compress(block, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS),
            bc.METHOD_ZLIB: _deflate(block),
            bc.METHOD_BZ2: bz2.compress(block, 9),
            bc.METHOD_STORED: block}


def _bounded(decompressor, coded: bytes, raw_len: int) -> bytes:
    """Decompress at most raw_len + 1 bytes: a hostile block cannot balloon memory."""
    out = decompressor.decompress(coded, raw_len + 1)
    if len(out) != raw_len:
        raise FormatError("corrupted archive (block decodes to the wrong length)")
    return out


def decode_block(net: NetTables, block: bc.Block, version: int) -> bytes:
    """A block of an archive of format `version` (which sizes the model's tables)."""
    if block.method == bc.METHOD_MODEL:
        # the writer's rules, checked before the model's state is allocated or run: a model block
        # has codec.segments_for(raw_len) segments, and its payload holds 8 decisions per byte
        if not 1 <= block.segments <= codec.segments_for(block.raw_len):
            raise FormatError(f"corrupted archive (a block of {block.raw_len} bytes in {block.segments} segments)")
        limits.check_justified(len(block.coded), 8 * block.raw_len, limits.MIN_BITS_BINARY, "model block")
        try:
            return codec.decode_block(net, block.coded, block.raw_len, block.segments, sized=version >= 4)
        except (ValueError, RuntimeError, AssertionError) as e:
            raise FormatError(f"corrupted archive (block does not decode: {e})") from None
    if block.method in bc.CM_METHODS:
        # a cm block has one or two segments and its payload holds 8 decisions per byte
        if block.segments not in (1, 2) or block.segments > block.raw_len:
            raise FormatError(f"corrupted archive (a block of {block.raw_len} bytes in {block.segments} segments)")
        limits.check_justified(len(block.coded), 8 * block.raw_len, limits.MIN_BITS_BINARY, "cm block")
        try:
            return cm.decode_block(net, block.coded, block.raw_len, block.segments, block.method)
        except (ValueError, RuntimeError, AssertionError) as e:
            raise FormatError(f"corrupted archive (block does not decode: {e})") from None
    if block.method == bc.METHOD_BITMAP:
        return pages.decode(block.coded, block.raw_len)
    if block.method == bc.METHOD_STORED:
        if len(block.coded) != block.raw_len:
            raise FormatError("corrupted archive (stored block has the wrong size)")
        return block.coded
    try:
        if block.method == bc.METHOD_LZMA:
            return _bounded(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_LZMA_FILTERS), block.coded,
                            block.raw_len)
        if block.method == bc.METHOD_ZLIB:
            return _bounded(zlib.decompressobj(), block.coded, block.raw_len)
        return _bounded(bz2.BZ2Decompressor(), block.coded, block.raw_len)
    except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError) as e:
        raise FormatError(f"corrupted archive ({bc.METHODS[block.method]} block: {e})") from None


DEFAULT_LEVEL = 5  # the byte path's levels differ in the cm profile and in how a block is cut (cm.method_for,
                   # cm.segments_for)
# blocks up to this size also try the first byte model ("model" blocks): on a few hundred bytes
# of tables (a JPEG's side) it can beat the context-mixing coder by a sixth, at little time
SMALL_BLOCK = 1 << 14

# a block whose bytes are this close to uniform and which zlib's fastest level cannot shrink is
# noise to every coder here (arithmetic-coded JPEG data, encrypted or already compressed bytes):
# the byte model would spend seconds per megabyte to lose its header (models/EXPERIMENTS.md J29)
RANDOM_ENTROPY = 7.99       # bits per byte, order 0
RANDOM_DEFLATE_RATIO = 0.999


def looks_random(block: bytes) -> bool:
    """Whether block is noise to every coder here: its order-0 entropy at least RANDOM_ENTROPY
    bits per byte and zlib level 1 saving under 0.1 %. A few milliseconds a megabyte; blocks
    under 16 kB never qualify (their byte counts cannot reach that entropy)."""
    if len(block) < 1 << 14:
        return False
    counts = np.bincount(np.frombuffer(block, dtype=np.uint8), minlength=256)
    seen = counts[counts > 0] / len(block)
    if -(seen * np.log2(seen)).sum() < RANDOM_ENTROPY:
        return False
    return len(zlib.compress(block, 1)) >= RANDOM_DEFLATE_RATIO * len(block)


def code_block(net: NetTables, block: bytes, model_cost: int = 0, model: bool = True,
               level: int = DEFAULT_LEVEL) -> tuple[bc.Block, float]:
    """One block coded by the context-mixing coder (arzip/bytes/cm; small blocks also by the
    first byte model) or, when smaller (by model_cost bytes: what naming the model costs
    elsewhere), a classical coder; and the chosen model's NLL (the cm coder's where a classical
    coder won; 0 without a model: model=False tries the classical coders alone, a block that
    looks_random lzma's quick search and storing). The level decides the cm profile and the
    segments (cm.method_for, cm.segments_for); a block that holds machine code is coded after
    the branch transform (arzip/bytes/branch.py), as block method cm.BRANCH_METHOD; one that
    looks like packed 1-bit rows (arzip/bytes/pages.py) is also coded as a page (bc.METHOD_BITMAP)."""
    noise = looks_random(block)
    written = cm.method_for(level)
    candidates, nlls, segments = {}, {written: 0.0}, {}
    if model and not noise:
        segments[written] = cm.segments_for(len(block), level)
        # a block in one segment leaves a core free: the classical coders run on it meanwhile
        # (they and the kernels release the interpreter lock)
        beside = segments[written] == 1 and native.threads() > 1 and len(block) > SMALL_BLOCK
        if beside:
            from concurrent.futures import ThreadPoolExecutor  # here: small files need not import it
        row = pages.detect(block)
        with ThreadPoolExecutor(1) if beside else contextlib.nullcontext() as pool:
            classical = pool.submit(_classical, block) if pool else None
            page = pool.submit(pages.encode, block, row) if pool and row else None
            code = branch.detect(block)
            if code[0]:
                segments[cm.BRANCH_METHOD] = segments[written]
                candidates[cm.BRANCH_METHOD], nlls[written] = cm.encode_block(
                    net, block, segments[written], cm.method_for(level, code[0] == branch.X86), code)
            else:
                candidates[written], nlls[written] = cm.encode_block(net, block, segments[written], written)
            if len(block) <= SMALL_BLOCK:
                candidates[bc.METHOD_MODEL], nlls[bc.METHOD_MODEL], segments[bc.METHOD_MODEL] = \
                    codec.encode_block(net, block)
            candidates.update(classical.result() if classical else _classical(block))
            if row:
                candidates[bc.METHOD_BITMAP], nlls[bc.METHOD_BITMAP] = page.result() if page else pages.encode(block, row)
    else:
        candidates.update(_classical(block, noise))
    method = min(candidates, key=lambda m: (len(candidates[m]) + (model_cost if m in bc.SEGMENTED else 0), m))
    return (bc.Block(method, len(block), segments.get(method, 0), candidates[method]),
            nlls.get(method, nlls[written]))


_SMALL_PART = struct.Struct("<BH")  # method, segments


def encode_part(data: bytes, net: NetTables, model_cost: int = 0, model: bool = True) -> tuple[bytes, float, bool]:
    """A buffer of known length (an image plane's stream) without header or end record: one
    block as method | segments | coded (its length and checksum are the image container's
    business), or block records when it needs several blocks. Returns the payload, the
    model's NLL, and whether any block is model-coded (else the part need not name the model).
    model=False: the classical coders alone."""
    if len(data) <= bc.BLOCK_SIZE:
        record, nll = code_block(net, data, model_cost, model)
        return _SMALL_PART.pack(record.method, record.segments) + record.coded, nll, record.method in bc.SEGMENTED
    out, nll, used_model = io.BytesIO(), 0.0, False
    for i in range(0, len(data), bc.BLOCK_SIZE):
        record, block_nll = code_block(net, data[i:i + bc.BLOCK_SIZE], model_cost, model)
        bc.write_block(out, record)
        nll += block_nll
        used_model |= record.method in bc.SEGMENTED
    return out.getvalue(), nll, used_model


def deflated_part(stream: bytes) -> bytes:
    """A part of one zlib block that is `stream` as it is, a zlib stream of the part's raw
    bytes made elsewhere (a PNG file's own image data): decode_part inflates it."""
    return _SMALL_PART.pack(bc.METHOD_ZLIB, 0) + stream


def decode_part(payload: bytes, raw_len: int, net_for: Callable[[], NetTables], version: int) -> bytes:
    """Inverse of encode_part, for a buffer known to be raw_len bytes long, in an archive of
    format `version`."""
    if raw_len <= bc.BLOCK_SIZE:
        if len(payload) < _SMALL_PART.size or len(payload) > raw_len + bc.CODED_SLACK:
            raise FormatError("corrupted archive (byte-coded part)")
        method, segments = _SMALL_PART.unpack_from(payload)
        if method not in bc.METHODS:
            raise FormatError(f"corrupted archive (unknown block method {method})")
        block = bc.Block(method, raw_len, segments, payload[_SMALL_PART.size:])
        return decode_block(net_for() if method in bc.SEGMENTED else None, block, version)
    src, parts, total = io.BytesIO(payload), [], 0
    while total < raw_len:
        record = bc.read_record(src)
        if isinstance(record, bc.End) or record.raw_len > raw_len - total:
            raise FormatError("corrupted archive (byte-coded part)")
        parts.append(decode_block(net_for() if record.method in bc.SEGMENTED else None, record, version))
        total += record.raw_len
    if src.read(1):
        raise FormatError("corrupted archive (trailing bytes in a byte-coded part)")
    return b"".join(parts)


@dataclass
class Summary:
    """What compress_stream wrote: sizes, the model's NLL and the methods the blocks used."""
    raw_bytes: int = 0
    archive_bytes: int = 0
    nll_bits: float = 0.0
    methods: tuple[str, ...] = ()


def compress_stream(src: BinaryIO, dst: BinaryIO, net: NetTables, model_sha: bytes,
                    level: int = DEFAULT_LEVEL) -> Summary:
    """Read src to its end, write the archive (format version 4) to dst."""
    summary = Summary()
    summary.archive_bytes = bc.write_header(dst, model_sha)
    crc = 0
    methods = []
    while True:
        block = src.read(bc.BLOCK_SIZE)
        if not block:
            break
        crc = zlib.crc32(block, crc)
        record, nll = code_block(net, block, level=level)
        summary.archive_bytes += bc.write_compact_block(dst, record)
        summary.raw_bytes += len(block)
        summary.nll_bits += nll
        methods.append(bc.METHODS[record.method])
    summary.archive_bytes += bc.write_compact_end(dst, crc)
    summary.methods = tuple(methods)
    return summary


class _Check:
    """The whole-original check of a byte archive: BLAKE2b-128 and length in version 3, CRC-32
    in version 4."""

    def __init__(self, version: int) -> None:
        self.total = 0
        self._blake = hashlib.blake2b(digest_size=16) if version < 4 else None
        self._crc = 0

    def update(self, data: bytes) -> None:
        self.total += len(data)
        if self._blake is not None:
            self._blake.update(data)
        else:
            self._crc = zlib.crc32(data, self._crc)

    def matches(self, end: bc.End) -> bool:
        if self._blake is not None:
            return end.total_len == self.total and end.checksum == self._blake.digest()
        return end.checksum == bc.CRC.pack(self._crc)


def _records(src: BinaryIO, version: int) -> Iterator[bc.Block | bc.End]:
    """The block records of an archive, then its end record."""
    read = bc.read_compact_record if version >= 4 else bc.read_record
    while True:
        record = read(src)
        yield record
        if isinstance(record, bc.End):
            return


def decompress_stream(src: BinaryIO, dst: BinaryIO, net_for: Callable[[bc.Head], NetTables]) -> int:
    """Read an archive (its header included) from src, write the original to dst; returns the
    byte count. net_for(head) gives the tables of the model the header names. Raises
    FormatError on any damage, checksum mismatch included (dst may then hold partial output:
    callers write to a temporary file)."""
    head = bc.read_header(src)
    net = None
    check = _Check(head.version)
    for record in _records(src, head.version):
        if isinstance(record, bc.End):
            break
        if record.method in bc.SEGMENTED and net is None:
            net = net_for(head)
        data = decode_block(net, record, head.version)
        check.update(data)
        dst.write(data)
    if src.read(1):
        raise FormatError("corrupted archive (trailing bytes after the end record)")
    if not check.matches(record):
        raise FormatError("checksum mismatch: the decoded bytes differ from the original "
                          "(corrupted archive or a different model build)")
    return check.total


def scan(src: BinaryIO) -> dict:
    """Header, block methods and end record of an archive, without decoding (for info)."""
    head = bc.read_header(src)
    methods: dict[str, int] = {}
    blocks = total = 0
    for record in _records(src, head.version):
        if isinstance(record, bc.End):
            break
        blocks += 1
        total += record.raw_len
        key = bc.METHODS[record.method]
        methods[key] = methods.get(key, 0) + 1
    return {"head": head, "blocks": blocks, "methods": methods, "total_len": total,
            "nll_bits": record.nll_bits}
