"""Images as arzip keeps them: native samples, plus what it takes to write the file back.

A Picture is what every image format comes down to: the samples at their own depth (1..16
bits, palette indices as indices), the colour type (PNG's numbering, whatever the format), the
palette, and a `wrapper`: the format's own data for rewriting the file (a PNG's chunks in
order, a netpbm header byte for byte, a Pillow mode and save options). The coder only sees
samples; decompression rebuilds them and writes them back in the input's format, or as PNG.

Pillow reads the other lossless formats. What Pillow would alter (16-bit colour, 5-6-5 BMPs,
odd TIFF layouts, lossy WebP, animations) is refused here, so the caller codes the file as
bytes instead: every file comes back exact, either as pixels or as bytes.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import netpbm, png
from ..errors import FormatError, UnsupportedInput

GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 4}
COLOR_NAMES = {GRAY: "gray", RGB: "RGB", PALETTE: "palette", GRAY_ALPHA: "gray+alpha", RGBA: "RGBA"}
FORMATS = ("png", "pnm", "bmp", "tiff", "tga", "qoi", "webp")
SUFFIXES = {"png": ".png", "pnm": ".pnm", "bmp": ".bmp", "tiff": ".tif", "tga": ".tga", "qoi": ".qoi",
            "webp": ".webp"}
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
            raw = bytes.fromhex(json.loads(self.wrapper)["options"].get("palette", ""))
        return np.frombuffer(raw[:len(raw) // 3 * 3], np.uint8).reshape(-1, 3)

    @property
    def kind(self) -> str:
        return f"{self.depth}-bit {COLOR_NAMES[self.color_type]}"

    def checksum(self) -> bytes:
        """BLAKE2b-128 of the geometry and the samples (16-bit ones big-endian)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(struct.pack("<BBII", self.color_type, self.depth, self.width, self.height))
        h.update(np.ascontiguousarray(self.samples.astype(">u2") if self.depth == 16 else self.samples))
        return h.digest()


def new(samples: np.ndarray, color_type: int, depth: int, palette: np.ndarray | None = None) -> Picture:
    """A Picture from bare samples (the API's arrays): written back as a plain PNG."""
    samples = np.ascontiguousarray(samples)
    chunks = [(b"PLTE", np.asarray(palette, np.uint8).tobytes())] if palette is not None else []
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
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"qoif":
        return "qoi"
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
        return Picture(p.samples, p.color_type, p.bit_depth, "png", _png_wrapper(p),
                       p.image_data if p.interlace == 0 else b"")
    if fmt == "pnm":
        n = netpbm.read(data, name, max_pixels)
        return Picture(n.samples, n.color_type, n.depth, "pnm", n.header)
    return _read_pillow(data, fmt, name, max_pixels)


def read_rgb8(data: bytes, name: str = "input", suffix: str = "") -> np.ndarray:
    """(H, W, 3) uint8 samples of an 8-bit RGB image file (what the RGB models and their
    benchmarks take); UnsupportedInput for any other kind."""
    pic = read(data, name, suffix)
    if (pic.color_type, pic.depth) != (RGB, 8):
        raise UnsupportedInput(f"{name}: {pic.kind} image, not 8-bit RGB")
    return pic.samples


def _decode_pillow(data: bytes, fmt: str, name: str, max_pixels: int) -> tuple[str, np.ndarray, dict]:
    """(Pillow mode, samples, save options) of a file in one of Pillow's formats."""
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
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError, EOFError) as e:
        raise UnsupportedInput(f"{name}: cannot decode {fmt.upper()} ({e})") from None
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
    if fmt == "webp":
        return b"lossless" if b"VP8L" in data[:64] and b"VP8 " not in data[:64] else b"lossy"
    if fmt == "tiff":
        with Image.open(io.BytesIO(data)) as im:
            tags = im.tag_v2
            return repr((tags.get(258), tags.get(277), tags.get(262), tags.get(284))).encode()
    return b""


def _read_pillow(data: bytes, fmt: str, name: str, max_pixels: int) -> Picture:
    layout = _layout(data, fmt)
    if fmt == "webp" and layout != b"lossless":
        raise UnsupportedInput(f"{name}: lossy WebP (kept as bytes, never re-encoded)")
    mode, samples, options = _decode_pillow(data, fmt, name, max_pixels)
    color_type, depth = _PILLOW_MODES[mode]
    pic = Picture(samples, color_type, depth, fmt, json.dumps({"mode": mode, "options": options}).encode())
    # what Pillow writes back must keep the file's layout and read back to the same samples
    rewritten = write(pic)
    again = _decode_pillow(rewritten, fmt, name, max_pixels)[1]
    if _layout(rewritten, fmt) != layout or not np.array_equal(again, samples):
        raise UnsupportedInput(f"{name}: this {fmt.upper()} layout cannot be rewritten exactly")
    return pic


# -- writing ----------------------------------------------------------------------------------

def write(pic: Picture, to: str | None = None) -> bytes:
    """The image file: in the picture's own format, or in `to` ("png")."""
    fmt = to or pic.format
    if fmt == "png":
        return png.write(_png_of(pic))
    if fmt != pic.format:
        raise UnsupportedInput(f"cannot write a {pic.format} image as {fmt} (use png)")
    if fmt == "pnm":
        return netpbm.write(pic.wrapper, pic.samples, pic.depth)
    meta = json.loads(pic.wrapper)
    im = _pillow_image(pic, meta["mode"], meta["options"])
    options = {k: v for k, v in meta["options"].items() if k == "compression"}
    if fmt == "webp":
        options.update(lossless=True, exact=True, quality=100, method=4)
    if "transparency" in meta["options"]:
        t = meta["options"]["transparency"]
        options["transparency"] = bytes.fromhex(t) if isinstance(t, str) else t
    out = io.BytesIO()
    im.save(out, format=_PILLOW_FORMATS[fmt], **options)
    return out.getvalue()


def _pillow_image(pic: Picture, mode: str, options: dict) -> Image.Image:
    s = pic.samples
    if mode == "1":
        return Image.fromarray(s[..., 0].astype(bool))
    if mode == "P":
        im = Image.frombytes("P", (pic.width, pic.height), s[..., 0].tobytes())
        im.putpalette(bytes.fromhex(options["palette"]))
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

def _png_wrapper(p: png.Png) -> bytes:
    """IHDR's interlace flag and every other chunk in order (IDAT's place marked)."""
    if p.idat_at > 0xFFFF:
        raise UnsupportedInput("PNG with over 65535 chunks before its image data")
    out = bytearray(struct.pack("<BH", p.interlace, p.idat_at))
    for kind, data in p.chunks:
        out += kind + struct.pack("<I", len(data)) + data
    return bytes(out)


def _png_chunks(wrapper: bytes) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    if len(wrapper) < 3:
        raise FormatError("corrupted archive (PNG chunks)")
    interlace, idat_at = struct.unpack_from("<BH", wrapper)
    chunks, pos = [], 3
    while pos < len(wrapper):
        if pos + 8 > len(wrapper):
            raise FormatError("corrupted archive (PNG chunks)")
        kind, (n,) = wrapper[pos:pos + 4], struct.unpack_from("<I", wrapper, pos + 4)
        if pos + 8 + n > len(wrapper):
            raise FormatError("corrupted archive (PNG chunks)")
        chunks.append((kind, wrapper[pos + 8:pos + 8 + n]))
        pos += 8 + n
    if interlace > 1 or idat_at > len(chunks):
        raise FormatError("corrupted archive (PNG chunks)")
    return interlace, idat_at, chunks


def _png_of(pic: Picture) -> png.Png:
    if pic.format == "png":
        interlace, idat_at, chunks = _png_chunks(pic.wrapper)
    else:  # another format as PNG: the palette (and its transparency) as chunks
        interlace, idat_at, chunks = 0, 0, []
        if pic.palette is not None:  # only Pillow formats have palettes here
            chunks.append((b"PLTE", pic.palette.tobytes()))
            t = json.loads(pic.wrapper)["options"].get("transparency")
            if t is not None:  # Pillow: alpha per index (bytes), or the one transparent index
                chunks.append((b"tRNS", bytes.fromhex(t) if isinstance(t, str) else bytes([255] * t + [0])))
            idat_at = len(chunks)
    samples = pic.samples
    if pic.format == "pnm" and pic.depth == 1:  # PBM: 1 is black; PNG gray: 1 is white
        samples = 1 - samples
    return png.Png(pic.width, pic.height, pic.depth, pic.color_type, interlace, samples, chunks, idat_at)
