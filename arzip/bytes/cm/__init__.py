"""The context-mixing byte coder (block method "cm", arzip/bytes/container.py): a block of
bytes in one or two segments coded side by side, each through the compiled coder of engine.py
from fresh tables.

Why this shape: the first byte model ("model" blocks, arzip/bytes/mixer.py) coded 16-64
segments in lock step so that one Python call per bit served them all; it paid for that in
rate (each segment sees only its own past) and still made a call per bit. Here one compiled
call codes 64 kB, so a segment can be as long as the block, and the model can grow the
contexts that structured files need (records, columns, sparse and indirect contexts) without
a per-call cost. Two segments, one per core, cost text about 6 % (each learns alone), so only
blocks of at least SPLIT_MIN bytes are cut, and never at level 9.
"""
from __future__ import annotations

import io

import numpy as np

from ... import native
from ...mixing import arithmetic
from ...container import decode_varint, varint
from ..mixer import NetTables
from .. import branch
from . import engine

SPLIT_MIN = 1 << 20     # blocks from 1 MiB on are coded as two segments, one per core (2 MiB in format 6 and 7)
STRONG_LEVEL = 9        # from this level on, one segment whatever the size, and the strong profile
DEFAULT_METHOD, STRONG_METHOD = 7, 15  # block methods "cm3" and "cm7-strong" (arzip/bytes/container.py)
BRANCH_METHOD = 11  # a block of machine code: the branch transform (arzip/bytes/branch.py), then a cm method
CODE_METHODS = {DEFAULT_METHOD: 13}  # the method a level's method becomes on x86 code (13: 7 with the x86 model)


def method_for(level: int, x86: bool = False) -> int:
    """The block method (the engine's profile, engine.PROFILES) a block is coded with at `level`;
    x86: the block holds x86 code (inside a BRANCH_METHOD block, the method it names)."""
    method = STRONG_METHOD if level >= STRONG_LEVEL else DEFAULT_METHOD
    return CODE_METHODS.get(method, method) if x86 else method


def segments_for(n: int, level: int) -> int:
    """How many segments a block of n bytes is coded in at `level` (recorded in the archive)."""
    return 2 if n >= SPLIT_MIN and level < STRONG_LEVEL else 1


def _bounds(n: int, segments: int) -> list[tuple[int, int]]:
    return [(k * n // segments, (k + 1) * n // segments) for k in range(segments)]


def _x86_bytes(n: int, code: tuple[int, list[tuple[int, int]]] | None) -> np.ndarray | None:
    """1 for each of a block's n bytes in x86 code (the x86 model's, engine.P_EXE), from branch.detect's
    instruction set and regions; None where the block has none."""
    if code is None or code[0] != branch.X86:
        return None
    inside = np.zeros(n, dtype=np.uint8)
    for start, end in code[1]:
        inside[start:end] = 1
    return inside


def _encode_segment(data: np.ndarray, net: NetTables, method: int, costs: np.ndarray | None = None,
                    x86: np.ndarray | None = None) -> tuple[bytes, float]:
    """(stream, NLL in bits); costs: where each byte's cost goes, else only their sum."""
    tables = engine.Tables(len(data), net, method, x86)
    coder, nll = arithmetic.encoder_state(), np.zeros(1) if costs is None else costs
    stream = arithmetic.encode_bands(coder, len(data), engine.CHUNK, engine.WORST_BYTES_PER_BYTE,
                                     lambda i0, i1, buf: engine.code(data, i0, i1, False, *tables.arguments(), buf, 0,
                                                                     coder, nll))
    return stream, float(nll.sum())


def encode_block(net: NetTables, block: bytes, segments: int, method: int,
                 code: tuple[int, list[tuple[int, int]]] | None = None) -> tuple[bytes, float]:
    """(payload, the model's NLL in bits): the lengths of the segments' streams but the last
    (varints), then the streams. With `code` (branch.detect's instruction set and regions), the
    payload of a block of method BRANCH_METHOD: the method, the branch transform's description,
    then the same of the transformed block."""
    data = np.frombuffer(block, dtype=np.uint8).copy()  # writable: the kernel has one signature for both directions
    described = b""
    if code is not None:
        branch.rewrite(data, *code, True)
        described = bytes([method]) + branch.describe(*code)
    x86 = _x86_bytes(len(data), code)
    done = native.side_by_side(lambda a, b: _encode_segment(data[a:b], net, method, None, None if x86 is None else x86[a:b]),
                               _bounds(len(data), segments))
    streams = [stream for stream, _ in done]
    return described + b"".join(varint(len(s)) for s in streams[:-1]) + b"".join(streams), sum(nll for _, nll in done)


def byte_costs(net: NetTables, block: bytes, segments: int, method: int) -> np.ndarray:
    """(len(block),) bits the coder spends on each byte of the block in `segments` segments
    (arzip explain's maps; their sum is the block's NLL)."""
    data = np.frombuffer(block, dtype=np.uint8).copy()
    costs = np.zeros(len(data))
    for a, b in _bounds(len(data), segments):
        _encode_segment(data[a:b], net, method, costs[a:b])
    return costs


def _decode_segment(stream: bytes, out: np.ndarray, net: NetTables, method: int, x86: np.ndarray | None) -> None:
    """Decode a segment's stream into out, checking every CHUNK bytes that the decoder has not
    read past the stream (arithmetic.decode_bands, with out as one row of bytes)."""
    tables = engine.Tables(len(out), net, method, x86)
    src = np.frombuffer(stream, dtype=np.uint8).copy()  # writable: one kernel signature both ways
    coder = arithmetic.decoder_state(src)
    arithmetic.decode_bands(coder, src, len(out), 1, lambda i0, i1: engine.code(
        out, i0, i1, True, *tables.arguments(), src, 0, coder, np.zeros(1)))


def decode_block(net: NetTables, payload: bytes, n: int, segments: int, method: int) -> bytes:
    """The n bytes of encode_block's payload for a block of `method` (BRANCH_METHOD: the payload
    names the profile); ValueError where it is not one."""
    isa, regions, at = 0, [], 0
    if method == BRANCH_METHOD:
        if not payload or payload[0] not in engine.PROFILES:
            raise ValueError("the branch transform names no profile of the coder")
        isa, regions, at = branch.read_description(payload, n, 1)
        method = payload[0]
    head = io.BytesIO(payload)
    head.seek(at)

    def next_byte() -> int:
        byte = head.read(1)
        if not byte:
            raise ValueError("the segment lengths run past the block")
        return byte[0]

    lengths = [decode_varint(next_byte, max_shift=35) for _ in range(segments - 1)]
    at = head.tell()
    lengths.append(len(payload) - at - sum(lengths))
    if lengths[-1] < 0:
        raise ValueError("the segment lengths exceed the block")
    out = np.zeros(n, dtype=np.uint8)
    items = []
    for (a, b), length in zip(_bounds(n, segments), lengths):
        items.append((payload[at:at + length], a, b))
        at += length
    x86 = _x86_bytes(n, (isa, regions) if isa else None)
    native.side_by_side(lambda stream, a, b: _decode_segment(stream, out[a:b], net, method, None if x86 is None else x86[a:b]),
                        items)
    branch.rewrite(out, isa, regions, False)
    return out.tobytes()
