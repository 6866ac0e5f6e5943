"""arzip.jpeg.transcode: JPEG files taken apart into coefficients and side, and put back
together byte for byte; what cannot go that way is refused, never crashed on."""
from __future__ import annotations

import functools
import io
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from arzip.errors import FormatError, UnsupportedInput
from arzip.jpeg import huffman, huffman_progressive, markers, transcode
from arzip.jpeg.transcode import NotCoefficients, Parts, geometry_of, put_together, take_apart

from .conftest import JPEG, skimage_photo

pytestmark = JPEG  # one worker compiles the JPEG kernels (tests/conftest.py)

LEPTON = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jpeg"
MAX_PIXELS = 1 << 26


@functools.lru_cache(maxsize=None)
def _astronaut() -> np.ndarray:
    return skimage_photo("astronaut")


def photo(height: int, width: int) -> np.ndarray:
    return np.ascontiguousarray(_astronaut()[150:150 + height, 120:120 + width])


def jpeg(pixels: np.ndarray | Image.Image, **options) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    out = io.BytesIO()
    image.save(out, "JPEG", **options)
    return out.getvalue()


def round_trip(data: bytes) -> Parts:
    """take_apart, checked against put_together and the geometry it reports."""
    parts = take_apart(data, MAX_PIXELS)
    assert put_together(parts.side, parts.planes) == data
    geometry = geometry_of(parts.side)
    assert [c.ident for c in geometry.components] == [c.ident for c in parts.geometry.components]
    for plane, c in zip(parts.planes, parts.geometry.components):
        assert plane.dtype == np.int16 and plane.shape == (c.blocks_y, c.blocks_x, 64)
        assert c.quant.dtype == np.uint16 and c.quant.shape == (64,)
    assert parts.side[0] == 1
    return parts


def segment_at(data: bytes, wanted) -> tuple[int, int]:
    """(start, end) of the first marker segment whose marker satisfies wanted (SOI excluded)."""
    pos = 2
    while True:
        marker, _, end = markers.next_segment(data, pos)
        if wanted(marker):
            return pos, end
        pos = end
        if marker == markers.SOS:
            pos = markers.scan_end(np.frombuffer(data, np.uint8), pos)


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def rebuilt(data: bytes, change) -> bytes:
    """The file put back together after change(headers, chunks, records) rewrote its side."""
    parts = take_apart(data, MAX_PIXELS)
    headers, chunks, records, trailer = transcode._parse(parts.side)
    chunks, records = change(headers, chunks, records)
    return put_together(transcode._serialise(chunks, records, trailer), parts.planes)


# Pillow's encodings: modes, chroma subsampling, progressive, optimised tables, restart markers

VARIANTS = [
    dict(quality=90, subsampling=0), dict(quality=75, subsampling=1), dict(quality=50, subsampling=2),
    dict(quality=95, subsampling=2, optimize=True), dict(quality=80, progressive=True),
    dict(quality=85, progressive=True, subsampling=0, optimize=True),
    dict(quality=80, restart_marker_blocks=3), dict(quality=70, subsampling=1, restart_marker_rows=1),
    dict(quality=80, progressive=True, restart_marker_blocks=5),
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_pillow_encodings_round_trip(options, mode):
    image = Image.fromarray(photo(37, 53)).convert(mode)
    data = jpeg(image, **options)
    parts = round_trip(data)
    g = parts.geometry
    assert (g.width, g.height, g.precision) == (53, 37, 8)
    assert g.progressive == bool(options.get("progressive"))
    assert len(g.components) == {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    tables = Image.open(io.BytesIO(data)).quantization
    assert np.array_equal(g.components[0].quant, tables[0])


@pytest.mark.parametrize("size", [(1, 1), (17, 9), (1000, 3), (3, 1000), (8, 8), (16, 16)])
@pytest.mark.parametrize("progressive", [False, True])
def test_odd_sizes(size, progressive):
    width, height = size
    pixels = np.resize(_astronaut(), (height, width, 3)).astype(np.uint8)
    for subsampling in (0, 2):
        parts = round_trip(jpeg(pixels, quality=85, subsampling=subsampling, progressive=progressive))
        luma = parts.geometry.components[0]
        assert (luma.blocks_y, luma.blocks_x) == (-(-height // (8 * luma.v)) * luma.v, -(-width // (8 * luma.h)) * luma.h)


def test_every_coding_of_one_image_gives_the_same_coefficients():
    """libjpeg quantises the same whatever the entropy coding: the sequential and progressive
    decoders must agree on every coefficient."""
    pixels = photo(61, 83)
    codings = [dict(), dict(optimize=True), dict(progressive=True), dict(restart_marker_blocks=2),
               dict(progressive=True, restart_marker_rows=1)]
    planes = [round_trip(jpeg(pixels, quality=88, subsampling=2, **c)).planes for c in codings]
    for other in planes[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(planes[0], other))


def test_coefficients_lie_where_the_format_says():
    """DC is the block's mean (T.81 A.3.3: F(0,0) / 8 + 128), blocks in raster order; a
    horizontal ramp's energy is at natural index 1 (row 0, column 1), not 8."""
    y, x = np.mgrid[0:48, 0:64]
    ramp = (x * 3 + 20).astype(np.uint8)
    parts = round_trip(jpeg(ramp, quality=100))
    plane, q = parts.planes[0], parts.geometry.components[0].quant
    means = ramp.reshape(6, 8, 8, 8).mean(axis=(1, 3))
    assert np.allclose(plane[..., 0] * q[0] / 8 + 128, means, atol=1.5)
    assert np.all(np.abs(plane[..., 1]) > 10 * np.abs(plane[..., 8]).max() + 1)


def test_coefficients_match_libjpeg(tmp_path):
    jpeglib = pytest.importorskip("jpeglib")
    for options in (dict(subsampling=2), dict(progressive=True, subsampling=1), dict(restart_marker_blocks=4)):
        path = tmp_path / "image.jpg"
        path.write_bytes(jpeg(photo(45, 70), quality=83, **options))
        parts = round_trip(path.read_bytes())
        reference = jpeglib.read_dct(str(path))
        for plane, theirs in zip(parts.planes, (reference.Y, reference.Cb, reference.Cr)):
            theirs = np.asarray(theirs).reshape(theirs.shape[0], theirs.shape[1], 64)
            assert np.array_equal(plane[:theirs.shape[0], :theirs.shape[1]], theirs)


@pytest.mark.parametrize("options", [dict(), dict(progressive=True), dict(restart_marker_blocks=2),
                                     dict(progressive=True, restart_marker_blocks=3)])
def test_truncated_files(options):
    data = jpeg(photo(64, 96), quality=90, **options)
    start, _ = segment_at(data, lambda m: m == markers.SOS)
    rng = random.Random(5)
    for cut in sorted(rng.sample(range(start + 20, len(data) - 2), 12)):
        round_trip(data[:cut])
        round_trip(data[:cut] + bytes(300))
        round_trip(data[:cut] + bytes(rng.randrange(256) for _ in range(50)))


def test_bytes_around_the_scans_are_kept():
    data = jpeg(photo(40, 40), quality=80, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    thumbnail = jpeg(photo(8, 8), quality=60)
    app1 = b"Exif\x00\x00II*\x00" + thumbnail  # an APP segment holding a whole JPEG
    with_app = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]
    comment = b"\xff\xfe\x00\x07hello"
    end = with_app.rindex(b"\xff\xd9")
    variants = [
        with_app,
        with_app + b"trailing garbage \xff\xd8\xff",  # bytes after EOI
        with_app + thumbnail,  # another JPEG after EOI
        with_app[:end] + comment + with_app[end:],  # a segment between the scan and EOI
        with_app[:end] + b"\xff\xff\xff" + with_app[end:],  # fill bytes before EOI
        with_app[:2] + b"\xff\xff" + with_app[2:],  # fill bytes before a header marker
        with_app[:end],  # no EOI
    ]
    for variant in variants:
        parts = round_trip(variant)
        assert len(parts.side) < len(variant) - 300  # the coefficients are not also kept raw


def test_damaged_restart_intervals_keep_only_their_bytes_raw():
    data = jpeg(photo(120, 160), quality=90, restart_marker_blocks=2)
    rst = [i for i in range(len(data) - 1) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]
    assert len(rst) > 20
    i = rst[len(rst) // 2]
    wrong_number = data[:i + 1] + bytes([0xD0 + (data[i + 1] + 3) % 8]) + data[i + 2:]
    missing = data[:i] + data[i + 2:]
    extra = data[:i] + b"\xff\xd5" + data[i:]
    corrupted = data[:i - 30] + bytes(20) + data[i - 10:]
    for variant in (wrong_number, missing, extra, corrupted):
        parts = round_trip(variant)
        raw = sum(len(h[2]) for r in transcode._parse(parts.side)[2] for h in r.holes)
        assert 0 < raw < 1000


def test_other_encoders_eob_runs_and_padding():
    """Files libjpeg would not write (EOB runs of one block, or cut where a list says, padding
    with 0 bits): Pillow decodes them as the original, and they round-trip."""
    data = jpeg(photo(64, 96), quality=75, progressive=True, restart_marker_blocks=16)
    single = huffman_progressive.EOB_SINGLE

    def eob_rule(rule, runs=None):
        def change(headers, chunks, records):
            records = [transcode._replace(r, eob_rule=rule, runs=r.runs if runs is None else runs(r))
                       if s.ss else r for s, r in zip(headers.scans, records)]
            return chunks, records
        return change

    def zeros(headers, chunks, records):
        return chunks, [transcode._replace(r, pad_rule=huffman.PAD_ZEROS) for r in records]

    three = eob_rule(huffman_progressive.EOB_LISTED, lambda r: np.full(300, 3))
    for change, rule in ((eob_rule(single), "eob"), (three, "eob"), (zeros, "pad")):
        variant = rebuilt(data, change)
        assert variant != data and np.array_equal(decoded(variant), decoded(data))
        parts = round_trip(variant)
        records = transcode._parse(parts.side)[2]
        if rule == "eob":
            assert {r.eob_rule for r in records} - {0}
        else:
            assert huffman.PAD_ZEROS in {r.pad_rule for r in records}


def test_non_interleaved_sequential_scans():
    """One scan per component (as some encoders write): made by splitting Pillow's interleaved
    scan with this module's encoder; Pillow decodes it as the original."""
    data = jpeg(photo(40, 56), quality=90, subsampling=0)
    headers_end = segment_at(data, lambda m: m == markers.SOS)[0]

    def split_scan(headers, chunks, records):
        sos = [b"\xff\xda\x00\x08\x01" + bytes([c.ident, 0x00 if i == 0 else 0x11]) + b"\x00\x3f\x00"
               for i, c in enumerate(headers.frame.components)]
        return [data[:headers_end] + sos[0], sos[1], sos[2]], [records[0]] * 3

    variant = rebuilt(data, split_scan)
    assert np.array_equal(decoded(variant), decoded(data))
    parts = round_trip(variant)
    assert all(np.array_equal(a, b) for a, b in zip(parts.planes, round_trip(data).planes))


def _baseline_bits(bits: str) -> bytes:
    """An 8x8 gray baseline JPEG whose single block is coded by `bits` (DC table: one code 0 for
    category 0; AC table: 00 EOB, 01 ZRL, 10 value 1 bit)."""
    bits += "1" * (-len(bits) % 8)
    scan = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    dqt = b"\xff\xdb\x00\x43\x00" + bytes([1] * 64)
    sof = b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    dht = (b"\xff\xc4\x00\x14\x00" + bytes([1] + [0] * 15) + b"\x00"
           + b"\xff\xc4\x00\x16\x10" + bytes([0, 3] + [0] * 14) + b"\x00\xf0\x01")
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + dht + sos + scan + b"\xff\xd9"


def test_unusual_baseline_choices_round_trip_or_are_refused():
    plain = round_trip(_baseline_bits("0" + "10" + "1" + "00"))  # DC 0, AC 1, EOB
    assert plain.planes[0][0, 0, 1] == 1
    for bits in ("0" + "01" + "00", "0" + "01" + "01" + "01" + "01"):  # ZRL before EOB; ZRLs to the end
        try:
            round_trip(_baseline_bits(bits))
        except NotCoefficients:
            pass


def _with(data: bytes, start: int, replacement: bytes, end: int | None = None) -> bytes:
    return data[:start] + replacement + data[start + len(replacement) if end is None else end:]


def test_refusals():
    data = jpeg(photo(32, 32), quality=90)
    sof, sof_end = segment_at(data, lambda m: m == 0xC0)
    dht, dht_end = segment_at(data, lambda m: m == markers.DHT)
    dqt, dqt_end = segment_at(data, lambda m: m == markers.DQT)
    cases = {
        "arithmetic-coded JPEG (SOF9)": _with(data, sof, b"\xff\xc9"),
        "arithmetic-coded JPEG (SOF10)": _with(data, sof, b"\xff\xca"),
        "arithmetic-coded JPEG (DAC)": _with(data, dqt, b"\xff\xcc\x00\x04\x01\x11", dqt),
        "lossless JPEG (SOF3)": _with(data, sof, b"\xff\xc3"),
        "hierarchical JPEG (SOF5)": _with(data, sof, b"\xff\xc5"),
        "hierarchical JPEG (DHP)": _with(data, dqt, data[sof:sof_end].replace(b"\xff\xc0", b"\xff\xde"), dqt),
        "12-bit JPEG": _with(data, sof + 4, b"\x0c"),
        "zero size": _with(data, sof + 5, b"\x00\x00"),
        "DNL": _with(data, dqt, b"\xff\xdc\x00\x04\x00\x20", dqt),
        "a second frame": data[:sof_end] + data[sof:sof_end] + data[sof_end:],
        "missing Huffman table": data[:dht] + data[dht_end:].replace(data[dht:dht_end], b""),
        "missing quantisation table": data[:dqt] + data[dqt_end:],
        "not a JPEG": b"GIF89a" + data,
        "no scan": data[:sof_end],
    }
    for reason, variant in cases.items():
        with pytest.raises(NotCoefficients) as caught:
            take_apart(variant, MAX_PIXELS)
        assert isinstance(caught.value, UnsupportedInput)
        message = str(caught.value)
        assert "\n" not in message and message
        if reason in ("arithmetic-coded JPEG (SOF9)", "lossless JPEG (SOF3)", "12-bit JPEG"):
            assert message == reason
    with pytest.raises(NotCoefficients, match="over the limit"):
        take_apart(data, 32 * 32 - 1)
    for nothing in (b"", b"\xff", b"\xff\xd8", b"\xff\xd8\xff\xd9"):
        with pytest.raises(NotCoefficients):
            take_apart(nothing, MAX_PIXELS)


def test_put_together_refuses_what_does_not_fit():
    parts = round_trip(jpeg(photo(24, 40), quality=80))
    planes = parts.planes
    with pytest.raises(FormatError):
        put_together(parts.side, planes[:2])
    with pytest.raises(FormatError):
        put_together(parts.side, [planes[0][:, :-1]] + planes[1:])
    with pytest.raises(FormatError):
        put_together(parts.side, [planes[0].astype(np.int32)] + planes[1:])
    uncodable = [p.copy() for p in planes]
    uncodable[1][0, 0, 5] = -32768  # no table has a 16-bit category
    with pytest.raises(FormatError):
        put_together(parts.side, uncodable)
    for side in (b"", b"\x02" + parts.side[1:], parts.side[:-1], parts.side + b"\x00", parts.side[:20]):
        with pytest.raises(FormatError):
            put_together(side, planes)
        with pytest.raises(FormatError):
            geometry_of(side)


def test_hostile_geometry_is_refused_before_any_allocation():
    data = jpeg(photo(24, 40), quality=80)
    sof, _ = segment_at(data, lambda m: m == 0xC0)
    huge = _with(data, sof + 5, b"\xff\xff\xff\xff")
    with pytest.raises(NotCoefficients):
        take_apart(huge, 1 << 40)
    parts = take_apart(data, MAX_PIXELS)
    at = parts.side.index(data[sof:sof + 9])
    with pytest.raises(FormatError, match="MiB"):
        geometry_of(_with(parts.side, at + 5, b"\xff\xff\xff\xff"))


def test_side_is_small_and_deterministic():
    data = jpeg(photo(64, 64), quality=85, progressive=True)
    first, second = take_apart(data, MAX_PIXELS), take_apart(data, MAX_PIXELS)
    assert first.side == second.side
    header_bytes = len(data) - sum(end - start for start, end in markers.split(data).data)
    assert len(first.side) <= header_bytes + 8 * len(markers.split(data).chunks) + 8


def _mutations(seeds: list[bytes], count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(rng.choice(seeds))
        kind = rng.random()
        if kind < 0.6:
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(data))
                data[i] = rng.randrange(256) if rng.random() < 0.5 else data[i] ^ 1 << rng.randrange(8)
        elif kind < 0.8:
            del data[rng.randrange(len(data)):]
        else:
            i = rng.randrange(len(data))
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        yield bytes(data)


FUZZ_SEEDS = [dict(quality=80), dict(quality=70, progressive=True), dict(quality=90, restart_marker_blocks=1),
              dict(quality=60, progressive=True, restart_marker_blocks=2, subsampling=1)]


def test_fuzzed_files_round_trip_or_are_refused():
    seeds = [jpeg(photo(24, 32), **o) for o in FUZZ_SEEDS] + [jpeg(Image.fromarray(photo(16, 24)).convert("L"))]
    went = 0
    for data in _mutations(seeds, 400, 11):
        try:
            parts = take_apart(data, MAX_PIXELS)
        except NotCoefficients:
            continue
        assert put_together(parts.side, parts.planes) == data
        went += 1
    assert went > 150


def test_fuzzed_sides_give_format_errors_or_bytes():
    sides = []
    for options in FUZZ_SEEDS:
        parts = take_apart(jpeg(photo(24, 32), **options), MAX_PIXELS)
        sides.append((parts.side, parts.planes))
    truncated = jpeg(photo(48, 64), quality=80, restart_marker_blocks=1)
    parts = take_apart(truncated[:len(truncated) * 4 // 5], MAX_PIXELS)
    assert transcode._parse(parts.side)[2][0].holes
    sides.append((parts.side, parts.planes))
    rng = random.Random(3)
    for _ in range(300):
        side, planes = rng.choice(sides)
        mangled = next(_mutations([side], 1, rng.randrange(1 << 30)))
        try:
            geometry = geometry_of(mangled)
            fitting = [np.zeros((c.blocks_y, c.blocks_x, 64), np.int16) for c in geometry.components]
            if [p.shape for p in fitting] == [p.shape for p in planes]:
                fitting = planes
            assert isinstance(put_together(mangled, fitting), bytes)
        except FormatError:
            pass


@pytest.mark.skipif(not LEPTON.is_dir(), reason="no ../shared/data/jpeg")
def test_lepton_files():
    """Lepton's test images, odd ones included (CMYK, truncated, zero-padded, trailing RSTn,
    garbage after EOI, non-interleaved, late tables): all but the arithmetic-coded one go
    through exactly."""
    refused = {}
    for path in sorted(LEPTON.glob("*.jpg")):
        data = path.read_bytes()
        try:
            parts = take_apart(data, 1 << 28)
        except NotCoefficients as e:
            refused[path.name] = str(e)
            continue
        assert put_together(parts.side, parts.planes) == data, path.name
    assert refused == {"arithmetic.jpg": "arithmetic-coded JPEG (SOF10)"}
