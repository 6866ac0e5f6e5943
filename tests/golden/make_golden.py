"""Write the golden archives: small archives of every kind and level, made once and never
rewritten, with the SHA-256 of what each decodes to (tests/test_golden.py checks them).

They guard the format: an archive written by an earlier arzip must keep decoding to the same
samples and bytes. So this script refuses to replace an archive that exists. An image's
decoded_sha256 is that of the file arzip writes from the samples (samples_sha256), so it
follows the writer: when the PNG writer went from deflate level 9 to zlib's Z_RLE for filtered
rows (models/EXPERIMENTS.md K36, K37), and then to the pinned libdeflate (K52), those hashes were
recorded again from the same archives, whose samples did not change. Each format version has its folder (v3/, v4/, ...): a new
version gets a new folder of archives, and the old folders stay, decoded by every later arzip.

    python tests/golden/make_golden.py            # adds the archives of this version that are missing
    python tests/golden/make_golden.py --check    # re-encodes every input of this version's
                                                  # folder: does this arzip still write the very
                                                  # same bytes?

Inputs are scikit-image photos and synthetic data only (no ../shared), so anyone can see
what went in; JPEG inputs are kept in inputs/ as Pillow first wrote them.
"""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import arzip
from arzip.container import FORMAT_VERSION
from arzip.formats import picture

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
FOLDER = f"v{FORMAT_VERSION}"  # where this arzip's archives go
# Inputs whose coding no level writes any more, so this version gets no archive of them (the
# old ones still decode: tests/test_golden.py): levels 9 and 6 used per-image scale offsets
# until context mixing took them over; gray photos at level 5 went from the light to the medium
# mixing profile; level 5 went from the network alone (now level 4, as NETWORK_ALONE below
# writes) to light mixing (rgb-level5-light.png).
# In version 4, 1-bit images went from the byte path to the bilevel model (bilevel-2d.png), and
# 16-bit gray ones to the full-depth model (gray16-full-depth.png); then every 16-bit image to the
# full-depth model of part method 7 (the *-depth16.png inputs), and alpha planes to it where it is
# smaller than the byte path (the *-alpha2d.png inputs); palette indices and 2 and 4-bit gray to the
# index model (the *-2d.png inputs), and a small 1-bit image too (bilevel-2d.png), which the
# index model codes smaller than the bilevel model does (bilevel-text.png still takes that).
# Then level 5 went from the light (RGB) and medium (gray) profiles to the quick profile, the
# network's mixture as the prior (part method 9): the *-quick* inputs.
# Version 5 keeps whole files: the *-kept.* inputs (a PNG with bytes after IEND, a TIFF with
# tags, a BMP whose header Pillow does not write; no WebP: what libwebp writes changes between
# versions, and so would the file written from the archive).
RETIRED = {"rgb-level9.png", "rgb-level6-quadrants.png", "gray-level5-light.png", "rgb-level5.png", "bilevel.png",
           "gray16.png", "gray16-full-depth.png", "rgb16.png", "rgba-level8-mixing.png", "rgba-level5-light.png",
           "gray-alpha.png", "rgba.png", "palette-indices.png", "bilevel-2d.png", "rgba-level5-alpha2d.png",
           "gray-alpha-alpha2d.png", "rgb-level5-light.png", "rgb-level5-light-stripes.png", "gray-level5-medium.png",
           "rgb16-from-8-bits.png", "gray16-high-byte.png"}
# Inputs first written at the default level while it was the network alone (rgb-mlp1, no
# offsets): level 4 codes that way.
NETWORK_ALONE = {"level": 4}


def _skimage(name: str) -> np.ndarray:
    from skimage import data
    return np.ascontiguousarray(getattr(data, name)())


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _pillow(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _with_dpi(bmp: bytes) -> bytes:
    """A BMP whose header says 300 dpi (Pillow writes its own resolution fields)."""
    return bmp[:38] + (11811).to_bytes(4, "little") * 2 + bmp[46:]


def _alpha(h: int, w: int) -> np.ndarray:
    """A soft disc: flat regions and a smooth edge, as real alpha masks have."""
    y, x = np.mgrid[:h, :w]
    r = np.hypot(y - h / 2, x - w / 2) / (min(h, w) / 2)
    return np.clip((1.1 - r) * 600, 0, 255).astype(np.uint8)


def _chart(h: int, w: int) -> np.ndarray:
    """A synthetic RGB graphic: flat background, bars, grid lines (goes the byte path)."""
    img = np.full((h, w, 3), 250, np.uint8)
    img[::8] = (200, 200, 200)
    for i, colour in enumerate([(220, 50, 50), (50, 120, 220), (40, 170, 90)]):
        img[h // 4 + 10 * i: h - 4, 6 + 22 * i: 20 + 22 * i] = colour
    return img


INPUTS = HERE / "inputs"  # input files kept as they were made (a JPEG encoder's bytes change between versions)


def _kept(name: str, make) -> bytes:
    """The input file tests/golden/inputs/NAME, made by make() the first time."""
    path = INPUTS / name
    if not path.exists():
        INPUTS.mkdir(exist_ok=True)
        path.write_bytes(make())
    return path.read_bytes()


def _jpeg(pixels: np.ndarray, **options) -> bytes:
    return _pillow(Image.fromarray(pixels), "JPEG", **options)


def inputs() -> dict[str, tuple[str, bytes, dict]]:
    """name -> (how it is compressed: "file" or "bytes", the input, compress() keywords)."""
    astronaut, camera = _skimage("astronaut"), _skimage("camera")
    rgb = np.ascontiguousarray(astronaut[100:148, 200:280])
    gray = np.ascontiguousarray(camera[200:248, 220:300])
    rng = np.random.default_rng(7)
    gray16 = (gray.astype(np.uint32) * 257 + rng.integers(0, 256, gray.shape)).astype(np.uint16)
    rgb16 = (rgb.astype(np.uint32) * 257 + rng.integers(0, 256, rgb.shape)).astype(np.uint16)
    # scans at 12 bits: shifted to the top of 16 (a step of 16 to take out), in colour with alpha
    gray12 = ((gray.astype(np.uint16) * 16 + rng.integers(0, 16, gray.shape)) << 4).astype(np.uint16)
    rgb12 = (rgb.astype(np.uint16) * 16 + rng.integers(0, 16, rgb.shape)).astype(np.uint16)
    rgba12 = np.dstack([rgb12, _alpha(*rgb.shape[:2]).astype(np.uint16) * 257])
    rgba = np.dstack([rgb, _alpha(*rgb.shape[:2])])
    gray_alpha = np.dstack([gray, _alpha(*gray.shape[:2])])
    quantized = Image.fromarray(rgb).quantize(64, dither=Image.Dither.NONE)
    duplicated = quantized.copy()
    palette = duplicated.getpalette()
    duplicated.putpalette(palette[:3] * 2 + palette[6:])  # colours 0 and 1 equal: indices coded
    bilevel = Image.fromarray(gray > 110).convert("1")
    text_chunks = Image.fromarray(rgb)
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "golden")
    info.add_itxt("Comment", "κάτι", lang="el")
    # text.txt.arz holds arzip 0.1's __init__.py three times; a text that never changes for new ones
    text = "".join(f"{i}: {arzip.__doc__}" for i in range(3)).encode()
    photo = np.ascontiguousarray(astronaut[40:136, 150:278])  # 128x96
    jpegs = {  # kind 3: the coefficient model's profiles, one and two segments, each kind of scan
        "jpeg-baseline-420.jpg": lambda: _jpeg(photo, quality=85),
        "jpeg-progressive-444.jpg": lambda: _jpeg(photo, quality=80, subsampling=0, progressive=True),
        "jpeg-gray-restarts.jpg": lambda: _jpeg(np.ascontiguousarray(camera[200:296, 200:328]), quality=90,
                                                restart_marker_blocks=3),
        "jpeg-truncated.jpg": lambda: _jpeg(photo, quality=85, optimize=True)[:2500],
        "jpeg-two-segments.jpg": lambda: _jpeg(astronaut, quality=40),  # 6,144 blocks
        "jpeg-level9.jpg": lambda: _jpeg(photo, quality=92, subsampling=1),
    }
    kept = {name: ("file", _kept(name, make), {"level": 9} if "level9" in name else {}) for name, make in jpegs.items()}
    return {**kept,
        "rgb-level5.png": ("file", _png(Image.fromarray(rgb)), NETWORK_ALONE),
        "rgb-level1.png": ("file", _png(Image.fromarray(rgb)), {"level": 1}),
        "rgb-level9.png": ("file", _png(Image.fromarray(rgb)), {"level": 9}),
        "rgb-level6-quadrants.png": ("file", _png(Image.fromarray(astronaut[0:256, 128:384])), {"level": 6}),
        "rgb-level8-mixing.png": ("file", _png(Image.fromarray(rgb)), {"level": 8}),
        "rgb-level9-mixing-quadrants.png": ("file", _png(Image.fromarray(astronaut[0:256, 128:384])), {"level": 9}),
        "gray-level9-mixing.png": ("file", _png(Image.fromarray(gray)), {"level": 9}),
        "rgba-level8-mixing.png": ("file", _png(Image.fromarray(rgba, "RGBA")), {"level": 8}),
        "rgba-level5-alpha2d.png": ("file", _png(Image.fromarray(rgba, "RGBA")), {"level": 5}),
        "gray-alpha-alpha2d.png": ("file", _png(Image.fromarray(gray_alpha, "LA")), {}),
        "rgb-1x1.png": ("file", _png(Image.fromarray(rgb[:1, :1])), {}),
        "rgb-level5-quick.png": ("file", _png(Image.fromarray(rgb)), {"level": 5}),
        "rgb-level5-quick-stripes.png": ("file", _png(Image.fromarray(astronaut[0:256, 128:384])), {"level": 5}),
        "gray-level5-quick.png": ("file", _png(Image.fromarray(gray)), {"level": 5}),
        "rgba-level5-quick-alpha2d.png": ("file", _png(Image.fromarray(rgba, "RGBA")), {"level": 5}),
        "gray-alpha-quick-alpha2d.png": ("file", _png(Image.fromarray(gray_alpha, "LA")), {}),
        "rgb-level5-light.png": ("file", _png(Image.fromarray(rgb)), {"level": 5}),
        "rgb-level5-light-stripes.png": ("file", _png(Image.fromarray(astronaut[0:256, 128:384])), {"level": 5}),
        "rgb-level6-medium-stripes.png": ("file", _png(Image.fromarray(astronaut[0:256, 128:384])), {"level": 6}),
        "gray-level5-light.png": ("file", _png(Image.fromarray(gray)), {"level": 5}),
        "gray-level5-medium.png": ("file", _png(Image.fromarray(gray)), {"level": 5}),
        "rgba-level5-light.png": ("file", _png(Image.fromarray(rgba, "RGBA")), {"level": 5}),
        "rgb-chunks-interlaced.png": ("file", _png(text_chunks, pnginfo=info, interlace=1), NETWORK_ALONE),
        "gray.png": ("file", _png(Image.fromarray(gray)), NETWORK_ALONE),
        "gray-alpha.png": ("file", _png(Image.fromarray(gray_alpha, "LA")), NETWORK_ALONE),
        "rgba.png": ("file", _png(Image.fromarray(rgba, "RGBA")), NETWORK_ALONE),
        "palette-colours.png": ("file", _png(quantized), {"learned_only": True, **NETWORK_ALONE}),
        "palette-indices.png": ("file", _png(duplicated), {}),
        "palette-indices-2d.png": ("file", _png(duplicated), {}),
        "palette4-2d.png": ("file", _png(Image.fromarray(rgb).quantize(12, dither=Image.Dither.NONE), bits=4), {}),
        "gray4-2d.png": ("file", picture.write(picture.new((gray >> 4)[..., None], picture.GRAY, 4)), {}),
        "bilevel.png": ("file", _png(bilevel), {}),
        "bilevel-2d.png": ("file", _png(bilevel), {}),
        "bilevel-text.png": ("file", _png(Image.fromarray(_skimage("text") > 110).convert("1")), {}),
        "gray16.png": ("file", _png(Image.fromarray(gray16)), {}),
        "gray16-full-depth.png": ("file", _png(Image.fromarray(gray16)), {}),
        "rgb16.png": ("file", picture.write(picture.new(rgb16, picture.RGB, 16)), {}),
        "rgb16-from-8-bits.png": ("file", picture.write(picture.new(rgb.astype(np.uint16) * 257, picture.RGB, 16)), {}),
        "gray16-high-byte.png": ("file", picture.write(picture.new(gray.astype(np.uint16)[..., None] << 8, picture.GRAY,
                                                                   16)), {}),
        "rgb16-from-8-bits-quick.png": ("file", picture.write(picture.new(rgb.astype(np.uint16) * 257, picture.RGB, 16)),
                                        {}),
        "gray16-high-byte-quick.png": ("file", picture.write(picture.new(gray.astype(np.uint16)[..., None] << 8,
                                                                         picture.GRAY, 16)), {}),
        "gray12-shifted-depth16.png": ("file", picture.write(picture.new(gray12[..., None], picture.GRAY, 16)), {}),
        "rgb12-depth16.png": ("file", picture.write(picture.new(rgb12, picture.RGB, 16)), {}),
        "rgba12-depth16.png": ("file", picture.write(picture.new(rgba12, picture.RGBA, 16)), {}),
        "chart.png": ("file", _png(Image.fromarray(_chart(64, 96))), {}),
        "rgb.ppm": ("file", b"P6\n# golden\n80 48\n255\n" + rgb.tobytes(), NETWORK_ALONE),
        "gray.bmp": ("file", _pillow(Image.fromarray(gray), "BMP"), NETWORK_ALONE),
        "rgb.tif": ("file", _pillow(Image.fromarray(rgb), "TIFF"), NETWORK_ALONE),
        "text.txt": ("bytes", text, {}),
        "empty.bin": ("bytes", b"", {}),
        "random.bin": ("bytes", rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(), {}),
        "zeros.bin": ("bytes", bytes(20000), {}),
        # 2.1 MB of records: a cm block in two segments (arzip/bytes/cm: from 2 MiB in versions 6 and 7, 1 MiB on)
        "records-two-segments.csv": ("bytes", "".join(f"{i:07d},{i * 7919 % 1000:03d},{'abcd'[i % 4]}\n"
                                                      for i in range(150_000)).encode(), {}),
        "repeats.bin": ("bytes", rng.integers(0, 256, 1000, dtype=np.uint8).tobytes() * 20, {}),
        # version 8: level 9's strong profile; fixed-length records (the record guesses) and a
        # 1-bit page (the 1-bit image model) at the default level
        "text-level9.txt": ("bytes", text, {"level": 9}),
        "records-13.bin": ("bytes", b"".join(bytes([2, 0, 9, 0]) + (i // 40).to_bytes(2, "little") +
                                              (i % 40).to_bytes(2, "little") + bytes(3) +
                                              int(1000 + 30 * np.sin(i / 7)).to_bytes(2, "little")
                                              for i in range(3000)), {}),
        "page-1bit.bits": ("bytes", _page_bits(), {}),
        # version 9: level 9's fourth profile on records and on nested text (its text contexts,
        # two-way lines and long match; text-level9.txt above covers plain text)
        "records-13-level9.bin": ("bytes", b"".join(bytes([2, 0, 9, 0]) + (i // 40).to_bytes(2, "little") +
                                                     (i % 40).to_bytes(2, "little") + bytes(3) +
                                                     int(1000 + 30 * np.sin(i / 7)).to_bytes(2, "little")
                                                     for i in range(3000)), {"level": 9}),
        "nested-level9.json": ("bytes", nested_json(), {"level": 9}),
        # version 10: level 9's 1-bit image model with its two more contexts
        "page-1bit-level9.bits": ("bytes", _page_bits(), {"level": 9}),
        # version 11: machine code through the branch transform (block method 11)
        "x86-code.bin": ("bytes", machine_code("x86"), {}),
        "x86-code-level9.bin": ("bytes", machine_code("x86"), {"level": 9}),
        "sparc-code.bin": ("bytes", machine_code("sparc"), {}),
        "arm64-code-level9.bin": ("bytes", machine_code("arm64"), {"level": 9}),
        "table-level9.tsv": ("bytes", table(600), {"level": 9}),  # level 9's field contexts
        "photo-as-bytes.png": ("bytes", _png(Image.fromarray(rgb)), {}),
        "rgb-trailing-kept.png": ("file", _png(Image.fromarray(rgb)) + b"PK\x05\x06" + bytes(18), {}),
        "rgb-tags-kept.tif": ("file", _pillow(Image.fromarray(rgb), "TIFF", tiffinfo={270: "golden", 282: 300.0,
                                                                                     283: 300.0, 296: 2}), {}),
        "gray-header-kept.bmp": ("file", _with_dpi(_pillow(Image.fromarray(gray), "BMP")), {}),
        # version 12: files that hold a raster (image formats 7-9, their wrapper through the byte
        # path), 1-bit images through the strong bilevel model (part method 10, bilevel-text.png
        # above), pages as bitmap blocks (block method 14, the page-1bit inputs above), level 9's
        # run predictions (block method 15, the *-level9 byte inputs above)
        **{name: ("file", _kept(name, make), {"as_": "image"}) for name, make in _rasters().items()},
    }


def _rasters() -> dict[str, object]:
    """DICOM, FITS and TIFF files made by tests/test_raster.py's builders (kept in inputs/:
    their samples come from floating-point filters, and tifffile's layout may change)."""
    sys.path.insert(0, str(HERE.parents[1]))
    from tests import test_raster as r
    return {"scan-12bit.dcm": lambda: r.dicom(r.twelve_bit(48, 64)),
            "ct-signed-frames-implicit.dcm": lambda: r.dicom(
                (np.concatenate([r.twelve_bit(24, 40), r.twelve_bit(24, 40, 1)]).astype(np.int32) - 1024)
                .astype(np.int16), r.IMPLICIT_LE, signed=True, frames=2),
            "image-and-table.fits": lambda: r.fits(r.twelve_bit(40, 48) + 30000, extension=_skimage("camera")[:8, :8]),
            "pages-16bit.tif": lambda: r.tiff(np.stack([r.twelve_bit(20, 48, s) for s in range(3)]),
                                              photometric="minisblack")}


def nested_json(depth: int = 4, items: int = 40) -> bytes:
    """Indented JSON of nested lists and objects (brackets and indentation for level 9's text
    contexts), drawn from a seeded generator (tests/test_bytes.py draws a larger one)."""
    import json
    rng = np.random.default_rng(3)
    names = ["id", "name", "tags", "size", "parts", "owner", "when", "ok"]

    def node(depth: int):
        if depth == 0 or rng.random() < 0.3:
            return int(rng.integers(0, 10000)) if rng.random() < 0.5 else "".join(rng.choice(list("abcdefgh"), 5))
        if rng.random() < 0.5:
            return [node(depth - 1) for _ in range(int(rng.integers(1, 4)))]
        return {names[k]: node(depth - 1) for k in rng.choice(8, int(rng.integers(1, 5)), replace=False)}

    return json.dumps([node(depth) for _ in range(items)], indent=2).encode()


def table(rows: int = 3000) -> bytes:
    """A tab-separated table of variable-width fields (a name, a version, a month, a rank that is
    often empty, a few words), drawn from a seeded generator."""
    rng = np.random.default_rng(12)
    words = ["data", "tool", "fast", "client", "for", "the", "python", "simple", "api", "library", "test", "web"]
    lines = [b"name\tversion\tmonth\trank\tsummary"]
    for k in range(rows):
        name = "-".join(rng.choice(words, int(rng.integers(1, 3))))
        version = ".".join(str(int(v)) for v in rng.integers(0, 12, int(rng.integers(2, 4))))
        month = f"20{int(rng.integers(15, 27))}-{int(rng.integers(1, 13)):02d}"
        rank = str(int(rng.integers(1, 15000))) if rng.random() < 0.2 else ""
        summary = " ".join(rng.choice(words, int(rng.integers(0, 8)))).capitalize()
        lines.append(f"{name}{k}\t{version}\t{month}\t{rank}\t{summary}".encode())
    return b"\n".join(lines) + b"\n"


def machine_code(isa: str, functions: int = 240, seed: int = 11) -> bytes:
    """Code-like bytes of an instruction set ("x86", "sparc", "arm64"): functions of a few
    common instructions each, which call other functions (relative displacements, as compilers
    write them), drawn from a seeded generator, with a table of numbers after the code (what
    arzip.bytes.branch must find, and leave alone)."""
    rng = np.random.default_rng(seed)
    if isa == "x86":
        vocabulary = [b"\x55", b"\x48\x89\xe5", b"\x48\x83\xec\x10", b"\x8b\x45\xfc", b"\x31\xc0",
                      b"\x48\x8b\x7d\xf8", b"\x89\xc7", b"\x0f\x1f\x44\x00\x00", b"\x85\xc0", b"\x74\x0a",
                      b"\x48\x8b\x45\xe8", b"\x48\x89\x45\xf0", b"\x8b\x55\xec", b"\xb8\x01\x00\x00\x00",
                      b"\xba\x10\x00\x00\x00", b"\x48\x83\xc4\x10", b"\x48\x8d\x45\xe0", b"\x0f\xb6\x45\xf7"]
        entry, ret, call_size = b"\x55\x48\x89\xe5", b"\x5d\xc3", 5
    else:
        words = {"sparc": [0x9DE3BF98, 0x90100008, 0x92102001, 0x80A22000, 0x02800004, 0xD0062044, 0x01000000],
                 "arm64": [0xA9BF7BFD, 0x910003FD, 0xF9400BE0, 0x52800020, 0x7100001F, 0x54000080, 0xD503201F]}[isa]
        order = ">u4" if isa == "sparc" else "<u4"
        vocabulary = [np.array([w], dtype=order).tobytes() for w in words]
        entry = vocabulary[0]
        ret = np.array([0x81C7E008, 0x81E80000] if isa == "sparc" else [0xA8C17BFD, 0xD65F03C0], dtype=order).tobytes()
        call_size = 4
    code, calls, starts = bytearray(), [], []
    for _ in range(functions):
        starts.append(len(code))
        code += entry
        for _ in range(int(rng.integers(8, 40))):
            if rng.random() < 0.15:
                calls.append((len(code), int(rng.integers(0, functions))))
                code += bytes(call_size)
            else:
                code += vocabulary[int(rng.integers(0, len(vocabulary)))]
        code += ret
    for at, callee in calls:
        if isa == "x86":
            code[at:at + 5] = b"\xe8" + (starts[callee] - at - 5).to_bytes(4, "little", signed=True)
        elif isa == "sparc":
            code[at:at + 4] = (0x40000000 | ((starts[callee] - at) // 4 & 0x3FFFFFFF)).to_bytes(4, "big")
        else:
            code[at:at + 4] = (0x94000000 | ((starts[callee] - at) // 4 & 0x3FFFFFF)).to_bytes(4, "little")
    return bytes(code) + np.arange(0, 40000, 37, dtype="<i4").tobytes()


def _page_bits() -> bytes:
    """A 1-bit page: arzip's docstring drawn at 432 x 400 pixels, packed 8 to a byte (rows of 54)."""
    from PIL import ImageDraw
    page = Image.new("1", (432, 400), 0)
    draw = ImageDraw.Draw(page)
    for k, line in enumerate(arzip.__doc__.splitlines()[:26]):
        draw.text((4, 4 + 15 * k), line[:70], fill=1)
    return page.tobytes()


def _compress(path: str, data: bytes, options: dict) -> bytes:
    """learned_only: the learned coding even where the byte path, the index model or the PNG's
    own image data would be smaller (a palette photo's colours through the RGB model), so that the archive
    holds that kind of part."""
    if path == "bytes":
        return arzip.compress_bytes(data, **options)
    options = dict(options)
    if not options.pop("learned_only", False):
        return arzip.compress(data, **options)
    from arzip.image import planes
    saved = planes.SYNTHETIC_REPEATS, planes.MODEL_MUST_BEAT_DEFLATE, planes._png_stream, planes._indices
    planes.SYNTHETIC_REPEATS, planes.MODEL_MUST_BEAT_DEFLATE = 2.0, float("inf")
    planes._png_stream = planes._indices = lambda pic, *_: None
    try:
        return arzip.compress(data, **options)
    finally:
        planes.SYNTHETIC_REPEATS, planes.MODEL_MUST_BEAT_DEFLATE, planes._png_stream, planes._indices = saved


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check() -> int:
    """Re-encode every input of this version's folder and compare with its golden archive: a
    change that alters the bits an encoder writes shows here (it then needs a new format
    version). Files coded as bytes are re-encoded from what their archive decodes to."""
    changed = 0
    for name, (path, data, options) in inputs().items():
        archive = HERE / FOLDER / f"{name}.arz"
        if not archive.exists() or name in RETIRED:
            continue
        if path == "bytes":
            data = arzip.decompress(archive.read_bytes())
        if _compress(path, data, options) != archive.read_bytes():
            print(f"{archive.name}: this arzip writes different bytes", file=sys.stderr)
            changed += 1
    print(f"{changed} of {len(list((HERE / FOLDER).glob('*.arz')))} archives of {FOLDER} differ", file=sys.stderr)
    return 1 if changed else 0


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    (HERE / FOLDER).mkdir(exist_ok=True)
    for name, (path, data, options) in inputs().items():
        key = f"{FOLDER}/{name}"
        archive = HERE / f"{key}.arz"
        if archive.exists() or key in manifest or name in RETIRED:
            continue
        blob = _compress(path, data, options)
        entry = {"written_by": f"arzip {arzip_version()} ({commit[:12]})", "options": options,
                 "decoded_sha256": sha256(arzip.decompress(blob)), "format_version": FORMAT_VERSION}
        summary = arzip.info(blob)
        entry["contract"] = summary["contract"]
        if summary["contract"] == "bytes exact" and path == "file":
            assert entry["decoded_sha256"] == sha256(data), name
        if summary["kind"] == "image":
            samples = arzip.decompress_image(blob)
            entry["samples"] = f"{samples.dtype.name} {list(samples.shape)}"
            entry["samples_sha256"] = sha256(np.ascontiguousarray(samples).tobytes())
            entry["parts"] = [f"{p['plane']}: {p['method']} {p['model']}" for p in summary["parts"]]
        elif summary["kind"] == "jpeg":
            entry["method"] = summary["method"]
            entry["segments"] = summary["segments"]
            entry["prior"] = summary["prior"]
        else:
            entry["methods"] = summary["methods"]
        archive.write_bytes(blob)
        manifest[key] = entry
        print(f"{archive.name}: {len(blob)} bytes, {entry.get('parts') or entry.get('methods') or entry.get('method')}", file=sys.stderr)
    MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


def arzip_version() -> str:
    from importlib.metadata import version
    return version("arzip")


if __name__ == "__main__":
    main()
