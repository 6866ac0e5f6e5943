"""Files that hold a raster among other bytes: DICOM, FITS and uncompressed TIFF of any page count.

Medical, astronomy and microscopy archives are made of such files: a header (data elements,
cards, image directories), then the samples, 8 or 16 bits, often signed, often big-endian, often
10 to 14 bits used of 16. `find` locates the samples; `read` maps them to unsigned values that
start at 0 (a signed sample's sign bit flipped, then the smallest value subtracted), so the image
models see a gray or colour picture, 8-bit wherever the values span fewer than 256 levels. Every
other byte of the file is kept in the wrapper, as it is.

A wrong guess of where the samples are costs only rate, never the file: the wrapper holds every
byte the samples do not, so what `write` gives back is the file whatever `find` found (and
`picture.read` checks it before anything is coded). What `find` does not recognise (JPEG or RLE
pixel data, floats, 32-bit samples, tiles, planes of their own) is left to the byte path.

Frames, planes and pages of one shape are stacked as rows of one picture: a DICOM's frames, a
FITS cube's planes, the TIFF pages that share the first page's width and sample layout.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..container import Reader, varint
from ..errors import FormatError, UnsupportedInput

KINDS = ("dicom", "fits", "tiff")
_GRAY, _GRAY_ALPHA, _RGB, _RGBA = 0, 4, 2, 6  # PNG's colour types (arzip/formats/picture.py)
COLOR_TYPES = {1: _GRAY, 2: _GRAY_ALPHA, 3: _RGB, 4: _RGBA}
_MAX_SPANS = 1 << 20        # strips a TIFF may list, in all pages: more goes the byte path
_MAX_DEPTH = 16             # nested DICOM sequences walked through


@dataclass(frozen=True)
class Layout:
    """Where a file's samples are and how they are stored."""
    kind: str                               # one of KINDS
    spans: tuple[tuple[int, int], ...]      # (offset, length) of the sample bytes, in raster order
    height: int                             # rows, frames and pages stacked
    width: int
    channels: int                           # samples per pixel, interleaved
    bits: int                               # 8 or 16
    big_endian: bool
    signed: bool

    @property
    def dtype(self) -> np.dtype:
        if self.bits == 8:
            return np.dtype(np.int8 if self.signed else np.uint8)
        return np.dtype((">" if self.big_endian else "<") + ("i2" if self.signed else "u2"))

    @property
    def size(self) -> int:
        return self.height * self.width * self.channels * self.bits // 8


def is_dicom(data: bytes) -> bool:
    return data[128:132] == b"DICM"


def is_fits(data: bytes) -> bool:
    return data[:9] == b"SIMPLE  =" and data[9:30].strip() == b"T"


def find(data: bytes, kind: str) -> Layout | None:
    """The samples' layout in a file of `kind`, or None where there are none this module codes."""
    try:
        layout = {"dicom": _dicom, "fits": _fits, "tiff": _tiff}[kind](data)
    except (struct.error, ValueError, IndexError, RecursionError):  # damaged headers: the byte path's
        return None
    if layout is None or layout.height * layout.width == 0 or len(layout.spans) > _MAX_SPANS:
        return None
    return layout if _spans_fit(layout.spans, layout.size, len(data)) else None


def _spans_fit(spans: tuple[tuple[int, int], ...], size: int, total: int) -> bool:
    """Whether spans hold `size` bytes in all, do not overlap and lie within a file of `total`."""
    ends = sorted(spans)
    return sum(n for _, n in spans) == size and (not ends or ends[-1][0] + ends[-1][1] <= total) and all(
        a + n <= b for (a, n), (b, _) in zip(ends, ends[1:]))


def read(data: bytes, kind: str, name: str, max_pixels: int) -> tuple[np.ndarray, int, int, bytes]:
    """(samples (H, W, C) from 0, colour type, depth 8 or 16, wrapper) of a file's raster."""
    layout = find(data, kind)
    if layout is None:
        raise UnsupportedInput(f"{name}: no uncompressed 8 or 16-bit samples found in this {kind.upper()} file")
    if layout.height * layout.width > max_pixels:
        raise UnsupportedInput(f"{name}: {layout.width}x{layout.height} is over the pixel limit")
    raw = b"".join(data[a:a + n] for a, n in layout.spans)
    values = np.frombuffer(raw, layout.dtype).astype(np.int32).reshape(layout.height, layout.width, layout.channels)
    base = int(values.min())
    values -= base
    depth = 8 if values.max() < 256 else 16
    samples = np.ascontiguousarray(values.astype(np.uint8 if depth == 8 else np.uint16))
    return samples, COLOR_TYPES[layout.channels], depth, _wrapper(layout, base, data)


def write(wrapper: bytes, samples: np.ndarray) -> bytes:
    """The file back from its wrapper and its samples."""
    layout, base, rest = _parse_wrapper(wrapper)
    if samples.shape != (layout.height, layout.width, layout.channels):
        raise FormatError("corrupted archive (the samples do not fit the file's raster)")
    info = np.iinfo(layout.dtype)
    values = samples.astype(np.int32) + base
    if values.size and (values.min() < info.min or values.max() > info.max):
        raise FormatError("corrupted archive (samples outside the file's sample type)")
    raw = values.astype(layout.dtype).tobytes()
    out = bytearray(len(rest) + len(raw))
    at, taken, done = 0, 0, 0  # `at`: raster bytes placed; `taken`: rest bytes placed; `done`: file offset
    placed = []
    for offset, n in layout.spans:
        placed.append((offset, raw[at:at + n]))
        at += n
    for offset, piece in sorted(placed, key=lambda p: p[0]):
        gap = offset - done
        out[done:offset] = rest[taken:taken + gap]
        out[offset:offset + len(piece)] = piece
        taken, done = taken + gap, offset + len(piece)
    out[done:] = rest[taken:]
    return bytes(out)


# -- the wrapper: the layout, the base value, every byte that is not a sample --------------------

def _wrapper(layout: Layout, base: int, data: bytes) -> bytes:
    """kind | flags (16-bit, big-endian, signed) | channels | width | height | base + 2^15 |
    spans (offset, length) in raster order | the file less its samples."""
    flags = (layout.bits == 16) | layout.big_endian << 1 | layout.signed << 2
    out = bytearray([KINDS.index(layout.kind), flags, layout.channels])
    for n in (layout.width, layout.height, base + (1 << 15), len(layout.spans)):
        out += varint(n)
    for offset, n in layout.spans:
        out += varint(offset) + varint(n)
    rest, done = bytearray(), 0
    for offset, n in sorted(layout.spans):
        rest += data[done:offset]
        done = offset + n
    return bytes(out + rest + data[done:])


def _parse_wrapper(wrapper: bytes) -> tuple[Layout, int, bytes]:
    """(layout, base, the file less its samples) of _wrapper's bytes; FormatError for damaged ones."""
    r = Reader(wrapper, 3)
    if len(wrapper) < 3 or wrapper[0] >= len(KINDS) or wrapper[1] > 7 or wrapper[2] not in COLOR_TYPES:
        raise FormatError("corrupted archive (raster layout)")
    width, height, base, count = r.varint(), r.varint(), r.varint() - (1 << 15), r.varint()
    if count > _MAX_SPANS or count > len(wrapper):
        raise FormatError("corrupted archive (raster layout)")
    spans = tuple((r.varint(), r.varint()) for _ in range(count))
    flags = wrapper[1]
    layout = Layout(KINDS[wrapper[0]], spans, height, width, wrapper[2], 16 if flags & 1 else 8,
                    bool(flags & 2), bool(flags & 4))
    rest = wrapper[r.pos:]
    if not _spans_fit(spans, layout.size, len(rest) + layout.size):
        raise FormatError("corrupted archive (raster layout)")
    return layout, base, rest


# -- DICOM: the Pixel Data element of an uncompressed transfer syntax ----------------------------

_SYNTAXES = {b"1.2.840.10008.1.2": (False, False),    # implicit VR little endian: (explicit, big endian)
             b"1.2.840.10008.1.2.1": (True, False),   # explicit VR little endian
             b"1.2.840.10008.1.2.2": (True, True)}    # explicit VR big endian (retired, still met)
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_ROWS, _COLUMNS, _SAMPLES, _FRAMES = (0x0028, 0x0010), (0x0028, 0x0011), (0x0028, 0x0002), (0x0028, 0x0008)
_ALLOCATED, _REPRESENTATION, _PLANAR, _PIXELS = (0x0028, 0x0100), (0x0028, 0x0103), (0x0028, 0x0006), (0x7FE0, 0x0010)


def _element(data: bytes, pos: int, explicit: bool, big: bool) -> tuple[tuple[int, int], int, int]:
    """(tag, value offset, value length) of the data element at pos."""
    e = ">" if big else "<"
    group, elem = struct.unpack_from(e + "HH", data, pos)
    if group == 0xFFFE or not explicit:  # items and delimiters have no VR in any syntax
        return (group, elem), pos + 8, struct.unpack_from(e + "I", data, pos + 4)[0]
    vr = data[pos + 4:pos + 6]
    if vr in _LONG_VRS:
        return (group, elem), pos + 12, struct.unpack_from(e + "I", data, pos + 8)[0]
    return (group, elem), pos + 8, struct.unpack_from(e + "H", data, pos + 6)[0]


def _skip_undefined(data: bytes, pos: int, explicit: bool, big: bool, depth: int) -> int:
    """The offset after the delimiter that ends an element of undefined length starting at pos."""
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deep")
    while pos + 8 <= len(data):
        tag, value, length = _element(data, pos, explicit, big)
        if tag in (_SEQUENCE_END, _ITEM_END):
            return value
        if length == _UNDEFINED:  # a sequence, or an item, of undefined length inside this one
            pos = _skip_undefined(data, value, explicit, big, depth + 1)
        else:
            pos = value + length
    raise ValueError("no delimiter")


def _dicom(data: bytes) -> Layout | None:
    if not is_dicom(data):
        return None
    pos, syntax = 132, None
    while pos + 8 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:  # file meta: explicit LE
        tag, value, length = _element(data, pos, True, False)
        if tag == (0x0002, 0x0010):
            syntax = data[value:value + length].rstrip(b"\x00 ")
        pos = value + length
    if syntax not in _SYNTAXES:
        return None
    explicit, big = _SYNTAXES[syntax]
    e = ">" if big else "<"
    found: dict[tuple[int, int], int] = {}
    while pos + 8 <= len(data):
        tag, value, length = _element(data, pos, explicit, big)
        if tag == _PIXELS:
            if length == _UNDEFINED:  # encapsulated (compressed) pixel data
                return None
            break
        if length == _UNDEFINED:
            pos = _skip_undefined(data, value, explicit, big, 1)
            continue
        if tag in (_ROWS, _COLUMNS, _SAMPLES, _ALLOCATED, _REPRESENTATION, _PLANAR) and length >= 2:
            found[tag] = struct.unpack_from(e + "H", data, value)[0]
        elif tag == _FRAMES:
            found[tag] = int(data[value:value + length].strip(b"\x00 ") or b"1")
        pos = value + length
    else:
        return None
    rows, columns, channels = found.get(_ROWS, 0), found.get(_COLUMNS, 0), found.get(_SAMPLES, 1)
    bits, frames = found.get(_ALLOCATED, 0), max(found.get(_FRAMES, 1), 1)
    if bits not in (8, 16) or channels not in (1, 3):
        return None
    if channels == 3 and found.get(_PLANAR, 0) == 1:  # colour planes one after another: rows of one gray picture
        rows, channels = rows * 3, 1
    size = rows * frames * columns * channels * bits // 8
    if length < size:
        return None
    return Layout("dicom", ((value, size),), rows * frames, columns, channels, bits, big,
                  found.get(_REPRESENTATION, 0) == 1)


# -- FITS: the largest 8 or 16-bit image of the primary array or an IMAGE extension --------------

_BLOCK, _CARD = 2880, 80


def _fits_header(data: bytes, pos: int) -> tuple[dict[bytes, bytes], int] | None:
    """The cards of the header at pos (keyword -> value text) and the offset after it."""
    cards: dict[bytes, bytes] = {}
    while pos + _BLOCK <= len(data):
        block, pos = data[pos:pos + _BLOCK], pos + _BLOCK
        for at in range(0, _BLOCK, _CARD):
            card = block[at:at + _CARD]
            key = card[:8].rstrip()
            if key == b"END":
                return cards, pos
            if card[8:10] == b"= ":
                cards.setdefault(key, card[10:].split(b"/")[0].strip())
    return None


def _fits(data: bytes) -> Layout | None:
    if not is_fits(data):
        return None
    pos, best = 0, None
    for _ in range(1024):  # HDUs walked
        header = _fits_header(data, pos)
        if header is None:
            break
        cards, start = header
        bitpix, naxis = int(cards.get(b"BITPIX", b"0")), int(cards.get(b"NAXIS", b"0"))
        dims = [int(cards.get(b"NAXIS%d" % i, b"0")) for i in range(1, naxis + 1)]
        pcount, gcount = int(cards.get(b"PCOUNT", b"0")), int(cards.get(b"GCOUNT", b"1"))
        count = int(np.prod(dims, dtype=np.int64)) if dims else 0
        size = abs(bitpix) // 8 * gcount * (pcount + count)
        image = pos == 0 or cards.get(b"XTENSION", b"").strip(b"' ") == b"IMAGE"
        if image and bitpix in (8, 16) and naxis >= 2 and pcount == 0 and gcount == 1 and size > 0 and \
                start + size <= len(data) and (best is None or size > best.size):
            best = Layout("fits", ((start, size),), count // dims[0], dims[0], 1, bitpix, True, bitpix == 16)
        if size < 0:
            break
        pos = start + -(-size // _BLOCK) * _BLOCK
    return best


# -- TIFF: the strips of uncompressed pages that share the first such page's layout -------------

_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # BYTE, SHORT, LONG, LONG8


def _tiff(data: bytes) -> Layout | None:
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    e = "<" if data[:2] == b"II" else ">"
    ifd, seen, pages, shape = struct.unpack_from(e + "I", data, 4)[0], set(), [], None
    while ifd and ifd not in seen and len(seen) < 65536:
        seen.add(ifd)
        (count,) = struct.unpack_from(e + "H", data, ifd)
        tags: dict[int, tuple[int, ...]] = {}
        for i in range(count):
            tag, kind, n, _ = struct.unpack_from(e + "HHII", data, ifd + 2 + 12 * i)
            if kind not in _TYPES or n > _MAX_SPANS:
                continue
            code, size = _TYPES[kind]
            at = ifd + 2 + 12 * i + 8 if n * size <= 4 else struct.unpack_from(e + "I", data, ifd + 2 + 12 * i + 8)[0]
            tags[tag] = struct.unpack_from(e + code * n, data, at)
        ifd = struct.unpack_from(e + "I", data, ifd + 2 + 12 * count)[0]
        page = _tiff_page(tags)
        if page is not None and (shape is None or page[0] == shape):
            shape = page[0]
            pages.append(page[1:])
    if not pages:
        return None
    width, channels, bits, signed = shape
    spans = tuple(span for _, page_spans in pages for span in page_spans)
    return Layout("tiff", spans, sum(h for h, _ in pages), width, channels, bits, e == ">", signed)


def _tiff_page(tags: dict[int, tuple[int, ...]]) -> tuple[tuple[int, int, int, bool], int,
                                                          tuple[tuple[int, int], ...]] | None:
    """((width, channels, bits, signed), height, strips) of an uncompressed page, or None."""
    width, height = tags.get(256, (0,))[0], tags.get(257, (0,))[0]
    channels, bits = tags.get(277, (1,))[0], set(tags.get(258, (1,)))
    sample_format = set(tags.get(339, (1,)))
    if tags.get(259, (1,))[0] != 1 or len(bits) != 1 or sample_format - {1, 2} or len(sample_format) != 1 or \
            not 1 <= channels <= 4 or (channels > 1 and tags.get(284, (1,))[0] != 1):
        return None
    (bits,) = bits
    offsets, counts = tags.get(273, ()), tags.get(279, ())
    if bits not in (8, 16) or not offsets or len(offsets) != len(counts) or not width or not height:
        return None
    if sum(counts) != width * height * channels * bits // 8:
        return None
    return (width, channels, bits, sample_format == {2}), height, tuple(zip(offsets, counts))
