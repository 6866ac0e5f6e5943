"""Images as arzip keeps them: native samples, plus what it takes to write the file back.

A Picture is what every image format comes down to: the samples at their own depth (1..16
bits, palette indices as indices), the colour type (PNG's numbering, whatever the format), the
palette, and a `wrapper`: the format's own data for rewriting the file (a PNG's chunks in
order, a netpbm header byte for byte, a Pillow mode and save options). The coder only sees
samples; decompression rebuilds them and writes them back in the input's format, or as PNG.

Pillow reads the other lossless formats. What Pillow would alter (16-bit colour, 5-6-5 BMPs,
odd TIFF layouts, lossy WebP, animations) is refused here, so the caller codes the file as
bytes instead: every file comes back exact, either as pixels or as bytes.

Reading checks the file's contract (arzip/formats/rewrite.py) before anything is coded: what
`write` would give back must equal the input (netpbm, and Pillow formats with their patch), or
equal it but for the image data (PNG), or carry the same metadata chunks (WebP). A file that
fails the check is refused here, so it goes the byte path.

Longer than 400 lines: reading, the contract check and writing of every format meet here,
where a reader sees that what one reads the other writes back.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import warnings
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from . import netpbm, png, raster, rewrite
from .. import limits
from ..errors import FormatError, UnsupportedInput

if TYPE_CHECKING:  # Pillow is imported where a Pillow format is read or written: PNG and netpbm never need it
    from PIL import Image

GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 4}
COLOR_NAMES = {GRAY: "gray", RGB: "RGB", PALETTE: "palette", GRAY_ALPHA: "gray+alpha", RGBA: "RGBA"}
# The format's index in this tuple is what an image archive records (dicom, fits and tiff-raster from
# format version 12): never reorder it.
FORMATS = ("png", "pnm", "bmp", "tiff", "tga", "qoi", "webp", "dicom", "fits", "tiff-raster")
SUFFIXES = {"png": ".png", "pnm": ".pnm", "bmp": ".bmp", "tiff": ".tif", "tga": ".tga", "qoi": ".qoi",
            "webp": ".webp", "dicom": ".dcm", "fits": ".fits", "tiff-raster": ".tif"}
# Files whose samples sit among other bytes (arzip/formats/raster.py): format -> the raster kind.
# A TIFF goes this way where Pillow cannot rewrite it (several pages, 16-bit colour, signed samples).
RASTER_FORMATS = {"dicom": "dicom", "fits": "fits", "tiff-raster": "tiff"}
_PILLOW_FORMATS = {"bmp": "BMP", "tiff": "TIFF", "tga": "TGA", "qoi": "QOI", "webp": "WEBP"}
# Pillow mode -> (colour type, depth); only modes Pillow holds without altering the samples
_PILLOW_MODES = {"1": (GRAY, 1), "L": (GRAY, 8), "LA": (GRAY_ALPHA, 8), "P": (PALETTE, 8),
                 "RGB": (RGB, 8), "RGBA": (RGBA, 8), "I;16": (GRAY, 16)}


@dataclass
class Picture:
    samples: np.ndarray        # (H, W, C) uint8 (depth <= 8) or uint16 (depth 16)
    color_type: int
    depth: int
    format: str = "png"
    wrapper: bytes = b""       # format data for writing the file back
    # The zlib stream of the samples' non-interlaced PNG scanlines, when the file held one (a
    # PNG): a coding an archive can keep as it is, so that none is larger than the PNG it came from.
    deflated_scanlines: bytes = b""

    @property
    def height(self) -> int:
        return self.samples.shape[0]

    @property
    def width(self) -> int:
        return self.samples.shape[1]

    @property
    def palette(self) -> np.ndarray | None:
        """(n, 3) uint8 colours of a palette image, as its file stores them."""
        if self.color_type != PALETTE:
            return None
        if self.format == "png":
            raw = next((d for t, d in _png_chunks(self.wrapper)[2] if t == b"PLTE"), b"")
        else:
            raw = _hex(_pillow_meta(self.wrapper)["options"].get("palette", ""))
        return np.frombuffer(raw[:len(raw) // 3 * 3], np.uint8).reshape(-1, 3)

    @property
    def contract(self) -> str:
        """What writing the picture back gives of the file it was read from (arzip/formats/rewrite.py)."""
        if self.format == "png":
            return rewrite.PNG_CHUNKS
        if self.format == "pnm" or self.format in RASTER_FORMATS:
            return rewrite.BYTES_EXACT
        options = _pillow_meta(self.wrapper)["options"]
        return rewrite.BYTES_EXACT if "patch" in options else rewrite.WEBP_CHUNKS if "chunks" in options else \
            rewrite.PIXELS

    @property
    def kind(self) -> str:
        return f"{self.depth}-bit {COLOR_NAMES[self.color_type]}"

    def checksum(self) -> bytes:
        """BLAKE2b-128 of the geometry and the samples (16-bit ones big-endian)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(struct.pack("<BBII", self.color_type, self.depth, self.width, self.height))
        h.update(np.ascontiguousarray(self.samples.astype(">u2") if self.depth == 16 else self.samples))
        return h.digest()


def new(samples: np.ndarray, color_type: int, depth: int, palette: np.ndarray | None = None,
        chunks: list[tuple[bytes, bytes]] = ()) -> Picture:
    """A Picture from bare samples (the API's arrays): written back as a PNG holding the
    palette and then `chunks` ((type, data) pairs: tRNS, iCCP, pHYs, tEXt ...) before its image data."""
    samples = np.ascontiguousarray(samples)
    chunks = ([(b"PLTE", np.asarray(palette, np.uint8).tobytes())] if palette is not None else []) + list(chunks)
    p = png.Png(samples.shape[1], samples.shape[0], depth, color_type, 0, samples, chunks, len(chunks))
    return Picture(samples, color_type, depth, "png", _png_wrapper(p))


# -- reading ----------------------------------------------------------------------------------

def sniff(data: bytes, suffix: str = "") -> str | None:
    """The image format of a file's bytes (TGA has no magic: its suffix decides), or None."""
    if png.is_png(data):
        return "png"
    if netpbm.is_netpbm(data):
        return "pnm"
    if data[:2] == b"BM":
        return "bmp"
    if raster.is_dicom(data):  # before TIFF: a DICOM's preamble may be a TIFF header (dual-format files)
        return "dicom"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"qoif":
        return "qoi"
    if raster.is_fits(data):
        return "fits"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if suffix.lower() in (".tga", ".tpic"):
        return "tga"
    return None


def read(data: bytes, name: str = "input", suffix: str = "", max_pixels: int = 1 << 32) -> Picture:
    """Decode an image file exactly; UnsupportedInput when it is not one arzip can rewrite
    exactly (the caller then codes the file as bytes)."""
    fmt = sniff(data, suffix)
    if fmt is None:
        raise UnsupportedInput(f"{name}: not an image format arzip codes as pixels")
    if fmt == "png":
        p = png.read(data, name, max_pixels)
        pic = Picture(p.samples, p.color_type, p.bit_depth, "png", _png_wrapper(p),
                      p.image_data if p.interlace == 0 else b"")
        # everything but the image data comes back as it was: signature, IHDR, every chunk, IEND, trailing bytes
        kept = png.without_image_data(png.write(_png_of(pic), image_data=b"")) == png.without_image_data(data)
    elif fmt == "pnm":
        n = netpbm.read(data, name, max_pixels)
        pic = Picture(n.samples, n.color_type, n.depth, "pnm", n.header)
        kept = write(pic) == data  # a PBM's padding bits, say, are not samples: then it is coded as bytes
    elif fmt in RASTER_FORMATS:
        pic = _read_raster(data, fmt, name, max_pixels)
        kept = write(pic) == data
    else:
        try:
            pic, kept = _read_pillow(data, fmt, name, max_pixels), True
        except UnsupportedInput as refused:
            if fmt != "tiff":
                raise
            try:  # a TIFF Pillow cannot rewrite: its samples where raster.py finds them
                pic = _read_raster(data, "tiff-raster", name, max_pixels)
            except UnsupportedInput:
                raise refused from None
            kept = write(pic) == data
    if not kept:
        raise UnsupportedInput(f"{name}: this {fmt.upper()} file holds bytes its image would not give back")
    if len(pic.wrapper) > limits.MAX_WRAPPER:
        raise UnsupportedInput(f"{name}: {len(pic.wrapper)} bytes besides the pixels, over the limit of "
                               f"{limits.MAX_WRAPPER}")
    return pic


def _read_raster(data: bytes, fmt: str, name: str, max_pixels: int) -> Picture:
    """A file's raster as a picture, every other byte in its wrapper (arzip/formats/raster.py)."""
    samples, color_type, depth, wrapper = raster.read(data, RASTER_FORMATS[fmt], name, max_pixels)
    return Picture(samples, color_type, depth, fmt, wrapper)


def read_rgb8(data: bytes, name: str = "input", suffix: str = "") -> np.ndarray:
    """(H, W, 3) uint8 samples of an 8-bit RGB image file (what the RGB models and their
    benchmarks take); UnsupportedInput for any other kind."""
    pic = read(data, name, suffix)
    if (pic.color_type, pic.depth) != (RGB, 8):
        raise UnsupportedInput(f"{name}: {pic.kind} image, not 8-bit RGB")
    return pic.samples


def _decode_pillow(data: bytes, fmt: str, name: str, max_pixels: int) -> tuple[str, np.ndarray, dict]:
    """(Pillow mode, samples, save options) of a file in one of Pillow's formats."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[fmt]]) as im:
                if im.width * im.height > max_pixels:
                    raise UnsupportedInput(f"{name}: {im.width}x{im.height} is over the pixel limit")
                if getattr(im, "n_frames", 1) > 1:
                    raise UnsupportedInput(f"{name}: animated or multi-page {fmt.upper()}")
                if im.mode not in _PILLOW_MODES:
                    raise UnsupportedInput(f"{name}: {fmt.upper()} in mode {im.mode}")
                im.load()
                options: dict = {}
                if im.mode == "P":
                    options["palette"] = bytes(im.getpalette() or []).hex()
                    if "transparency" in im.info:
                        t = im.info["transparency"]
                        options["transparency"] = t.hex() if isinstance(t, bytes) else t
                if fmt in ("tiff", "tga") and isinstance(im.info.get("compression"), str):
                    options["compression"] = im.info["compression"]
                samples = _samples_of(im)
    except UnsupportedInput:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow's readers raise more than their documented errors on
        # damaged files (a TypeError from a missing TIFF tag was seen): what Pillow cannot read goes the byte path
        raise UnsupportedInput(f"{name}: cannot decode {fmt.upper()} ({type(e).__name__}: {e})") from None
    return im.mode, samples, options


def _samples_of(im: Image.Image) -> np.ndarray:
    """(H, W, C) samples of a PIL image in one of _PILLOW_MODES (mode "1" as 0/1)."""
    samples = np.asarray(im)
    samples = samples[..., None] if samples.ndim == 2 else samples
    if im.mode == "1":
        samples = samples != 0
    return np.ascontiguousarray(samples.astype(np.uint16 if im.mode == "I;16" else np.uint8))


def _layout(data: bytes, fmt: str) -> bytes:
    """The stored layout of a file (bits per pixel and the like): a rewritten file must keep it."""
    if fmt == "bmp":
        return data[28:30]
    if fmt == "tga":
        return data[2:3] + data[16:17]
    if fmt == "qoi":
        return data[12:13]
    if fmt == "webp":  # lossless: its image chunk is VP8L, not VP8 (wherever the metadata chunks put it)
        kinds = [kind for kind, _ in rewrite.webp_chunks(data) or []]
        return b"lossless" if b"VP8L" in kinds and b"VP8 " not in kinds else b"lossy"
    if fmt == "tiff":
        from PIL import Image
        try:
            with Image.open(io.BytesIO(data)) as im:
                tags = im.tag_v2
                return repr((tags.get(258), tags.get(277), tags.get(262), tags.get(284))).encode()
        except Exception as e:  # noqa: BLE001 - as in _decode_pillow: any failure of Pillow's reader
            raise UnsupportedInput(f"cannot decode TIFF ({type(e).__name__}: {e})") from None
    return b""


def _read_pillow(data: bytes, fmt: str, name: str, max_pixels: int) -> Picture:
    """The picture of a file in one of Pillow's formats, with what makes its rewrite keep the
    file: a patch to the original bytes, or (WebP) its metadata chunks."""
    layout = _layout(data, fmt)
    if fmt == "webp" and layout != b"lossless":
        raise UnsupportedInput(f"{name}: lossy WebP (kept as bytes, never re-encoded)")
    mode, samples, options = _decode_pillow(data, fmt, name, max_pixels)
    color_type, depth = _PILLOW_MODES[mode]
    pic = Picture(samples, color_type, depth, fmt)
    if fmt == "webp":
        metadata = rewrite.webp_metadata(data)
        if metadata is None:
            raise UnsupportedInput(f"{name}: WebP with chunks Pillow does not write back")
        options["chunks"] = [[kind.decode("latin-1"), body.hex()] for kind, body in metadata]
    pic.wrapper = json.dumps({"mode": mode, "options": options}).encode()
    # what Pillow writes back must keep the file's layout and read back to the same samples
    try:
        rewritten = _pillow_write(pic)
    except FormatError as e:  # what Pillow cannot write back goes the byte path
        raise UnsupportedInput(f"{name}: Pillow cannot write this {fmt.upper()} back ({e})") from None
    again = _decode_pillow(rewritten, fmt, name, max_pixels)[1]
    if _layout(rewritten, fmt) != layout or not np.array_equal(again, samples):
        raise UnsupportedInput(f"{name}: this {fmt.upper()} layout cannot be rewritten exactly")
    if fmt == "webp":  # never patched: libwebp's output changes between versions, its metadata does not
        if rewrite.webp_metadata(rewritten) != metadata:
            raise UnsupportedInput(f"{name}: Pillow does not write this WebP's metadata chunks back as they are")
        return pic
    found = rewrite.patch(data, rewritten)
    if found is None:
        raise UnsupportedInput(f"{name}: Pillow rewrites this {fmt.upper()} file too differently to keep its bytes")
    options["patch"] = found
    pic.wrapper = json.dumps({"mode": mode, "options": options}).encode()
    return pic


def keeps(decoded: Picture, original: bytes, checksum: bytes) -> bool:
    """Whether the file written from a decoded picture gives back `original` (whose samples
    have `checksum`) under the picture's contract: the check of `--verify` and `--rm`."""
    written = write(decoded)
    if decoded.contract == rewrite.BYTES_EXACT:
        return written == original
    if decoded.checksum() != checksum:
        return False
    if decoded.format == "png":
        return png.without_image_data(written) == png.without_image_data(original)
    return rewrite.webp_metadata(written) == rewrite.webp_metadata(original)


# -- writing ----------------------------------------------------------------------------------

def write(pic: Picture, to: str | None = None) -> bytes:
    """The image file: in the picture's own format, or in `to` ("png")."""
    fmt = to or pic.format
    if fmt == "png":
        try:
            return png.write(_png_of(pic))
        except ValueError as e:  # the archive's chunks are not a PNG's
            raise FormatError(f"corrupted archive (PNG chunks: {e})") from None
    if fmt != pic.format:
        raise UnsupportedInput(f"cannot write a {pic.format} image as {fmt} (use png)")
    if fmt == "pnm":
        return netpbm.write(pic.wrapper, pic.samples, pic.depth)
    if fmt in RASTER_FORMATS:
        return raster.write(pic.wrapper, pic.samples)
    found = _pillow_meta(pic.wrapper)["options"].get("patch")
    return _pillow_write(pic) if found is None else rewrite.apply_patch(_pillow_write(pic), found)


def _pillow_meta(wrapper: bytes) -> dict:
    """A Pillow format's wrapper: {"mode": ..., "options": {...}}, checked (a damaged archive is
    a FormatError, not a KeyError in the writer)."""
    try:
        meta = json.loads(wrapper)
        ok = isinstance(meta, dict) and meta.get("mode") in _PILLOW_MODES and isinstance(meta.get("options"), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested past Python's stack
        ok = False
    if not ok:
        raise FormatError("corrupted archive (image file data)")
    return meta


def _hex(value) -> bytes:
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError):
        raise FormatError("corrupted archive (image file data)") from None


def _pillow_write(pic: Picture) -> bytes:
    """The file as Pillow writes it from the samples and the wrapper's options."""
    meta = _pillow_meta(pic.wrapper)
    given = meta["options"]
    if _PILLOW_MODES[meta["mode"]] != (pic.color_type, pic.depth) or (
            meta["mode"] == "P" and not isinstance(given.get("palette"), str)):
        raise FormatError("corrupted archive (image file data)")
    im = _pillow_image(pic, meta["mode"], given)
    options = {k: v for k, v in given.items() if k == "compression"}
    if pic.format == "webp":
        options.update(lossless=True, exact=True, quality=100, method=4)
        try:
            options.update({rewrite.WEBP_METADATA[kind.encode("latin-1")]: _hex(body)
                            for kind, body in given.get("chunks", [])})
        except (KeyError, TypeError, ValueError, AttributeError):
            raise FormatError("corrupted archive (image file data)") from None
    if "transparency" in given:
        t = given["transparency"]
        options["transparency"] = _hex(t) if isinstance(t, str) else t
    out = io.BytesIO()
    try:
        im.save(out, format=_PILLOW_FORMATS[pic.format], **options)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise FormatError(f"corrupted archive (the {pic.format.upper()} file cannot be written: {e})") from None
    return out.getvalue()


def _pillow_image(pic: Picture, mode: str, options: dict) -> Image.Image:
    from PIL import Image
    s = pic.samples
    if mode == "1":
        return Image.fromarray(s[..., 0].astype(bool))
    if mode == "P":
        im = Image.frombytes("P", (pic.width, pic.height), s[..., 0].tobytes())
        im.putpalette(_hex(options["palette"]))
        return im
    if mode in ("L", "I;16"):  # a 2-D uint8 or uint16 array is an L or I;16 image
        return Image.fromarray(np.ascontiguousarray(s[..., 0]))
    return Image.fromarray(s, mode)


def pillow_mode(color_type: int, depth: int) -> str | None:
    """The Pillow mode that holds such samples exactly (palettes of any depth are "P"), or None
    (16-bit colour, 2 and 4-bit gray)."""
    if color_type == PALETTE:
        return "P"
    return next((mode for mode, kind in _PILLOW_MODES.items() if kind == (color_type, depth)), None)


def to_pil(pic: Picture) -> Image.Image:
    """The picture as a PIL image; UnsupportedInput when no Pillow mode holds it."""
    mode = pillow_mode(pic.color_type, pic.depth)
    if mode is None:
        raise UnsupportedInput(f"a {pic.kind} image has no Pillow mode (use the numpy samples)")
    options = {"palette": pic.palette.tobytes().hex()} if pic.palette is not None else {}
    return _pillow_image(pic, mode, options)


def from_pil(im: Image.Image) -> Picture:
    if im.mode not in _PILLOW_MODES:
        raise UnsupportedInput(f"Pillow mode {im.mode} is not supported")
    ct, depth = _PILLOW_MODES[im.mode]
    palette = np.frombuffer(bytes(im.getpalette() or []), np.uint8).reshape(-1, 3) if im.mode == "P" else None
    return new(_samples_of(im), ct, depth, palette)


# -- PNG: the chunks around the pixels ----------------------------------------------------------

# The wrapper's record of a PNG's bytes after IEND (format version 5): the last record, under a
# type no chunk can have (chunk types are letters), so it is never taken for a chunk.
_TRAILING = b"\x00END"


def _png_wrapper(p: png.Png) -> bytes:
    """IHDR's interlace flag and every other chunk in order (IDAT's place marked), then the
    bytes after IEND, if any."""
    if p.idat_at > 0xFFFF:
        raise UnsupportedInput("PNG with over 65535 chunks before its image data")
    out = bytearray(struct.pack("<BH", p.interlace, p.idat_at))
    for kind, data in p.chunks + ([(_TRAILING, p.trailing)] if p.trailing else []):
        out += kind + struct.pack("<I", len(data)) + data
    return bytes(out)


def _png_chunks(wrapper: bytes) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    """IHDR's interlace flag, IDAT's place and the chunks of a PNG's wrapper (_png_parts without
    the trailing bytes)."""
    return _png_parts(wrapper)[:3]


def _png_parts(wrapper: bytes) -> tuple[int, int, list[tuple[bytes, bytes]], bytes]:
    """Every record checked as it is read (a chunk type is four letters, the trailing record
    comes last), so a damaged wrapper is refused at its first bad record, not after millions."""
    if len(wrapper) < 3:
        raise FormatError("corrupted archive (PNG chunks)")
    interlace, idat_at = struct.unpack_from("<BH", wrapper)
    chunks, trailing, pos = [], b"", 3
    while pos < len(wrapper):
        if pos + 8 > len(wrapper):
            raise FormatError("corrupted archive (PNG chunks)")
        kind, (n,) = wrapper[pos:pos + 4], struct.unpack_from("<I", wrapper, pos + 4)
        end = pos + 8 + n
        last_trailing = kind == _TRAILING and end == len(wrapper)
        if end > len(wrapper) or not (kind.isalpha() or last_trailing):
            raise FormatError("corrupted archive (PNG chunks)")
        if last_trailing:
            trailing = wrapper[pos + 8:end]
        else:
            chunks.append((kind, wrapper[pos + 8:end]))
        pos = end
    if interlace > 1 or idat_at > len(chunks):
        raise FormatError("corrupted archive (PNG chunks)")
    return interlace, idat_at, chunks, trailing


def _png_of(pic: Picture) -> png.Png:
    trailing = b""
    if pic.format == "png":
        interlace, idat_at, chunks, trailing = _png_parts(pic.wrapper)
    else:  # another format as PNG: the palette (and its transparency) as chunks
        interlace, idat_at, chunks = 0, 0, []
        if pic.palette is not None:  # only Pillow formats have palettes here
            chunks.append((b"PLTE", pic.palette.tobytes()))
            t = _pillow_meta(pic.wrapper)["options"].get("transparency")
            if t is not None:  # Pillow: alpha per index (bytes), or the one transparent index
                chunks.append((b"tRNS", bytes.fromhex(t) if isinstance(t, str) else bytes([255] * t + [0])))
            idat_at = len(chunks)
    samples = pic.samples
    if pic.format == "pnm" and pic.depth == 1:  # PBM: 1 is black; PNG gray: 1 is white
        samples = 1 - samples
    return png.Png(pic.width, pic.height, pic.depth, pic.color_type, interlace, samples, chunks, idat_at,
                   trailing=trailing)
