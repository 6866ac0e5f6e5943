"""A JPEG file to a JPEG archive and back: taken apart (arzip/jpeg/transcode.py), its
coefficients coded by the coefficient model (codec.py), everything else by the byte path's
rules, and verified before anything is written.

Why verify here: the file must come back byte for byte, and a compressor that finds out at
decompression time that it cannot rebuild a file has lost it. So compress decodes its own
archive and compares with the input; a file whose archive does not give it back raises
NotCoefficients and goes the byte path instead.
"""
from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import limits, native
from ..bytes import archive as byte_archive
from ..bytes.mixer import NetTables
from ..errors import FormatError
from . import codec, container, transcode
from .contexts import State
from .transcode import NotCoefficients

STRONG_LEVEL = 9  # levels from here on use the strong profile and the byte model for the side


@dataclass(frozen=True)
class Summary:
    """What compress wrote: the archive, the coefficient model's NLL and the side's share."""
    blob: bytes
    nll_bits: float
    side_bytes: int


def compress(data: bytes, level: int, net_for: Callable[[], NetTables], model_sha: bytes, prior: State | None,
             prior_sha: bytes, max_pixels: int) -> Summary:
    """The JPEG archive of data, verified; NotCoefficients when the file cannot go this way.
    The coefficient model's tables start from prior (named by prior_sha; None: fresh).
    Below STRONG_LEVEL the side (headers, EXIF: a few kB) goes through the classical coders
    only: the byte model would spend a tenth of the file's time on a hundredth of its bytes."""
    parts = transcode.take_apart(data, max_pixels)
    strong = level >= STRONG_LEVEL
    byte_model = level >= STRONG_LEVEL

    def code_side() -> tuple[bytes, float, bool]:
        return byte_archive.encode_part(parts.side, net_for() if byte_model else None, model=byte_model)

    # the side is coded beside the coefficients: its coders (lzma, bz2, zlib, the byte model)
    # release the interpreter lock, and a file with a large side (a thumbnail, data after EOI)
    # would otherwise leave one core idle for a tenth of the time
    with ThreadPoolExecutor(1) if native.threads() > 1 else contextlib.nullcontext() as pool:
        side_job = pool.submit(code_side) if pool is not None else None
        segments, costs = codec.encode(parts.geometry, parts.planes, strong, prior,
                                       codec.SPLIT_MIN_BLOCKS_STRONG if strong else codec.SPLIT_MIN_BLOCKS)
        side, _, used_model = side_job.result() if side_job is not None else code_side()
    header = container.Header(0, container.METHOD_STRONG if strong else container.METHOD_DEFAULT, level, len(data), zlib.crc32(data),
                              len(parts.side), len(side),
                              model_sha[:container.MODEL_HASH_BYTES] if used_model else
                              bytes(container.MODEL_HASH_BYTES),
                              prior_sha[:container.PRIOR_HASH_BYTES] if prior is not None else container.NO_PRIOR,
                              tuple((bands, len(stream)) for bands, stream in segments), float(costs.sum()), 0)
    blob = b"".join([container.pack(header), side] + [stream for _, stream in segments])
    try:
        same = decompress(blob, net_for, lambda: prior, max_pixels) == data
    except FormatError as e:
        raise NotCoefficients(f"the JPEG archive does not decode ({e})") from None
    if not same:
        raise NotCoefficients("the JPEG archive does not give the file back")
    return Summary(blob, float(costs.sum()), len(side))


def decompress(blob: bytes, net_for: Callable[[], NetTables], prior_for: Callable[[], State], max_pixels: int) -> bytes:
    """The file of a JPEG archive, its CRC-32 checked; FormatError on anything damaged.
    prior_for gives the prior the archive names (called only where it names one)."""
    h = container.unpack(blob)
    at = h.size
    side = byte_archive.decode_part(blob[at:at + h.side_coded_len], h.side_len, net_for, h.version)
    at += h.side_coded_len
    geometry = transcode.geometry_of(side)
    limits.check_pixels(geometry.width, geometry.height, max_pixels)
    segments = []
    for bands, n in h.segments:
        segments.append((bands, blob[at:at + n]))
        at += n
    blocks = sum(c.blocks_y * c.blocks_x for c in geometry.components)
    limits.check_justified(sum(n for _, n in h.segments), codec.LEAST_DECISIONS_PER_BLOCK * blocks,
                           limits.MIN_BITS_BINARY, "JPEG coefficients")
    try:
        prior = None if h.prior_sha == container.NO_PRIOR else prior_for()
        planes = codec.decode(geometry, segments, h.method == container.METHOD_STRONG, prior)
    except ValueError as e:
        raise FormatError(f"corrupted archive (JPEG coefficients: {e})") from None
    data = transcode.put_together(side, planes)
    if len(data) != h.original_len or zlib.crc32(data) != h.original_crc:
        raise FormatError("corrupted archive (the JPEG file's checksum does not match)")
    return data


def info(blob: bytes) -> dict:
    """What a JPEG archive's header says."""
    h = container.unpack(blob)
    payload = sum(n for _, n in h.segments)
    return {"method": container.METHODS[h.method], "level": h.level, "original_bytes": h.original_len,
            "side_bytes": h.side_coded_len, "side_raw_bytes": h.side_len, "coefficient_bytes": payload,
            "segments": len(h.segments), "nll_bits": h.nll_bits,
            "payload_over_nll_percent": 100 * (8 * payload / h.nll_bits - 1) if h.nll_bits > 0 else 0.0,
            "byte_model_sha256": h.byte_model_sha.hex(), "prior_sha256": h.prior_sha.hex()}
