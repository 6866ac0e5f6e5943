"""The Pillow plugin keeps what im.info holds beside the pixels: transparency, ICC profile,
dpi and text come back from `Image.open("x.arz")`, and in the PNG that arzip.decompress writes."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

import arzip

KEYS = ("transparency", "icc_profile", "dpi", "Title", "Comment")


def _roundtrip(tmp_path, im: Image.Image) -> tuple[Image.Image, Image.Image]:
    """im saved to .arz and opened again, and the PNG the archive decompresses to, opened; both
    with im's mode and pixels."""
    path = tmp_path / "x.arz"
    im.save(path)
    back = Image.open(path)
    back.load()
    png = Image.open(io.BytesIO(arzip.decompress(path.read_bytes())))
    assert png.format == "PNG"
    for opened in (back, png):
        assert opened.mode == im.mode and np.array_equal(np.asarray(opened), np.asarray(im))
    return back, png


def _same_info(opened: Image.Image, expected: dict) -> None:
    """opened.info holds the expected values of KEYS, and no other of them; dpi as near as PNG's
    pHYs holds it (whole dots per metre: 72 dpi reads back as 72.009, from a PNG file as well)."""
    found = {k: opened.info[k] for k in KEYS if k in opened.info}
    assert found.keys() == expected.keys(), found
    for key, value in expected.items():
        assert found[key] == (pytest.approx(value, abs=0.0254 / 2) if key == "dpi" else value), key


@pytest.mark.parametrize("transparency", [5, bytes(range(0, 256, 16))], ids=["index", "alpha-per-entry"])
def test_palette_transparency(tmp_path, transparency):
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 16, (12, 10), dtype=np.uint8), "P")
    im.putpalette(rng.integers(0, 256, 48, dtype=np.uint8).tobytes())
    im.info["transparency"] = transparency
    back, png = _roundtrip(tmp_path, im)
    _same_info(back, {"transparency": transparency})
    _same_info(png, {"transparency": transparency})
    assert np.array_equal(np.asarray(back.convert("RGBA")), np.asarray(im.convert("RGBA")))


def test_rgb_icc_profile_dpi_text_and_transparency(tmp_path):
    rng = np.random.default_rng(1)
    im = Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im.info.update(icc_profile=icc, dpi=(300, 150), transparency=(1, 2, 3), Title="a test")
    im.info["Comment"] = PngImagePlugin.iTXt("grüße, ĉu?", "eo", "Komento")  # beyond Latin-1: iTXt
    expected = {"icc_profile": icc, "dpi": (300, 150), "transparency": (1, 2, 3), "Title": "a test",
                "Comment": "grüße, ĉu?"}
    back, png = _roundtrip(tmp_path, im)
    _same_info(back, expected)
    _same_info(png, expected)
    assert back.info == png.info
    assert (back.info["Comment"].lang, back.info["Comment"].tkey) == ("eo", "Komento")


def test_gray_alpha_image(tmp_path):
    rng = np.random.default_rng(2)
    im = Image.fromarray(rng.integers(0, 256, (7, 5, 2), dtype=np.uint8), "LA")
    im.info.update(dpi=(72, 72), Title="gray with alpha")
    back, png = _roundtrip(tmp_path, im)
    _same_info(back, {"dpi": (72, 72), "Title": "gray with alpha"})
    assert back.info == png.info


def test_gray_transparency(tmp_path):
    im = Image.fromarray(np.arange(30, dtype=np.uint8).reshape(5, 6))
    im.info["transparency"] = 7
    back, png = _roundtrip(tmp_path, im)
    _same_info(back, {"transparency": 7})
    assert back.info == png.info


def test_an_archive_of_a_png_file_opens_with_its_info(tmp_path):
    """An archive compressed from a PNG file (not saved through the plugin) opens with the info
    Pillow reads from the PNG file itself."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "from a file")
    buf = io.BytesIO()
    Image.fromarray(np.arange(30, dtype=np.uint8).reshape(5, 6)).save(buf, format="PNG", transparency=7,
                                                                      dpi=(96, 96), pnginfo=info)
    path = tmp_path / "file.png.arz"
    path.write_bytes(arzip.compress(buf.getvalue()))
    with Image.open(buf) as original, Image.open(path) as back:
        assert back.info == original.info and back.info["Title"] == "from a file"
