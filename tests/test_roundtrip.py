"""Round trips through the public API: real photos and synthetic edge cases."""
from __future__ import annotations

import numpy as np
import pytest

from arzip import api, registry
from arzip.image import codec as image_codec, container
from arzip.image.waves import LAYOUT_SINGLE

from .conftest import KODAK, skimage_photo


def roundtrip(pixels: np.ndarray, level: int | None = None) -> bytes:
    blob = api.compress_image(pixels, level=level)
    out = api.decompress_image(blob)
    assert out.dtype == np.uint8 and out.shape == pixels.shape
    assert np.array_equal(out, pixels)
    return blob


def test_full_photo_and_rate_matches_nll(photo):
    blob = roundtrip(photo)
    info = api.info(blob)
    assert info["width"] == 512 and info["height"] == 512 and info["mode"] == "8-bit RGB"
    assert info["parts"][0]["layout"] == "quadrants"
    # a trained model compresses a real photo far below 8 bits per subpixel ...
    assert info["bits_per_subpixel"] < 5.0
    # ... and the coded payload is within 0.5 % of the model's NLL, with a small header
    assert abs(info["payload_over_nll_percent"]) < 0.5
    assert info["header_bytes"] < 100


def test_quadrants_of_odd_sizes(photo):
    """Quadrant tiles of unequal sizes (odd height and width) still cover every pixel once."""
    image = np.ascontiguousarray(photo[3:260, 10:311])
    for level in (4,):  # the default level cuts it into two stripes, too low for quadrants
        assert api.info(roundtrip(image, level))["parts"][0]["layout"] == "quadrants"


def test_scale_offsets_round_trip(small_photo):
    """Archives of arzip 0.1's level 6 carry per-channel log2-scale offsets; they still decode."""
    model = registry.load(registry.model_for_level(4))
    offsets = (8, -4, 0)
    payload, nll = image_codec.encode_image(model, small_photo, LAYOUT_SINGLE, offsets)
    back = image_codec.decode_image(model, payload, *small_photo.shape[:2], LAYOUT_SINGLE, offsets)
    assert np.array_equal(back, small_photo)
    assert nll != image_codec.image_nll(model, small_photo, LAYOUT_SINGLE)  # the offsets change the tables


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_other_photos(name):
    img = skimage_photo(name)
    roundtrip(np.ascontiguousarray(img[:61, :97]))  # odd sizes, crops keep the suite fast


@pytest.mark.skipif(not (KODAK / "kodim23.png").exists(), reason="Kodak set not present")
def test_kodak_image():
    from PIL import Image
    img = np.asarray(Image.open(KODAK / "kodim23.png"))
    blob = roundtrip(img)
    assert api.info(blob)["bits_per_subpixel"] < 3.6


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 2), (3, 131), (131, 3), (17, 19)])
def test_tiny_and_thin(shape):
    rng = np.random.default_rng(sum(shape))
    roundtrip(rng.integers(0, 256, size=shape + (3,), dtype=np.uint8))


@pytest.mark.parametrize("value,limit", [(0, 0.3), (128, 0.3), (255, 0.3), (1, 0.5), (254, 0.5)])
def test_flat(value, limit):
    """Flat images round-trip and cost far less than noise. (The photo model is not tuned for
    synthetic content: values next to black or white look like sensor noise to it.)"""
    img = np.full((64, 64, 3), value, dtype=np.uint8)
    blob = roundtrip(img)
    assert api.info(blob)["bits_per_subpixel"] < limit


def test_noise_is_stored_never_expanded():
    img = np.random.default_rng(1).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    blob = roundtrip(img)
    info = api.info(blob)
    assert [p["method"] for p in info["parts"]] == ["bytes"]
    assert len(blob) <= img.size + 40 + info["header_bytes"]  # PNG filter bytes and one block record


def test_extremes():
    rng = np.random.default_rng(2)
    img = (rng.random((32, 45, 3)) < 0.5).astype(np.uint8) * 255  # only 0 and 255
    roundtrip(img)
    checker = ((np.indices((16, 16)).sum(0) % 2) * 255).astype(np.uint8)
    roundtrip(np.repeat(checker[:, :, None], 3, axis=2))
    roundtrip(np.dstack([np.zeros((9, 9)), np.full((9, 9), 255), np.zeros((9, 9))]).astype(np.uint8))


def test_gradients():
    y, x = np.mgrid[0:50, 0:70]
    img = np.dstack([(x * 255 // 69), (y * 255 // 49), ((x + y) % 256)]).astype(np.uint8)
    roundtrip(img)


def test_rejects_arrays_that_are_no_image():
    from arzip.errors import UnsupportedInput
    for bad in [np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((4,), np.uint8),
                np.zeros((0, 4, 3), np.uint8)]:
        with pytest.raises(UnsupportedInput):
            api.compress_image(bad)


def test_header_is_small(small_photo):
    blob = api.compress_image(small_photo)
    header = container.read_header(blob)
    assert header.size < 100
    assert header.size + sum(p.payload_len for p in header.parts) == len(blob)


def test_every_level_round_trips(small_photo):
    from arzip import registry
    for level in registry.LEVELS:
        blob = api.compress_image(small_photo, level=level)
        assert api.info(blob)["parts"][0]["model"] == registry.model_for_level(level)
        assert np.array_equal(api.decompress_image(blob), small_photo)
