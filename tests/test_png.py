"""arzip.formats.png: exact PNG reading and writing, checked against Pillow's and libpng's (imagecodecs) decoders."""
from __future__ import annotations

import io
import struct
import zlib

import imagecodecs
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from arzip.formats import png
from arzip.errors import UnsupportedInput

LEGAL = [(ct, d) for ct, depths in png.BIT_DEPTHS.items() for d in depths]
SIZES = [(1, 1), (1, 7), (7, 1), (13, 17), (64, 48)]   # (height, width)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunk_types(data: bytes) -> list[bytes]:
    """The chunk types of a PNG in file order, walked independently of arzip.formats.png."""
    kinds, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kinds.append(data[pos + 4:pos + 8])
        pos += 12 + length
    return kinds


def handmade(width=4, height=3, depth=8, ctype=0, interlace=0, stream=None, before=(), after=(),
             ihdr=None, compress=True) -> bytes:
    """A PNG assembled by hand, so any field can be made wrong."""
    ihdr = ihdr or struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, interlace)
    if stream is None:
        stream = bytes(height * (1 + (width * png.CHANNELS[ctype] * depth + 7) // 8))
    idat = zlib.compress(stream) if compress else stream
    return b"".join([png.PNG_SIGNATURE, chunk(b"IHDR", ihdr), *(chunk(k, b) for k, b in before),
                     chunk(b"IDAT", idat), *(chunk(k, b) for k, b in after), chunk(b"IEND", b"")])


def random_png(ctype: int, depth: int, height: int, width: int, interlace: int = 0, seed: int = 0) -> png.Png:
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if depth == 16 else np.uint8
    samples = rng.integers(0, 1 << depth, (height, width, png.CHANNELS[ctype])).astype(dtype)
    chunks = [(b"PLTE", rng.integers(0, 256, 3 << depth, np.uint8).tobytes())] if ctype == 3 else []
    return png.Png(width, height, depth, ctype, interlace, samples, chunks, len(chunks))


def assert_others_decode(data: bytes, p: png.Png) -> None:
    """Pillow (and libpng for the 16-bit colour modes Pillow reduces) see p's exact samples."""
    s = p.samples
    if p.bit_depth == 16 and p.color_type != 0:
        np.testing.assert_array_equal(imagecodecs.png_decode(data).reshape(s.shape), s)
        return
    im = Image.open(io.BytesIO(data))
    pixels = np.array(im)
    if p.bit_depth == 16:
        assert im.mode == "I;16"
        np.testing.assert_array_equal(pixels, s[..., 0])
    elif p.color_type == 0 and p.bit_depth == 1:
        assert im.mode == "1"
        np.testing.assert_array_equal(pixels, s[..., 0].astype(bool))
    elif p.color_type == 0 and p.bit_depth < 8:   # Pillow scales 2- and 4-bit gray to 0..255
        np.testing.assert_array_equal(pixels, s[..., 0] * (255 // ((1 << p.bit_depth) - 1)))
    else:
        assert im.mode == {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}[p.color_type]
        np.testing.assert_array_equal(pixels.reshape(s.shape), s)


@pytest.mark.parametrize("interlace", [0, 1])
@pytest.mark.parametrize("ctype,depth", LEGAL)
def test_write_read_every_mode(ctype, depth, interlace):
    for height, width in SIZES:
        p = random_png(ctype, depth, height, width, interlace, seed=height * width)
        data = png.write(p)
        q = png.read(data)
        header = (q.width, q.height, q.bit_depth, q.color_type, q.interlace)
        assert header == (width, height, depth, ctype, interlace)
        assert q.samples.dtype == p.samples.dtype and q.samples.flags.c_contiguous
        np.testing.assert_array_equal(q.samples, p.samples)
        assert (q.chunks, q.idat_at) == (p.chunks, p.idat_at)
        assert_others_decode(data, p)


def pillow_image(mode: str, rng: np.random.Generator) -> Image.Image:
    """Random 17x13 image; "P2" / "P16" have a palette of that many colours (Pillow writes 1 / 4 bits)."""
    size = (17, 13)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, size[::-1]).astype(np.uint16))
    if mode.startswith("P"):
        colours = int(mode[1:] or 256)
        im = Image.frombytes("P", size, rng.integers(0, colours, size[::-1], dtype=np.uint8).tobytes())
        im.putpalette(rng.integers(0, 256, 3 * colours, dtype=np.uint8).tobytes())
        return im
    if mode == "1":
        bits = rng.integers(0, 2, size[::-1], dtype=np.uint8) * 255
        return Image.frombytes("L", size, bits.tobytes()).convert("1")
    channels = len(Image.new(mode, (1, 1)).getbands())
    return Image.frombytes(mode, size, rng.integers(0, 256, 17 * 13 * channels, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("mode,ctype,depth", [("1", 0, 1), ("L", 0, 8), ("LA", 4, 8), ("RGB", 2, 8),
                                              ("RGBA", 6, 8), ("P", 3, 8), ("P16", 3, 4), ("P2", 3, 1),
                                              ("I;16", 0, 16)])
def test_reads_pillow_files(mode, ctype, depth):
    buf = io.BytesIO()
    pillow_image(mode, np.random.default_rng(1)).save(buf, "PNG")
    p = png.read(buf.getvalue())
    assert (p.color_type, p.bit_depth, p.interlace) == (ctype, depth, 0)
    assert_others_decode(buf.getvalue(), p)
    if ctype == 3:
        kind, palette = p.chunks[0]
        assert kind == b"PLTE" and p.idat_at == 1
        assert list(palette) == Image.open(buf).getpalette()[:len(palette)]


@pytest.mark.parametrize("channels,ctype", [(1, 0), (2, 4), (3, 2), (4, 6)])
def test_reads_16_bit_files_of_libpng(channels, ctype):
    samples = np.random.default_rng(2).integers(0, 65536, (13, 17, channels)).astype(np.uint16)
    p = png.read(imagecodecs.png_encode(samples if channels > 1 else samples[..., 0]))
    assert (p.color_type, p.bit_depth) == (ctype, 16)
    np.testing.assert_array_equal(p.samples, samples)


def test_chunks_keep_order_and_content():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "kept as bytes")
    exif = Image.Exif()
    exif[0x010E] = "a description"
    buf = io.BytesIO()
    pillow_image("RGB", np.random.default_rng(3)).save(buf, "PNG", pnginfo=info, icc_profile=b"not a profile",
                                                       dpi=(300, 300), exif=exif, transparency=(1, 2, 3))
    p = png.read(buf.getvalue())
    assert {b"tEXt", b"iCCP", b"pHYs", b"eXIf", b"tRNS"} <= {kind for kind, _ in p.chunks}
    p.chunks = [(b"gAMA", struct.pack(">I", 45455)), (b"prVt", b"\x00private before"), *p.chunks,
                (b"tIME", struct.pack(">HBBBBB", 2024, 5, 6, 7, 8, 9)), (b"prVt", b"private after")]
    p.idat_at += 2
    data = png.write(p)
    assert chunk_types(data) == [b"IHDR", *(k for k, _ in p.chunks[:p.idat_at]), b"IDAT",
                                 *(k for k, _ in p.chunks[p.idat_at:]), b"IEND"]
    q = png.read(data)
    assert (q.chunks, q.idat_at) == (p.chunks, p.idat_at)
    np.testing.assert_array_equal(q.samples, p.samples)
    assert png.write(q) == data
    im = Image.open(io.BytesIO(data))
    assert im.info["gamma"] == pytest.approx(0.45455) and im.info["Comment"] == "kept as bytes"
    assert im.info["icc_profile"] == b"not a profile" and im.info["transparency"] == (1, 2, 3)
    assert im.getexif()[0x010E] == "a description" and im.info["dpi"] == pytest.approx((300, 300), rel=1e-4)


def test_palette_transparency_survives():
    buf = io.BytesIO()
    pillow_image("P16", np.random.default_rng(4)).save(buf, "PNG", transparency=bytes(range(0, 160, 10)))
    p = png.read(buf.getvalue())
    assert [kind for kind, _ in p.chunks[:p.idat_at]] == [b"PLTE", b"tRNS"]
    q = png.read(png.write(p, level=1))
    assert q.chunks == p.chunks
    np.testing.assert_array_equal(q.samples, p.samples)


def test_large_image_data_splits_into_idat_chunks():
    p = random_png(6, 16, 600, 300, seed=5)   # noise: about 1.4 MB deflated
    data = png.write(p, level=1)
    assert chunk_types(data).count(b"IDAT") == 2
    np.testing.assert_array_equal(png.read(data).samples, p.samples)


def raises_unsupported(data: bytes, match: str = "") -> None:
    with pytest.raises(UnsupportedInput, match=f"^name: .*{match}"):
        png.read(data, "name")


def test_every_truncation_is_refused():
    data = png.write(random_png(3, 4, 5, 6))
    for end in range(len(data)):
        raises_unsupported(data[:end])
    assert png.read(data + b"trailing bytes after IEND").width == 6


def test_bad_crc_names_the_chunk():
    data = png.write(random_png(2, 8, 5, 6))
    pos = 8
    for kind in chunk_types(data):
        (length,) = struct.unpack_from(">I", data, pos)
        byte = pos + 8 + length // 2 if length else pos + 4 + length + 4   # a data byte, or the CRC
        damaged = data[:byte] + bytes([data[byte] ^ 0x10]) + data[byte + 1:]
        raises_unsupported(damaged, f"CRC of chunk {kind.decode()}")
        pos += 12 + length


@pytest.mark.parametrize("fields", [(4, 3, 4, 2, 0, 0, 0), (4, 3, 8, 5, 0, 0, 0), (4, 3, 3, 0, 0, 0, 0),
                                    (4, 3, 16, 3, 0, 0, 0), (4, 3, 8, 0, 1, 0, 0), (4, 3, 8, 0, 0, 1, 0),
                                    (4, 3, 8, 0, 0, 0, 2), (0, 3, 8, 0, 0, 0, 0), (4, 0, 8, 0, 0, 0, 0),
                                    (1 << 31, 1, 8, 0, 0, 0, 0)])
def test_wrong_ihdr_is_refused(fields):
    raises_unsupported(handmade(ihdr=struct.pack(">IIBBBBB", *fields)), "IHDR")


def test_malformed_files_are_refused():
    good = handmade()
    assert png.read(good).samples.shape == (3, 4, 1)
    assert png.is_png(good) and not png.is_png(good[:7])
    raises_unsupported(b"GIF89a" + good[6:], "not a PNG")
    raises_unsupported(good.replace(b"\r\n", b"\n", 1), "not a PNG")   # a text-mode transfer
    raises_unsupported(handmade(ihdr=good[16:29] + b"\0"), "IHDR")
    raises_unsupported(good[:8] + chunk(b"tEXt", b"a\0b") + good[8:], "IHDR is not the first")
    raises_unsupported(handmade(before=[(b"IHDR", good[16:29])]), "second IHDR")
    raises_unsupported(good[:good.index(b"IEND") - 4], "truncated")
    raises_unsupported(handmade(after=[(b"tEXt", b"a\0b"), (b"IDAT", zlib.compress(b""))]), "consecutive")
    raises_unsupported(handmade(before=[(b"acTL", bytes(8))]), "animated")
    raises_unsupported(handmade(depth=4, ctype=3), "PLTE")
    raises_unsupported(handmade(depth=4, ctype=3, before=[(b"PLTE", b"\0\0")]), "PLTE")
    raises_unsupported(handmade(depth=4, ctype=3, after=[(b"PLTE", bytes(6))]), "PLTE")
    raises_unsupported(handmade(stream=b"not zlib", compress=False), "inflate")
    raises_unsupported(handmade(stream=bytes(14)), "not 15")
    raises_unsupported(handmade(stream=b"\5" + bytes(14)), "filter")
    raises_unsupported(good.replace(b"IEND", b"IEnD"), "CRC")
    raises_unsupported(good.replace(b"IEND", b"I3ND"), "chunk type")


def test_no_idat_is_refused():
    data = handmade()
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", data, start)
    raises_unsupported(data[:start] + data[start + 12 + length:], "no IDAT")


def test_huge_images_are_refused_before_inflating():
    raises_unsupported(handmade(width=10 ** 6, height=10 ** 6, stream=b""), "too large")
    with pytest.raises(UnsupportedInput, match="too large"):
        png.read(handmade(width=64, height=48), max_pixels=64 * 48 - 1)


def test_extra_image_data_is_refused_without_inflating_it_all():
    bomb = handmade(width=64, height=48, stream=bytes(50_000_000))   # 3 KB expected, 50 MB inflated
    assert len(bomb) < 100_000
    raises_unsupported(bomb, "image data is 3121 bytes, not 3120")


def test_fuzzed_files_raise_only_unsupported_input():
    """Damage the data of chunks (with correct CRCs, so the parser goes deep) and their lengths."""
    rng = np.random.default_rng(6)
    originals = [png.write(random_png(ct, d, 5, 6, i, seed=ct)) for ct, d in LEGAL[::3] for i in (0, 1)]
    for _ in range(600):
        data = bytearray(originals[rng.integers(len(originals))])
        pos = (8, 33)[rng.integers(2)]   # IHDR, or the chunk after it (PLTE or IDAT)
        (length,) = struct.unpack_from(">I", data, pos)
        if rng.random() < 0.2:
            data[pos + rng.integers(4)] ^= 1 << rng.integers(8)
        elif length:
            data[pos + 8 + rng.integers(length)] ^= 1 << rng.integers(8)
            struct.pack_into(">I", data, pos + 8 + length, zlib.crc32(data[pos + 4:pos + 8 + length]))
        try:
            p = png.read(bytes(data))
        except UnsupportedInput:
            continue
        assert p.samples.shape == (p.height, p.width, png.CHANNELS[p.color_type])


def reference_filter(rows: list[list[int]], bpp: int) -> bytes:
    """libpng's choice, written plainly: per row, the filter with the least sum of |byte as signed|."""
    out, prior = b"", [0] * len(rows[0])
    for row in rows:
        candidates = []
        for kind in range(5):
            line = []
            for i, x in enumerate(row):
                a, b, c = (row[i - bpp], prior[i], prior[i - bpp]) if i >= bpp else (0, prior[i], 0)
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line.append((x - (0, a, b, (a + b) // 2, paeth)[kind]) % 256)
            candidates.append((sum(min(v, 256 - v) for v in line), kind, line))
        _, kind, line = min(candidates)
        out += bytes([kind, *line])
        prior = row
    return out


def reference_pack(row: list[int], depth: int) -> bytes:
    """Samples below 8 bits packed MSB first, the last byte padded with zero bits."""
    bits = "".join(format(v, f"0{depth}b") for v in row)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


@pytest.mark.parametrize("ctype,depth", LEGAL)
def test_filter_scanlines_inverts_and_follows_libpng(ctype, depth):
    noise = random_png(ctype, depth, 9, 11, seed=7).samples
    ramp = (np.add.outer(np.arange(9), 2 * np.arange(11)) << max(0, depth - 5)) % (1 << depth)
    smooth = np.broadcast_to(ramp[..., None], noise.shape).astype(noise.dtype)
    for samples in (noise, smooth):
        stream = png.filter_scanlines(samples, depth, ctype)
        np.testing.assert_array_equal(png.unfilter_scanlines(stream, 11, 9, depth, ctype), samples)
        rows = np.frombuffer(stream, np.uint8).reshape(9, -1)
        if ctype == 3 or depth < 8:
            assert not rows[:, 0].any()
            packed = [reference_pack(r, depth) for r in samples[..., 0].tolist()]
            assert [bytes(r[1:]) for r in rows] == packed
        else:
            raw = np.frombuffer(samples.astype(">u2" if depth == 16 else np.uint8).tobytes(), np.uint8)
            assert stream == reference_filter(raw.reshape(9, -1).tolist(), png.CHANNELS[ctype] * depth // 8)
    if ctype != 3 and depth >= 8:
        assert len(set(rows[:, 0])) > 1   # the smooth image takes several filters: the choice is exercised


@pytest.mark.parametrize("mode,ctype,depth", [("L", 0, 8), ("LA", 4, 8), ("RGB", 2, 8), ("RGBA", 6, 8),
                                              ("I;16", 0, 16)])
def test_unfilter_agrees_with_pillow_on_every_filter(mode, ctype, depth):
    """Random filter bytes and data: our reconstruction equals Pillow's decoding of the same stream."""
    rng = np.random.default_rng(8)
    height, width = 13, 17
    rows = rng.integers(0, 256, (height, 1 + width * png.CHANNELS[ctype] * depth // 8), dtype=np.uint8)
    rows[:, 0] = np.arange(height) % 5
    stream = rows.tobytes()
    im = Image.open(io.BytesIO(handmade(width, height, depth, ctype, stream=stream)))
    assert im.mode == mode
    pixels = np.array(im)
    samples = png.unfilter_scanlines(stream, width, height, depth, ctype)
    np.testing.assert_array_equal(samples.reshape(pixels.shape), pixels)


def test_unfilter_rejects_bad_streams():
    stream = png.filter_scanlines(np.zeros((3, 4, 3), np.uint8), 8, 2)
    with pytest.raises(ValueError):
        png.unfilter_scanlines(stream[:-1], 4, 3, 8, 2)
    with pytest.raises(ValueError):
        png.unfilter_scanlines(stream + b"\0", 4, 3, 8, 2)
    with pytest.raises(ValueError):
        png.unfilter_scanlines(stream[:13] + b"\5" + stream[14:], 4, 3, 8, 2)


def test_write_refuses_inconsistent_pngs():
    p = random_png(0, 4, 3, 4)
    with pytest.raises(ValueError):
        png.write(png.Png(4, 3, 4, 0, 0, p.samples | 0x10, [], 0))
    with pytest.raises(ValueError):
        png.write(png.Png(4, 3, 4, 2, 0, p.samples, [], 0))
    with pytest.raises(ValueError):
        png.write(png.Png(4, 3, 16, 0, 0, p.samples, [], 0))


def astronaut_pngs() -> dict[str, png.Png]:
    """skimage's astronaut (512x512) as 8-bit RGB, and its green channel's top four bits as a
    4-bit palette image: the two ways write deflates rows (filtered; palette and low depth)."""
    from skimage import data as skdata
    rgb = np.ascontiguousarray(skdata.astronaut())
    grays = (np.arange(16, dtype=np.uint8) * 17).repeat(3).tobytes()
    return {"rgb": png.Png(512, 512, 8, 2, 0, rgb, [], 0),
            "palette": png.Png(512, 512, 4, 3, 0, np.ascontiguousarray(rgb[..., 1:2] >> 4), [(b"PLTE", grays)], 1)}


def test_written_bytes_do_not_depend_on_the_thread_count():
    """The file written from a photo is the same whatever arzip's thread count: its image data
    is one libdeflate call, not pieces cut per thread."""
    import numba
    before = numba.get_num_threads()
    for p in astronaut_pngs().values():
        try:
            numba.set_num_threads(1)
            one = png.write(p)
            numba.set_num_threads(2)
            two = png.write(p)
        finally:
            numba.set_num_threads(before)
        assert one == two
        np.testing.assert_array_equal(png.read(one).samples, p.samples)
        np.testing.assert_array_equal(np.array(Image.open(io.BytesIO(one))).reshape(p.samples.shape), p.samples)
        colours = p.samples if p.color_type == 2 else np.repeat(p.samples * 17, 3, axis=2)  # the palette's grays
        np.testing.assert_array_equal(imagecodecs.png_decode(one), colours)


def test_written_bytes_are_recorded():
    """The written file's bytes are fixed by the samples and chunks alone (the pinned libdeflate,
    pyproject.toml): a new libdeflate or level that deflates differently fails here, and then the
    golden manifest's decoded_sha256 of PNG outputs change too."""
    import hashlib
    pngs = astronaut_pngs()
    assert {name: hashlib.sha256(png.write(p)).hexdigest() for name, p in pngs.items()} == {
        "rgb": "317e4bfd51b67eac50f60863aa61c5cdd28fbb42c6cde8c66302f050cca6b7b0",
        "palette": "22e5ecd01527c68eecff762252280a1c10a926923657f170e7894ae2aa7bb65d"}
