"""The .arz container for images: a compact header, then the coded parts back to back.

An image is coded as one or more parts (the colour planes through a learned model, an alpha
plane or a whole sample array through the byte path, ...: arzip/image/planes.py). The
header says how to rebuild the samples and how to write the file back; docs/FORMAT.md is
the reference. All integers little-endian; "varint" is unsigned LEB128.

    magic 4 | version 1 | kind 1 (= 1, image)
    color_type 1 | depth 1 | format 1 | width varint | height varint
    checksum 16           BLAKE2b-128 of the samples (arzip.formats.picture.Picture.checksum)
    wrapper_codec 1 | wrapper_len varint | wrapper   what it takes to write the file back
                                                      (0 raw, 1 zlib, 2 the byte path from
                                                      version 12: model 1 (index, 0xFF none) |
                                                      raw_len varint | byte-path part)
    models 1 | per model: name_len 1 | name | sha256 prefix 8
    parts 1  | per part:
        plane 1 | method 1 | model 1 (index, 0xFF none) | transform 1
        layout 1 | scale offsets 3 (i8)              (network methods only: model, mixing)
        nll_bits 4 (f32) | payload_len varint
        payload_crc 4                                (network methods only: byte-coded parts
                                                      are block records with their own CRCs)
    header_crc 4          CRC-32 of every header byte before it
    payloads              the parts' payloads, in order

The header is small on purpose: tiny images (icons, 1x1) must not cost more than their PNG.
The first six bytes and the varints are every archive's (arzip/container.py).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from ..container import (CRC, FORMAT_VERSION, IMAGE_MODEL_HASH_BYTES, KIND_IMAGE, Reader, check_seal, kind_of,
                         prefix, sealed, varint, version_of)
from .. import limits
from ..errors import FormatError, UnsupportedInput

# what a part holds
PLANE_COLOURS = 0  # an image's RGB planes (8-bit RGB or RGBA, or a palette image's colours)
PLANE_GRAY = 1     # an 8-bit gray plane (gray or gray+alpha images)
PLANE_ALPHA = 2    # the alpha plane of an 8-bit RGBA or gray+alpha image
PLANE_SAMPLES = 3  # every sample of the image
PLANES = {PLANE_COLOURS: "colours", PLANE_GRAY: "gray", PLANE_ALPHA: "alpha", PLANE_SAMPLES: "samples"}
# how a part is coded
METHOD_MODEL = 0   # a learned image model (arzip/image/codec.py)
METHOD_BYTES = 1   # serialised (arzip/formats/serialise.py), then byte-path blocks (arzip/bytes/archive.py)
METHOD_MIXING = 2  # a learned image model with context mixing around it (arzip/image/mixing_codec.py)
METHOD_LIGHT_MIXING = 3  # the same with the light profile, stripes coded side by side
METHOD_MEDIUM_MIXING = 4  # the same with the medium profile
METHOD_BILEVEL = 5  # a 1-bit image's pixels with 2-D contexts, mixed (arzip/image/bilevel.py; read, no longer written)
METHOD_GRAY16 = 6   # a 16-bit gray image's pixels at full depth, mixed (arzip/image/gray16.py; read, no longer written)
METHOD_DEPTH16 = 7  # a 16-bit image's samples at full depth: blended predictors, mixed (arzip/image/depth16.py)
METHOD_INDICES = 8  # palette indices, 2 and 4-bit gray: exact 2-D contexts of the values, mixed (arzip/image/indices.py)
METHOD_QUICK_MIXING = 9  # a learned image model with the quick mixing profile (its mixture prior), side by side
METHOD_BILEVEL_STRONG = 10  # a 1-bit image's pixels with seven 2-D contexts, mixed (arzip/mixing/bilevel.py;
                            # from version 12, where method 5 is read only)
METHODS = {METHOD_MODEL: "model", METHOD_BYTES: "bytes", METHOD_MIXING: "mixing", METHOD_LIGHT_MIXING: "light mixing",
           METHOD_MEDIUM_MIXING: "medium mixing", METHOD_BILEVEL: "bilevel", METHOD_GRAY16: "16-bit gray",
           METHOD_DEPTH16: "full depth", METHOD_INDICES: "indices", METHOD_QUICK_MIXING: "quick mixing",
           METHOD_BILEVEL_STRONG: "bilevel strong"}
MIXING_PROFILES = {METHOD_MIXING: "full", METHOD_LIGHT_MIXING: "light",  # arzip.image.profiles.PROFILES
                   METHOD_MEDIUM_MIXING: "medium", METHOD_QUICK_MIXING: "quick"}
SIDE_BY_SIDE_METHODS = (METHOD_LIGHT_MIXING, METHOD_MEDIUM_MIXING, METHOD_QUICK_MIXING)  # two stripes at least,
                                                                                         # on two threads
NETWORK_METHODS = (METHOD_MODEL, *MIXING_PROFILES)  # parts that name a network and a layout
NO_MODEL = 0xFF
WRAPPER_CODED = 2  # the wrapper's codec where the byte path codes it (format version 12 on)

# default limits on what a header may claim, checked before anything is allocated (arzip.limits)
MAX_PIXELS = limits.MAX_PIXELS


@dataclass(frozen=True)
class Part:
    plane: int
    method: int
    model: int = NO_MODEL     # index into Header.models
    transform: int = 0        # bytes method: arzip.formats.serialise
    layout: int = 0           # model method: tile layout (arzip.image.waves)
    scale_offsets: tuple[int, int, int] = (0, 0, 0)
    nll_bits: float = 0.0
    payload_len: int = 0
    payload_crc: int = 0


@dataclass(frozen=True)
class Header:
    color_type: int
    depth: int
    format: int
    width: int
    height: int
    checksum: bytes
    wrapper: bytes                             # uncompressed (empty where wrapper_coded holds it)
    models: tuple[tuple[str, bytes], ...]      # (name, IMAGE_MODEL_HASH_BYTES of its sha256)
    parts: tuple[Part, ...] = field(default=())
    size: int = 0                              # header bytes, set when read
    version: int = FORMAT_VERSION              # format version, set when read (3 and 4 differ only in
                                               # the byte model's table sizes, arzip.bytes.mixer.table_bits)
    wrapper_coded: bytes = b""                 # the wrapper through the byte path (codec 2, WRAPPER_CODED):
                                               # model index 1 | raw length varint | part; the image path
                                               # decodes it (arzip/image/planes.py), it needs the byte model

    @property
    def nll_bits(self) -> float:
        return sum(p.nll_bits for p in self.parts)


_PART_MODEL = struct.Struct("<B3b")
_PART_NLL = struct.Struct("<f")


def pack(header: Header, payloads: list[bytes]) -> bytes:
    """The archive: header (with the parts' lengths and CRCs filled in) and payloads.
    UnsupportedInput where the header would break a limit read_header enforces (arzip.limits):
    what the decoder would refuse is never written."""
    _check_limits(header)
    if header.wrapper_coded:
        codec, wrapper = WRAPPER_CODED, header.wrapper_coded
    else:
        wrapper = zlib.compress(header.wrapper, 9)
        codec = 1 if len(wrapper) < len(header.wrapper) else 0
        wrapper = wrapper if codec else header.wrapper
    out = bytearray(prefix(KIND_IMAGE) + bytes([header.color_type, header.depth, header.format]))
    out += varint(header.width) + varint(header.height) + header.checksum
    out += bytes([codec]) + varint(len(wrapper)) + wrapper
    out.append(len(header.models))
    for name, sha in header.models:
        raw = name.encode("ascii")
        out += bytes([len(raw)]) + raw + sha[:IMAGE_MODEL_HASH_BYTES]
    out.append(len(header.parts))
    for part, payload in zip(header.parts, payloads, strict=True):
        out += bytes([part.plane, part.method, part.model, part.transform])
        if part.method in NETWORK_METHODS:
            out += _PART_MODEL.pack(part.layout, *part.scale_offsets)
        out += _PART_NLL.pack(part.nll_bits) + varint(len(payload))
        if part.method in NETWORK_METHODS:
            out += CRC.pack(zlib.crc32(payload))
    return sealed(bytes(out)) + b"".join(payloads)


def _check_limits(header: Header) -> None:
    if len(header.wrapper) > limits.MAX_WRAPPER:
        raise UnsupportedInput(f"the image's file data ({len(header.wrapper)} bytes besides its pixels) is over "
                               f"the archive's limit of {limits.MAX_WRAPPER}")
    if len(header.models) > limits.MAX_MODELS or len(header.parts) > limits.MAX_PARTS or any(
            len(name.encode("ascii")) > limits.MAX_MODEL_NAME for name, _ in header.models):
        raise UnsupportedInput("too many models or parts for one image archive")


def read_header(blob: bytes, max_pixels: int = MAX_PIXELS) -> Header:
    """Parse and validate an image archive's header (not the payloads). Every claimed size is
    checked against the archive's length or the limits before anything is allocated."""
    if kind_of(blob[:6]) != KIND_IMAGE:
        raise FormatError("not an image archive")
    r = Reader(blob, 6)
    color_type, depth, fmt = r.byte(), r.byte(), r.byte()
    width, height = r.varint(), r.varint()
    checksum = r.take(16)
    codec, wrapper_len = r.byte(), r.varint()
    version = version_of(blob[:6])
    if codec not in (0, 1, WRAPPER_CODED) or (codec == WRAPPER_CODED and version < 12) or \
            wrapper_len > len(blob) or (codec == 0 and wrapper_len > limits.MAX_WRAPPER):
        raise FormatError("corrupted archive (wrapper)")
    wrapper = r.take(wrapper_len)
    models = []
    for _ in range(r.byte()):
        name = r.take(r.byte())
        models.append((name.decode("ascii", "replace"), r.take(IMAGE_MODEL_HASH_BYTES)))
    parts = []
    for _ in range(r.byte()):
        plane, method, model, transform = r.take(4)
        layout, offsets = 0, (0, 0, 0)
        if method not in METHODS:
            raise FormatError(f"unknown coding method {method} (corrupted archive, or one written by a newer arzip)")
        if method in NETWORK_METHODS:
            layout, *offsets = r.unpack(_PART_MODEL)
        (nll,) = r.unpack(_PART_NLL)
        length = r.varint()
        (crc,) = r.unpack(CRC) if method in NETWORK_METHODS else (0,)
        if plane not in PLANES:
            raise FormatError(f"corrupted archive (unknown plane {plane})")
        if model != NO_MODEL and model >= len(models):
            raise FormatError("corrupted archive (part names no model)")
        parts.append(Part(plane, method, model, transform, layout, tuple(offsets), nll, length, crc))
    head_end = r.pos
    check_seal(blob[:head_end], r.take(CRC.size), "header")
    limits.check_pixels(width, height, max_pixels)
    coded = b""
    if codec == WRAPPER_CODED:
        wrapper, coded = b"", wrapper
    elif codec == 1:
        inflater = zlib.decompressobj()
        try:
            wrapper = inflater.decompress(wrapper, limits.MAX_WRAPPER + 1)
        except zlib.error:
            raise FormatError("corrupted archive (wrapper does not inflate)") from None
        if len(wrapper) > limits.MAX_WRAPPER or not inflater.eof:
            raise FormatError("corrupted archive (wrapper too large)")
    return Header(color_type, depth, fmt, width, height, checksum, wrapper, tuple(models), tuple(parts),
                  size=r.pos, version=version, wrapper_coded=coded)


def unpack(blob: bytes, max_pixels: int = MAX_PIXELS) -> tuple[Header, list[bytes]]:
    """Header and payloads, with lengths and payload checksums verified."""
    header = read_header(blob, max_pixels)
    pos, payloads = header.size, []
    for part in header.parts:
        payload = blob[pos:pos + part.payload_len]
        if len(payload) < part.payload_len:
            raise FormatError(f"truncated archive ({len(blob) - header.size} payload bytes, "
                              f"{sum(p.payload_len for p in header.parts)} expected)")
        if part.method in NETWORK_METHODS and zlib.crc32(payload) != part.payload_crc:
            raise FormatError("corrupted archive (payload checksum mismatch)")
        payloads.append(payload)
        pos += part.payload_len
    if pos != len(blob):
        raise FormatError("corrupted archive (trailing bytes after the payload)")
    return header, payloads
