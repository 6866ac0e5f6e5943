"""`arzip explain`: every kind of image and the .arz of one, maps that add up to what the
archive records, drawings at native size, and one-line refusals."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from arzip import api, explain
from arzip.formats import picture

from .conftest import arzip, assert_one_line_error, leftovers, skimage_photo


def _gradient(h: int, w: int) -> np.ndarray:
    """An alpha plane: opaque on the left, fading out towards the right."""
    return np.clip(np.linspace(400, 0, w)[None, :].repeat(h, axis=0), 0, 255).astype(np.uint8)


def _tiled(h: int, w: int) -> np.ndarray:
    """An alpha plane of one random 8x8 tile repeated: the byte path's repeats win on it."""
    tile = np.random.default_rng(4).integers(0, 256, (8, 8), dtype=np.uint8)
    return np.tile(tile, (h // 8 + 1, w // 8 + 1))[:h, :w]


def _photo_palette() -> tuple[np.ndarray, np.ndarray]:
    """A gray photo crop as a palette image (256 distinct grays, the indices shuffled): planes
    codes it by its colours, which a byte model of the indices cannot follow."""
    order = np.random.default_rng(2).permutation(256)
    indices = np.argsort(order)[skimage_photo("camera")[200:264, 100:164]].astype(np.uint8)[..., None]
    return indices, np.repeat(order[:, None], 3, axis=1).astype(np.uint8)


def _kinds() -> dict[str, picture.Picture]:
    rgb = np.ascontiguousarray(skimage_photo("astronaut")[100:164, 200:264])
    gray = np.ascontiguousarray(skimage_photo("camera")[200:248, 100:164])
    noise = np.random.default_rng(1).integers(0, 40, gray.shape, dtype=np.uint16)
    indices, colours = _photo_palette()
    return {
        "gray": picture.new(gray[..., None], picture.GRAY, 8),
        "gray+alpha": picture.new(np.stack([gray, _tiled(*gray.shape)], axis=2), picture.GRAY_ALPHA, 8),
        "RGBA": picture.new(np.concatenate([rgb, _gradient(64, 64)[..., None]], axis=2), picture.RGBA, 8),
        "palette": picture.new(indices, picture.PALETTE, 8, colours),
        "1-bit": picture.new((gray[..., None] > 120).astype(np.uint8), picture.GRAY, 1),
        "4-bit": picture.new((gray[..., None] >> 4).astype(np.uint8), picture.GRAY, 4),
        "16-bit": picture.new((gray.astype(np.uint16) * 257 + noise)[..., None], picture.GRAY, 16),
        "16-bit RGB from 8 bits": picture.new(rgb.astype(np.uint16) * 257, picture.RGB, 16),
        "16-bit RGB": picture.new(rgb[:48].astype(np.uint16) * 16 + noise[..., None] // 3, picture.RGB, 16),
    }


KINDS = _kinds()
CODERS = {"gray": ["gray by .* context mixing around gray-mlp1"],
          "gray+alpha": ["gray by .* context mixing around gray-mlp1", "alpha by the byte model .* on PNG-filtered"],
          "RGBA": ["colours by .* context mixing around rgb-", "alpha by the full-depth model"],
          "palette": ["the palette's colours by .* context mixing around rgb-"],
          "1-bit": ["every pixel by the bilevel model"],
          "4-bit": ["every pixel by the index model"],
          "16-bit": ["every sample by the byte model"],
          "16-bit RGB": ["every sample by the full-depth model"],
          "16-bit RGB from 8 bits": ["colours by .* context mixing around rgb-"]}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_explained_by_the_coder_of_its_archive(kind):
    """The map covers every sample, charges each part its own coder's costs (the parts' NLL
    recorded in the archive, to the f32 it is stored in), and says which coders those are."""
    pic = KINDS[kind]
    shown, found = explain.explain_file(picture.write(pic), f"{kind}.png")
    assert shown.kind == pic.kind and np.array_equal(shown.samples, pic.samples)
    assert found.bits.shape == pic.samples.shape and (found.bits >= 0).all()
    assert found.channels == explain.CHANNEL_NAMES[pic.color_type]
    blob = api.compress_image(pic)
    assert found.archive_bytes == len(blob)
    assert found.bits.sum() == pytest.approx(api.info(blob)["nll_bits"], rel=1e-6)
    assert len(found.coders) == len(CODERS[kind])
    for said, pattern in zip(found.coders, CODERS[kind]):
        assert re.search(pattern, said), said
    assert re.fullmatch(r"[\d.]+ bits per subpixel \(.*\); the archive [\d.]+", found.describe())
    photo = explain.viewable(shown)
    assert photo.shape[:2] == pic.samples.shape[:2] and photo.dtype == np.uint8
    if kind == "1-bit":  # a PNG's 1 is white
        assert np.array_equal(photo[..., 0], pic.samples[..., 0] * 255)


def test_the_drawing_is_at_native_size(tmp_path):
    """One image pixel is one pixel of the PNG: the photo appears in it unchanged, and the
    PNG is as wide as the photo and the map beside it."""
    gray = np.ascontiguousarray(skimage_photo("camera")[200:296, 100:260])  # 160x96: side by side
    source = tmp_path / "camera.png"
    source.write_bytes(picture.write(picture.new(gray[..., None], picture.GRAY, 8)))
    out = tmp_path / "camera.bits.png"
    r = arzip("explain", source, "-o", out)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rf"{re.escape(str(source))}: 8-bit gray 160x96, [\d.]+ bits per subpixel \(gray [\d.]+\); "
                        rf"the archive [\d.]+; map in {re.escape(str(out))}\n", r.stdout), r.stdout
    with Image.open(out) as im:
        drawn = np.asarray(im.convert("RGB"))
    h, w = gray.shape
    assert drawn.shape[1] >= 2 * w
    found = [(y, x) for y in range(drawn.shape[0] - h + 1) for x in range(drawn.shape[1] - w + 1)
             if drawn[y, x, 0] == gray[0, 0] and np.array_equal(drawn[y:y + h, x:x + w, 0], gray)
             and np.array_equal(drawn[y:y + h, x:x + w, 1], gray)]
    assert found, "the photo is not in the drawing pixel for pixel"
    assert leftovers(tmp_path) == []


def test_an_archive_of_an_image_is_explained_with_its_own_coding(tmp_path):
    pic = KINDS["RGBA"]
    source = tmp_path / "rgba.png"
    source.write_bytes(picture.write(pic))
    assert arzip("compress", source, "-q").returncode == 0
    archive = tmp_path / "rgba.png.arz"
    r = arzip("explain", archive)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{archive}: 8-bit RGBA 64x64, ")
    assert re.search(r"\(R [\d.]+, G [\d.]+, B [\d.]+, A [\d.]+\)", r.stdout), r.stdout
    with Image.open(tmp_path / "rgba.png.arz.bits.png") as im:
        assert im.format == "PNG" and im.width >= 2 * 64
    # the same numbers as for the image it holds: the archive is what compress makes of it
    numbers = lambda out: out.split(", ", 1)[1].split("; map in")[0]  # noqa: E731
    assert numbers(r.stdout) == numbers(arzip("explain", source).stdout)
    assert_one_line_error(arzip("explain", archive, "--model", "rgb-mlp1", "-f"), "its own|coded with")


def test_refusals_are_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"not an image at all\n" * 50)
    assert_one_line_error(arzip("explain", text), "notes.txt: not an image")
    assert arzip("compress", text, "-q").returncode == 0
    assert_one_line_error(arzip("explain", tmp_path / "notes.txt.arz"), "notes.txt.arz: .*bytes, not of an image")
    assert not (tmp_path / "notes.txt.arz.bits.png").exists() and not (tmp_path / "notes.txt.bits.png").exists()
    assert leftovers(tmp_path) == []
