"""PNG files read and written exactly: native sample values and every other chunk, in order.

Pillow reduces 16-bit RGB(A) and gray+alpha to 8 bits, scales 1/2/4-bit gray to 0..255 and
forgets where ancillary chunks sat, so a file rebuilt from it is not the same image. Here the
samples are the stored values (palette indices for palette images) and every chunk other than
IHDR, IDAT and IEND is kept as bytes with its place relative to the image data; writing them
back gives a file that decodes to the same pixels and carries the same chunks, and any bytes
the file had after IEND. Only the compressed stream (filters, deflate, how it is cut into
IDAT chunks) may differ from the original file: `without_image_data` of both is the same
(arzip.formats.picture checks it for every PNG it codes as pixels).
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import deflate
import numpy as np

from ..native import kernel
from ..errors import UnsupportedInput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}   # colour type -> samples per pixel
BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7 passes: first column, first row, column step, row step
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_MAX_DIMENSION = (1 << 31) - 1     # the PNG limit on width, height and chunk length
_IDAT_SIZE = 1 << 20               # written IDAT chunks hold at most this many bytes
_LEVEL_FILTERED = 1                # libdeflate's level for filtered rows (8- and 16-bit, not palette)
_LEVEL_PACKED = 7                  # and for palette and 1/2/4-bit rows (models/EXPERIMENTS.md K52)


@dataclass
class Png:
    width: int
    height: int
    bit_depth: int          # 1, 2, 4, 8 or 16, legal for the colour type
    color_type: int         # 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    interlace: int          # 0 none, 1 Adam7: kept on write
    samples: np.ndarray     # (H, W, C): uint8 raw values (not scaled) for depth <= 8, uint16 for 16
    chunks: list[tuple[bytes, bytes]]   # every chunk but IHDR, IDAT, IEND in file order: (type, data)
    idat_at: int            # chunks[:idat_at] precede the image data, chunks[idat_at:] follow it
    image_data: bytes = b""  # the file's IDAT data, one zlib stream (when read from a file)
    trailing: bytes = b""    # the bytes after IEND (an appended archive, padding): written back as they were


def is_png(data: bytes) -> bool:
    return data[:8] == PNG_SIGNATURE


def _row_bytes(width: int, bit_depth: int, color_type: int) -> int:
    return (width * CHANNELS[color_type] * bit_depth + 7) // 8


def _passes(width: int, height: int, interlace: int) -> list[tuple[int, int, int, int, int, int]]:
    """(x0, y0, dx, dy, pass width, pass height) of each non-empty pass; empty ones are not stored."""
    if not interlace:
        return [(0, 0, 1, 1, width, height)]
    sizes = [(x0, y0, dx, dy, (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy)
             for x0, y0, dx, dy in ADAM7]
    return [p for p in sizes if p[4] > 0 and p[5] > 0]


def _chunks(data: bytes, name: str) -> Iterator[tuple[bytes, bytes, int]]:
    """Yield (type, data, end) up to and including IEND, checking lengths and CRCs; end is
    where the chunk's CRC ends."""
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise UnsupportedInput(f"{name}: truncated PNG")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if length > _MAX_DIMENSION or end + 4 > len(data):
            raise UnsupportedInput(f"{name}: truncated PNG")
        (crc,) = struct.unpack_from(">I", data, end)
        if not kind.isalpha():
            raise UnsupportedInput(f"{name}: damaged PNG (bad chunk type)")
        if zlib.crc32(data[pos + 4:end]) != crc:
            raise UnsupportedInput(f"{name}: damaged PNG (CRC of chunk {kind.decode()})")
        yield kind, data[pos + 8:end], end + 4
        if kind == b"IEND":
            return
        pos = end + 4


def _header(body: bytes, name: str) -> tuple[int, int, int, int, int]:
    if len(body) != 13:
        raise UnsupportedInput(f"{name}: damaged PNG (IHDR)")
    width, height, depth, ctype, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not (0 < width <= _MAX_DIMENSION and 0 < height <= _MAX_DIMENSION
            and depth in BIT_DEPTHS.get(ctype, ()) and compression == filtering == 0 and interlace < 2):
        raise UnsupportedInput(f"{name}: damaged PNG (IHDR: {width}x{height}, colour type {ctype}, "
                               f"depth {depth}, methods {compression}/{filtering}/{interlace})")
    return width, height, depth, ctype, interlace


def read(data: bytes, name: str = "input", max_pixels: int = 1 << 32) -> Png:
    """Decode a PNG; anything unreadable, damaged or unsupported raises UnsupportedInput."""
    if not is_png(data):
        raise UnsupportedInput(f"{name}: not a PNG file")
    chunks: list[tuple[bytes, bytes]] = []
    idat: list[bytes] = []
    idat_at = -1
    header: tuple[int, int, int, int, int] | None = None
    end = 0
    for kind, body, end in _chunks(data, name):
        if header is None:
            if kind != b"IHDR":
                raise UnsupportedInput(f"{name}: damaged PNG (IHDR is not the first chunk)")
            header = _header(body, name)
        elif kind == b"IDAT":
            if idat_at not in (-1, len(chunks)):
                raise UnsupportedInput(f"{name}: damaged PNG (IDAT chunks are not consecutive)")
            idat_at = len(chunks)
            idat.append(body)
        elif kind == b"acTL":
            raise UnsupportedInput(f"{name}: animated PNG is not supported")
        elif kind == b"IHDR":
            raise UnsupportedInput(f"{name}: damaged PNG (second IHDR)")
        elif kind == b"IEND":
            if body:  # the writer writes an empty IEND: a file with data in it goes the byte path
                raise UnsupportedInput(f"{name}: PNG whose IEND chunk holds data")
        else:
            chunks.append((kind, body))
    width, height, depth, ctype, interlace = header
    if idat_at < 0:
        raise UnsupportedInput(f"{name}: damaged PNG (no IDAT)")
    try:
        check_chunks(ctype, chunks, idat_at)
    except ValueError as e:
        raise UnsupportedInput(f"{name}: damaged PNG ({e})") from None
    if width * height > max_pixels:
        raise UnsupportedInput(f"{name}: PNG of {width}x{height} pixels is too large")
    passes = _passes(width, height, interlace)
    sizes = [h * (1 + _row_bytes(w, depth, ctype)) for _, _, _, _, w, h in passes]
    try:  # bounded: a stream that inflates to more than the image holds is refused, not expanded
        raw = zlib.decompressobj().decompress(b"".join(idat), sum(sizes) + 1)
    except zlib.error:
        raise UnsupportedInput(f"{name}: damaged PNG (image data does not inflate)") from None
    if len(raw) != sum(sizes):
        raise UnsupportedInput(f"{name}: damaged PNG (image data is {len(raw)} bytes, not {sum(sizes)})")
    samples = np.empty((height, width, CHANNELS[ctype]), np.uint16 if depth == 16 else np.uint8)
    view, pos = memoryview(raw), 0
    try:
        for (x0, y0, dx, dy, w, h), size in zip(passes, sizes):
            samples[y0::dy, x0::dx] = unfilter_scanlines(view[pos:pos + size], w, h, depth, ctype)
            pos += size
    except ValueError:
        raise UnsupportedInput(f"{name}: damaged PNG (bad filter type)") from None
    return Png(width, height, depth, ctype, interlace, samples, chunks, idat_at, b"".join(idat), data[end:])


def check_chunks(color_type: int, chunks: list[tuple[bytes, bytes]], idat_at: int) -> None:
    """ValueError unless the chunks besides IHDR, IDAT and IEND are what `read` accepts: no
    animation, none of those three among them, and a palette image's one valid PLTE before its
    image data. `write` checks it too, so that it never writes a file `read` would refuse."""
    misplaced = sorted({kind.decode("latin-1") for kind, _ in chunks} & {"IHDR", "IDAT", "IEND", "acTL"})
    if misplaced:
        raise ValueError(f"{', '.join(misplaced)} among the other chunks")
    if color_type == 3:
        palette = [body for kind, body in chunks[:idat_at] if kind == b"PLTE"]
        if len(palette) != 1 or not 0 < len(palette[0]) <= 768 or len(palette[0]) % 3:
            raise ValueError("palette image without a valid PLTE")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write(png: Png, level: int | None = None, image_data: bytes | None = None) -> bytes:
    """Encode a Png: IHDR, chunks before the image data, IDAT, chunks after it, IEND, then the
    trailing bytes. image_data: the IDAT data to write instead of deflating the samples (b""
    gives the file without its image, for comparing what surrounds it).

    The written bytes are a function of the Png alone: the rows are deflated in one call of the
    libdeflate that the pinned `deflate` package bundles, not by the machine's zlib (zlib-ng
    deflates differently) nor in pieces per thread. level: libdeflate's (0-12); by default 1 for
    filtered rows (faster on one core than zlib's Z_RLE was on two; 1.3 % larger on
    bench/kinds.py's images, 8-bit photos 2-6 %, and far smaller where rows repeat; only levels
    10-12 match Z_RLE's size, 10-40x slower) and 7 for palette and low-depth rows (smaller and
    faster than zlib's level 6): models/EXPERIMENTS.md K36, K37, K52."""
    channels = CHANNELS.get(png.color_type)
    if png.bit_depth not in BIT_DEPTHS.get(png.color_type, ()) or png.interlace not in (0, 1):
        raise ValueError(f"PNG colour type {png.color_type} at depth {png.bit_depth} is not legal")
    if png.samples.shape != (png.height, png.width, channels) or png.samples.dtype != (
            np.uint16 if png.bit_depth == 16 else np.uint8):
        raise ValueError(f"samples {png.samples.shape} {png.samples.dtype} do not match the PNG header")
    check_chunks(png.color_type, png.chunks, png.idat_at)
    data = image_data if image_data is not None else _deflate_samples(png, level)
    ihdr = struct.pack(">IIBBBBB", png.width, png.height, png.bit_depth, png.color_type, 0, 0, png.interlace)
    return b"".join([PNG_SIGNATURE, _chunk(b"IHDR", ihdr),
                     *(_chunk(kind, body) for kind, body in png.chunks[:png.idat_at]),
                     *(_chunk(b"IDAT", data[i:i + _IDAT_SIZE]) for i in range(0, len(data), _IDAT_SIZE)),
                     *(_chunk(kind, body) for kind, body in png.chunks[png.idat_at:]),
                     _chunk(b"IEND", b""), png.trailing])


def _deflate_samples(png: Png, level: int | None) -> bytes:
    """The zlib stream of the samples' filtered scanlines (every Adam7 pass in turn)."""
    stream = b"".join(filter_scanlines(png.samples[y0::dy, x0::dx], png.bit_depth, png.color_type)
                      for x0, y0, dx, dy, _, _ in _passes(png.width, png.height, png.interlace))
    if level is None:
        level = _LEVEL_FILTERED if png.color_type != 3 and png.bit_depth >= 8 else _LEVEL_PACKED
    return _deflate(stream, level)


def without_image_data(data: bytes) -> bytes:
    """A PNG file's bytes with its IDAT chunks left out: what two files that differ only in how
    their image data was compressed have in common."""
    out, pos = [data[:len(PNG_SIGNATURE)]], len(PNG_SIGNATURE)
    for kind, _, end in _chunks(data, "PNG"):
        if kind != b"IDAT":
            out.append(data[pos:end])
        pos = end
    return b"".join(out) + data[pos:]


def _deflate(stream: bytes, level: int) -> bytes:
    """One zlib stream of `stream`, in one call of libdeflate (1.26, bundled by the `deflate`
    package pinned in pyproject.toml): its output depends on the bytes and the level alone, not
    on the machine's zlib, its CPU or arzip's threads. libdeflate can neither prime a piece with
    a dictionary nor end one with a sync flush, so the stream is not cut across threads; level 1
    on one core is faster than zlib's Z_RLE was on two (models/EXPERIMENTS.md K52)."""
    return bytes(deflate.zlib_compress(stream, level))


def _pack_rows(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """Samples (H, W, C) -> the unfiltered scanlines (H, row bytes): big-endian, MSB-first bits."""
    height = samples.shape[0]
    if bit_depth == 16:
        return samples.astype(">u2").view(np.uint8).reshape(height, -1)
    if bit_depth == 8:
        return np.ascontiguousarray(samples, np.uint8).reshape(height, -1)
    if samples.size and samples.max() >> bit_depth:
        raise ValueError(f"sample values above {(1 << bit_depth) - 1} at depth {bit_depth}")
    shifts = np.arange(bit_depth - 1, -1, -1, dtype=np.uint8)
    bits = (samples.reshape(height, -1, 1) >> shifts) & 1
    return np.packbits(bits.reshape(height, -1), axis=1)


def _unpack_rows(rows: np.ndarray, width: int, bit_depth: int, channels: int) -> np.ndarray:
    """Inverse of _pack_rows; the padding bits at the end of each row are dropped."""
    height = rows.shape[0]
    if bit_depth == 16:
        return rows.view(">u2").reshape(height, width, channels).astype(np.uint16)
    if bit_depth == 8:
        return rows.reshape(height, width, channels)
    weights = (1 << np.arange(bit_depth - 1, -1, -1)).astype(np.uint8)
    bits = np.unpackbits(rows, axis=1).reshape(height, -1, bit_depth)
    return (bits * weights).sum(axis=2, dtype=np.uint8)[:, :width, None]


@kernel()
def _filter_rows(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Filter every row with libpng's choice: the filter whose output has the least sum of
    |byte as signed| (the lowest filter type on a tie); returns (H, 1 + row bytes): filter byte
    + filtered row. Every filter reads the original bytes only (the row above is zeros for the
    first row). Compiled, the five costs summed in one branch-free pass (vector instructions):
    numpy's version made writing a decoded photo cost a tenth of its decode (models/EXPERIMENTS.md
    K35)."""
    height, row_bytes = rows.shape
    out = np.empty((height, row_bytes + 1), np.uint8)
    zeros = np.zeros(row_bytes, np.uint8)
    for y in range(height):
        row, up = rows[y], rows[y - 1] if y > 0 else zeros
        none = left = above = average = paeth = 0
        for i in range(row_bytes):
            x, a, b, c = _neighbours(row, up, i, bpp)
            none += _signed_size(x)
            left += _signed_size(x - a)
            above += _signed_size(x - b)
            average += _signed_size(x - ((a + b) >> 1))
            paeth += _signed_size(x - _paeth(a, b, c))
        best, least = 0, none
        for kind, cost in ((1, left), (2, above), (3, average), (4, paeth)):
            if cost < least:
                best, least = kind, cost
        out[y, 0] = best
        for i in range(row_bytes):
            x, a, b, c = _neighbours(row, up, i, bpp)
            out[y, 1 + i] = (x - _predictor(best, a, b, c)) & 0xFF
    return out


@kernel(inline="always")
def _neighbours(row, up, i, bpp):
    """Byte i of a row and its left, upper and upper-left bytes (0 outside the image)."""
    a = np.int32(row[i - bpp]) if i >= bpp else np.int32(0)
    c = np.int32(up[i - bpp]) if i >= bpp else np.int32(0)
    return np.int32(row[i]), a, np.int32(up[i]), c


@kernel(inline="always")
def _signed_size(d):
    """|d mod 256 read as a signed byte|: a filtered byte's cost."""
    d &= 0xFF
    return min(d, 256 - d)


@kernel(inline="always")
def _paeth(a, b, c):
    """The Paeth predictor: of left, upper and upper-left, the nearest to left + upper - upper-left."""
    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


@kernel(inline="always")
def _predictor(kind, a, b, c):
    """PNG filter `kind`'s prediction from the left (a), upper (b) and upper-left (c) bytes."""
    if kind == 0:
        return np.int32(0)
    if kind == 1:
        return a
    if kind == 2:
        return b
    if kind == 3:
        return (a + b) >> 1
    return _paeth(a, b, c)


def filter_scanlines(samples: np.ndarray, bit_depth: int, color_type: int) -> bytes:
    """The non-interlaced scanline stream of samples (H, W, C): filter byte + filtered row per row.

    Palette images and depths below 8 take filter 0 (filters rarely help them: libpng's advice);
    the others take the libpng heuristic (_filter_rows)."""
    rows = _pack_rows(np.asarray(samples), bit_depth)
    height, row_bytes = rows.shape
    if color_type == 3 or bit_depth < 8 or row_bytes == 0:
        return np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    return _filter_rows(rows, CHANNELS[color_type] * bit_depth // 8).tobytes()


@kernel()
def _unfilter(stream: np.ndarray, height: int, row_bytes: int, bpp: int) -> np.ndarray:
    """Reconstruct the raw rows: each byte depends on the reconstructed left and upper bytes."""
    out = np.empty((height, row_bytes), np.uint8)
    zeros = np.zeros(row_bytes, np.uint8)
    for y in range(height):
        kind = stream[y * (row_bytes + 1)]
        if kind > 4:
            raise ValueError("bad PNG filter type")
        row = stream[y * (row_bytes + 1) + 1:(y + 1) * (row_bytes + 1)]
        done, up = out[y], out[y - 1] if y > 0 else zeros
        for i in range(row_bytes):
            _, a, b, c = _neighbours(done, up, i, bpp)  # byte i itself is not decoded yet
            out[y, i] = (row[i] + _predictor(kind, a, b, c)) & 0xFF
    return out


def unfilter_scanlines(stream: bytes, width: int, height: int, bit_depth: int, color_type: int) -> np.ndarray:
    """Inverse of filter_scanlines (any filter bytes): the samples (H, W, C).
    ValueError when the stream has the wrong length or a filter byte above 4."""
    row_bytes = _row_bytes(width, bit_depth, color_type)
    raw = np.frombuffer(stream, np.uint8)
    if raw.size != height * (row_bytes + 1):
        raise ValueError(f"scanline stream of {raw.size} bytes, not {height * (row_bytes + 1)}")
    bpp = max(1, CHANNELS[color_type] * bit_depth // 8)
    rows = _unfilter(raw, height, row_bytes, bpp)
    return _unpack_rows(rows, width, bit_depth, CHANNELS[color_type])
