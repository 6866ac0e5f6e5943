"""Fuzzing the archive readers: any damaged archive of any kind is an arzip error or decodes
exactly (bench/fuzz.py runs the long version)."""
from __future__ import annotations

import importlib.util
import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from skimage import data as skdata

from arzip import api, container
from arzip.formats import picture
from arzip.bytes import cm as byte_cm, container as byte_container
from arzip.image import container as image_container
from arzip.jpeg import container as jpeg_container
from arzip.errors import ArzipError

from .conftest import JPEG

# bench/fuzz.py's header-field mutations (it imports nothing beyond numpy and the standard
# library at load time, and runs nothing)
_SPEC = importlib.util.spec_from_file_location("arzip_bench_fuzz", Path(__file__).resolve().parents[1] / "bench" / "fuzz.py")
fuzz = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(fuzz)
make_golden = fuzz._golden_inputs()

IMAGE = np.ascontiguousarray(skdata.astronaut()[100:116, 200:216])  # a photo: the learned models win on it
NOISE = np.random.default_rng(5).integers(0, 16, size=IMAGE.shape, dtype=np.uint16)
PALETTE = np.array([[0, 0, 0], [90, 40, 20], [200, 180, 90], [255, 255, 255]], np.uint8)
GRAPHIC = np.zeros((12, 16, 4), np.uint8)
GRAPHIC[2:9, 3:12] = (250, 20, 20, 255)


@lru_cache(maxsize=None)
def jpeg_file(**options) -> bytes:
    """A small JPEG (Pillow, quality 85) of a 64x48 crop of a photo."""
    from PIL import Image
    f = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(skdata.astronaut()[100:148, 180:244])).save(f, format="JPEG", quality=85,
                                                                                   **options)
    return f.getvalue()


def cm_archive(segments: int, level: int | None = None) -> bytes:
    """A byte archive of one cm block (above the first model's 16 KiB) in `segments` segments
    (two: the block cut as one of 1 MiB or more would be), at `level` (9: the strong profile)."""
    data = b"".join(f"line {i}: arzip fuzzes its readers; {i * i}\n".encode() for i in range(700))
    saved = byte_cm.SPLIT_MIN
    byte_cm.SPLIT_MIN = len(data) if segments == 2 else saved
    try:
        blob = api.compress_bytes(data, level)
    finally:
        byte_cm.SPLIT_MIN = saved
    block = byte_container.read_compact_record(io.BytesIO(blob[10:]))
    assert block.method in byte_container.CM_WRITTEN and block.segments == segments
    return blob


def page_archive() -> bytes:
    """A byte archive of one bitmap block (block method 14): the golden 1-bit page."""
    blob = api.compress_bytes(make_golden._page_bits())
    assert api.info(blob)["methods"] == {"bitmap": 1}
    return blob


def raster_archive() -> bytes:
    """A FITS file's image archive: its samples by the full-depth model, its cards and its
    extension (the wrapper) through the byte path (wrapper codec 2)."""
    from .test_raster import fits, twelve_bit
    blob = api.compress(fits(twelve_bit(16, 16) + 30000, extension=skdata.camera()[:8, :8]), as_="image")
    assert image_container.read_header(blob).wrapper_coded
    return blob


def jpeg_archive(data: bytes, level: int | None = None) -> bytes:
    """The JPEG archive (kind 3) of data: checked to go the JPEG path (the coefficient model's
    strong profile, method 2, at level 9, else the default one), its side through the byte model
    at level 9 only."""
    blob = api.compress(data, level=level)
    summary = api.info(blob)
    method = jpeg_container.METHOD_STRONG if level == 9 else jpeg_container.METHOD_DEFAULT
    assert summary["kind"] == "jpeg" and summary["method"] == jpeg_container.METHODS[method]
    assert (summary["byte_model_sha256"] != "00000000") == (level == 9)
    return blob


SEEDS = {"rgb model": lambda: api.compress_image(IMAGE),  # quick mixing
         "rgb medium mixing": lambda: api.compress_image(IMAGE, level=6),
         "rgb mixing": lambda: api.compress_image(IMAGE, level=8),
         "rgba: model + alpha part": lambda: api.compress_image(np.dstack([IMAGE, IMAGE[..., :1]])),
         "graphics: bytes part": lambda: api.compress_image(GRAPHIC),
         "16-bit: bytes part": lambda: api.compress_image(np.tile(NOISE[:4, :4] * 4000, (4, 4, 1))),  # repeats
         "16-bit gray: full-depth part": lambda: api.compress_image(IMAGE[..., :1].astype(np.uint16) * 64 + NOISE[..., :1]),
         "16-bit from 8 bits: widened model part": lambda: api.compress_image(IMAGE.astype(np.uint16) * 257),
         "16-bit RGB: full-depth part": lambda: api.compress_image(IMAGE.astype(np.uint16) * 16 + NOISE),
         "palette: index part": lambda: api.compress_image(picture.new((IMAGE[..., :1] // 64).astype(np.uint8),
                                                                       picture.PALETTE, 8, PALETTE)),
         "1-bit: bilevel part": lambda: api.compress_image(picture.new(  # a page: bilevel beats indices there
             (skdata.text() > 110).astype(np.uint8)[..., None], picture.GRAY, 1)),
         "file as bytes": lambda: api.compress_bytes(b"arzip fuzzes its readers; " * 40),  # the first model
         "file as bytes: cm": lambda: cm_archive(1),
         "file as bytes: cm, two segments": lambda: cm_archive(2),
         "file as bytes: cm, level 9": lambda: cm_archive(1, 9),
         "file as bytes: machine code": lambda: api.compress_bytes(make_golden.machine_code("x86")),  # branch transform
         "file as bytes: machine code, level 9": lambda: api.compress_bytes(make_golden.machine_code("arm64"), 9),
         "file as bytes: a page": lambda: page_archive(),  # the bitmap block (the strong bilevel model)
         "fits: samples, wrapper through the byte path": lambda: raster_archive(),
         "jpeg: baseline": lambda: jpeg_archive(jpeg_file()),  # the side through lzma
         "jpeg: progressive": lambda: jpeg_archive(jpeg_file(progressive=True)),
         "jpeg: restart markers": lambda: jpeg_archive(jpeg_file(restart_marker_blocks=2)),
         "jpeg: cut mid-scan": lambda: jpeg_archive(jpeg_file()[:len(jpeg_file()) * 2 // 3]),  # a hole / tail in side
         "jpeg: level 9": lambda: jpeg_archive(jpeg_file(), level=9)}  # the side through the byte model


class Seed(tuple):
    """(archive, decoded original), shown by name in hypothesis's reports."""

    def __repr__(self) -> str:
        return f"<seed {self.name!r}>"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


# the JPEG seeds run on the worker that runs the JPEG tests (--dist loadgroup), which compiles the
# JPEG path's kernels once (tests/conftest.py)
@pytest.fixture(scope="module", params=[pytest.param(name, marks=JPEG) if name.startswith("jpeg") else name
                                        for name in SEEDS])
def seed(request) -> tuple[bytes, bytes]:
    blob = SEEDS[request.param]()
    out = Seed((blob, api.decompress(blob)))
    out.name = request.param
    return out


def check(data: bytes, expected: bytes) -> None:
    try:
        out = api.decompress(data)
    except ArzipError:
        return
    assert out == expected  # anything that decodes must be the original


mutation = st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=4)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(mutation)
def test_bit_flips(seed, flips):
    blob, expected = seed
    data = bytearray(blob)
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    check(bytes(data), expected)


@FUZZ
@given(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6), st.binary(max_size=40))
def test_splices_and_cuts(seed, a, b, junk):
    blob, expected = seed
    i, j = sorted((a % (len(blob) + 1), b % (len(blob) + 1)))
    check(blob[:i] + junk + blob[j:], expected)


@FUZZ
@given(st.integers(0, 10 ** 6), st.integers(1, 255))
def test_payload_edits_behind_valid_crcs_reach_the_decoders(seed, pos, xor):
    """The CRCs recomputed, damage gets past them to the decoders: still an error, never wrong
    output (the sample checksum; for JPEG archives, whose side and segment streams carry no CRC
    of their own, a byte of one of them changed behind the header's CRC: the file's checksum)."""
    blob, expected = seed
    kind = container.kind_of(blob[:6])
    if kind == container.KIND_JPEG:
        header = jpeg_container.unpack(blob)
        parts, at = [], header.size
        for n in (header.side_coded_len, *(n for _, n in header.segments)):
            if n:
                parts.append((at, n))
            at += n
        start, n = parts[pos % len(parts)]
        data = bytearray(blob)
        data[start + pos // len(parts) % n] ^= xor
        check(bytes(data), expected)
        return
    if kind != container.KIND_IMAGE:
        return
    header, payloads = image_container.unpack(blob)
    k = pos % len(payloads)
    p = bytearray(payloads[k])
    p[pos % len(p)] ^= xor
    payloads[k] = bytes(p)
    check(image_container.pack(header, payloads), expected)


@FUZZ
@given(st.data())
def test_header_fields_changed_with_crcs_recomputed(seed, data):
    """One header field (of the image header, a part, a model, a byte-coded part's method and
    segments, a byte archive's block record, or a JPEG archive's header, segments and side) set to an edge value and the CRCs recomputed,
    so that the value reaches the decoders: an arzip error or exactly the original. A changed
    format byte or wrapper makes a valid archive of another file: that one may also be any file
    holding the original pixels."""
    blob, expected = seed
    field, index = data.draw(st.sampled_from(fuzz.fields_of(blob)), label="field, index")
    value, label = fuzz.draw_value(blob, field, index, np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1))),
                                   heavy=False)
    note(f"{field} = {label}")
    try:
        out = api.decompress(fuzz.set_field(blob, field, index, value))
    except ArzipError:
        return
    if out != expected and field in fuzz.FILE_FIELDS:
        assert np.array_equal(picture.read(out).samples, api.decompress_picture(blob).samples)
        return
    assert out == expected
