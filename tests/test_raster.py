"""Files that hold a raster among other bytes (arzip/formats/raster.py): DICOM in its three
uncompressed transfer syntaxes, FITS, TIFF that Pillow cannot rewrite. Their samples go through
the image models, every other byte is kept, and the file comes back byte for byte, whatever the
file holds: damaged headers included."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data as skdata

import arzip
from arzip import api
from arzip.errors import FormatError
from arzip.formats import picture, raster

EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"
_LONG = {"OB", "OW", "SQ", "UN", "UT"}


def twelve_bit(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A 12-bit image: a photo's crop, blurred as optics blur, widened to 0..4095, with a sensor's noise."""
    from skimage import filters
    rng = np.random.default_rng(seed)
    photo = filters.gaussian(skdata.camera().astype(float), 1.0)[100:100 + h, 150:150 + w] * 16
    return np.clip(np.round(photo + rng.normal(0, 1, photo.shape)), 0, 4095).astype(np.uint16)


def _element(tag: tuple[int, int], vr: str, value: bytes, explicit: bool, e: str) -> bytes:
    value += b"\x00" * (len(value) % 2)
    head = struct.pack(e + "HH", *tag)
    if not explicit:
        return head + struct.pack(e + "I", len(value)) + value
    if vr in _LONG:
        return head + vr.encode() + b"\x00\x00" + struct.pack(e + "I", len(value)) + value
    return head + vr.encode() + struct.pack(e + "H", len(value)) + value


def dicom(pixels: np.ndarray, syntax: str = EXPLICIT_LE, signed: bool = False, frames: int = 1,
          planar: int | None = None) -> bytes:
    """A DICOM file as scanners write them: preamble, file meta, a nested sequence of undefined
    length, the image's attributes, then the pixel data. pixels: (frames * rows, columns[, 3])."""
    explicit, e = syntax != IMPLICIT_LE, ">" if syntax == EXPLICIT_BE else "<"
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows, columns = pixels.shape[0] // frames, pixels.shape[1]
    bits = pixels.dtype.itemsize * 8
    meta = _element((2, 1), "OB", b"\x00\x01", True, "<") + _element((2, 0x10), "UI", syntax.encode(), True, "<")
    out = b"\x00" * 128 + b"DICM" + _element((2, 0), "UL", struct.pack("<I", len(meta)), True, "<") + meta
    out += _element((8, 0x60), "CS", b"MR", explicit, e)
    item = _element((8, 0x1150), "UI", b"1.2.840.10008.5.1.4.1.1.4", explicit, e)
    sequence = struct.pack(e + "HH", 8, 0x1140) + ((b"SQ\x00\x00") if explicit else b"") + struct.pack(e + "I", 0xFFFFFFFF)
    sequence += struct.pack(e + "HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + item + struct.pack(e + "HHI", 0xFFFE, 0xE00D, 0)
    out += sequence + struct.pack(e + "HHI", 0xFFFE, 0xE0DD, 0)
    us = lambda tag, v: _element((0x28, tag), "US", struct.pack(e + "H", v), explicit, e)  # noqa: E731
    out += us(2, channels) + (us(6, planar) if planar is not None else b"")
    out += _element((0x28, 8), "IS", str(frames).encode(), explicit, e) + us(0x10, rows) + us(0x11, columns)
    out += us(0x100, bits) + us(0x101, 12 if bits == 16 else 8) + us(0x103, int(signed))
    raw = pixels.astype(pixels.dtype.newbyteorder(e)).tobytes()
    return out + _element((0x7FE0, 0x10), "OW" if bits == 16 else "OB", raw, explicit, e)


def fits(image: np.ndarray, extension: np.ndarray | None = None) -> bytes:
    """A FITS file: the primary array (16-bit signed, BZERO 32768: unsigned values, as cameras
    write them), then an IMAGE extension."""
    def header(cards: list[str]) -> bytes:
        text = "".join(card.ljust(80) for card in cards + ["END"])
        return text.ljust(-(-len(text) // 2880) * 2880).encode("ascii")

    def data(values: np.ndarray) -> bytes:
        raw = values.tobytes()
        return raw + b"\x00" * (-len(raw) % 2880)

    out = header(["SIMPLE  =                    T", "BITPIX  =                   16", "NAXIS   =                    2",
                  f"NAXIS1  = {image.shape[1]:20d}", f"NAXIS2  = {image.shape[0]:20d}",
                  "BZERO   =                32768", "OBJECT  = 'M31     '           / a galaxy"])
    out += data((image.astype(np.int32) - 32768).astype(">i2"))
    if extension is not None:
        out += header(["XTENSION= 'IMAGE   '", "BITPIX  =                    8", "NAXIS   =                    2",
                       f"NAXIS1  = {extension.shape[1]:20d}", f"NAXIS2  = {extension.shape[0]:20d}",
                       "PCOUNT  =                    0", "GCOUNT  =                    1"])
        out += data(extension.astype(np.uint8))
    return out


def tiff(pages: np.ndarray, **options) -> bytes:
    import tifffile
    out = io.BytesIO()
    tifffile.imwrite(out, pages, **options)
    return out.getvalue()


def round_trip(data: bytes, as_: str = "auto") -> bytes:
    blob = api.compress(data, as_=as_)
    assert api.decompress(blob) == data
    return blob


@pytest.mark.parametrize("syntax", [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE])
def test_dicom_samples_found_in_each_syntax(syntax):
    pixels = twelve_bit(24, 40)
    data = dicom(pixels, syntax)
    pic = picture.read(data)
    assert (pic.format, pic.kind) == ("dicom", "16-bit gray")
    assert np.array_equal(pic.samples[..., 0], pixels.astype(np.int32) - pixels.min())
    blob = round_trip(data, as_="image")
    assert api.info(blob)["format"] == "dicom"


def test_dicom_signed_frames_and_colour_planes():
    ct = (twelve_bit(16, 20).astype(np.int32) - 1024).astype(np.int16)
    pic = picture.read(dicom(np.concatenate([ct, ct[::-1]]), signed=True, frames=2))
    assert pic.samples.shape == (32, 20, 1)
    assert pic.samples.min() == 0 and int(pic.samples.max()) == int(ct.max()) - int(ct.min())
    rgb = skdata.astronaut()[:12, :10]
    assert picture.read(dicom(rgb)).kind == "8-bit RGB"
    planes = np.ascontiguousarray(rgb.transpose(2, 0, 1)).reshape(36, 10)  # colour by plane: rows of gray
    pic = picture.read(dicom(planes, planar=1))
    assert pic.samples.shape == (36, 10, 1)
    for data in (dicom(np.concatenate([ct, ct[::-1]]), signed=True, frames=2), dicom(rgb)):
        round_trip(data, as_="image")


def test_samples_spanning_few_levels_are_an_8_bit_picture():
    """16-bit samples from 1000 to 1200 are 8-bit values above a base: the 8-bit models take them."""
    pixels = (skdata.camera()[:32, :32] // 2).astype(np.uint16) + 1000
    pic = picture.read(dicom(pixels))
    assert pic.depth == 8 and np.array_equal(pic.samples[..., 0], pixels - pixels.min())
    round_trip(dicom(pixels), as_="image")


def test_fits_primary_array_and_extension():
    image = twelve_bit(30, 28) + 30000
    data = fits(image, extension=skdata.camera()[:8, :8])
    pic = picture.read(data)
    assert pic.format == "fits" and np.array_equal(pic.samples[..., 0], image - image.min())
    round_trip(data, as_="image")


@pytest.mark.parametrize("pages, options", [
    (np.stack([twelve_bit(20, 24, seed) for seed in range(3)]), {"photometric": "minisblack"}),  # pages
    ((np.stack([twelve_bit(20, 24, 5)] * 2).astype(np.int32) - 2048).astype(np.int16),
     {"byteorder": ">", "photometric": "minisblack"}),
    (np.stack([twelve_bit(20, 24, s) for s in range(3)], axis=-1), {"photometric": "rgb"}),      # 16-bit RGB
])
def test_tiff_pillow_cannot_rewrite_goes_as_a_raster(pages, options):
    data = tiff(pages, **options)
    pic = picture.read(data)
    assert pic.format == "tiff-raster"
    channels = 3 if pages.ndim == 3 and pages.shape[-1] == 3 else 1
    assert pic.samples.shape[2] == channels and pic.samples.size == pages.size
    round_trip(data, as_="image")


def test_a_tiff_pillow_rewrites_stays_a_tiff():
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(skdata.camera()[:16, :16]).save(out, "TIFF")
    assert picture.read(out.getvalue()).format == "tiff"


def test_a_raster_file_is_smaller_through_the_image_models():
    """A 12-bit scan: the image path beats the byte path by far, and auto takes it."""
    data = dicom(twelve_bit(128, 160))
    blob, as_bytes = round_trip(data), api.compress_bytes(data)
    assert api.info(blob)["kind"] == "image" and len(blob) < 0.85 * len(as_bytes)


def test_small_raster_files_never_cost_more_than_the_byte_path():
    data = fits(twelve_bit(6, 6) + 30000, extension=skdata.camera()[:4, :4])
    assert len(round_trip(data)) <= len(api.compress_bytes(data))


def test_compress_file_verifies_and_writes_the_samples_as_png(tmp_path):
    source = tmp_path / "scan.dcm"
    source.write_bytes(dicom(twelve_bit(64, 64)))
    report = arzip.compress_file(source, verify=True)
    assert report.kind == "image"
    arzip.decompress_file(report.target, tmp_path / "back.dcm")
    assert (tmp_path / "back.dcm").read_bytes() == source.read_bytes()
    arzip.decompress_file(report.target, tmp_path / "scan.png", to="png")
    from PIL import Image
    with Image.open(tmp_path / "scan.png") as im:
        assert np.array_equal(np.asarray(im), picture.read(source.read_bytes()).samples[..., 0])


SEEDS = {"dicom": dicom(twelve_bit(8, 10), IMPLICIT_LE), "fits": fits(twelve_bit(6, 5) + 30000, skdata.camera()[:3, :3]),
         "tiff": tiff(np.stack([twelve_bit(6, 5, s) for s in range(2)]), photometric="minisblack")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(SEEDS)), edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                                                           max_size=6), cut=st.integers(0, 1 << 16))
def test_damaged_raster_files_come_back_exact(kind, edits, cut):
    """Bytes changed anywhere (lengths, tags, offsets) and the end cut: the file is coded as a
    raster or as bytes, never a traceback, and comes back byte for byte."""
    data = bytearray(SEEDS[kind])
    for at, value in edits:
        data[at % len(data)] = value
    data = bytes(data[:max(len(data) - cut % 64, 1)])
    layout = raster.find(data, kind)
    if layout is not None:
        assert all(0 <= a and a + n <= len(data) for a, n in layout.spans)
    round_trip(data)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=64))
def test_damaged_wrappers_are_refused(wrapper):
    try:
        raster.write(wrapper, np.zeros((2, 2, 1), np.uint8))
    except FormatError:
        pass


def test_a_wrapper_that_names_the_wrong_shape_is_refused():
    pic = picture.read(dicom(twelve_bit(8, 8)))
    with pytest.raises(FormatError):
        raster.write(pic.wrapper, pic.samples[:4])
    with pytest.raises(FormatError):  # samples beyond what the file's sample type holds
        raster.write(pic.wrapper, np.full_like(pic.samples, 65535))


@pytest.mark.parametrize("name, kind", [("CT_small.dcm", "16-bit gray"), ("MR_small_bigendian.dcm", "16-bit gray"),
                                        ("examples_rgb_color.dcm", "8-bit RGB"), ("JPEG2000.dcm", None)])
def test_real_dicom_files(name, kind):
    """pydicom's bundled files: real scanners' DICOMs (CT, MR, big-endian, colour, JPEG 2000)."""
    pydicom = pytest.importorskip("pydicom")
    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    data = path.read_bytes()
    if kind is None:  # compressed pixel data: the byte path
        assert raster.find(data, "dicom") is None
    else:
        assert picture.read(data).kind == kind
        assert np.array_equal(picture.read(data).samples.astype(np.int64),
                              _pixels(pydicom.dcmread(io.BytesIO(data))))
    round_trip(data)


def _pixels(ds) -> np.ndarray:
    """pydicom's view of a dataset's samples, as arzip holds them: from 0, (H, W, C)."""
    values = ds.pixel_array.astype(np.int64)
    values = values.reshape(ds.Rows, ds.Columns, ds.SamplesPerPixel)
    return values - values.min()
